#!/usr/bin/env node
// The kit's binary: registers the TypeScript loader, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../harness/cli.ts');
