// The package as users get it: `npm pack`, installed into an empty folder (dependencies from the configured
// registry), runs the embedded default with `npx uid2-conformance run` and lists the catalog, with nothing
// of the kit's clone around it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIT_ROOT } from '../../harness/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'uid2-pack-'));
const app = join(work, 'app');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A command as a user types it; npm's own variables of the test runner's npm are not passed on. */
function sh(command: string, args: string[], cwd: string, timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_')));
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the packed tarball, installed into an empty folder', () => {
  beforeAll(async () => {
    const pack = await sh('npm', ['pack', '--pack-destination', work, '--silent'], KIT_ROOT, 300_000);
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(work, pack.stdout.trim().split('\n').pop()!);
    mkdirSync(app);
    const install = await sh('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], app, 300_000);
    expect(install.code, install.stderr).toBe(0);
  }, 600_000);

  it('lists the rule catalog', async () => {
    const { code, stdout, stderr } = await sh('npx', ['--no', 'uid2-conformance', 'list'], app, 60_000);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^OP-GEN-OPTOUT +MUST +operator /m);
  });

  it('runs the embedded default: exit 0 and the four reports', async () => {
    const { code, stderr } = await sh('npx', ['--no', 'uid2-conformance', 'run'], app, 600_000);
    expect(code, stderr).toBe(0);
    const out = join(app, 'uid2-conformance-report');
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['audit.html', 'audit.md', 'junit.xml', 'report.json']));
    // What ran is the installed copy, built: no TypeScript source of the kit came along (declarations only; the
    // reference pages' plain JavaScript ships as it is).
    const shipped = readdirSync(join(app, 'node_modules/uid2-conformance'), { recursive: true, encoding: 'utf8' });
    expect(shipped.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(shipped.filter((f) => f.startsWith('harness/')).every((f) => !f.includes('.') || /\.m?js$/.test(f))).toBe(true);
    expect(existsSync(join(app, 'node_modules/uid2-conformance/dist/harness/cli.js'))).toBe(true);
  }, 600_000);
});
