// The end-of-run console summary and the one stdout line scripts read.
import { describe, expect, it } from 'vitest';
import { formatOutcomeLine, formatSummary } from '../../reports/console.ts';
import { ALL, BASELINED, BODY_SENTINEL, ERROR, FAIL, PASS, PROPAGATION, result, runOf, SKIPPED, WARN } from './fixtures.ts';

const PATHS = ['/out/report.json', '/out/junit.xml'];

describe('formatSummary', () => {
  it('counts by status, lists every non-pass result grouped by rule, the figures, the outcome and the reports', () => {
    const run = runOf(ALL, { propagation: PROPAGATION, capabilities: ['optout', 'cstg', 'synthetic'] });
    expect(formatSummary(run, PATHS)).toBe(
      [
        'uid2-conformance 0.1.0: role operator, target embedded:simulated-operator, seed 99',
        'results: 1 pass, 1 fail, 1 warn, 1 error, 1 skipped, 1 not_applicable',
        '',
        'not passed, by rule:',
        '  OP-GEN-OPTOUT-IMPLICIT (SHOULD)',
        '    WARN           gen-implicit: without optout_check an opted-out user got tokens',
        '  OP-MAP-OPTOUT (MUST)',
        '    ERROR          map-v2-positions: the operator timed out after 10000 ms',
        '  OP-STATUS-OPTOUT (MUST)',
        '    FAIL           status-lists-optouts: opted_out_since <1700000000> is in seconds & not "ms"',
        '                   counterexample: seed 424242, path "3:1:0", value [{"optedOut":true,"position":2}]',
        '  OP-PROPAGATION (MUST)',
        '    SKIPPED        propagation-bound: deadline reached before this check started',
        '  OP-CSTG-OPTOUT (MUST)',
        '    NOT_APPLICABLE cstg-optout: needs --cstg-public-key and --cstg-subscription-id',
        '',
        'propagation: 4/4 opt-outs visible (bound 30000 ms); latency 2/5/19 ms (min/median/max); waited 1300 ms',
        'capabilities: optout, cstg, synthetic',
        '',
        'FAIL: 1 rule failed: OP-STATUS-OPTOUT',
        'reports: /out/report.json, /out/junit.xml',
      ].join('\n'),
    );
  });

  it('groups several results of one rule under it, and keeps each to one line', () => {
    const second = result({ rule: 'OP-STATUS-OPTOUT', check: 'status-ms', status: 'fail', message: 'first line\nsecond line   with   spaces' });
    const text = formatSummary(runOf([FAIL, PASS, second]));
    expect(text).toContain('  OP-STATUS-OPTOUT (MUST)\n    FAIL           status-lists-optouts: ');
    expect(text).toContain('\n    FAIL           status-ms: first line second line with spaces\n');
    expect(text.match(/OP-STATUS-OPTOUT \(MUST\)/g)).toHaveLength(1);
    expect(text).not.toContain('OP-GEN-OPTOUT');
    expect(text).not.toContain('reports:');
  });

  it('an all-pass run has no list, and says so; warnings are pointed at --strict', () => {
    expect(formatSummary(runOf([PASS]), PATHS)).toBe(
      [
        'uid2-conformance 0.1.0: role operator, target embedded:simulated-operator, seed 99',
        'results: 1 pass, 0 fail, 0 warn, 0 error, 0 skipped, 0 not_applicable',
        '',
        'PASS: every applicable MUST rule passed',
        'reports: /out/report.json, /out/junit.xml',
      ].join('\n'),
    );
    expect(formatSummary(runOf([PASS, WARN]))).toContain('PASS: every applicable MUST rule passed (1 warning: fail the run only with --strict)');
    expect(formatSummary(runOf([PASS, WARN], { outcome: 'fail' }))).toContain('FAIL: 1 warning, which fail the run under --strict');
  });

  it('explains an error, a run that could not test, and an interruption', () => {
    expect(formatSummary(runOf([PASS, ERROR]))).toContain('ERROR: could not decide every rule: see the results with status error');
    expect(formatSummary(runOf([SKIPPED], { outcome: 'error' }))).toContain('ERROR: no check could decide its rule');
    const refused = formatSummary(runOf([], { outcome: 'error', error: 'the operator refused the API key (HTTP 401 on /v2/token/generate)' }));
    expect(refused).toContain('results: 0 pass, 0 fail, 0 warn, 0 error, 0 skipped, 0 not_applicable');
    expect(refused).toContain('ERROR: could not test: the operator refused the API key (HTTP 401 on /v2/token/generate)');
    expect(formatSummary(runOf([PASS, SKIPPED], { outcome: 'interrupted' }))).toContain('INTERRUPTED: the reports hold what was found before the interruption (1 decided, 1 skipped)');
  });

  it('shows propagation only when opt-outs were registered, and a missing latency plainly', () => {
    expect(formatSummary(runOf([PASS], { propagation: { ...PROPAGATION, registered: 0, visible: 0, latencyMs: undefined } }))).not.toContain('propagation:');
    expect(formatSummary(runOf([PASS], { propagation: { ...PROPAGATION, visible: 3, latencyMs: undefined } }))).toContain(
      'propagation: 3/4 opt-outs visible (bound 30000 ms); latency not measured; waited 1300 ms',
    );
  });

  it('never prints evidence bodies', () => {
    expect(formatSummary(runOf(ALL), PATHS)).not.toContain(BODY_SENTINEL);
  });
});

