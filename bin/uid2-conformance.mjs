#!/usr/bin/env node
// The kit's binary: registers the TypeScript loader, then hands over to the CLI.
import { register } from 'tsx/esm/api';

// Under npm (npx, npm exec, npm run) the kit runs below npm's `sh -c`, and npm forwards SIGINT and SIGTERM
// to that shell, not here. The shell dies at SIGTERM, leaving the kit orphaned and unaware: when the parent
// goes away, stop as SIGTERM would (reports marked interrupted, exit 143) rather than run on unwatched.
if (process.env.npm_lifecycle_event) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 200).unref();
}

register();
await import('../harness/cli.ts');
