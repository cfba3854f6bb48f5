// Baselines (--baseline FILE): known failures a team accepts for a while, each keyed by rule (narrowed to one check
// and one target of a fleet run when given) with a reason, an owner and an expiry date. Loaded and checked before
// any request (a malformed file is exit 2 naming the place); applied to the results before any report is written:
// a failed or warned result an unexpired entry matches becomes `skipped` with that entry, an expired entry fails
// the run, an entry whose checks all pass now is stale (a warning; a failure under --strict).
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { lazy } from '../lazy.ts';

// yaml loads only when a run has a --baseline.
const yaml = lazy<typeof import('yaml')>('yaml');
import { UsageError } from '../config.ts';
import { findRule, RETIRED_RULES } from '../rules.ts';
import type { CheckResult, Outcome } from './result.ts';
import { validateWith } from './schemas.ts';

/** One entry of the file (schemas/baseline.schema.json). */
export interface BaselineEntry {
  rule: string;
  check?: string;
  target?: string;
  reason: string;
  owner: string;
  /** The last day (UTC) the entry holds, YYYY-MM-DD. */
  expires: string;
}

export interface Baseline {
  file: string;
  entries: BaselineEntry[];
}

/** On a result the baseline turned into `skipped`: which entry accepted it, and what the check had found. */
export interface AcceptedBy {
  /** 1-based, in the file's order. */
  entry: number;
  reason: string;
  owner: string;
  expires: string;
  status: 'fail' | 'warn';
}

/**
 * accepted: it matched a failed or warned result (and has not expired); stale: every result it matched passed;
 * expired: past its date, whatever it matched; unused: nothing of this run decided it (its rule, check or target
 * not run, or its checks could not decide).
 */
export type EntryState = 'accepted' | 'stale' | 'expired' | 'unused';

export interface BaselineEntryReport extends BaselineEntry {
  entry: number;
  state: EntryState;
  /** Results of this run the entry matched, and how many of them it turned into `skipped`. */
  matched: number;
  accepted: number;
  /** Expired, or stale under --strict. */
  fails_run: boolean;
  /** What the state means for this entry, in a sentence. */
  note: string;
}

export interface BaselineReport {
  file: string;
  entries: BaselineEntryReport[];
}

export function matches(entry: BaselineEntry, result: CheckResult): boolean {
  return entry.rule === result.rule && (entry.check === undefined || entry.check === result.check) && (entry.target === undefined || entry.target === result.target);
}

/** A check entry is narrower than a rule entry, and a target narrows either. */
function specificity(entry: BaselineEntry): number {
  return (entry.check === undefined ? 0 : 2) + (entry.target === undefined ? 0 : 1);
}

function isExpired(entry: BaselineEntry, today: string): boolean {
  return today > entry.expires;
}

/** `today` (YYYY-MM-DD, UTC) of a moment. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/**
 * A result as the baseline reports it: a failure or warning the narrowest unexpired matching entry accepts (the
 * first in the file among equals) is skipped with that entry; anything else is unchanged.
 */
export function baselined(baseline: Baseline, result: CheckResult, today: string): CheckResult {
  if (result.status !== 'fail' && result.status !== 'warn') return result;
  const by = baseline.entries
    .map((entry, i) => ({ entry, number: i + 1 }))
    .filter(({ entry }) => !isExpired(entry, today) && matches(entry, result))
    .sort((a, b) => specificity(b.entry) - specificity(a.entry) || a.number - b.number)[0];
  if (!by) return result;
  const { reason, owner, expires } = by.entry;
  return {
    ...result,
    status: 'skipped',
    message: `accepted risk (baseline entry #${by.number}, owner ${owner}, expires ${expires}): ${reason}; the check found: ${result.message}`,
    baseline: { entry: by.number, reason, owner, expires, status: result.status },
  };
}

/** The results with the baseline applied (in their order), and what became of each entry. */
export function applyBaseline(baseline: Baseline, results: readonly CheckResult[], options: { today: string; strict: boolean }): { results: CheckResult[]; report: BaselineReport } {
  const applied = results.map((result) => baselined(baseline, result, options.today));
  const entries = baseline.entries.map((entry, i): BaselineEntryReport => {
    const number = i + 1;
    const matched = results.filter((r) => matches(entry, r));
    const accepted = applied.filter((r) => r.baseline?.entry === number).length;
    const found = matched.filter((r) => r.status === 'fail' || r.status === 'warn').length;
    const state: EntryState = isExpired(entry, options.today) ? 'expired' : found > 0 ? 'accepted' : matched.length > 0 && matched.every((r) => r.status === 'pass') ? 'stale' : 'unused';
    const report = { entry: number, ...entry, state, matched: matched.length, accepted, fails_run: state === 'expired' || (state === 'stale' && options.strict) };
    return { ...report, note: noteOf(report, matched, results) };
  });
  return { results: applied, report: { file: baseline.file, entries } };
}

function noteOf(e: Omit<BaselineEntryReport, 'note'>, matched: readonly CheckResult[], results: readonly CheckResult[]): string {
  switch (e.state) {
    case 'expired':
      return `its last day was ${e.expires}: fix the failure, or renew the entry with a new date and reason`;
    case 'accepted':
      return `accepts ${e.accepted} of the ${e.matched} results it matched until ${e.expires}`;
    case 'stale':
      return `every result it matched (${e.matched}) passes now: remove the entry (${e.fails_run ? 'a failure under --strict' : 'a warning; a failure under --strict'})`;
    case 'unused':
      if (matched.length > 0) return `the ${matched.length === 1 ? 'result' : `${matched.length} results`} it matched did not decide (${[...new Set(matched.map((r) => r.status))].join(', ')})`;
      if (e.target !== undefined && !results.some((r) => r.target === e.target)) {
        return `no result of this run is of target ${e.target}${results.every((r) => r.target === undefined) ? ' (a single-target run names none)' : ''}`;
      }
      return `no result of this run matched it: ${e.check ?? e.rule} did not run${e.target === undefined ? '' : ` on target ${e.target}`}`;
  }
}

