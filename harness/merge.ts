// `uid2-conformance merge REPORT.json... --out DIR`: the report.json files of parallel CI jobs (a matrix over
// targets, or over roles of one target) as one report, written by the same writers as a fleet run: one
// section per target, results named by target when there are several, the fleet's verdict over them all.
import { readFileSync } from 'node:fs';
import { UsageError } from './config.ts';
import { validateWith } from './engine/schemas.ts';
import { sumTransport } from './engine/fleet.ts';
import { fleetOutcome, summarize, undecidedRules, type CheckResult, type RunResult, type TargetSection } from './engine/result.ts';
import { ensureOutDir } from './lifecycle.ts';
import { defaultTargetName, uniqueName } from './targets.ts';
import { writeReports } from '../reports/index.ts';
import { readSignKey } from '../reports/manifest.ts';
import { Scrubber } from './engine/scrub.ts';
import { formatOutcomeLine, formatSummary } from '../reports/console.ts';

const EXIT_OF = { pass: 0, fail: 1, error: 2, interrupted: 2 } as const;

interface Input {
  file: string;
  report: RunResult;
}

/** A target of the merged report: its section (figures as reported) and its results. */
interface MergedTarget {
  section: TargetSection;
  results: CheckResult[];
  /** Which input each check came from (a check reported twice is refused). */
  sources: Map<string, string>;
}

