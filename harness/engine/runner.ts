// Runs checks: capabilities decide what applies, a bounded pool runs the rest with a per-check timeout
// and a whole-run deadline, and every outcome becomes a CheckResult with its redacted evidence.
// `error` (the kit could not decide) is never a pass; a SHOULD rule's failure is a `warn`.
import { OperatorClient, TransportError } from '../client/operator-client.ts';
import { DriverError } from '../client/driver-client.ts';
import { findRule } from '../rules.ts';
import { stopMessage } from '../lifecycle.ts';
import type { Oracle } from '../oracle/oracle.ts';
import { CheckStop, type Capability, type Check, type CheckContext, type CheckSettings, type Verdict } from './check.ts';
import type { Population } from './population.ts';
import { RecordingApi } from './recording.ts';
import type { AnswerLedger } from './ledger.ts';
import type { Redactor } from './redact.ts';
import type { CheckResult, Screenshot, Status } from './result.ts';

/**
 * How a session gives each check its context, and reads the check's evidence once it is done. `signal` is
 * the check's own: aborted when it times out or the run stops, after which its clients send nothing more.
 */
export type ContextFactory<C> = (
  check: Check<C>,
  signal: AbortSignal,
  /** When the check's timeout ends it (ms since the epoch): a property stops shrinking in time to report. */
  stopsAt: number,
) => { ctx: C; evidence(): CheckResult['evidence']; /** Once the check has its verdict: its screenshots (the page driver). */ end?(status: Status): Promise<Screenshot[]> };

export interface RunPlan<C = CheckContext> {
  checks: readonly Check<C>[];
  capabilities: ReadonlySet<Capability>;
  contextFor: ContextFactory<C>;
  concurrency: number;
  checkTimeoutMs: number;
  /** Absolute time (ms) after which no check starts; the rest are skipped. */
  deadlineMs: number;
  /** The run's stop (deadline, SIGINT, SIGTERM): checks not finished by then are skipped. */
  signal?: AbortSignal;
  onResult?: (result: CheckResult) => void;
}

/** The operator sessions' context factory: recording clients per check, the shared population and oracle. */
export function operatorContexts(shared: {
  client: OperatorClient;
  optoutClient?: OperatorClient;
  cstg?: { publicKey: string; subscriptionId: string };
  capabilities: ReadonlySet<Capability>;
  population: Population;
  oracle: Oracle;
  redactor: Redactor;
  ledger: AnswerLedger;
  settings: CheckSettings;
  replayPaths?: ReadonlyMap<string, string>;
}): ContextFactory<CheckContext> {
  return (check, signal, stopsAt) => {
    const book = { book: shared.ledger, check: check.id };
    // Clients of this check alone carry its signal: a stop aborts what is under way, also in clients the
    // check derives from `ctx.api.options`.
    const own = (client: OperatorClient) => new OperatorClient({ ...client.options, signal });
    const api = new RecordingApi(own(shared.client), shared.redactor, book, signal);
    const optoutApi = shared.optoutClient ? new RecordingApi(own(shared.optoutClient), shared.redactor, book, signal) : undefined;
    const ctx: CheckContext = {
      api,
      optoutApi,
      cstg: shared.cstg,
      capabilities: shared.capabilities,
      population: shared.population,
      oracle: shared.oracle,
      ledger: shared.ledger,
      settings: shared.settings,
      replayPath: shared.replayPaths?.get(check.id),
      stopsAt,
      note: (text) => api.note(text),
    };
    return { ctx, evidence: () => [...api.evidence, ...(optoutApi?.evidence ?? [])] };
  };
}

const CAPABILITY_REASON: Record<Capability, string> = {
  optout: 'needs OPTOUT credentials (--optout-api-key, --optout-client-secret) to register a fresh opt-out',
  cstg: 'needs a CSTG key pair (--cstg-public-key, --cstg-subscription-id)',
  synthetic: 'sends synthetic identities, which production hosts are not sent',
  publisher: 'the driver does not play the publisher role (GET / on the driver)',
  dsp: 'the driver does not play the dsp role (GET / on the driver)',
  advertiser: 'the driver does not play the advertiser role (GET / on the driver)',
  sharer: 'the driver does not play the sharer role (GET / on the driver)',
  webhook: "needs the DSP's opt-out webhook (--webhook)",
};

