#!/usr/bin/env node
// The kit's binary: hands over to the compiled CLI (dist/, built by npm run build, npm ci and npm pack).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/harness/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('uid2-conformance: the kit is not built (no dist/): run npm run build');
  process.exit(2);
}

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

await import(cli.href);
