// `uid2-conformance calibrate`: runs the operator suite against the simulated operator, conformant and with
// each named fault. A pass means something only if every fault fails exactly the rules it breaks (a SHOULD
// rule's `warn` counts as failing) and the conformant operator passes everything.
import type { Check, CheckSettings } from './engine/check.ts';
import type { CheckResult } from './engine/result.ts';
import { runOperatorSession } from './engine/session.ts';
import { OPERATOR_FAULTS, type OperatorFaultName } from './operator/faults.ts';
import { startOperator } from './operator/index.ts';

export interface CalibrationRow {
  /** undefined: the conformant operator. */
  fault?: OperatorFaultName;
  expected: string[];
  failed: string[];
  /** Results that were neither pass, fail, warn nor not_applicable: the kit could not decide. */
  undecided: string[];
  ok: boolean;
  results: CheckResult[];
}

export interface CalibrationOptions {
  checks: readonly Check[];
  faults?: readonly OperatorFaultName[];
  /** Include the conformant operator (default true), and how many times. */
  conformantRuns?: number;
  /** The simulated operator's propagation delay; faults such as propagation-repeat-resets need one. */
  propagationDelayMs?: number;
  settings?: Partial<CheckSettings>;
  onRow?: (row: CalibrationRow) => void;
}

const failing = (results: readonly CheckResult[]) => [...new Set(results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => r.rule))].sort();

export async function calibrate(options: CalibrationOptions): Promise<CalibrationRow[]> {
  const runs: Array<OperatorFaultName | undefined> = [
    ...Array.from({ length: options.conformantRuns ?? 1 }, () => undefined),
    ...(options.faults ?? OPERATOR_FAULTS.map((f) => f.name)),
  ];
  const rows: CalibrationRow[] = [];
  for (const fault of runs) {
    const operator = await startOperator({ fault, propagationDelayMs: options.propagationDelayMs ?? 300 });
    try {
      const c = operator.credentials;
      const session = await runOperatorSession(
        { url: operator.url, apiKey: c.apiKey, clientSecret: c.clientSecret, optoutApiKey: c.optoutApiKey, optoutClientSecret: c.optoutClientSecret, cstg: { publicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId }, production: false },
        {
          checks: options.checks,
          settings: { propagationTimeoutMs: 1500, watchMs: 1000, pollIntervalMs: 50, runs: 25, seed: 1, ...options.settings },
          requestTimeoutMs: 10_000,
          checkTimeoutMs: 60_000,
          concurrency: 4,
          deadlineMs: Date.now() + 10 * 60_000,
        },
      );
      const expected = fault ? [...OPERATOR_FAULTS.find((f) => f.name === fault)!.breaks].sort() : [];
      const failed = failing(session.results);
      const undecided = session.results.filter((r) => r.status === 'error' || r.status === 'skipped').map((r) => `${r.check}: ${r.message}`);
      const row: CalibrationRow = { fault, expected, failed, undecided, ok: expected.join() === failed.join() && undecided.length === 0, results: session.results };
      rows.push(row);
      options.onRow?.(row);
    } finally {
      await operator.close();
    }
  }
  return rows;
}
