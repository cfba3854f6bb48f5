// RunResults for the reporter tests: every status, a counterexample, an interruption, a run that could not test.
import { summarize, type CheckResult, type RunResult } from '../../harness/engine/result.ts';
import { applyBaseline } from '../../harness/engine/baseline.ts';

/** A string that only ever appears in request/response bodies: no report but report.json may show it. */
export const BODY_SENTINEL = 'BODY-SENTINEL-7f3a';

export function result(partial: Partial<CheckResult> & Pick<CheckResult, 'rule' | 'check' | 'status'>): CheckResult {
  return { message: `${partial.check} ${partial.status}`, duration_ms: 12, evidence: [], ...partial };
}

export const PASS = result({
  rule: 'OP-GEN-OPTOUT',
  check: 'generate-optout-email',
  status: 'pass',
  message: 'answered {"status":"optout"}',
  duration_ms: 8.4567,
  evidence: [{ path: '/v2/token/generate', http: 200, status: 'optout', ms: 3, request: { email: `<email dii#1> ${BODY_SENTINEL}` }, response: { status: 'optout' } }],
});

export const FAIL = result({
  rule: 'OP-STATUS-OPTOUT',
  check: 'status-lists-optouts',
  kind: 'property',
  status: 'fail',
  message: 'opted_out_since <1700000000> is in seconds & not "ms"',
  duration_ms: 1234.5678,
  counterexample: { seed: 424242, path: '3:1:0', value: '[{"optedOut":true,"position":2}]' },
  evidence: [
    { path: '/v2/token/logout', http: 200, status: 'success', ms: 5, request: { email: BODY_SENTINEL } },
    { path: '/v2/optout/status', http: 200, status: 'success', ms: 7, note: 'opted_out_since 1700000000 < logout time', response: { body: BODY_SENTINEL } },
  ],
});

export const WARN = result({
  rule: 'OP-GEN-OPTOUT-IMPLICIT',
  check: 'gen-implicit',
  kind: 'scenario',
  status: 'warn',
  message: 'without optout_check an opted-out user got tokens',
  evidence: [{ path: '/v2/optout/status', http: 200, status: 'success' }],
});

export const ERROR = result({
  rule: 'OP-MAP-OPTOUT',
  check: 'map-v2-positions',
  status: 'error',
  message: 'the operator timed out after 10000 ms',
  evidence: [{ path: '/v2/identity/map', http: 0, note: 'timeout' }],
});

export const SKIPPED = result({ rule: 'OP-PROPAGATION', check: 'propagation-bound', status: 'skipped', message: 'deadline reached before this check started' });

export const NOT_APPLICABLE = result({ rule: 'OP-CSTG-OPTOUT', check: 'cstg-optout', status: 'not_applicable', message: 'needs --cstg-public-key and --cstg-subscription-id' });

export const ALL = [PASS, FAIL, WARN, ERROR, SKIPPED, NOT_APPLICABLE];

export function runOf(results: CheckResult[], extra: Partial<RunResult> = {}): RunResult {
  const summary = summarize(results);
  return {
    kit: { name: 'uid2-conformance', version: '0.1.0' },
    started_at: '2026-01-02T03:04:05.000Z',
    finished_at: '2026-01-02T03:04:07.500Z',
    seed: 99,
    target: { role: 'operator', url: 'embedded:simulated-operator' },
    outcome: summary.fail > 0 ? 'fail' : summary.error > 0 ? 'error' : 'pass',
    summary,
    results,
    ...extra,
  };
}

export const PROPAGATION: NonNullable<RunResult['propagation']> = {
  registered: 4,
  visible: 4,
  latencyMs: { min: 2, median: 5, max: 19 },
  waitedMs: 1300,
  timeout_ms: 30000,
};

/**
 * Every status with a baseline applied (on 2026-01-02): FAIL and WARN accepted (the first entry's reason and owner
 * hold markup), a stale entry for PASS's rule, an expired one, and one for a rule the run did not check.
 */
export const BASELINED: RunResult = (() => {
  const entries = [
    { rule: 'OP-STATUS-OPTOUT', reason: 'seconds <script>alert(1)</script> | *fix* in 4.2', owner: 'team|<id>', expires: '2026-06-30' },
    { rule: 'OP-GEN-OPTOUT-IMPLICIT', check: 'gen-implicit', reason: 'SHOULD rule, later', owner: 'bob', expires: '2026-01-02' },
    { rule: 'OP-GEN-OPTOUT', reason: 'was flaky', owner: 'alice', expires: '2026-06-30' },
    { rule: 'OP-LOGOUT', reason: 'old', owner: 'carol', expires: '2026-01-01' },
    { rule: 'PUB-SITE-OPTOUT', target: 'eu', reason: 'not here', owner: 'dan', expires: '2026-06-30' },
  ];
  const { results, report } = applyBaseline({ file: 'known.yaml', entries }, ALL, { today: '2026-01-02', strict: false });
  return runOf(results, { baseline: report, outcome: 'fail' });
})();
