// @vitest-environment jsdom
// audit.html and audit.md: every rule of the covered roles with its verdict, findings with counterexample,
// replay line and a bounded transcript, well-formed and escaped HTML, Markdown that stays text, nothing
// sensitive added, and both files replaced whole.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import type { Evidence, RunResult, Status } from '../../harness/engine/result.ts';
import { RULES } from '../../harness/rules.ts';
import { auditHtml, auditMarkdown, ruleVerdicts, VERDICT_LABEL, writeAuditReports, type VerdictKind } from '../../reports/audit.ts';
import { writeReports } from '../../reports/index.ts';
import { ALL, BASELINED, ERROR, FAIL, NOT_APPLICABLE, PASS, PROPAGATION, result, runOf, SKIPPED, WARN } from './fixtures.ts';

const EVERY_STATUS = runOf(ALL, { propagation: PROPAGATION, capabilities: ['optout', 'cstg', 'synthetic'] });
const ALL_ROLES = ['operator', 'publisher', 'dsp', 'advertiser', 'sharer'];

const RUNS: Array<[string, RunResult]> = [
  ['every status', EVERY_STATUS],
  ['only passes', runOf([PASS])],
  ['every role', runOf([PASS, result({ rule: 'DSP-BID-OPTOUT', check: 'dsp.bid', status: 'pass' })], { target: { role: 'operator', url: 'a b', roles: ALL_ROLES } })],
  ['accepted by a baseline', BASELINED],
  ['interrupted', runOf([PASS, SKIPPED], { outcome: 'interrupted', propagation: { ...PROPAGATION, latencyMs: undefined } })],
  ['empty, could not test', runOf([], { outcome: 'error', error: 'cannot reach the operator: connect ECONNREFUSED 127.0.0.1:9' })],
];

async function wellFormedErrors(html: string): Promise<string[]> {
  const answer = await validateXML({ xml: [{ fileName: 'audit.html', contents: html }], normalization: 'c14n' });
  return answer.valid ? [] : answer.errors.map((e) => e.rawMessage);
}

const parseHtml = (html: string): Document => new DOMParser().parseFromString(html, 'text/html');

/** Rule ID → verdict label, in document order, from the verdict tables of audit.html. */
function htmlVerdicts(doc: Document): Array<[string, string]> {
  return Array.from(doc.querySelectorAll('table.verdicts tbody tr')).map((tr) => {
    const cells = Array.from(tr.querySelectorAll('td'));
    return [cells[0]!.textContent!, cells[3]!.querySelector('.verdict')!.textContent!];
  });
}

/** Rule ID → verdict label, in document order, from the verdict tables of audit.md. */
function markdownVerdicts(md: string): Array<[string, string]> {
  return [...md.matchAll(/^\| ([A-Z][A-Z0-9-]+) \| (?:MUST|SHOULD|unknown) \| .* \| \*\*([^*]+)\*\*: .* \| [^|]+ \|$/gm)].map((m) => [m[1]!, m[2]!]);
}

/** The Markdown outside fenced code blocks and inline code spans: what a renderer would read as markup. */
function markdownProse(md: string): string {
  return md.replace(/^(`{3,})text\n[\s\S]*?^\1$/gm, '').replace(/(?<![\\`])(`+)(?!`)[^\n]*?(?<!`)\1(?!`)/g, '');
}

function expected(run: RunResult): Array<[string, string]> {
  return ruleVerdicts(run).map((v) => [v.id, VERDICT_LABEL[v.verdict]]);
}

