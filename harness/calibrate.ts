// `uid2-conformance calibrate`: runs the operator suite against the simulated operator, conformant, in each
// named conformant variant and with each named fault. A pass means something only if every fault fails exactly
// the rules it breaks (a SHOULD rule's `warn` counts as failing) and the conformant operator, in every variant,
// passes everything.
import type { Check, CheckSettings } from './engine/check.ts';
import type { CheckResult } from './engine/result.ts';
import { runOperatorSession } from './engine/session.ts';
import { OPERATOR_FAULTS, type OperatorFaultName } from './operator/faults.ts';
import { startOperator } from './operator/index.ts';
import { OPERATOR_VARIANTS, type OperatorVariant, type OperatorVariantName } from './operator/variants.ts';
import { runParticipantSession, type ParticipantCheckContext, type ParticipantSettings } from './engine/participant-session.ts';
import { Webhook } from './engine/webhook.ts';
import { startReferenceParticipants } from './participants/driver-server.ts';
import { PARTICIPANT_FAULTS, REFERENCE_ROLES } from './participants/reference.ts';
import type { ParticipantFault } from './participants/role.ts';

export interface CalibrationRow {
  /** Neither fault nor variant: the conformant operator. */
  fault?: OperatorFaultName;
  /** A conformant variant: expected to fail nothing. */
  variant?: OperatorVariantName;
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
  /** The conformant variants to run (default every one), each `variantRuns` times. */
  variants?: readonly OperatorVariantName[];
  /** Include the conformant operator (default true), and how many times. */
  conformantRuns?: number;
  /** Runs of each variant (default: as many as of the conformant operator). */
  variantRuns?: number;
  /** The simulated operator's propagation delay; faults such as propagation-repeat-resets need one. */
  propagationDelayMs?: number;
  settings?: Partial<CheckSettings>;
  onRow?: (row: CalibrationRow) => void;
}

/**
 * The rules a fault must fail under a selection of checks: those it breaks that a selected check judges.
 * Empty means the selection cannot see the fault at all, so calibrating it would prove nothing.
 */
export function expectedFailures(breaks: readonly string[], checks: readonly { rule: string }[]): string[] {
  const judged = new Set(checks.map((c) => c.rule));
  return breaks.filter((rule) => judged.has(rule)).sort();
}

const failing = (results: readonly CheckResult[]) => [...new Set(results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => r.rule))].sort();

/** What calibration reads from a run: the rules it failed, what it could not decide, and whether that is exactly `expected`. */
export function calibrationVerdict(results: readonly CheckResult[], expected: readonly string[]): { failed: string[]; undecided: string[]; ok: boolean } {
  const failed = failing(results);
  const undecided = results.filter((r) => r.status === 'error' || r.status === 'skipped').map((r) => `${r.check}: ${r.message}`);
  return { failed, undecided, ok: expected.join() === failed.join() && undecided.length === 0 };
}

type Run = { fault?: OperatorFaultName; variant?: OperatorVariant & { name: OperatorVariantName } };

