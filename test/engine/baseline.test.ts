// Baselines (--baseline FILE): loading names the place of every problem; applying turns exactly the failures
// and warnings an unexpired entry matches into `skipped`, and says what became of each entry.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { applyBaseline, baselineOutcome, loadBaseline, matches, utcDay, type Baseline, type BaselineEntry } from '../../harness/engine/baseline.ts';
import { outcomeOf, undecidedRules, type CheckResult, type Status } from '../../harness/engine/result.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import { OPERATOR_CHECKS } from '../../suites/operator/index.ts';
import { PARTICIPANT_CHECKS } from '../../suites/participants.ts';
import { result, runOf } from '../reports/fixtures.ts';

const CHECKS = [...OPERATOR_CHECKS, ...PARTICIPANT_CHECKS];
const dir = mkdtempSync(join(tmpdir(), 'uid2-baseline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The UsageError message loadBaseline throws for this file. */
function problem(name: string, text: string): string {
  const path = file(name, text);
  try {
    loadBaseline(path, CHECKS);
  } catch (e) {
    return (e as Error).message.replaceAll(path, name);
  }
  throw new Error(`${name} loaded`);
}

const ENTRY = { rule: 'OP-STATUS-OPTOUT', reason: 'seconds, fixed in 4.2', owner: 'team-identity', expires: '2027-06-30' } as const;

describe('loading a baseline', () => {
  it('reads YAML (dates stay text) and JSON, every field', () => {
    const yaml = file('ok.yaml', '# known\n- rule: OP-STATUS-OPTOUT\n  check: status.optout.scenario\n  target: eu\n  reason: seconds, fixed in 4.2\n  owner: team-identity\n  expires: 2027-06-30\n');
    expect(loadBaseline(yaml, CHECKS).entries).toEqual([{ ...ENTRY, check: 'status.optout.scenario', target: 'eu' }]);
    const json = file('ok.json', JSON.stringify([ENTRY, { ...ENTRY, rule: 'OP-GEN-OPTOUT' }], null, 2));
    expect(loadBaseline(json, CHECKS)).toEqual({ file: json, entries: [ENTRY, { ...ENTRY, rule: 'OP-GEN-OPTOUT' }] });
    expect(loadBaseline(file('empty.yml', '[]\n'), CHECKS).entries).toEqual([]);
    expect(loadBaseline(file('bom.json', `\uFEFF${JSON.stringify([ENTRY])}`), CHECKS).entries).toEqual([ENTRY]);
  });

  it('names the line and column of a YAML or JSON syntax error', () => {
    expect(problem('bad.yaml', '- rule: OP-GEN-OPTOUT\n  reason: [unclosed\n  owner: x\n')).toMatch(/^--baseline bad\.yaml:\d+:\d+: not valid YAML \(.+\)$/);
    expect(problem('dup.yaml', '- rule: OP-GEN-OPTOUT\n  rule: OP-GEN-OPTOUT\n')).toBe('--baseline dup.yaml:2:3: not valid YAML (Map keys must be unique)');
    expect(problem('bad.json', '[\n  {"rule": "OP-GEN-OPTOUT",}\n]\n')).toMatch(/^--baseline bad\.json:2:28: not valid JSON \(.+\)$/);
    expect(problem('cut.json', '[\n  {"rule": "OP-GEN-OPTOUT"}\n')).toMatch(/^--baseline cut\.json:3:1: not valid JSON/);
  });

  it('names the entry, its field and its line for schema violations, every one of them', () => {
    const text = [
      '- rule: OP-STATUS-OPTOUT',
      '  reason: r',
      '  owner: o',
      '  expires: 2027-02-30',
      '- rule: OP-GEN-OPTOUT',
      '  reason: r',
      '  expiry: 2027-01-01',
      '',
    ].join('\n');
    expect(problem('schema.yaml', text).split('; ')).toEqual([
      '--baseline schema.yaml:4:3: entry #1, field "expires": must match format "date"',
      '--baseline schema.yaml:5:3: entry #2: must have required property \'owner\'',
      '--baseline schema.yaml:5:3: entry #2: must have required property \'expires\'',
      '--baseline schema.yaml:7:3: entry #2: must NOT have additional properties ("expiry")',
    ]);
    expect(problem('schema.json', '[\n  {"rule": "op-gen", "reason": "", "owner": "o", "expires": "2027-01-01"}\n]')).toBe(
      '--baseline schema.json:2:4: entry #1, field "rule": must match pattern "^(OP|PUB|DSP|ADV|SHR)-[A-Z0-9-]+$"; --baseline schema.json:2:22: entry #1, field "reason": must NOT have fewer than 1 characters',
    );
    expect(problem('map.yaml', 'rule: OP-GEN-OPTOUT\n')).toBe('--baseline map.yaml: not a list of entries (schemas/baseline.schema.json)');
  });

  it('refuses an unknown rule, an unknown check, and a check of another rule', () => {
    const entries = [
      { ...ENTRY, rule: 'OP-NOT-A-RULE' },
      { ...ENTRY, check: 'status.optout.nope' },
      { ...ENTRY, check: 'gen.no-leak' },
    ];
    expect(problem('unknown.json', JSON.stringify(entries, null, 1)).split('; ')).toEqual([
      '--baseline unknown.json:3:3: entry #1, field "rule": unknown rule OP-NOT-A-RULE (see: uid2-conformance list)',
      '--baseline unknown.json:13:3: entry #2, field "check": unknown check status.optout.nope (see: uid2-conformance list)',
      '--baseline unknown.json:20:3: entry #3, field "check": check gen.no-leak judges OP-GEN-NO-LEAK, not OP-STATUS-OPTOUT',
    ]);
  });

  it('says a retired rule is retired', () => {
    expect(problem('retired.yaml', '- rule: OP-STATUS-EARLIEST\n  reason: r\n  owner: o\n  expires: 2099-01-01\n')).toMatch(/^--baseline retired\.yaml:1:3: entry #1, field "rule": rule OP-STATUS-EARLIEST is retired \(retired in v1\.1: /);
  });

  it('the example in examples/ loads', () => {
    const example = new URL('../../examples/baseline.yaml', import.meta.url).pathname;
    expect(loadBaseline(example, CHECKS).entries.map((e) => [e.rule, e.check, e.target])).toEqual([
      ['OP-STATUS-OPTOUT', undefined, undefined],
      ['OP-GEN-OPTOUT-IMPLICIT', 'gen.optout-implicit', 'eu-west'],
    ]);
  });

  it('says when the file cannot be read', () => {
    expect(() => loadBaseline(join(dir, 'missing.yaml'), CHECKS)).toThrow(/^--baseline .*missing\.yaml: cannot read it \(ENOENT\)$/);
  });
});

const TODAY = '2026-12-03';
const at = (status: Status, extra: Partial<CheckResult> = {}) => result({ rule: 'OP-STATUS-OPTOUT', check: 'status.optout.scenario', status, ...extra });
const apply = (entries: BaselineEntry[], results: CheckResult[], strict = false) => applyBaseline({ file: 'b.yaml', entries }, results, { today: TODAY, strict });

describe('applying a baseline', () => {
  it('accepts a failure and a warning as skipped with the entry, keeping the evidence and what the check found', () => {
    const failed = at('fail', { message: 'seconds', evidence: [{ path: '/v2/optout/status', http: 200 }] });
    const { results, report } = apply([ENTRY], [failed, at('pass', { check: 'status.optout.repeat' })]);
    expect(results[0]).toMatchObject({
      status: 'skipped',
      message: 'accepted risk (baseline entry #1, owner team-identity, expires 2027-06-30): seconds, fixed in 4.2; the check found: seconds',
      evidence: failed.evidence,
      baseline: { entry: 1, reason: ENTRY.reason, owner: ENTRY.owner, expires: ENTRY.expires, status: 'fail' },
    });
    expect(results[1]!.status).toBe('pass');
    expect(report.entries).toEqual([expect.objectContaining({ entry: 1, state: 'accepted', matched: 2, accepted: 1, fails_run: false })]);
    expect(outcomeOf(results, false)).toBe('pass');
    expect(undecidedRules(results)).toEqual([]);
    expect(validateWith('report', runOf(results, { baseline: report }))).toEqual([]);
  });

  it('holds through its expiry day (UTC); from the next day it accepts nothing and fails the run', () => {
    const lastDay = apply([{ ...ENTRY, expires: TODAY }], [at('fail')]);
    expect(lastDay.results[0]!.status).toBe('skipped');
    const expired = apply([{ ...ENTRY, expires: '2026-12-02' }], [at('fail')]);
    expect(expired.results[0]!.status).toBe('fail');
    expect(expired.report.entries[0]).toMatchObject({ state: 'expired', accepted: 0, fails_run: true, note: 'its last day was 2026-12-02: fix the failure, or renew the entry with a new date and reason' });
    // Expired fails the run even when its checks pass now.
    const passing = apply([{ ...ENTRY, expires: '2020-01-01' }], [at('pass')]);
    expect(baselineOutcome(outcomeOf(passing.results, false), passing.report)).toBe('fail');
    expect(utcDay(new Date('2026-12-03T23:59:59.999Z'))).toBe('2026-12-03');
  });

  it('a stale entry (all it matched passes) warns, and fails the run only under --strict', () => {
    const results = [at('pass'), at('pass', { check: 'status.optout.repeat' })];
    const lenient = apply([ENTRY], results);
    expect(lenient.report.entries[0]).toMatchObject({ state: 'stale', matched: 2, fails_run: false });
    expect(baselineOutcome(outcomeOf(lenient.results, false), lenient.report)).toBe('pass');
    const strict = apply([ENTRY], results, true);
    expect(strict.report.entries[0]).toMatchObject({ state: 'stale', fails_run: true });
    expect(baselineOutcome(outcomeOf(strict.results, true), strict.report)).toBe('fail');
    // Interruption and a failure stay what they are.
    expect(baselineOutcome('interrupted', strict.report)).toBe('interrupted');
    expect(baselineOutcome('fail', lenient.report)).toBe('fail');
  });

  it('an entry nothing decided is unused: rule not run, target of another run, checks that could not decide', () => {
    const { report } = apply(
      [
        { ...ENTRY, rule: 'PUB-SITE-OPTOUT' },
        { ...ENTRY, target: 'eu' },
        { ...ENTRY, check: 'status.optout.property' },
      ],
      [at('pass'), at('not_applicable', { check: 'status.optout.property' })],
    );
    expect(report.entries.map((e) => [e.state, e.fails_run, e.note])).toEqual([
      ['unused', false, 'no result of this run matched it: PUB-SITE-OPTOUT did not run'],
      ['unused', false, 'no result of this run is of target eu (a single-target run names none)'],
      ['unused', false, 'the result it matched did not decide (not_applicable)'],
    ]);
  });

  it('a skipped result the baseline did not accept still leaves its MUST rule undecided', () => {
    const { results } = apply([], [at('skipped', { message: 'deadline' })]);
    expect(undecidedRules(results)).toEqual(['OP-STATUS-OPTOUT']);
  });

  it('property: a result is skipped exactly when it failed or warned and an unexpired entry of its rule, check and target matches; the narrowest accepts it', () => {
    const rules = ['OP-GEN-OPTOUT', 'OP-STATUS-OPTOUT'];
    const checks = ['c1', 'c2'];
    const targets = ['eu', 'us'];
    const entry = fc.record(
      {
        rule: fc.constantFrom(...rules),
        check: fc.constantFrom(...checks),
        target: fc.constantFrom(...targets),
        reason: fc.constant('r'),
        owner: fc.constant('o'),
        expires: fc.constantFrom('2026-12-02', TODAY, '2027-01-01'),
      },
      { requiredKeys: ['rule', 'reason', 'owner', 'expires'] },
    );
    const checkResult = fc
      .record({
        rule: fc.constantFrom(...rules),
        check: fc.constantFrom(...checks),
        status: fc.constantFrom<Status>('pass', 'fail', 'warn', 'error', 'skipped', 'not_applicable'),
        target: fc.option(fc.constantFrom(...targets), { nil: undefined }),
      })
      .map(({ target, ...r }) => ({ ...result(r), ...(target === undefined ? {} : { target }) }) as CheckResult);
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), fc.array(checkResult, { maxLength: 12 }), fc.boolean(), (entries, results, strict) => {
        const baseline: Baseline = { file: 'b.yaml', entries };
        const { results: applied, report } = applyBaseline(baseline, results, { today: TODAY, strict });
        const targetOf = (r: CheckResult) => (r as { target?: string }).target;
        const hits = (e: BaselineEntry, r: CheckResult) => e.rule === r.rule && (e.check ?? r.check) === r.check && (e.target === undefined || e.target === targetOf(r));
        expect(applied).toHaveLength(results.length);
        results.forEach((r, i) => {
          const out = applied[i]!;
          const live = entries.map((e, n) => ({ e, n: n + 1 })).filter(({ e }) => e.expires >= TODAY && hits(e, r));
          entries.forEach((e) => expect(matches(e, r)).toBe(hits(e, r)));
          if ((r.status === 'fail' || r.status === 'warn') && live.length > 0) {
            expect(out.status).toBe('skipped');
            const narrowness = (e: BaselineEntry) => (e.check ? 2 : 0) + (e.target ? 1 : 0);
            const narrowest = Math.max(...live.map(({ e }) => narrowness(e)));
            expect(out.baseline).toMatchObject({ entry: live.find(({ e }) => narrowness(e) === narrowest)!.n, status: r.status });
          } else {
            expect(out).toBe(r);
          }
        });
        report.entries.forEach((e, n) => {
          const matched = results.filter((r) => hits(entries[n]!, r));
          const expected = entries[n]!.expires < TODAY ? 'expired' : matched.some((r) => r.status === 'fail' || r.status === 'warn') ? 'accepted' : matched.length > 0 && matched.every((r) => r.status === 'pass') ? 'stale' : 'unused';
          expect(e).toMatchObject({ entry: n + 1, state: expected, matched: matched.length, fails_run: expected === 'expired' || (strict && expected === 'stale') });
        });
      }),
      { numRuns: 300 },
    );
  });
});