describe('a baseline in the console summary', () => {
  it('lists every entry with its state, and says which fail the run', () => {
    const text = formatSummary(BASELINED, PATHS);
    expect(text).toContain(
      [
        'baseline known.yaml: 2 accepted, 1 stale, 1 expired, 1 unused',
        '  baseline entry #1 (OP-STATUS-OPTOUT, owner team|<id>, expires 2026-06-30) is accepted: accepts 1 of the 1 results it matched until 2026-06-30',
        '  baseline entry #2 (OP-GEN-OPTOUT-IMPLICIT check gen-implicit, owner bob, expires 2026-01-02) is accepted: accepts 1 of the 1 results it matched until 2026-01-02',
        '  baseline entry #3 (OP-GEN-OPTOUT, owner alice, expires 2026-06-30) is stale: every result it matched (1) passes now: remove the entry (a warning; a failure under --strict)',
        '  baseline entry #4 (OP-LOGOUT, owner carol, expires 2026-01-01) is expired: its last day was 2026-01-01: fix the failure, or renew the entry with a new date and reason',
        '  baseline entry #5 (PUB-SITE-OPTOUT target eu, owner dan, expires 2026-06-30) is unused: no result of this run is of target eu (a single-target run names none)',
        '',
        'FAIL: baseline entry #4 (OP-LOGOUT, owner carol, expires 2026-01-01) is expired: its last day was 2026-01-01: fix the failure, or renew the entry with a new date and reason',
      ].join('\n'),
    );
    expect(text).toContain('    SKIPPED        status-lists-optouts: accepted risk (baseline entry #1, owner team|<id>, expires 2026-06-30): seconds');
  });

  it('a pass with accepted failures names their rules', () => {
    const accepted = BASELINED.results.find((r) => r.rule === 'OP-STATUS-OPTOUT')!;
    expect(formatSummary(runOf([PASS, accepted]))).toMatch(/\nPASS: every applicable MUST rule passed, but for 1 rule with failures the baseline accepts: OP-STATUS-OPTOUT$/);
  });
});

describe('formatOutcomeLine', () => {
  it('is OUTCOME: non-zero counts; reports paths', () => {
    expect(formatOutcomeLine(runOf(ALL), PATHS)).toBe('FAIL: 1 pass, 1 fail, 1 warn, 1 error, 1 skipped, 1 not_applicable; reports /out/report.json, /out/junit.xml');
    expect(formatOutcomeLine(runOf([PASS, PASS]), PATHS)).toMatch(/^PASS: 2 pass; reports \/out\/report\.json, /);
  });
});