export async function calibrate(options: CalibrationOptions): Promise<CalibrationRow[]> {
  const conformantRuns = options.conformantRuns ?? 1;
  const variants = OPERATOR_VARIANTS.filter((v) => (options.variants ?? OPERATOR_VARIANTS.map((w) => w.name)).includes(v.name));
  const runs: Run[] = [
    ...Array.from({ length: conformantRuns }, () => ({})),
    ...variants.flatMap((variant) => Array.from({ length: options.variantRuns ?? conformantRuns }, () => ({ variant }))),
    ...(options.faults ?? OPERATOR_FAULTS.filter((f) => expectedFailures(f.breaks, options.checks).length > 0).map((f) => f.name)).map((fault) => ({ fault })),
  ];
  const rows: CalibrationRow[] = [];
  for (const { fault, variant } of runs) {
    const operator = await startOperator({ propagationDelayMs: options.propagationDelayMs ?? 300, ...variant?.operator, fault });
    try {
      const c = operator.credentials;
      const cstg = { publicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId, ...(variant?.run?.cstgOrigin ? { origin: variant.run.cstgOrigin } : {}) };
      const session = await runOperatorSession(
        { url: operator.url, apiKey: c.apiKey, clientSecret: c.clientSecret, optoutApiKey: c.optoutApiKey, optoutClientSecret: c.optoutClientSecret, cstg, production: false },
        {
          checks: options.checks,
          settings: { propagationTimeoutMs: 1500, watchMs: 1000, pollIntervalMs: 50, runs: 25, seed: 1, ...options.settings, ...variant?.run?.settings },
          requestTimeoutMs: 10_000,
          checkTimeoutMs: 60_000,
          concurrency: 4,
          deadlineMs: Date.now() + 10 * 60_000,
        },
      );
      const expected = fault ? expectedFailures(OPERATOR_FAULTS.find((f) => f.name === fault)!.breaks, options.checks) : [];
      const failed = failing(session.results);
      const undecided = session.results.filter((r) => r.status === 'error' || r.status === 'skipped').map((r) => `${r.check}: ${r.message}`);
      const row: CalibrationRow = { fault, ...(variant ? { variant: variant.name } : {}), expected, failed, undecided, ok: expected.join() === failed.join() && undecided.length === 0, results: session.results };
      rows.push(row);
      options.onRow?.(row);
    } finally {
      await operator.close();
    }
  }
  return rows;
}

export interface ParticipantCalibrationRow {
  /** `<role>:<fault>`, or undefined for the conformant reference participants. */
  fault?: string;
  expected: string[];
  failed: string[];
  undecided: string[];
  ok: boolean;
  results: CheckResult[];
}

/**
 * The participant suites against the reference participants, conformant and with each named participant
 * fault (one role faulty at a time): every fault must fail exactly its rules.
 */
export async function calibrateParticipants(options: {
  checks: readonly Check<ParticipantCheckContext>[];
  faults?: readonly ParticipantFault[];
  conformantRuns?: number;
  seed?: number;
  runs?: number;
  onRow?: (row: ParticipantCalibrationRow) => void;
}): Promise<ParticipantCalibrationRow[]> {
  const runs: Array<ParticipantFault | undefined> = [
    ...Array.from({ length: options.conformantRuns ?? 1 }, () => undefined),
    ...(options.faults ?? PARTICIPANT_FAULTS.filter((f) => expectedFailures(f.breaks, options.checks).length > 0)),
  ];
  const rows: ParticipantCalibrationRow[] = [];
  for (const fault of runs) {
    const settings: ParticipantSettings = {
      seed: options.seed ?? 1,
      runs: options.runs ?? 10,
      lifetimes: { refreshAfterMs: 500, identityExpiresAfterMs: 2000, refreshExpiresAfterMs: 6000 },
      pollIntervalMs: 50,
      actWithinMs: 3000,
    };
    const operator = await startOperator({ lifetimes: settings.lifetimes, recordCalls: true });
    const reference = await startReferenceParticipants({
      operator: { url: operator.url, apiKey: operator.credentials.apiKey, clientSecret: operator.credentials.clientSecret },
      roles: REFERENCE_ROLES,
      faults: fault ? { [fault.role]: fault.name } : {},
    });
    try {
      const { results } = await runParticipantSession(
        { driver: reference.url, operator, webhook: new Webhook(reference.webhookTemplate, { method: 'GET', timeoutMs: 10_000 }), requestTimeoutMs: 10_000 },
        { checks: options.checks, settings, checkTimeoutMs: 60_000, concurrency: 4, deadlineMs: Date.now() + 10 * 60_000 },
      );
      const expected = fault ? expectedFailures(fault.breaks, options.checks) : [];
      const failed = failing(results);
      const undecided = results.filter((r) => r.status === 'error' || r.status === 'skipped').map((r) => `${r.check}: ${r.message}`);
      const row = { fault: fault && `${fault.role}:${fault.name}`, expected, failed, undecided, ok: expected.join() === failed.join() && undecided.length === 0, results };
      rows.push(row);
      options.onRow?.(row);
    } finally {
      await reference.close();
      await operator.close();
    }
  }
  return rows;
}
