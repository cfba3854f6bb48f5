// Several operators in one run, and `merge`, as users' CI sees them: three simulated operators (one with the
// named fault status-limit-off-by-one, which breaks OP-STATUS-LIMITS alone) checked in one fleet run from a
// config file whose targets read their own credential variables; the three single-target runs a CI matrix
// would make, merged, give the same verdicts. Short runs: a 2 s bound and no settle window.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import { targetRuns } from '../../harness/engine/fleet.ts';
import type { RunResult } from '../../harness/engine/result.ts';
import { ruleVerdicts } from '../../reports/audit.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-fleet-runs-'));
const SHORT = ['--propagation-timeout', '2s', '--settle', '0ms', '--seed', '7', '--runs', '10'];
const FAULTY = 'us';
const BROKEN_RULE = 'OP-STATUS-LIMITS';

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const secret = (n: number) => Buffer.alloc(32, n).toString('base64');
/** Each operator's own credentials, as the environment variables of its target. */
const credentialsOf = (i: number) => ({ apiKey: `fleet-key-${i}`, clientSecret: secret(i + 1), optoutApiKey: `fleet-optout-key-${i}`, optoutClientSecret: secret(i + 11) });
const NAMES = ['eu', 'us', 'apac'] as const;
const operators: RunningOperator[] = [];

beforeAll(async () => {
  for (const [i, name] of NAMES.entries()) operators.push(await startOperator({ ...credentialsOf(i), fault: name === FAULTY ? 'status-limit-off-by-one' : undefined }));
});
afterAll(async () => {
  await Promise.all(operators.map((o) => o.close()));
  rmSync(out, { recursive: true, force: true });
});

/** eu and us read their own variables; apac has none and uses the run's --api-key and friends. */
function fleetConfig(): { file: string; env: Record<string, string>; runCredentials: string[] } {
  const env: Record<string, string> = {};
  const targets = NAMES.map((name, i) => {
    if (name === 'apac') return { name, url: operators[i]!.url };
    const c = credentialsOf(i);
    const prefix = `FLEET_${name.toUpperCase()}`;
    Object.assign(env, { [`${prefix}_KEY`]: c.apiKey, [`${prefix}_SECRET`]: c.clientSecret, [`${prefix}_OPTOUT_KEY`]: c.optoutApiKey, [`${prefix}_OPTOUT_SECRET`]: c.optoutClientSecret });
    return { name, url: operators[i]!.url, 'api-key-env': `${prefix}_KEY`, 'client-secret-env': `${prefix}_SECRET`, 'optout-api-key-env': `${prefix}_OPTOUT_KEY`, 'optout-client-secret-env': `${prefix}_OPTOUT_SECRET` };
  });
  const file = join(out, 'fleet.json');
  writeFileSync(file, JSON.stringify({ targets }));
  const c = credentialsOf(2);
  return { file, env, runCredentials: ['--api-key', c.apiKey, '--client-secret', c.clientSecret, '--optout-api-key', c.optoutApiKey, '--optout-client-secret', c.optoutClientSecret] };
}

const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunResult;

/** The verdict of every rule on every target: `target rule` → verdict. */
function verdicts(run: RunResult): Record<string, string> {
  return Object.fromEntries((targetRuns(run) ?? []).flatMap((t) => ruleVerdicts(t).map((v) => [`${t.target.name} ${v.id}`, v.verdict])));
}

const failedPairs = (run: RunResult) => Object.entries(verdicts(run)).filter(([, v]) => v === 'fail').map(([k]) => k);
const ALL_SECRETS = NAMES.flatMap((_, i) => Object.values(credentialsOf(i)));

