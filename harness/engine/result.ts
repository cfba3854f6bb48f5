// The shapes every check produces and every reporter consumes (PROTOCOL.md §2).
import type { Role } from '../rules.ts';

export type Status = 'pass' | 'fail' | 'warn' | 'error' | 'skipped' | 'not_applicable';
export type Outcome = 'pass' | 'fail' | 'error' | 'interrupted';

/** One line of a redacted transcript: never a key, secret, token, raw UID2 or DII. */
export interface Evidence {
  path: string;
  http: number;
  status?: string;
  note?: string;
}

export interface CheckResult {
  rule: string;
  check: string;
  status: Status;
  message: string;
  duration_ms: number;
  evidence: Evidence[];
}

export interface RunResult {
  kit: { name: string; version: string };
  started_at: string;
  finished_at: string;
  seed: number;
  target: { role: Role; url: string };
  outcome: Outcome;
  /** Why the run could not test at all (outcome error with no results). */
  error?: string;
  summary: Record<Status, number>;
  results: CheckResult[];
}

export function summarize(results: readonly CheckResult[]): Record<Status, number> {
  const summary: Record<Status, number> = { pass: 0, fail: 0, warn: 0, error: 0, skipped: 0, not_applicable: 0 };
  for (const r of results) summary[r.status] += 1;
  return summary;
}

/** 0 when every applicable MUST rule passed; warnings fail only under --strict (PROTOCOL.md §2). */
export function outcomeOf(summary: Record<Status, number>, strict: boolean): Outcome {
  if (summary.fail > 0 || (strict && summary.warn > 0)) return 'fail';
  if (summary.error > 0 || summary.pass + summary.warn === 0) return 'error';
  return 'pass';
}
