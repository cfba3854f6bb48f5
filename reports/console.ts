// The console summary at the end of a run: counts, every result that did not pass grouped by rule,
// the propagation figures, why the run ended as it did, and where the reports are. Plain text, no color;
// messages are already redacted by the engine. The one machine-read line (`OUTCOME: counts; reports …`,
// on stdout) is formatOutcomeLine.
import type { CheckResult, RunResult, Status } from '../harness/engine/result.ts';
import { findRule, RULES } from '../harness/rules.ts';
import { baselineFailures, entryLine } from '../harness/engine/baseline.ts';
import { targetRuns } from '../harness/engine/fleet.ts';

const STATUS_ORDER: readonly Status[] = ['pass', 'fail', 'warn', 'error', 'skipped', 'not_applicable'];
/** Characters of a message shown per line; report.json keeps all of it. */
const MAX_MESSAGE = 200;

function oneLine(text: string, max = MAX_MESSAGE): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Results that did not pass, grouped by rule in catalog order (rules unknown to the catalog last). */
function notPassedByRule(results: readonly CheckResult[]): Array<[string, CheckResult[]]> {
  const groups = new Map<string, CheckResult[]>();
  for (const r of results) {
    if (r.status === 'pass') continue;
    const group = groups.get(r.rule);
    if (group) group.push(r);
    else groups.set(r.rule, [r]);
  }
  const order = (rule: string) => {
    const i = RULES.findIndex((r) => r.id === rule);
    return i < 0 ? RULES.length : i;
  };
  return [...groups].sort(([a], [b]) => order(a) - order(b));
}

function conclusion(run: RunResult): string {
  const s = run.summary;
  switch (run.outcome) {
    case 'pass': {
      const accepted = [...new Set(run.results.filter((r) => r.baseline).map((r) => r.rule))];
      const risks = accepted.length > 0 ? `, but for ${plural(accepted.length, 'rule')} with failures the baseline accepts: ${accepted.join(', ')}` : '';
      return `PASS: every applicable MUST rule passed${risks}${s.warn > 0 ? ` (${plural(s.warn, 'warning')}: fail the run only with --strict)` : ''}`;
    }
    case 'fail': {
      const failed = [...new Set(run.results.filter((r) => r.status === 'fail').map((r) => r.rule))];
      if (failed.length > 0) return `FAIL: ${plural(failed.length, 'rule')} failed: ${failed.join(', ')}`;
      const warnings = s.warn > 0 ? [`${plural(s.warn, 'warning')}, which fail the run under --strict`] : [];
      return `FAIL: ${[...warnings, ...baselineFailures(run.baseline)].join('; ')}`;
    }
    case 'error':
      if (run.error !== undefined) return `ERROR: could not test: ${oneLine(run.error)}`;
      if (run.incomplete) return `INCOMPLETE: ${incompleteText(run)}`;
      if (run.results.length === 0 || s.pass + s.warn === 0) return 'ERROR: no check could decide its rule';
      return 'ERROR: could not decide every rule: see the results with status error';
    case 'interrupted':
      return `INTERRUPTED${run.stopped_by ? ` (${run.stopped_by})` : ''}: the reports hold what was found before the interruption (${s.pass + s.fail + s.warn + s.error} decided, ${s.skipped} skipped)`;
  }
}

/** Which MUST rules a run left undecided, and why (the deadline, or checks that could not decide). */
function incompleteText(run: RunResult): string {
  const rules = run.undecided_rules ?? [];
  return `${plural(rules.length, 'MUST rule')} not decided${run.stopped_by === 'deadline' ? ' before the run deadline' : ''}: ${rules.join(', ')}; no rule failed`;
}

/** The console summary of a run; `paths` are the reports written. */
export function formatSummary(run: RunResult, paths: readonly string[] = []): string {
  const lines: string[] = [];
  lines.push(`${run.kit.name} ${run.kit.version}: role ${run.target.role}, target ${run.target.url}, seed ${run.seed}`);
  lines.push(`results: ${STATUS_ORDER.map((s) => `${run.summary[s] ?? 0} ${s}`).join(', ')}`);

  const groups = notPassedByRule(run.results);
  if (groups.length > 0) {
    lines.push('', 'not passed, by rule:');
    for (const [rule, results] of groups) {
      lines.push(`  ${rule} (${findRule(rule)?.severity ?? 'unknown severity'})`);
      for (const r of results) {
        lines.push(`    ${r.status.toUpperCase().padEnd(14)} ${r.target === undefined ? '' : `${r.target} `}${r.check}: ${oneLine(r.message)}`);
        const c = r.counterexample;
        if (c) lines.push(`    ${''.padEnd(14)} counterexample: seed ${c.seed}, path ${JSON.stringify(c.path)}, value ${oneLine(c.value, 120)}`);
      }
    }
  }

  const figures: string[] = [];
  const p = run.propagation;
  if (p && p.registered > 0) {
    const latency = p.latencyMs ? `latency ${p.latencyMs.min}/${p.latencyMs.median}/${p.latencyMs.max} ms (min/median/max)` : 'latency not measured';
    figures.push(`propagation: ${p.visible}/${p.registered} opt-outs visible (bound ${p.timeout_ms} ms); ${latency}; waited ${p.waitedMs} ms`);
  }
  if (run.capabilities) figures.push(`capabilities: ${run.capabilities.length > 0 ? run.capabilities.join(', ') : 'none'}`);
  if (figures.length > 0) lines.push('', ...figures);
  if (run.baseline) {
    const states = ['accepted', 'stale', 'expired', 'unused'] as const;
    const count = (state: string) => run.baseline!.entries.filter((e) => e.state === state).length;
    lines.push('', `baseline ${run.baseline.file}: ${states.map((state) => `${count(state)} ${state}`).join(', ')}`);
    for (const e of run.baseline.entries) lines.push(`  ${oneLine(entryLine(e), 400)}`);
  }

  const perTarget = targetRuns(run);
  if (perTarget) lines.push('', 'targets:', ...perTarget.map((t) => `  ${t.target.name} (${t.target.url}): ${conclusion(t)}`));
  lines.push('', conclusion(run));
  if (run.incomplete && run.outcome !== 'error') lines.push(`not decided: ${run.undecided_rules!.join(', ')}`);
  if (paths.length > 0) lines.push(`reports: ${paths.join(', ')}`);
  return lines.join('\n');
}

/** The last stdout line, which scripts read: `OUTCOME: <non-zero counts>; reports <paths>`. */
export function formatOutcomeLine(run: RunResult, paths: readonly string[]): string {
  const counts = Object.entries(run.summary).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ');
  return `${run.outcome.toUpperCase()}: ${counts || 'no results'}; reports ${paths.join(', ')}`;
}
