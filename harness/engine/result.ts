// The shapes every check produces and every reporter consumes (PROTOCOL.md §2).
import { RULES, type Role } from '../rules.ts';
import type { TransportStats } from '../client/operator-client.ts';
import type { AcceptedBy, BaselineReport } from './baseline.ts';

export type Status = 'pass' | 'fail' | 'warn' | 'error' | 'skipped' | 'not_applicable';
export type Outcome = 'pass' | 'fail' | 'error' | 'interrupted';

/** One line of a redacted transcript: never a key, secret, token, raw UID2 or DII. */
export interface Evidence {
  path: string;
  http: number;
  status?: string;
  /** The request payload and the (decrypted) answer, with every sensitive value pseudonymized. */
  request?: unknown;
  response?: unknown;
  ms?: number;
  note?: string;
}

/** A picture of a page a failed check drove (the page driver): synthetic users only. */
export interface Screenshot {
  /** Where reports/ writes it, relative to the report directory: `screenshots/<name>.png`. */
  file: string;
  caption: string;
  /** The PNG, in memory until reports/ writes it; never in report.json. */
  png?: Uint8Array;
}

export interface CheckResult {
  rule: string;
  check: string;
  kind?: 'scenario' | 'property';
  status: Status;
  message: string;
  duration_ms: number;
  evidence: Evidence[];
  /** Property checks that failed: the fast-check seed and path that replay exactly this case. */
  counterexample?: { seed: number; path: string; value: string };
  /** A failure or warning the run's baseline accepts (status `skipped`): its entry, and what the check found. */
  baseline?: AcceptedBy;
  /** The target's name, in a run of several targets (a fleet run, a merged report; a reference page: `page:<name>`). */
  target?: string;
  /** A failed check of the page driver: a screenshot of each of its users' pages. */
  screenshots?: Screenshot[];
}

/** One target of a run of several (report.json `targets`): its own verdict beside the fleet's. */
export interface TargetSection {
  name: string;
  url: string;
  outcome: Outcome;
  /** Why this target could not be tested. */
  error?: string;
  summary: Record<Status, number>;
  incomplete?: true;
  undecided_rules?: string[];
  /** The run's seed for this target (a merged report's targets may come from runs of different seeds). */
  seed?: number;
  propagation?: RunResult['propagation'];
  capabilities?: string[];
  transport?: TransportStats;
  /** A failed check of the page driver: a screenshot of each of its users' pages. */
  screenshots?: Screenshot[];
}

export interface RunResult {
  kit: { name: string; version: string };
  /** The version of the rule catalog (RULES.md) the kit judged by; absent in reports of older kits. */
  catalog?: { version: string };
  started_at: string;
  finished_at: string;
  seed: number;
  /** The first role tested, and every role when the run covered several (the embedded default does). */
  target: { role: Role; url: string; roles?: string[]; name?: string };
  outcome: Outcome;
  /** Why the run could not test at all (outcome error with no results). */
  error?: string;
  summary: Record<Status, number>;
  /** What the opt-out registrations of the run measured (absent when none were registered). */
  propagation?: {
    registered: number;
    visible: number;
    latencyMs: { min: number; median: number; max: number } | undefined;
    waitedMs: number;
    timeout_ms: number;
    /** Settled by their answers (reported without a flip for settleMs); absent in reports of older kits. */
    settled?: number;
    settleMs?: number;
    /** Per endpoint: answers that said "opted in" after an earlier report, before the opt-out settled. */
    disagreements?: Partial<Record<string, { answers: number; persons: number; longestMs: number }>>;
  };
  /** What the target offered: optout, cstg, synthetic. */
  capabilities?: string[];
  /** Some MUST rule had checks that did not decide it (skipped, error): the run is never a pass then. */
  incomplete?: true;
  /** Those MUST rules, in catalog order. */
  undecided_rules?: string[];
  /** What cut the run short: the --deadline, SIGINT or SIGTERM. */
  stopped_by?: 'deadline' | 'SIGINT' | 'SIGTERM';
  /** What the kit met on the wire to the operator under test (retries, throttling, outages). */
  transport?: TransportStats;
  /** --baseline: what became of each entry (accepted, stale, expired, unused). */
  baseline?: BaselineReport;
  /** A page run (--page): what the browser asked for beyond the page and the UID2 operator. */
  browser?: BrowserStats;
  results: CheckResult[];
  /** A run of several targets: each one's verdict (its results carry its name). */
  targets?: TargetSection[];
}

export interface BrowserStats {
  /** Requests to the UID2 operator hosts, answered by the kit's operator. */
  operator_requests: number;
  /** Bid requests carrying a UID2 (read, answered no-bid, never sent on). */
  bidder_requests: number;
  /** Requests to any other non-local host: refused (never sent), counted by host (never the URL: it may carry a token). */
  refused_requests: number;
  refused_hosts: Record<string, number>;
  /** Browser contexts opened (a synthetic user's tab, or one reopened with its storage) and page loads: what the run cost. */
  contexts_opened?: number;
  page_loads?: number;
}

export function summarize(results: readonly CheckResult[]): Record<Status, number> {
  const summary: Record<Status, number> = { pass: 0, fail: 0, warn: 0, error: 0, skipped: 0, not_applicable: 0 };
  for (const r of results) summary[r.status] += 1;
  return summary;
}

/**
 * MUST rules that no failure decided and that some check left open (skipped by the deadline or an
 * interruption, or error): one of those checks might have failed, so the run cannot be called a pass.
 */
export function undecidedRules(results: readonly CheckResult[]): string[] {
  // Per target: a failure on one target decides nothing on another; a failure decides its rule, also one the
  // baseline accepted.
  const key = (r: CheckResult) => `${r.rule} ${r.target ?? ''}`;
  const open = new Set(results.filter((r) => (r.status === 'skipped' && !r.baseline) || r.status === 'error').map(key));
  for (const r of results) if (r.status === 'fail' || r.baseline) open.delete(key(r));
  const rules = new Set([...open].map((k) => k.slice(0, k.indexOf(' '))));
  return RULES.filter((rule) => rule.severity === 'MUST' && rules.has(rule.id)).map((rule) => rule.id);
}

/**
 * 0 when every applicable MUST rule passed; warnings fail only under --strict (PROTOCOL.md §2). A failure
 * wins; then anything undecided (an error, a MUST rule not decided) makes it `error`, never a pass.
 */
export function outcomeOf(results: readonly CheckResult[], strict: boolean): Outcome {
  const targets = new Set(results.map((r) => r.target));
  if (targets.size > 1) return worstOutcome([...targets].map((t) => outcomeOf(results.filter((r) => r.target === t), strict)));
  const summary = summarize(results);
  if (summary.fail > 0 || (strict && summary.warn > 0)) return 'fail';
  if (summary.error > 0 || summary.pass + summary.warn === 0 || undecidedRules(results).length > 0) return 'error';
  return 'pass';
}

/** The verdict of several: a failure anywhere fails; then anything undecided; then an interruption. */
export function worstOutcome(outcomes: readonly Outcome[]): Outcome {
  return (['fail', 'error', 'interrupted'] as const).find((o) => outcomes.includes(o)) ?? 'pass';
}

/** The verdict of a fleet: a target that could not be tested makes it `error` (exit 2), else the worst. */
export function fleetOutcome(targets: ReadonlyArray<Pick<TargetSection, 'outcome' | 'error'>>): Outcome {
  return targets.some((t) => t.error !== undefined) ? 'error' : worstOutcome(targets.map((t) => t.outcome));
}