describe('verdict per rule', () => {
  it('lists every rule of the covered role in catalog order, with fail > warn > error > pass > not applicable', () => {
    const verdicts = ruleVerdicts(EVERY_STATUS);
    expect(verdicts.map((v) => v.id)).toEqual(RULES.filter((r) => r.role === 'operator').map((r) => r.id));
    const of = (id: string) => verdicts.find((v) => v.id === id)!;
    const wanted: Record<string, VerdictKind> = {
      'OP-GEN-OPTOUT': 'pass',
      'OP-STATUS-OPTOUT': 'fail',
      'OP-GEN-OPTOUT-IMPLICIT': 'warn',
      'OP-MAP-OPTOUT': 'error',
      'OP-PROPAGATION': 'not_run',
      'OP-CSTG-OPTOUT': 'not_applicable',
      'OP-LOGOUT': 'not_run',
    };
    for (const [id, verdict] of Object.entries(wanted)) expect(of(id).verdict, id).toBe(verdict);
    expect(of('OP-CSTG-OPTOUT').detail).toBe('needs --cstg-public-key and --cstg-subscription-id');
    expect(of('OP-PROPAGATION').detail).toBe('deadline reached before this check started');
    expect(of('OP-LOGOUT')).toMatchObject({ checks: 0, detail: 'no check of this rule was part of this run' });
    expect(of('OP-STATUS-OPTOUT')).toMatchObject({ severity: 'MUST', checks: 1, kinds: '1 property' });
  });

  it('decides a rule from all its results by precedence', () => {
    const on = (status: Status, i: number) => result({ rule: 'OP-FORMS', check: `forms.${i}`, status, kind: i % 2 ? 'property' : 'scenario' });
    const cases: Array<[Status[], VerdictKind]> = [
      [['pass', 'error', 'warn', 'fail', 'not_applicable', 'skipped'], 'fail'],
      [['pass', 'error', 'warn', 'not_applicable'], 'warn'],
      [['pass', 'error', 'skipped'], 'error'],
      [['pass', 'not_applicable', 'skipped'], 'pass'],
      [['not_applicable', 'skipped'], 'not_applicable'],
      [['skipped', 'skipped'], 'not_run'],
      [[], 'not_run'],
    ];
    for (const [statuses, verdict] of cases) {
      const forms = ruleVerdicts(runOf(statuses.map(on))).find((v) => v.id === 'OP-FORMS')!;
      expect(forms.verdict, statuses.join(',')).toBe(verdict);
      expect(forms.checks).toBe(statuses.length);
    }
    const mixed = ruleVerdicts(runOf((['pass', 'pass', 'skipped'] as const).map(on))).find((v) => v.id === 'OP-FORMS')!;
    expect(mixed).toMatchObject({ detail: '2 of 3 checks passed (1 not run)', kinds: '2 scenario, 1 property' });
    const partly = ruleVerdicts(runOf((['pass', 'not_applicable', 'skipped'] as const).map(on))).find((v) => v.id === 'OP-FORMS')!;
    expect(partly.detail).toBe('1 of 3 checks passed (1 not applicable, 1 not run)');
  });

  it('covers every role of a multi-role run, only the participant role of a participant run, and unknown rules last', () => {
    const many = runOf([PASS], { target: { role: 'operator', url: 'x', roles: ALL_ROLES } });
    expect(ruleVerdicts(many).map((v) => v.id)).toEqual(RULES.map((r) => r.id));
    const dsp = runOf([result({ rule: 'DSP-WEBHOOK-ACK', check: 'dsp.ack', status: 'fail' }), result({ rule: 'X-NEW', check: 'new', status: 'pass' })], { target: { role: 'dsp', url: 'd' } });
    expect(ruleVerdicts(dsp).map((v) => [v.id, v.verdict])).toEqual([
      ...RULES.filter((r) => r.role === 'dsp').map((r) => [r.id, r.id === 'DSP-WEBHOOK-ACK' ? 'fail' : 'not_run']),
      ['X-NEW', 'pass'],
    ]);
    expect(ruleVerdicts(dsp).at(-1)).toMatchObject({ severity: 'unknown', role: undefined });
  });

  it.each(RUNS)('audit.html and audit.md show every rule with its verdict: %s', (_, run) => {
    expect(htmlVerdicts(parseHtml(auditHtml(run)))).toEqual(expected(run));
    expect(markdownVerdicts(auditMarkdown(run))).toEqual(expected(run));
  });

  it('says the outcome in plain words', () => {
    const outcome = (run: RunResult) => parseHtml(auditHtml(run)).querySelector('.outcome')!.textContent;
    expect(outcome(runOf([PASS]))).toBe('Conformant: every applicable MUST rule passed.');
    expect(outcome(runOf([PASS, WARN]))).toBe('Conformant: every applicable MUST rule passed; 1 SHOULD rule gave a warning (OP-GEN-OPTOUT-IMPLICIT).');
    expect(outcome(EVERY_STATUS)).toBe('Not conformant: 1 rule failed (OP-STATUS-OPTOUT).');
    expect(outcome(runOf([PASS, WARN], { outcome: 'fail' }))).toMatch(/^Not conformant: 1 SHOULD rule gave a warning \(OP-GEN-OPTOUT-IMPLICIT\), and the run was strict/);
    expect(outcome(runOf([PASS, ERROR]))).toBe('Could not be tested completely: the kit could not decide 1 rule (OP-MAP-OPTOUT); no rule failed.');
    expect(outcome(runOf([ERROR]))).toBe('Could not be tested: no check could decide its rule.');
    expect(outcome(runOf([], { outcome: 'error', error: 'credentials refused: HTTP 401' }))).toBe('Could not be tested: credentials refused: HTTP 401.');
    expect(outcome(runOf([PASS, SKIPPED], { outcome: 'interrupted' }))).toMatch(/^Interrupted: the run was stopped before every check finished/);
    expect(auditMarkdown(runOf([PASS]))).toContain('**Outcome: Conformant: every applicable MUST rule passed.**');
  });

  it('has the header facts: kit, target, roles, times, duration, seed, counts', () => {
    const md = auditMarkdown(runOf(ALL, { target: { role: 'operator', url: 'https://operator.staging.example', roles: ['operator', 'dsp'] } }));
    for (const line of [
      '- **Kit:** uid2-conformance 0.1.0',
      '- **Target:** https://operator.staging.example',
      '- **Roles tested:** operator, dsp',
      '- **Started:** 2026-01-02 03:04:05 UTC',
      '- **Finished:** 2026-01-02 03:04:07 UTC',
      '- **Duration:** 2.5 s',
      '- **Seed:** 99',
      '- **Checks:** 6: 1 passed, 1 failed, 1 warning, 1 could not decide, 1 not applicable, 1 not run',
    ]) {
      expect(md).toContain(line);
    }
    expect(md).toMatch(/^- \*\*Rules:\*\* 21: 1 passed, 1 failed, 1 warning, 1 could not decide, 1 not applicable, 16 not run$/m);
    expect(md).toContain('Note: 16 rules of the tested roles were not checked in this run: OP-GEN-NO-LEAK,');
  });
});