function readReport(file: string): Input {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read a report (${(e as NodeJS.ErrnoException).code ?? 'not valid JSON'})`);
  }
  const problems = validateWith('report', json);
  if (problems.length > 0) throw new UsageError(`${file}: not a uid2-conformance report: ${problems.join('; ')}`);
  return { file, report: json as RunResult };
}

/** All inputs must agree on `what`; otherwise the files of each value are named. */
function requireSame(inputs: readonly Input[], what: string, valueOf: (r: RunResult) => string): void {
  const groups = new Map<string, string[]>();
  for (const { file, report } of inputs) groups.set(valueOf(report), [...(groups.get(valueOf(report)) ?? []), file]);
  if (groups.size > 1) throw new UsageError(`reports of different ${what}s cannot be merged: ${[...groups].map(([value, files]) => `${files.join(', ')} (${what} ${value})`).join('; ')}`);
}

/** The targets one report holds: the sections of a fleet report, or the report's one target. */
function targetsOf({ report }: Input): Array<{ section: TargetSection; results: CheckResult[] }> {
  if (report.targets) return report.targets.map((section) => ({ section: { ...section, seed: section.seed ?? report.seed }, results: report.results.filter((r) => r.target === section.name) }));
  const { target, outcome, error, summary, incomplete, undecided_rules, seed, propagation, capabilities, transport } = report;
  const section: TargetSection = {
    name: target.name ?? defaultTargetName(target.url),
    url: target.url,
    outcome,
    ...(error !== undefined ? { error } : {}),
    summary,
    ...(incomplete ? { incomplete, undecided_rules } : {}),
    seed,
    ...(propagation ? { propagation } : {}),
    ...(capabilities ? { capabilities } : {}),
    ...(transport ? { transport } : {}),
  };
  return [{ section, results: report.results }];
}

/** Two reports of one target (a matrix over roles): their results together, the worse verdict. */
function combine(into: MergedTarget, input: Input, section: TargetSection, results: readonly CheckResult[]): void {
  for (const r of results) {
    const earlier = into.sources.get(r.check);
    if (earlier !== undefined) throw new UsageError(`${earlier} and ${input.file} both report check ${r.check} of target ${into.section.name}: merge the reports of different targets or roles`);
    into.sources.set(r.check, input.file);
  }
  into.results.push(...results);
  const a = into.section;
  const error = [a.error, section.error].filter((e) => e !== undefined).join('; ');
  into.section = {
    ...a,
    outcome: fleetOutcome([a, section]),
    ...(error ? { error } : {}),
    propagation: a.propagation ?? section.propagation,
    capabilities: a.capabilities || section.capabilities ? [...new Set([...(a.capabilities ?? []), ...(section.capabilities ?? [])])] : undefined,
    transport: sumTransport([a.transport, section.transport].filter((t) => t !== undefined)),
  };
}

/** The merged report of several runs' reports. */
export function mergeReports(inputs: readonly Input[]): RunResult {
  requireSame(inputs, 'kit version', (r) => `${r.kit.name} ${r.kit.version}`);
  requireSame(inputs, 'rule catalog version', (r) => r.catalog?.version ?? 'unknown');
  const merged = new Map<string, MergedTarget>();
  const names = new Set<string>();
  for (const input of inputs) {
    for (const { section, results } of targetsOf(input)) {
      // One target is one name at one URL; the same name at another URL is another target.
      const key = `${section.name} ${section.url}`;
      const known = merged.get(key);
      if (known) combine(known, input, section, results);
      else merged.set(key, { section: { ...section, name: uniqueName(section.name, names) }, results: [...results], sources: new Map(results.map((r) => [r.check, input.file])) });
    }
  }
  const targets = [...merged.values()];
  const several = targets.length > 1;
  const results = targets.flatMap((t) => (several ? t.results.map((r) => ({ ...r, target: t.section.name })) : t.results.map(({ target: _, ...r }) => r)));
  const sections = targets.map(({ section, results: own }) => {
    const undecided = undecidedRules(own);
    const { incomplete: _i, undecided_rules: _u, ...rest } = section;
    return { ...rest, summary: summarize(own), ...(undecided.length > 0 ? { incomplete: true as const, undecided_rules: undecided } : {}) };
  });
  const first = inputs[0]!.report;
  const undecided = undecidedRules(results);
  const errors = sections.filter((s) => s.error !== undefined);
  const roles = [...new Set(inputs.flatMap(({ report }) => report.target.roles ?? [report.target.role]))];
  const only = sections[0]!;
  const transport = sumTransport(sections.flatMap((s) => (s.transport ? [s.transport] : [])));
  return {
    kit: first.kit,
    ...(first.catalog ? { catalog: first.catalog } : {}),
    started_at: inputs.map(({ report }) => report.started_at).sort()[0]!,
    finished_at: inputs.map(({ report }) => report.finished_at).sort().at(-1)!,
    seed: first.seed,
    target: { role: first.target.role, url: [...new Set(sections.map((s) => s.url))].join(' '), ...(roles.length > 1 ? { roles } : {}), ...(several ? {} : { name: only.name }) },
    outcome: fleetOutcome(sections),
    ...(errors.length > 0 ? { error: several ? errors.map((s) => `target ${s.name} could not be tested: ${s.error}`).join('; ') : only.error } : {}),
    summary: summarize(results),
    ...(undecided.length > 0 ? { incomplete: true, undecided_rules: undecided } : {}),
    ...(several ? {} : { ...(only.propagation ? { propagation: only.propagation } : {}), ...(only.capabilities ? { capabilities: only.capabilities } : {}) }),
    ...(transport ? { transport } : {}),
    results,
    ...(several ? { targets: sections } : {}),
  };
}

/** `merge`: reads, checks and combines the reports, writes them all into `out`; the exit code of the merged verdict. */
export async function mergeCommand(files: readonly string[], out: string, signKeyFile?: string): Promise<number> {
  const scrubber = new Scrubber();
  // A bad key stops the merge before anything is written (UsageError, exit 2), naming the file only.
  const signKey = signKeyFile === undefined ? undefined : readSignKey(signKeyFile, scrubber);
  const inputs = files.map(readReport);
  ensureOutDir(out);
  const run = mergeReports(inputs);
  const paths = writeReports(out, run, scrubber, signKey);
  process.stderr.write(`merged ${inputs.length} reports (${run.targets?.length ?? 1} targets)\n${formatSummary(run, paths)}\n`);
  process.stdout.write(`${formatOutcomeLine(run, paths)}\n`);
  return EXIT_OF[run.outcome];
}