describe('a fleet run of three simulated operators, and merge', () => {
  let fleet: RunResult;

  it('checks every target in one run: only the faulty target fails its rule (exit 1), one report with a section per target', async () => {
    const { file, env, runCredentials } = fleetConfig();
    const dir = join(out, 'fleet');
    const started = Date.now();
    const { code, stdout, stderr } = await cli(['run', '--config', file, ...runCredentials, ...SHORT, '--out', dir], env);
    console.log(`fleet run of 3 targets: ${Date.now() - started} ms`);
    fleet = readReport(dir);
    expect(validateWith('report', fleet)).toEqual([]);
    expect(failedPairs(fleet)).toEqual([`${FAULTY} ${BROKEN_RULE}`]);
    expect(code, stderr).toBe(1);
    expect(fleet.outcome).toBe('fail');
    expect(fleet.targets!.map((t) => [t.name, t.url, t.outcome])).toEqual(NAMES.map((name, i) => [name, operators[i]!.url, name === FAULTY ? 'fail' : 'pass']));
    for (const t of fleet.targets!) {
      expect(t.propagation!.registered).toBeGreaterThan(0);
      expect(t.summary.pass).toBeGreaterThan(0);
    }
    expect(fleet.results.every((r) => NAMES.includes(r.target as (typeof NAMES)[number]))).toBe(true);
    expect(fleet.summary.fail).toBe(fleet.targets!.reduce((n, t) => n + t.summary.fail, 0));

    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect([...junit.matchAll(/<testsuite name="([^"]+)"/g)].map((m) => m[1])).toEqual(NAMES.map((name) => `uid2-conformance ${name}`));
    const md = readFileSync(join(dir, 'audit.md'), 'utf8');
    expect(md).toContain('## Verdict per target');
    expect(md).toMatch(new RegExp(`\\| ${BROKEN_RULE} \\| \\*\\*Pass\\*\\* \\| \\*\\*Fail\\*\\* \\| \\*\\*Pass\\*\\* \\|`));
    expect(readFileSync(join(dir, 'audit.html'), 'utf8')).toContain('Verdict per target');
    // Each target's credentials came from its variables, and none of them is in any output.
    const outputs = [stdout, stderr, ...['report.json', 'junit.xml', 'audit.html', 'audit.md'].map((f) => readFileSync(join(dir, f), 'utf8'))].join('\n');
    for (const value of ALL_SECRETS) expect(outputs).not.toContain(value);
  }, 300_000);

  it('merge of the three single-target reports of a CI matrix gives the same verdicts per target and rule', async () => {
    // One after the other, as separate CI jobs would run them (the three operators share this process).
    const singles: string[] = [];
    for (const [i, name] of NAMES.entries()) {
      const dir = join(out, `single-${name}`);
      const c = credentialsOf(i);
      const env = { UID2_API_KEY: c.apiKey, UID2_CLIENT_SECRET: c.clientSecret, UID2_OPTOUT_API_KEY: c.optoutApiKey, UID2_OPTOUT_CLIENT_SECRET: c.optoutClientSecret };
      const { code, stderr } = await cli(['run', '--target', `${name}=${operators[i]!.url}`, ...SHORT, '--out', dir], env);
      expect(code, stderr).toBe(name === FAULTY ? 1 : 0);
      expect(readReport(dir).target.name).toBe(name);
      singles.push(join(dir, 'report.json'));
    }
    const dir = join(out, 'merged');
    const { code, stdout } = await cli(['merge', ...singles, '--out', dir]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAIL: /m);
    const merged = readReport(dir);
    expect(validateWith('report', merged)).toEqual([]);
    expect(merged.targets!.map((t) => t.name)).toEqual([...NAMES]);
    expect(verdicts(merged)).toEqual(verdicts(fleet));
    expect(failedPairs(merged)).toEqual([`${FAULTY} ${BROKEN_RULE}`]);
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect([...junit.matchAll(/<testsuite name="([^"]+)"/g)].map((m) => m[1])).toEqual(NAMES.map((name) => `uid2-conformance ${name}`));
    expect(readFileSync(join(dir, 'audit.md'), 'utf8')).toContain('## Verdict per target');

    // A report of another kit version is refused, naming the files on each side; nothing is written.
    const other = join(out, 'other-version.json');
    const changed = readReport(join(out, 'single-eu'));
    writeFileSync(other, JSON.stringify({ ...changed, kit: { ...changed.kit, version: '0.0.1-other' } }));
    const refused = await cli(['merge', singles[1]!, other, '--out', join(out, 'refused')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`reports of different kit versions cannot be merged: ${singles[1]} (kit version`);
    expect(refused.stderr).toContain(`${other} (kit version uid2-conformance 0.0.1-other)`);
    const catalog = join(out, 'catalog.json');
    writeFileSync(catalog, JSON.stringify({ ...changed, catalog: { version: '0.9' } }));
    const refusedCatalog = await cli(['merge', singles[1]!, catalog, '--out', join(out, 'refused')]);
    expect(refusedCatalog.code).toBe(2);
    expect(refusedCatalog.stderr).toContain('reports of different rule catalog versions cannot be merged');
  }, 300_000);
});

describe('fleet run options', () => {
  it('exits 2 before any request when a target names a credential variable that is not set, naming the variable only', async () => {
    const file = join(out, 'unset.json');
    writeFileSync(file, JSON.stringify({ targets: [{ name: 'eu', url: 'http://127.0.0.1:9', 'api-key-env': 'FLEET_UNSET_KEY_VARIABLE' }, { url: 'http://127.0.0.1:9/other' }] }));
    const { code, stderr } = await cli(['run', '--config', file, '--api-key', 'run-key-value', '--client-secret', secret(3), '--out', join(out, 'unset')]);
    expect(code).toBe(2);
    expect(stderr).toContain('target eu: api-key-env names the environment variable FLEET_UNSET_KEY_VARIABLE, which is not set');
    expect(stderr).not.toContain('run-key-value');
    expect(readReport(join(out, 'unset')).error).toContain('FLEET_UNSET_KEY_VARIABLE');
  }, 60_000);

  it('tests the reachable targets of a fleet and exits 2 naming the one it could not reach', async () => {
    const c = credentialsOf(0);
    const dir = join(out, 'unreachable');
    const args = ['run', '--target', operators[0]!.url, '--target', 'http://127.0.0.1:9', '--api-key', c.apiKey, '--client-secret', c.clientSecret, ...SHORT, '--out', dir];
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/target 127\.0\.0\.1:9 could not be tested: cannot reach the operator/);
    const report = readReport(dir);
    expect(validateWith('report', report)).toEqual([]);
    expect(report.outcome).toBe('error');
    const [reached, unreached] = report.targets!;
    expect(reached).toMatchObject({ name: defaultName(operators[0]!.url), outcome: 'pass' });
    expect(unreached).toMatchObject({ name: '127.0.0.1:9', outcome: 'error', error: expect.stringContaining('cannot reach the operator') });
    expect(report.results.filter((r) => r.target === reached!.name && r.status === 'pass').length).toBeGreaterThan(0);
  }, 300_000);

  it('ends every target at the run deadline: each one incomplete, its unfinished checks reported as not run (exit 2)', async () => {
    const c = credentialsOf(0);
    const dir = join(out, 'deadline');
    const targets = [`a=${operators[0]!.url}`, `b=${operators[0]!.url}`];
    const { code } = await cli(['run', ...targets.flatMap((t) => ['--target', t]), '--api-key', c.apiKey, '--client-secret', c.clientSecret, '--optout-api-key', c.optoutApiKey, '--optout-client-secret', c.optoutClientSecret, ...SHORT, '--deadline', '1ms', '--out', dir]);
    expect(code).toBe(2);
    const report = readReport(dir);
    expect(validateWith('report', report)).toEqual([]);
    expect(report).toMatchObject({ outcome: 'error', stopped_by: 'deadline', incomplete: true });
    expect(report.targets!.map((t) => [t.name, t.outcome, t.incomplete])).toEqual([
      ['a', 'error', true],
      ['b', 'error', true],
    ]);
    for (const name of ['a', 'b']) expect(report.results.filter((r) => r.target === name && r.status === 'skipped').length).toBeGreaterThan(0);
  }, 120_000);
});

function defaultName(url: string): string {
  return new URL(url).host;
}