/** The run's outcome once the baseline has its say: an expired entry (or a stale one under --strict) fails it. */
export function baselineOutcome(outcome: Outcome, report: BaselineReport | undefined): Outcome {
  const failing = report?.entries.some((e) => e.fails_run) ?? false;
  return failing && (outcome === 'pass' || outcome === 'error') ? 'fail' : outcome;
}

/** Why the baseline failed the run, one line per entry (empty when it did not). */
export function baselineFailures(report: BaselineReport | undefined): string[] {
  return (report?.entries ?? []).filter((e) => e.fails_run).map(entryLine);
}

/** An entry in one line: `baseline entry #2 (OP-X check c, owner o, expires d) is stale: <note>`. */
export function entryLine(e: BaselineEntryReport): string {
  return `baseline entry #${e.entry} (${entryKey(e)}, owner ${e.owner}, expires ${e.expires}) is ${e.state}: ${e.note}`;
}

/** `OP-X`, `OP-X check c`, `OP-X target t`: what an entry is keyed by. */
function entryKey(e: BaselineEntry): string {
  return [e.rule, e.check && `check ${e.check}`, e.target && `target ${e.target}`].filter(Boolean).join(' ');
}

// ── loading ────────────────────────────────────────────────────────────────────────────────────────

/**
 * Reads and checks `file` against schemas/baseline.schema.json, the rule catalog and the kit's checks; throws a
 * UsageError naming the place of every problem (`FILE:LINE:COLUMN`). `.json` files are JSON; any other is YAML
 * (which reads JSON too).
 */
export function loadBaseline(file: string, checks: ReadonlyArray<{ id: string; rule: string }>): Baseline {
  const problem = (where: string, what: string) => new UsageError(`--baseline ${file}${where}: ${what}`);
  let text: string;
  try {
    // A byte order mark (some editors write one) is no part of the JSON or YAML.
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw problem('', `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter: lines });
  let data: unknown;
  if (extname(file).toLowerCase() === '.json') {
    try {
      data = JSON.parse(text);
    } catch (e) {
      const message = (e as Error).message;
      const position = /at position (\d+)/.exec(message);
      throw problem(`:${lineColumn(text, position ? Number(position[1]) : text.length)}`, `not valid JSON (${message.replace(/ in JSON at position \d+.*$/, '')})`);
    }
  } else {
    const error = doc.errors[0];
    if (error) {
      const at = error.linePos?.[0];
      throw problem(at ? `:${at.line}:${at.col}` : '', `not valid YAML (${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')})`);
    }
    data = doc.toJS();
  }
  if (!Array.isArray(data)) throw problem('', 'not a list of entries (schemas/baseline.schema.json)');
  const place = placeIn(doc, lines);
  const problems = validateWith('baseline', data).map((line) => {
    // `/<index>[/<field>] <what>` (schemas.ts): the entry and its field, where the words name it.
    const [, index, field, what] = /^\/(\d+)(?:\/(\S+))? (.*)$/.exec(line) ?? [];
    if (index === undefined) return `: ${line}`;
    const named = field ?? /property '([^']+)'|\("([^"]+)"\)$/.exec(what!)?.slice(1).find(Boolean);
    return `${place(Number(index), named)}: entry #${Number(index) + 1}${field ? `, field "${field}"` : ''}: ${what}`;
  });
  const entries = data as BaselineEntry[];
  if (problems.length === 0) {
    entries.forEach((entry, i) => {
      const retired = RETIRED_RULES.get(entry.rule);
      if (!findRule(entry.rule)) problems.push(`${place(i, 'rule')}: entry #${i + 1}, field "rule": ${retired ? `rule ${entry.rule} is retired (${retired})` : `unknown rule ${entry.rule} (see: uid2-conformance list)`}`);
      if (entry.check === undefined) return;
      const check = checks.find((c) => c.id === entry.check);
      if (!check) problems.push(`${place(i, 'check')}: entry #${i + 1}, field "check": unknown check ${entry.check} (see: uid2-conformance list)`);
      else if (check.rule !== entry.rule) problems.push(`${place(i, 'check')}: entry #${i + 1}, field "check": check ${entry.check} judges ${check.rule}, not ${entry.rule}`);
    });
  }
  if (problems.length > 0) throw new UsageError(problems.map((p) => `--baseline ${file}${p}`).join('; '));
  return { file, entries };
}

/** `LINE:COLUMN` (1-based) of a character offset. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

/** Where entry `index` (its `field` when the file has it) starts, as `:LINE:COLUMN`; empty when unknown. */
function placeIn(doc: Document, lines: LineCounter): (index: number, field?: string) => string {
  return (index, field) => {
    const entry = doc.errors.length === 0 ? doc.getIn([index], true) : undefined;
    const pair = field !== undefined && yaml().isMap(entry) ? entry.items.find((p) => (p.key as { value?: unknown } | null)?.value === field) : undefined;
    const offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0] ?? (entry as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (offset === undefined) return '';
    const { line, col } = lines.linePos(offset);
    return `:${line}:${col}`;
  };
}
