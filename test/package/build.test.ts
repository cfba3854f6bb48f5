// The compiled kit (dist/, built by the tests' global setup): it finds its own files as the source does, the
// binary says how to build when dist/ is missing, and a journey written in JavaScript is typed by the
// package's `uid2-conformance/journey` (the types dist/ ships).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KIT_ROOT, kitFile } from '../../harness/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'uid2-build-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function node(args: string[], cwd = KIT_ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the compiled kit', () => {
  it('finds the same kit root from dist/harness as from harness/', async () => {
    const compiled = (await import(pathToFileURL(kitFile('dist', 'harness', 'paths.js')).href)) as typeof import('../../harness/paths.ts');
    expect(compiled.KIT_ROOT).toBe(KIT_ROOT);
    expect(compiled.kitFile('schemas')).toBe(kitFile('schemas'));
  });

  it('the binary without dist/ asks for the build and exits 2', async () => {
    mkdirSync(join(work, 'bin'));
    copyFileSync(kitFile('bin', 'uid2-conformance.mjs'), join(work, 'bin', 'uid2-conformance.mjs'));
    const { code, stderr } = await node([join(work, 'bin', 'uid2-conformance.mjs'), 'list']);
    expect(code).toBe(2);
    expect(stderr).toContain('run npm run build');
  });

  it('types a JavaScript journey through uid2-conformance/journey, and catches a wrong one', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const fixtures = ['typed-journey.mjs', 'mistyped-journey.mjs'].map((file) => `test/package/fixtures/${file}`);
    const flags = ['--noEmit', '--allowJs', '--checkJs', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
    const { code, stdout } = await node([tsc, ...flags, ...fixtures]);
    const errors = stdout.split('\n').filter((line) => line.includes('error TS'));
    expect(code).not.toBe(0);
    // Exactly one error, in the mistyped journey: the typed one passes.
    expect(errors).toEqual([expect.stringMatching(/^test\/package\/fixtures\/mistyped-journey\.mjs\(\d+,\d+\): error TS2741: Property 'logout' is missing/)]);
  }, 120_000);
});
