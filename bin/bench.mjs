#!/usr/bin/env node
// npm run bench: the kit's benchmarks (figures printed, nothing asserted).
import { register } from 'tsx/esm/api';

register();
await import('../bench/index.ts');
