// `run --baseline FILE` as users' CI sees it (issue 11): a real failure (the simulated operator's named fault
// status-seconds breaks OP-STATUS-OPTOUT) accepted by the baseline exits 0 with `skipped`; an expired entry exits
// 1; a stale entry is a warning, exit 1 under --strict; a malformed baseline exits 2 naming the place, before any
// request. The option comes from the flag, UID2_BASELINE or the config key `baseline`, for `run` and `replay`.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import type { RunResult } from '../../harness/engine/result.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'uid2-baseline-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const readReport = (out: string) => JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunResult;

const ACCEPTED = '- rule: OP-STATUS-OPTOUT\n  reason: the status endpoint answers seconds, fixed in release 4.2\n  owner: team-identity\n  expires: 2099-12-31\n';
const STALE = '- rule: OP-GEN-OPTOUT\n  check: gen.optout.every-form\n  reason: flaky in staging\n  owner: alice\n  expires: 2099-01-01\n';
const UNUSED = '- rule: PUB-SITE-OPTOUT\n  reason: not tested here\n  owner: bob\n  expires: 2099-01-01\n';

describe('run --baseline against an operator with a real failure', () => {
  let op: RunningOperator;
  beforeAll(async () => {
    op = await startOperator({ fault: 'status-seconds', propagationDelayMs: 300 });
  });
  afterAll(() => op?.close());

  const run = (out: string, args: string[], env: Record<string, string> = {}) => {
    const c = op.credentials;
    return cli(['run', '--target', op.url, '--propagation-timeout', '5s', '--watch', '1s', '--seed', '1', '--out', out, ...args], {
      UID2_API_KEY: c.apiKey,
      UID2_CLIENT_SECRET: c.clientSecret,
      UID2_OPTOUT_API_KEY: c.optoutApiKey,
      UID2_OPTOUT_CLIENT_SECRET: c.optoutClientSecret,
      UID2_CSTG_PUBLIC_KEY: c.cstgPublicKey,
      UID2_CSTG_SUBSCRIPTION_ID: c.cstgSubscriptionId,
      ...env,
    });
  };

  it('accepts the failure (exit 0, skipped with the reason), warns of the stale entry and fails on it under --strict, fails on an expired one', async () => {
    const known = file('known.yaml', `# accepted until fixed\n${ACCEPTED}${STALE}${UNUSED}`);
    const expired = file('expired.json', JSON.stringify([{ rule: 'OP-STATUS-OPTOUT', reason: 'was to be fixed in 4.1', owner: 'team-identity', expires: '2020-01-01' }], null, 2));
    const config = file('strict.config.json', JSON.stringify({ baseline: known, strict: true }));
    const outs = { lenient: join(dir, 'lenient'), strict: join(dir, 'strict'), expired: join(dir, 'expired') };
    // Two at a time: the machine has two cores. The option by env, by config key and by flag.
    const [lenient, strict] = await Promise.all([run(outs.lenient, [], { UID2_BASELINE: known }), run(outs.strict, ['--config', config])]);
    const late = await run(outs.expired, ['--baseline', expired]);

    expect(lenient.code, lenient.stderr.slice(-3000)).toBe(0);
    const report = readReport(outs.lenient);
    expect(validateWith('report', report)).toEqual([]);
    const status = report.results.filter((r) => r.rule === 'OP-STATUS-OPTOUT');
    expect(status.length).toBeGreaterThan(0);
    for (const r of status) {
      expect(r).toMatchObject({ status: 'skipped', baseline: { entry: 1, owner: 'team-identity', expires: '2099-12-31', reason: 'the status endpoint answers seconds, fixed in release 4.2' } });
      expect(r.message).toMatch(/^accepted risk \(baseline entry #1, owner team-identity, expires 2099-12-31\): the status endpoint answers seconds, fixed in release 4\.2; the check found: /);
    }
    // A real failure: the checks found it, and nothing else failed.
    expect(status.some((r) => r.baseline!.status === 'fail')).toBe(true);
    expect(report.results.filter((r) => r.status === 'fail' || r.status === 'warn')).toEqual([]);
    expect(report).toMatchObject({ outcome: 'pass', summary: { skipped: status.length } });
    expect(report.incomplete).toBeUndefined();
    expect(report.baseline!.entries.map((e) => [e.entry, e.state, e.fails_run])).toEqual([
      [1, 'accepted', false],
      [2, 'stale', false],
      [3, 'unused', false],
    ]);
    expect(lenient.stderr).toContain('baseline entry #2 (OP-GEN-OPTOUT check gen.optout.every-form, owner alice, expires 2099-01-01) is stale: every result it matched (1) passes now: remove the entry (a warning; a failure under --strict)');
    expect(lenient.stderr).toContain('baseline entry #3 (PUB-SITE-OPTOUT, owner bob, expires 2099-01-01) is unused: no result of this run matched it: PUB-SITE-OPTOUT did not run');
    expect(lenient.stderr).toContain('PASS: every applicable MUST rule passed, but for 1 rule with failures the baseline accepts: OP-STATUS-OPTOUT');
    expect(lenient.stdout).toMatch(/^PASS: \d+ pass, 3 skipped; reports /m);
    // The progress lines already say what the reports say.
    expect(lenient.stderr).toMatch(/^\[ *\d+\] SKIPPED +OP-STATUS-OPTOUT +status\.optout\.scenario: accepted risk \(baseline entry #1/m);
    expect(lenient.stderr).not.toMatch(/^\[ *\d+\] FAIL /m);
    const junit = readFileSync(join(outs.lenient, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testcase name="OP-STATUS-OPTOUT status\.optout\.scenario"[^>]*status="skipped">\s*<skipped>skipped: accepted risk \(baseline entry #1, owner team-identity, expires 2099-12-31\): the status endpoint answers seconds/);
    expect(junit).toContain('warning: baseline entry #2 (OP-GEN-OPTOUT check gen.optout.every-form');
    const audit = readFileSync(join(outs.lenient, 'audit.md'), 'utf8');
    expect(audit).toContain('**Outcome: Passed with 1 accepted risk (OP-STATUS-OPTOUT)');
    expect(audit).toContain('| #1 | OP-STATUS-OPTOUT | any | any | the status endpoint answers seconds, fixed in release 4.2 | team-identity | 2099-12-31 |');
    expect(audit).toContain('| #2 | OP-GEN-OPTOUT | gen.optout.every-form | any | stale | alice | 2099-01-01 |');
    expect(audit).toContain('| #3 | PUB-SITE-OPTOUT | any | any | unused | bob | 2099-01-01 |');
    expect(readFileSync(join(outs.lenient, 'audit.html'), 'utf8')).toContain('<h2>Accepted risks</h2>');

    expect(strict.code, strict.stderr.slice(-3000)).toBe(1);
    expect(readReport(outs.strict)).toMatchObject({ outcome: 'fail', baseline: { entries: [{ state: 'accepted' }, { state: 'stale', fails_run: true }, { state: 'unused' }] } });
    expect(strict.stderr).toContain('FAIL: baseline entry #2 (OP-GEN-OPTOUT check gen.optout.every-form, owner alice, expires 2099-01-01) is stale');

    expect(late.code, late.stderr.slice(-3000)).toBe(1);
    const lateReport = readReport(outs.expired);
    expect(lateReport.outcome).toBe('fail');
    expect(lateReport.results.filter((r) => r.rule === 'OP-STATUS-OPTOUT' && r.status === 'fail').length).toBeGreaterThan(0);
    expect(lateReport.baseline!.entries).toEqual([expect.objectContaining({ entry: 1, state: 'expired', accepted: 0, fails_run: true })]);
    expect(late.stderr).toContain('baseline entry #1 (OP-STATUS-OPTOUT, owner team-identity, expires 2020-01-01) is expired: its last day was 2020-01-01');
  }, 600_000);
});

describe('a malformed baseline', () => {
  let hits = 0;
  const target = createServer((_request, response) => {
    hits += 1;
    response.end();
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const credentials = ['--api-key', 'k', '--client-secret', `${'A'.repeat(43)}=`];

  it('exits 2 before any request, naming the place: bad YAML, bad JSON, a schema violation, an unknown rule', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['bad.yaml', `${ACCEPTED}- rule: OP-GEN-OPTOUT\n  reason: [unclosed\n`, /--baseline \S*bad\.yaml:\d+:\d+: not valid YAML/],
      ['bad.json', '[\n  { "rule": "OP-GEN-OPTOUT", }\n]\n', /--baseline \S*bad\.json:2:30: not valid JSON/],
      ['schema.yaml', `${ACCEPTED}- rule: OP-GEN-OPTOUT\n  reason: r\n  owner: o\n  expires: 31.12.2099\n`, /--baseline \S*schema\.yaml:8:3: entry #2, field "expires": must match format "date"/],
      ['unknown.yml', '- rule: OP-GEN-OPTOUTS\n  reason: r\n  owner: o\n  expires: 2099-01-01\n', /--baseline \S*unknown\.yml:1:3: entry #1, field "rule": unknown rule OP-GEN-OPTOUTS/],
    ];
    for (const [name, text, place] of cases) {
      const out = join(dir, `malformed-${name}`);
      const { code, stderr } = await cli(['run', '--target', url, ...credentials, '--baseline', file(name, text), '--out', out]);
      expect({ name, code }, stderr).toEqual({ name, code: 2 });
      expect(stderr).toMatch(place);
      expect(readReport(out)).toMatchObject({ outcome: 'error', error: expect.stringMatching(place), results: [] });
    }
    expect(hits).toBe(0);
  }, 300_000);

  it('replay takes --baseline too', async () => {
    const failed = file('failed-report.json', JSON.stringify({ seed: 7, results: [{ rule: 'OP-STATUS-OPTOUT', check: 'status.optout.property', status: 'fail', counterexample: { seed: 7, path: '0:0', value: 'x' } }] }));
    const out = join(dir, 'replay');
    const { code, stderr } = await cli(['replay', failed, '--target', url, ...credentials, '--baseline', file('replay.yaml', 'rule: OP-GEN-OPTOUT\n'), '--out', out]);
    expect(code, stderr).toBe(2);
    expect(stderr).toContain('replay.yaml: not a list of entries');
    expect(hits).toBe(0);
  }, 120_000);
});