describe('accepted risks (--baseline)', () => {
  const accepted = BASELINED.results.find((r) => r.rule === 'OP-STATUS-OPTOUT')!;

  it('gives a rule whose failures the baseline accepts the verdict Accepted risk, after fail, warn and error', () => {
    const of = (run: RunResult, id: string) => ruleVerdicts(run).find((v) => v.id === id)!;
    expect(of(BASELINED, 'OP-STATUS-OPTOUT')).toMatchObject({ verdict: 'accepted', detail: '1 of 1 check found it broken, accepted by the baseline (entry #1, owner team|<id>, until 2026-06-30)' });
    expect(of(BASELINED, 'OP-GEN-OPTOUT-IMPLICIT').verdict).toBe('accepted');
    const also = (status: Status) => result({ rule: 'OP-STATUS-OPTOUT', check: 'other', status });
    const cases: Array<[Status, VerdictKind]> = [['pass', 'accepted'], ['skipped', 'accepted'], ['error', 'error'], ['fail', 'fail']];
    for (const [status, verdict] of cases) expect(of(runOf([accepted, also(status)]), 'OP-STATUS-OPTOUT').verdict, status).toBe(verdict);
    expect(VERDICT_LABEL.accepted).toBe('Accepted risk');
  });

  it('says so in the outcome and the facts: a pass with accepted risks, a run its baseline failed', () => {
    const md = auditMarkdown(runOf([PASS, accepted]));
    expect(md).toContain('**Outcome: Passed with 1 accepted risk (OP-STATUS-OPTOUT): the baseline accepts their failures until its entries expire; every other applicable MUST rule passed.**');
    const failed = auditMarkdown(BASELINED);
    expect(failed).toContain('**Outcome: Failed by its baseline: baseline entry #4 (OP-LOGOUT, owner carol, expires 2026-01-01) is expired: its last day was 2026-01-01: fix the failure, or renew the entry with a new date and reason.**');
    expect(failed).toContain('- **Checks:** 6: 1 passed, 1 could not decide, 1 not applicable, 1 not run, 2 accepted risks');
    expect(failed).toContain('- **Baseline:** known.yaml: 5 entries');
  });

  it('keeps accepted failures among the findings, with their evidence and the entry that accepts them', () => {
    const md = auditMarkdown(BASELINED);
    expect(md).toContain('### F3. Accepted risk: OP-STATUS-OPTOUT (MUST), check status-lists-optouts');
    expect(md).toContain('- **Accepted:** by baseline entry #1, owner team\\|\\<id>, until 2026-06-30: seconds \\<script>alert(1)\\</script> \\| \\*fix\\* in 4.2 (the check found: a failure)');
    expect(md).not.toMatch(/\| `status-lists-optouts` \|.*Not run/);
  });

  it('lists every accepted risk (rule, check, target, reason, owner, expiry) and the entries to review, in both formats', () => {
    const md = auditMarkdown(BASELINED);
    const rows = md.split('\n').filter((l) => /^\| #\d /.test(l));
    expect(rows.map((l) => l.replace(/\\\|/g, '').split('|').length - 2)).toEqual([8, 8, 8, 8, 8]);
    expect(rows[0]).toBe('| #1 | OP-STATUS-OPTOUT | any | any | seconds \\<script>alert(1)\\</script> \\| \\*fix\\* in 4.2 | team\\|\\<id> | 2026-06-30 | 1 of 1 |');
    expect(rows[1]).toBe('| #2 | OP-GEN-OPTOUT-IMPLICIT | gen-implicit | any | SHOULD rule, later | bob | 2026-01-02 | 1 of 1 |');
    expect(rows.slice(2).map((l) => l.split(' | ').slice(0, 5).join(' | '))).toEqual(['| #3 | OP-GEN-OPTOUT | any | any | stale', '| #4 | OP-LOGOUT | any | any | expired', '| #5 | PUB-SITE-OPTOUT | any | eu | unused']);
    const doc = parseHtml(auditHtml(BASELINED));
    const cells = (selector: string) => Array.from(doc.querySelectorAll(`${selector} tbody tr`)).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent));
    expect(cells('table.accepted')).toEqual([
      ['#1', 'OP-STATUS-OPTOUT', 'any', 'any', 'seconds <script>alert(1)</script> | *fix* in 4.2', 'team|<id>', '2026-06-30', '1 of 1'],
      ['#2', 'OP-GEN-OPTOUT-IMPLICIT', 'gen-implicit', 'any', 'SHOULD rule, later', 'bob', '2026-01-02', '1 of 1'],
    ]);
    expect(cells('table.review').map((row) => row.slice(0, 5))).toEqual([
      ['#3', 'OP-GEN-OPTOUT', 'any', 'any', 'stale'],
      ['#4', 'OP-LOGOUT', 'any', 'any', 'expired'],
      ['#5', 'PUB-SITE-OPTOUT', 'any', 'eu', 'unused'],
    ]);
    expect(doc.querySelectorAll('script')).toHaveLength(0);
  });

  it('says so when the baseline accepted nothing, and has no such section without a baseline', () => {
    const none = runOf([PASS], { baseline: { file: 'b.yaml', entries: [] } });
    expect(auditMarkdown(none)).toContain('## Accepted risks\n\nBaseline `b.yaml`.\n\nNo failure of this run was accepted by the baseline.');
    expect(auditMarkdown(runOf([PASS]))).not.toContain('Accepted risk');
  });
});

