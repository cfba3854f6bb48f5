#!/usr/bin/env node
// npm run build (also `prepare`, so npm ci and npm pack build): the TypeScript of harness/, suites/ and reports/
// compiled to dist/ (tsc build mode: a no-op when nothing changed), then the browser assets when
// bin/build-pages.mjs exists (it bundles them into dist/pages/).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (script, ...args) => {
  const { status, signal } = spawnSync(process.execPath, [script, ...args], { cwd: root, stdio: 'inherit' });
  if (status !== 0) {
    console.error(`build: ${script} failed (${signal ?? `exit ${status}`})`);
    process.exit(status || 1);
  }
};

// Build mode trusts its build info: outputs deleted by hand would stay missing, so without the CLI start over.
if (!existsSync(`${root}dist/harness/cli.js`)) rmSync(`${root}dist/build.tsbuildinfo`, { force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('build: TypeScript is missing: it is a dev dependency, install without --omit=dev (npm ci)');
  process.exit(1);
}
run(tsc, '--build', 'tsconfig.build.json');
// Nor does it remove the output of a source file that is gone: drop it, so the package never ships it.
for (const dir of ['harness', 'suites', 'reports']) {
  for (const file of readdirSync(`${root}dist/${dir}`, { recursive: true, encoding: 'utf8' })) {
    const source = file.replace(/\.js$|\.d\.ts$/, '.ts');
    if (source !== file && !existsSync(`${root}${dir}/${source}`)) rmSync(`${root}dist/${dir}/${file}`);
  }
}
if (existsSync(`${root}bin/build-pages.mjs`)) run('bin/build-pages.mjs');
