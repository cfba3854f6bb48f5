// A run of several targets as the reports hold it: one section per target (report.json `targets`) beside the
// fleet's own results and verdict, and each target as a run of its own for the writers (a JUnit suite, an
// audit column). Sections are derived from the results, so whatever changes the results before the reports
// are written (a baseline) changes them too.
import type { TransportStats } from '../client/operator-client.ts';
import { outcomeOf, summarize, undecidedRules, type CheckResult, type RunResult, type TargetSection } from './result.ts';

/** What a run knows of a target besides its results. */
export type TargetFacts = Omit<TargetSection, 'outcome' | 'summary' | 'incomplete' | 'undecided_rules'>;

/** Each target's section: its results' summary and verdict (`error` when it could not be tested). */
export function targetSections(results: readonly CheckResult[], facts: readonly TargetFacts[], how: { strict: boolean; interrupted: boolean }): TargetSection[] {
  return facts.map(({ name, url, error, ...figures }) => {
    const own = results.filter((r) => r.target === name);
    const undecided = undecidedRules(own);
    const outcome = error !== undefined ? 'error' : how.interrupted ? 'interrupted' : outcomeOf(own, how.strict);
    return { name, url, outcome, ...(error !== undefined ? { error } : {}), summary: summarize(own), ...(undecided.length > 0 ? { incomplete: true as const, undecided_rules: undecided } : {}), ...figures };
  });
}

/** Each target of a fleet report as a run of its own; undefined for a run of one target. */
export function targetRuns(run: RunResult): RunResult[] | undefined {
  return run.targets?.map((t) => {
    const { targets: _targets, propagation: _p, capabilities: _c, transport: _t, error: _e, incomplete: _i, undecided_rules: _u, ...common } = run;
    return {
      ...common,
      seed: t.seed ?? run.seed,
      target: { ...run.target, name: t.name, url: t.url },
      outcome: t.outcome,
      summary: t.summary,
      ...(t.error !== undefined ? { error: t.error } : {}),
      ...(t.incomplete ? { incomplete: t.incomplete, undecided_rules: t.undecided_rules } : {}),
      ...(t.propagation ? { propagation: t.propagation } : {}),
      ...(t.capabilities ? { capabilities: t.capabilities } : {}),
      ...(t.transport ? { transport: t.transport } : {}),
      results: run.results.filter((r) => r.target === t.name),
    };
  });
}

/** The wire counters of several targets added up (the fleet's `transport`). */
export function sumTransport(stats: readonly TransportStats[]): TransportStats | undefined {
  if (stats.length === 0) return undefined;
  const total = { ...stats[0]! };
  for (const s of stats.slice(1)) for (const key of Object.keys(total) as Array<keyof TransportStats>) total[key] += s[key];
  return total;
}