describe('findings', () => {
  const html = auditHtml(EVERY_STATUS);
  const md = auditMarkdown(EVERY_STATUS);
  const doc = parseHtml(html);

  it('has one finding per fail, warn and error result (failures first), the rest in one table with the reason', () => {
    const titles = Array.from(doc.querySelectorAll('section.finding h3')).map((h) => h.textContent);
    expect(titles).toEqual([
      'F1. Fail: OP-STATUS-OPTOUT (MUST), check status-lists-optouts',
      'F2. Warning: OP-GEN-OPTOUT-IMPLICIT (SHOULD), check gen-implicit',
      'F3. Could not decide: OP-MAP-OPTOUT (MUST), check map-v2-positions',
    ]);
    expect([...md.matchAll(/^### (F\d\. .*)$/gm)].map((m) => m[1])).toEqual(titles);
    expect(md).toContain('| `propagation-bound` | OP-PROPAGATION | Not run | deadline reached before this check started |');
    expect(md).toContain('| `cstg-optout` | OP-CSTG-OPTOUT | Not applicable | needs --cstg-public-key and --cstg-subscription-id |');
  });

  it('gives a failed property check its counterexample and replay line', () => {
    const failure = doc.querySelector('#finding-1')!.textContent!;
    expect(failure).toContain('seed 424242, path 3:1:0, minimal case [{"optedOut":true,"position":2}]');
    expect(failure).toContain('uid2-conformance replay report.json --check status-lists-optouts');
    expect(md).toContain('- **Counterexample:** seed 424242, path `3:1:0`, minimal case `[{"optedOut":true,"position":2}]`');
    expect(md).toContain('- **Replay:** `uid2-conformance replay report.json --check status-lists-optouts`');
  });

  it('tells how to reproduce a scenario check, and a participant property check (which replay does not cover)', () => {
    expect(doc.querySelector('#finding-2')!.textContent).toContain('uid2-conformance run --seed 99');
    const participant = result({ rule: 'ADV-MAP-OPTOUT', check: 'advertiser.seq', kind: 'property', status: 'fail', counterexample: { seed: 5, path: '1:0', value: '[]' } });
    const text = auditMarkdown(runOf([participant], { target: { role: 'advertiser', url: 'd' } }));
    expect(text).toContain('- **Counterexample:** seed 5, path `1:0`, minimal case `[]`');
    expect(text).toContain('- **Replay:** `uid2-conformance run --seed 99`');
    expect(text).not.toContain('uid2-conformance replay');
  });

  it('shows the transcript: path, HTTP status, answer status, compact request and response, notes', () => {
    const entries = Array.from(doc.querySelectorAll('#finding-1 ol.transcript > li')).map((li) => li.textContent);
    expect(entries).toEqual([
      '/v2/token/logout: HTTP 200, answer status success, 5 msrequest:{"email":"BODY-SENTINEL-7f3a"}',
      '/v2/optout/status: HTTP 200, answer status success, 7 msnote: opted_out_since 1700000000 < logout timeresponse:{"body":"BODY-SENTINEL-7f3a"}',
    ]);
    expect(md).toContain(['```text', '1. /v2/token/logout: HTTP 200, answer status success, 5 ms', '   request:  {"email":"BODY-SENTINEL-7f3a"}', '2. /v2/optout/status: HTTP 200, answer status success, 7 ms', '   note:     opted_out_since 1700000000 < logout time', '   response: {"body":"BODY-SENTINEL-7f3a"}', '```'].join('\n'));
    expect(Array.from(doc.querySelectorAll('#finding-3 ol.transcript > li')).map((li) => li.textContent)).toEqual(['/v2/identity/map: no HTTP answernote: timeout']);
  });

  it('shows at most 10 transcript entries (the first 3 and the last 7) and long bodies cut, the rest left to report.json', () => {
    const evidence: Evidence[] = Array.from({ length: 25 }, (_, i) => ({ path: `/v2/step/${i + 1}`, http: 200, status: 'success', response: { ids: 'x'.repeat(i === 24 ? 5000 : 3) } }));
    const long = result({ rule: 'OP-FORMS', check: 'forms.long', status: 'fail', evidence });
    const run = runOf([long]);
    const items = Array.from(parseHtml(auditHtml(run)).querySelectorAll('ol.transcript > li'));
    expect(items).toHaveLength(11);
    expect(items.map((li) => li.getAttribute('value'))).toEqual(['1', '2', '3', null, '19', '20', '21', '22', '23', '24', '25']);
    expect(items[3]!.textContent).toBe('… 15 more in report.json');
    expect(items[10]!.textContent).toMatch(/^\/v2\/step\/25: .*"ids":"x{500,}… \(\d+ more characters in report\.json\)$/);
    const text = auditMarkdown(run);
    expect(text).toContain('- **Evidence** (25 entries, 10 shown):');
    expect(text).toContain('3. /v2/step/3: HTTP 200, answer status success\n   response: {"ids":"xxx"}\n… 15 more in report.json\n19. /v2/step/19');
    expect(text.length).toBeLessThan(12_000);
  });

  it('says so when nothing needs a finding, and when no opt-out was registered', () => {
    const text = auditMarkdown(runOf([PASS], { capabilities: [] }));
    expect(text).toContain('No check failed, warned or could not decide.');
    expect(text).toContain('No opt-out was registered in this run, so no propagation was measured.');
    expect(text).toContain('none: the target offered only what the documented test identities allow');
  });
});

describe('propagation, capabilities and the explanations', () => {
  it('shows the propagation figures and each capability in words', () => {
    const doc = parseHtml(auditHtml(EVERY_STATUS));
    const sections = Array.from(doc.querySelectorAll('h2')).map((h) => h.textContent);
    expect(sections).toEqual(['How to read this report', 'What was tested', 'Verdict per rule', 'Findings', 'Propagation of opt-outs', 'Capabilities of the target']);
    const md = auditMarkdown(EVERY_STATUS);
    for (const row of ['| Opt-outs registered | 4 |', '| Visible within the bound | 4 of 4 |', '| Latency from acknowledgement to first observation | min 2 ms, median 5 ms, max 19 ms |', '| Bound (--propagation-timeout) | 30000 ms (30.0 s) |']) {
      expect(md).toContain(row);
    }
    expect(md).toMatch(/^- optout: credentials with the OPTOUT role/m);
    expect(md).toMatch(/^- cstg: /m);
    expect(auditMarkdown(runOf([PASS], { propagation: { ...PROPAGATION, latencyMs: undefined } }))).toContain('| Latency from acknowledgement to first observation | not measured |');
  });

  it('shows the settle window and the disagreements measured before settling, per endpoint', () => {
    const fleet = { ...PROPAGATION, settled: 4, settleMs: 6000, disagreements: { map: { answers: 7, persons: 3, longestMs: 3900 } } };
    const md = auditMarkdown(runOf([PASS], { propagation: fleet }));
    expect(md).toContain('| Settled (reported without a flip for the --settle window) | 4 of 4, window 6000 ms (6.0 s) |');
    expect(md).toContain('| Disagreements before settling on map | 7 answers for 3 opt-outs said opted in after an earlier report, up to 3900 ms after it |');
    expect(md).not.toContain('on generate');
  });

  it('explains pseudonyms and synthetic identities, and says when only test identities were sent', () => {
    const text = parseHtml(auditHtml(EVERY_STATUS)).body.textContent!;
    expect(text).toContain('<email dii#3> stands for one person across every form of their email address');
    expect(text).toContain('Only synthetic identities were used');
    const production = parseHtml(auditHtml(runOf([PASS], { capabilities: ['optout'] }))).body.textContent!;
    expect(production).toContain('only the identities UID2 documents for testing were sent');
    expect(production).not.toContain('Only synthetic identities were used');
  });
});

describe('audit.html is safe, self-contained and printable', () => {
  it('the well-formedness check has teeth', async () => {
    expect(await wellFormedErrors('<!DOCTYPE html><html><body><p>ok</p></body></html>')).toEqual([]);
    expect((await wellFormedErrors('<!DOCTYPE html><html><body><p><b>x</p></body></html>')).join('\n')).toMatch(/Opening and ending tag mismatch/);
    expect((await wellFormedErrors('<!DOCTYPE html><html><body><p>&nbsp;</p></body></html>')).join('\n')).toMatch(/Entity 'nbsp' not defined/);
  });

  it.each(RUNS)('is well-formed, and an HTML parser reads the same elements: %s', async (_, run) => {
    const html = auditHtml(run);
    expect(await wellFormedErrors(html)).toEqual([]);
    const asXml = new DOMParser().parseFromString(html, 'application/xhtml+xml');
    expect(asXml.getElementsByTagName('parsererror')).toHaveLength(0);
    const tags = (doc: Document) => Array.from(doc.getElementsByTagName('*')).map((e) => e.localName);
    expect(tags(parseHtml(html))).toEqual(tags(asXml));
  });

  const INJECTED = `<script>alert("x")</script> & 'quotes' </td></table><img src=x onerror=alert(1)> &amp; <uid2#5>`;
  const hostile = runOf(
    [
      result({
        rule: 'OP-FORMS',
        check: 'forms.<b>check</b>',
        status: 'fail',
        kind: 'property',
        message: `${INJECTED}\nsecond line`,
        counterexample: { seed: 1, path: '0:<i>', value: INJECTED },
        evidence: [{ path: '/v2/<script>', http: 200, status: '<s>', note: INJECTED, request: { email: '<email dii#3>', x: INJECTED }, response: '</pre>' }],
      }),
      result({ rule: 'OP-CSTG-OPTOUT', check: 'cstg|pipe`tick`', status: 'not_applicable', message: `a | b ${INJECTED}` }),
      result({ rule: '<RULE>', check: 'unknown', status: 'warn', message: '*bold* _under_ [link](http://x) ~~gone~~ `code` \\ &lt;' }),
    ],
    { target: { role: 'operator', url: 'https://x.example/?a=1&b=<2>' }, outcome: 'error', error: `why ${INJECTED}` },
  );

  it('escapes everything: injected markup shows as text and adds no element or attribute', async () => {
    const html = auditHtml(hostile);
    expect(await wellFormedErrors(html)).toEqual([]);
    expect(html).not.toMatch(/<script|<img|<b>|<i>|<s>/i);
    const doc = parseHtml(html);
    expect(doc.querySelectorAll('script, img, b, i, s')).toHaveLength(0);
    const attributes = Array.from(doc.querySelectorAll('*')).flatMap((e) => e.getAttributeNames());
    expect(attributes.filter((a) => a.startsWith('on') || a === 'src' || a === 'href')).toEqual([]);
    expect(doc.querySelector('#finding-1 .message')!.textContent).toBe(`${INJECTED}\nsecond line`);
    const text = doc.body.textContent!;
    expect(text).toContain('path 0:<i>, minimal case <script>alert("x")</script>');
    expect(text).toContain('{"email":"<email dii#3>","x":"<script>alert(\\"x\\")</script>');
    expect(text).toContain('forms.<b>check</b>');
    expect(doc.title).toContain('https://x.example/?a=1&b=<2>');
  });

  it('has no script, no external asset and no fixed width that would cut text when printed', () => {
    for (const [, run] of RUNS) {
      const html = auditHtml(run);
      expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import/i);
      const css = html.match(/<style>([\s\S]*)<\/style>/)![1]!;
      expect(css).toContain('@media print');
      expect(css).not.toMatch(/(?:^|[;{\s])(?:width|min-width)\s*:\s*\d+(?:\.\d+)?(?:px|pt|cm|mm|in|em|rem)/);
      expect(css).not.toMatch(/overflow\s*:\s*(hidden|scroll|auto)|text-overflow|white-space\s*:\s*pre\s*;|position\s*:\s*(fixed|absolute)/);
    }
  });
});

describe('audit.md stays text', () => {
  it('escapes markup outside code, keeps tables intact, and fences code that holds backticks', () => {
    const md = auditMarkdown(hostileMd());
    const prose = markdownProse(md);
    expect(prose).not.toMatch(/(?<!\\)</);
    // The report's own markup: **bold** labels and the italic footer line.
    const userText = prose.replace(/\*\*/g, '').replace(/^\*Generated by .*\*$/m, '');
    expect(userText).not.toMatch(/(?<!\\)[*[\]`~]/);
    expect(md).toContain('\\*bold\\* \\_under\\_ \\[link\\](http://x) \\~\\~gone\\~\\~ \\`code\\` \\\\ \\&lt;');
    // Every table row keeps its column count.
    for (const line of md.split('\n').filter((l) => l.startsWith('| ') && l.endsWith(' |'))) {
      const cells = line.replace(/\\\|/g, '').split('|').length - 2;
      expect([2, 4, 5], line).toContain(cells);
    }
    expect(md).toContain('| `` cstg\\|pipe`tick` `` | OP-CSTG-OPTOUT | Not applicable | a \\| b ');
    expect(md).toContain(['````text', '1. /v2/<script>: HTTP 200, answer status <s>', '   response: "```"', '````'].join('\n'));
  });

  function hostileMd(): RunResult {
    return runOf([
      result({ rule: 'OP-FORMS', check: 'f', status: 'fail', message: '<script>alert(1)</script> & <uid2#5>', evidence: [{ path: '/v2/<script>', http: 200, status: '<s>', response: '```' }] }),
      result({ rule: 'OP-CSTG-OPTOUT', check: 'cstg|pipe`tick`', status: 'not_applicable', message: 'a | b <img>' }),
      result({ rule: 'OP-LOGOUT', check: 'l', status: 'warn', message: '*bold* _under_ [link](http://x) ~~gone~~ `code` \\ &lt; opted_out_since' }),
    ]);
  }

  it('keeps pseudonyms readable: <uid2#5> renders literally and snake_case stays as it is', () => {
    const md = auditMarkdown(runOf([result({ rule: 'OP-FORMS', check: 'f', status: 'fail', message: 'listed <uid2#5> with opted_out_since 0' })]));
    expect(md).toContain('- **Message:** listed \\<uid2#5> with opted_out_since 0');
  });
});

describe('nothing sensitive', () => {
  // What an API key, client secret, token or plain email would look like.
  const SENSITIVE = [/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]{2,}/, /UID2-[CXL]-/, /[A-Za-z0-9+/]{40,}={0,2}/, /api[_-]?key\s*[:=]/i, /client[_-]?secret\s*[:=]/i, /bearer /i];

  it.each(RUNS)('adds no key, secret, token or email when the run has none: %s', (_, run) => {
    for (const text of [auditHtml(run), auditMarkdown(run)]) {
      for (const pattern of SENSITIVE) expect(text).not.toMatch(pattern);
    }
  });

  it('shows only what the RunResult holds (its redacted pseudonyms)', () => {
    const run = runOf([FAIL, ERROR, NOT_APPLICABLE]);
    const text = parseHtml(auditHtml(run)).body.textContent!;
    for (const pattern of SENSITIVE) expect(text).not.toMatch(pattern);
    expect(text).not.toContain('@');
  });
});

describe('writing', () => {
  const out = mkdtempSync(join(tmpdir(), 'uid2-audit-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes audit.html and audit.md, each replaced whole, leaving no temporary file', () => {
    const dir = join(out, 'replace');
    const [html, md] = writeAuditReports(dir, EVERY_STATUS);
    expect([html, md]).toEqual([join(dir, 'audit.html'), join(dir, 'audit.md')]);
    writeFileSync(html!, 'x'.repeat(200_000));
    writeFileSync(md!, 'x'.repeat(200_000));
    const run = runOf([PASS]);
    writeAuditReports(dir, run);
    expect(readFileSync(html!, 'utf8')).toBe(auditHtml(run));
    expect(readFileSync(md!, 'utf8')).toBe(auditMarkdown(run));
    expect(readdirSync(dir).sort()).toEqual(['audit.html', 'audit.md']);
  });

  it('writeReports writes report.json, junit.xml, audit.html and audit.md, in that order', () => {
    const dir = join(out, 'all', 'nested');
    expect(writeReports(dir, EVERY_STATUS)).toEqual(['report.json', 'junit.xml', 'audit.html', 'audit.md'].map((f) => join(dir, f)));
    expect(readFileSync(join(dir, 'audit.md'), 'utf8')).toContain('### F1. Fail: OP-STATUS-OPTOUT (MUST), check status-lists-optouts');
  });
});
