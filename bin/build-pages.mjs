#!/usr/bin/env node
// Builds the browser bundles the reference pages load (harness/page/reference/): Prebid.js (core, userId and
// uid2IdSystem, from the package's precompiled ESM) and the UID2/EUID web SDK, with esbuild, into dist/pages/.
// Build output only: never committed. `npm run build` runs this script.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/pages`;
mkdirSync(out, { recursive: true });

/** Each bundle: an entry written here (the library as a page loads it) and its file in dist/pages/. */
const bundles = {
  // Prebid's own build puts `pbjs` on window and runs the queue; the precompiled ESM needs that said.
  'prebid.js': "import pbjs from 'prebid.js';\nimport 'prebid.js/modules/userId';\nimport 'prebid.js/modules/uid2IdSystem';\npbjs.processQueue();\n",
  // The SDK as its own script tag gives it: one instance at window.__euid.
  'euid-sdk.js': "import { EUID } from '@unified-id/euid-sdk';\nwindow.__euid = window.__euid ?? new EUID();\n",
};

for (const [file, contents] of Object.entries(bundles)) {
  await build({
    stdin: { contents, resolveDir: root, sourcefile: `entry-${file}`, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'eof',
    outfile: `${out}/${file}`,
    logLevel: 'warning',
  });
}
process.stdout.write(`built ${Object.keys(bundles).map((f) => `dist/pages/${f}`).join(', ')}\n`);
