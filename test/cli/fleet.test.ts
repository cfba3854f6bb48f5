// The operator suite against a fleet, as users' CI sees it: `serve-operator --instances 3 --sync-interval 4s`
// as a child process (instances that disagree for up to 4 s after an opt-out appears, UID2-SPEC §1.4), and
// `run --target` against it with a 20 s bound. A conformant fleet passes; one that keeps flapping after its
// opt-outs settled fails OP-PROPAGATION and nothing else.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-fleet-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

/** Starts the fleet and resolves with its URL and the credentials it generated (printed on stderr). */
function serveFleet(extra: string[]): Promise<{ url: string; credentials: Record<string, string> }> {
  const child = spawn(process.execPath, [BIN, 'serve-operator', '--instances', '3', '--sync-interval', '4s', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const ready = () => {
      const url = /^listening (\S+)$/m.exec(stdout)?.[1];
      if (!url || !stderr.includes('stop with Ctrl-C')) return;
      const credentials = Object.fromEntries([...stderr.matchAll(/^([a-z-]+): (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
      resolve({ url, credentials });
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), ready()));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), ready()));
    child.once('exit', (code) => reject(new Error(`serve-operator exited (${code}): ${stderr}`)));
  });
}

function runAgainst(fleet: { url: string; credentials: Record<string, string> }, dir: string): Promise<number> {
  const c = fleet.credentials;
  const args = ['run', '--target', fleet.url, '--propagation-timeout', '20s', '--settle', '6s', '--seed', '1', '--out', dir];
  for (const name of ['api-key', 'client-secret', 'optout-api-key', 'optout-client-secret', 'cstg-public-key', 'cstg-subscription-id']) args.push(`--${name}`, c[name]!);
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
}

interface Report {
  results: Array<{ rule: string; check: string; status: string; message: string }>;
  propagation: { registered: number; settled: number; settleMs: number; waitedMs: number; disagreements: Record<string, { answers: number }> };
}
const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
const failed = (r: Report) => [...new Set(r.results.filter((x) => x.status === 'fail' || x.status === 'error').map((x) => x.rule))];

function usage(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, stderr })));
}

describe('fleet and settle options', () => {
  it('refuses a malformed --settle and a fleet of no instances (exit 2)', async () => {
    expect(await usage(['run', '--settle', 'soon'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--settle: "soon" is not a duration/) });
    expect(await usage(['serve-operator', '--instances', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--instances: "0" is not a positive integer/) });
  }, 60_000);
});

describe('run --target against a 3-instance fleet syncing every 4 s', () => {
  it('passes a conformant fleet: opt-outs settle once, disagreements before that are measured', async () => {
    const dir = join(out, 'conformant');
    const code = await runAgainst(await serveFleet([]), dir);
    const report = readReport(dir);
    expect(failed(report), JSON.stringify(report.results.filter((r) => r.status !== 'pass' && r.status !== 'not_applicable'))).toEqual([]);
    expect(code).toBe(0);
    expect(report.propagation.settled).toBe(report.propagation.registered);
    expect(report.propagation.settleMs).toBe(6000);
    // Instances 1.3 s apart answered the 16 opt-outs' readings differently before they settled.
    expect(Object.values(report.propagation.disagreements).reduce((n, d) => n + d.answers, 0)).toBeGreaterThan(0);
    // One wait for all of them: at least the settle window, far from one window per opt-out.
    expect(report.propagation.waitedMs).toBeGreaterThanOrEqual(6000);
    expect(report.propagation.waitedMs).toBeLessThan(20_000);
  }, 240_000);

  it('fails OP-PROPAGATION, and nothing else, when the fleet keeps flapping after its opt-outs settled', async () => {
    const dir = join(out, 'flapping');
    const code = await runAgainst(await serveFleet(['--fault', 'flapping']), dir);
    const report = readReport(dir);
    expect(failed(report)).toEqual(['OP-PROPAGATION']);
    expect(report.results.find((r) => r.check === 'propagation.no-regression')?.status).toBe('fail');
    expect(code).toBe(1);
  }, 240_000);
});