function result<C>(check: Check<C>, verdict: Verdict, durationMs: number, evidence: CheckResult['evidence'], screenshots: Screenshot[] = []): CheckResult {
  const should = findRule(check.rule)?.severity === 'SHOULD';
  const status = verdict.status === 'fail' && should ? 'warn' : verdict.status;
  return {
    rule: check.rule,
    check: check.id,
    kind: check.kind,
    status,
    message: verdict.message,
    duration_ms: Math.round(durationMs),
    evidence,
    ...(verdict.counterexample ? { counterexample: verdict.counterexample } : {}),
    ...(screenshots.length > 0 ? { screenshots } : {}),
  };
}

async function runOne<C>(check: Check<C>, plan: RunPlan<C>): Promise<CheckResult> {
  const missing = check.needs.find((need) => !plan.capabilities.has(need));
  if (missing) return result(check, { status: 'not_applicable', message: CAPABILITY_REASON[missing] }, 0, []);
  // The check's own stop: its timeout, or the run's stop. Either cancels it: its clients refuse new requests.
  const timedOut = new AbortController();
  const signal = plan.signal ? AbortSignal.any([plan.signal, timedOut.signal]) : timedOut.signal;
  const { ctx, evidence, end } = plan.contextFor(check, signal, Date.now() + plan.checkTimeoutMs);
  const started = performance.now();
  const timer = setTimeout(() => timedOut.abort(new CheckStop({ status: 'error', message: `the check did not finish within ${plan.checkTimeoutMs} ms` })), plan.checkTimeoutMs);
  const stopped = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  let verdict: Verdict;
  try {
    verdict = { status: 'pass', message: await Promise.race([check.run(ctx), stopped]) };
  } catch (e) {
    // After the run's stop whatever the check threw comes from the stop (an aborted request), unless it reached a verdict.
    if (plan.signal?.aborted && !(e instanceof CheckStop)) verdict = { status: 'skipped', message: `${stopMessage(plan.signal)} before this check finished` };
    else if (e instanceof CheckStop) verdict = e.verdict;
    else if (e instanceof TransportError || e instanceof DriverError) verdict = { status: 'error', message: e.message };
    else verdict = { status: 'error', message: `the kit failed inside the check: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
    timedOut.abort(); // whatever the check still has under way sends nothing more
  }
  const durationMs = performance.now() - started;
  // What the check leaves behind (a page driver's browser contexts) ends with it; a failure there changes no verdict.
  const screenshots = end ? await end(verdict.status).catch(() => []) : [];
  return result(check, verdict, durationMs, evidence(), screenshots);
}

/**
 * Runs every check of the plan, those marked `last` after all the others; results come back in registry
 * order whatever order they finished in.
 */
export async function runChecks<C>(plan: RunPlan<C>): Promise<CheckResult[]> {
  const results = new Map<Check<C>, CheckResult>();
  const runPool = async (checks: readonly Check<C>[]) => {
    let next = 0;
    const worker = async () => {
      while (next < checks.length && !plan.signal?.aborted) {
        const check = checks[next++]!;
        const outcome = Date.now() > plan.deadlineMs ? skipped(check, 'the run deadline passed before this check started') : await runOne(check, plan);
        results.set(check, outcome);
        plan.onResult?.(outcome);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, plan.concurrency) }, worker));
  };
  // A running check ends at the run's stop (its own race), so the pools end with it.
  await runPool(plan.checks.filter((c) => !c.last));
  await runPool(plan.checks.filter((c) => c.last));
  return plan.checks.map((check) => results.get(check) ?? skipped(check, `${stopMessage(plan.signal)} before this check ran`));
}

function skipped<C>(check: Check<C>, message: string): CheckResult {
  return result(check, { status: 'skipped', message }, 0, []);
}

/** The checks of a session that stopped before running them (preflight or preparation cut short). */
export function skipChecks<C>(checks: readonly Check<C>[], message: string): CheckResult[] {
  return checks.map((check) => skipped(check, message));
}
