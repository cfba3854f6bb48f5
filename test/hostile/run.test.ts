// `run` against hostile targets: a target that does not speak UID2 v2 is exit 2 with a report naming what it
// answered, never a list of failures; a flaky gateway in front of a conformant operator fails nothing; the
// target's path is kept and a query string refused.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, RUN_DEFAULTS, type RunOptions, type RunOverrides } from '../../harness/run.ts';
import type { RunResult } from '../../harness/engine/result.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { OPERATOR_CHECKS } from '../../suites/operator/index.ts';
import { hostilePool, type HostileMode } from './server.ts';

const KIT = { name: 'uid2-conformance', version: 'test' };
let op: RunningOperator;
let out: string;
const pool = hostilePool(() => ({ url: op.url, clientSecret: op.credentials.clientSecret }));
const hostile = (mode: HostileMode) => pool.start(mode);

beforeAll(async () => {
  op = await startOperator();
  out = mkdtempSync(join(tmpdir(), 'uid2-hostile-'));
});
afterAll(async () => {
  await pool.closeAll();
  await op.close();
  rmSync(out, { recursive: true, force: true });
});

function options(target: string, name: string, extra: Partial<RunOptions> = {}): RunOptions {
  const c = op.credentials;
  return {
    ...RUN_DEFAULTS,
    role: ['operator'],
    target,
    apiKey: c.apiKey,
    clientSecret: c.clientSecret,
    optoutApiKey: c.optoutApiKey,
    optoutClientSecret: c.optoutClientSecret,
    cstgPublicKey: c.cstgPublicKey,
    cstgSubscriptionId: c.cstgSubscriptionId,
    propagationTimeout: '2s',
    runs: '5',
    seed: '11',
    timeout: '1s',
    out: join(out, name),
    ...extra,
  };
}

const only = (...prefixes: string[]): RunOverrides => ({ checks: OPERATOR_CHECKS.filter((c) => prefixes.some((p) => c.id.startsWith(p))) });
const reportOf = (name: string) => JSON.parse(readFileSync(join(out, name, 'report.json'), 'utf8')) as RunResult;

describe('preflight: only a target that speaks UID2 v2 is judged', () => {
  const cases: Array<[HostileMode, RegExp]> = [
    ['html-500', /kept answering HTTP 500 \(text\/html\)/],
    ['redirect', /redirect \(HTTP 302 on \/v2\/token\/generate\), which the kit does not follow/],
    ['not-base64', /does not speak UID2 v2: its HTTP 200 \(text\/plain\) on \/v2\/token\/generate is no answer to our request \(not_base64/],
    ['wrong-nonce', /does not speak UID2 v2: .* \(nonce_mismatch/],
    ['down-503', /kept answering HTTP 503/],
    ['drip', /did not answer in full within 1000 ms/],
    ['hang', /did not answer in full within 1000 ms/],
    ['huge', /answered more than \d+ bytes|did not answer in full within 1000 ms/],
    ['deep', /does not speak UID2 v2: HTTP 400 \(application\/json\)/],
  ];
  it.each(cases)('%s is exit 2 naming what it answered, with an error report', async (mode, message) => {
    const target = await hostile(mode);
    expect(await runCommand(options(target.url, mode), KIT, only('gen.'))).toBe(2);
    expect(reportOf(mode)).toMatchObject({ outcome: 'error', error: expect.stringMatching(message), results: [] });
  });
});

describe('a target that fails after preflight', () => {
  it('resets every connection after the first answer: exit 2 with the reason in complete reports, within seconds', async () => {
    const target = await hostile('reset-after-first');
    const started = Date.now();
    // No CSTG keys: preflight is then the one generate that goes through.
    const run = options(target.url, 'reset', { deadline: '20s', cstgPublicKey: undefined, cstgSubscriptionId: undefined });
    expect(await runCommand(run, KIT, only('gen.'))).toBe(2);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(reportOf('reset')).toMatchObject({ outcome: 'error', error: expect.stringMatching(/stopped answering during the run/) });
  });
});

describe('the target URL', () => {
  it('keeps its path: every request goes under /uid2/', async () => {
    const prefixed = await hostile('prefix');
    expect(await runCommand(options(`${prefixed.url}/uid2/`, 'prefix'), KIT, only('gen.'))).toBe(0);
    expect(reportOf('prefix').summary).toMatchObject({ fail: 0, error: 0 });
  });

  it('refuses a query string or a fragment (a token there would be printed into every report)', async () => {
    for (const target of [`${op.url}/?token=secret`, `${op.url}/#secret`]) {
      expect(await runCommand(options(target, 'query'), KIT, only('gen.'))).toBe(2);
      expect(reportOf('query')).toMatchObject({ outcome: 'error', error: expect.stringMatching(/--target: .*(query|fragment)/), results: [] });
    }
  });
});

describe('caps on what the checks read', () => {
  it('the envelope checks stop reading 20 MB error bodies at their cap, and judge them as no JSON body', async () => {
    const huge = await hostile('huge-errors');
    await runCommand(options(huge.url, 'huge', { timeout: '10s' }), KIT, only('envelope.malformed'));
    expect(reportOf('huge').results).toMatchObject([{ check: 'envelope.malformed', status: 'fail', message: expect.stringMatching(/HTTP 400 without a JSON body/) }]);
    expect(huge.hugeSentInFull).toBe(0);
  });
});

describe('a flaky gateway in front of a conformant operator', () => {
  it('503 on every other request: no check fails, the retries are counted in the report', async () => {
    const flaky = await hostile('flaky-503');
    await runCommand(options(flaky.url, 'flaky', { timeout: '10s' }), KIT, only('envelope.', 'gen.', 'map.', 'propagation.'));
    const report = reportOf('flaky');
    expect(report.summary.fail).toBe(0);
    // Retries can make the kit's polls late against the short 2 s bound: that is undecided, never a failure.
    const undecided = report.results.filter((r) => r.status !== 'pass');
    for (const r of undecided) expect(r).toMatchObject({ check: 'propagation.within-bound', status: 'error', message: expect.stringMatching(/cannot tell/) });
    expect(report.transport!.server_errors).toBeGreaterThan(0);
    expect(report.transport).toMatchObject({ retried: report.transport!.server_errors, gave_up: 0 });
  });
});
