// Property-based checks on fast-check: a seed per check (reproducible, different per check), shrinking to
// a minimal counterexample, and the seed and path in the verdict so `replay` reruns exactly that case.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { TransportError } from '../client/operator-client.ts';
import { DriverError } from '../client/driver-client.ts';
import { CheckStop, fail } from './check.ts';

/** Time kept after the last shrink candidate for the verdict to be written before the check's timeout. */
const REPORT_MARGIN_MS = 1000;

/** The seed a check runs with: the run seed mixed with the check id. */
export function checkSeed(runSeed: number, checkId: string): number {
  return (runSeed ^ createHash('sha256').update(checkId).digest().readInt32BE(0)) | 0;
}

/**
 * Checks `predicate` on generated values. The predicate throws through `fail()` when the target breaks the
 * rule; a transport error ends the check as `error` without shrinking (it says nothing about the rule).
 *
 * `shrinkBudgetMs` bounds the time spent shrinking, for rules judged against a time bound: there each failing
 * candidate costs the whole bound again. Once the first failure is older than the budget, further candidates
 * are skipped (fc.pre), so the verdict keeps the smallest failing case found so far and its replay path stays exact.
 * Whatever the budget, shrinking stops while the longest case so far would still end before the check's
 * timeout (`ctx.stopsAt`): a failure found is reported, never lost to a timeout while looking for a smaller one.
 */
export async function checkProperty<T>(
  ctx: { settings: { seed: number; runs: number }; replayPath?: string; stopsAt?: number },
  checkId: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  describe: (value: T) => string,
  options: { runs?: number; shrinkBudgetMs?: number } = {},
): Promise<string> {
  const seed = checkSeed(ctx.settings.seed, checkId);
  const runs = options.runs ?? ctx.settings.runs;
  let transport: TransportError | DriverError | undefined;
  let firstFailureMs: number | undefined;
  let longestCaseMs = 0;
  const overBudget = () => {
    if (firstFailureMs === undefined) return false;
    if (options.shrinkBudgetMs !== undefined && Date.now() - firstFailureMs > options.shrinkBudgetMs) return true;
    return ctx.stopsAt !== undefined && Date.now() + longestCaseMs + REPORT_MARGIN_MS > ctx.stopsAt;
  };
  const details = await fc.check(
    fc.asyncProperty(arbitrary, async (value) => {
      if (transport) return; // stop spending requests once the target stopped answering
      fc.pre(!overBudget());
      const started = Date.now();
      try {
        await predicate(value);
      } catch (e) {
        // Nothing to learn about the rule from a target that stopped answering: stop, do not shrink.
        if (e instanceof TransportError || e instanceof DriverError) transport = e;
        else {
          if (e instanceof CheckStop && e.verdict.status === 'fail') firstFailureMs ??= Date.now();
          throw e;
        }
      } finally {
        longestCaseMs = Math.max(longestCaseMs, Date.now() - started);
      }
    }),
    { seed, numRuns: runs, ...(ctx.replayPath ? { path: ctx.replayPath, endOnFailure: true } : {}) },
  );
  if (transport) throw transport;
  if (!details.failed) return `held for ${details.numRuns} generated cases`;
  const error = details.errorInstance;
  if (!(error instanceof CheckStop)) throw error ?? new Error('property failed without an error');
  if (error.verdict.status !== 'fail') throw error;
  const value = details.counterexample ? describe(details.counterexample[0] as T) : 'unknown';
  const shrinks = details.numShrinks > 0 ? `, shrunk ${details.numShrinks} time${details.numShrinks === 1 ? '' : 's'}` : '';
  const found = `found at generated case ${details.numRuns}${shrinks}`;
  fail(`${error.verdict.message} (minimal case: ${value}; ${found}; replay: uid2-conformance replay report.json --check ${checkId})`, { seed, path: details.counterexamplePath ?? '', value });
}
