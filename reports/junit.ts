// junit.xml: one <testcase> per result, for CI dashboards (PROTOCOL.md §2), written atomically like
// report.json. It validates against the common Jenkins JUnit schema (jenkins-junit.xsd), which CI tools
// read most widely, and that schema sets the shape:
//
// - A `warn` is a passing testcase with `<system-out>warning: …`: CI gates on the kit's exit code
//   (`--strict` makes warnings exit 1), not on the JUnit counts, so a SHOULD rule never turns a
//   dashboard red on its own.
// - `skipped` and `not_applicable` are `<skipped>reason</skipped>`: the schema gives <skipped> no
//   attributes, so the reason is its text; the testcase's `status` attribute tells the two apart. A failure
//   the baseline accepts is such a `skipped`, its text the entry's reason, owner and expiry.
// - The schema allows <properties> only on the <testsuite>, so the run's facts (seed, target, outcome,
//   counts, propagation, interruption, error) are testsuite properties, and each testcase carries its
//   own (rule, check, kind, severity, status, counterexample) as `key: value` lines in <system-out>.
//   The rule ID is also in the testcase name and classname.
// - Evidence is summarized one line per exchange (path, HTTP status, answer status, time, note);
//   request and response bodies stay in report.json only.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lazy } from '../harness/lazy.ts';
import { summarize, type CheckResult, type Evidence, type RunResult } from '../harness/engine/result.ts';
import { findRule } from '../harness/rules.ts';
import { baselineFailures, entryLine } from '../harness/engine/baseline.ts';
import { targetRuns } from '../harness/engine/fleet.ts';
import { writeFileAtomic } from './json.ts';

const xmlbuilder2 = lazy<typeof import('xmlbuilder2')>('xmlbuilder2');

type XMLBuilder = ReturnType<typeof import('xmlbuilder2').create>;

/** Evidence lines per testcase before the rest is left to report.json. */
const MAX_EVIDENCE_LINES = 40;
/** Characters of a message kept in a `message` attribute (the element text keeps all of it). */
const MAX_ATTRIBUTE = 1000;

/** Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/FFFF) become U+FFFD. */
function xmlText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[^\t\n\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
}

/** An attribute value on one line: parsers turn raw newlines and tabs in attributes into spaces anyway. */
function attribute(text: string, max = MAX_ATTRIBUTE): string {
  const line = xmlText(text).replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Seconds with at most 3 decimals (the stricter xUnit schemas reject more). */
export function junitSeconds(ms: number): string {
  return (Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0).toFixed(3);
}

function evidenceLine(e: Evidence): string {
  const parts: string[] = [];
  if (e.http > 0) parts.push(`HTTP ${e.http}`);
  else if (e.path) parts.push('no HTTP answer');
  if (e.status !== undefined) parts.push(`status ${e.status}`);
  if (e.ms !== undefined) parts.push(`${e.ms} ms`);
  // A path-less entry is a note of the transcript itself (e.g. earlier exchanges not kept).
  const exchange = [e.path, parts.join(', ')].filter(Boolean).join(': ');
  return [exchange, e.note].filter(Boolean).join('; ');
}

/** The evidence as one line per exchange, without request or response bodies. */
export function evidenceSummary(evidence: readonly Evidence[]): string[] {
  const lines = evidence.slice(0, MAX_EVIDENCE_LINES).map(evidenceLine);
  if (evidence.length > MAX_EVIDENCE_LINES) lines.push(`… ${evidence.length - MAX_EVIDENCE_LINES} more in report.json`);
  return lines;
}

function counterexampleText(c: NonNullable<CheckResult['counterexample']>): string {
  return `seed ${c.seed}, path ${JSON.stringify(c.path)}, value ${c.value}`;
}

/** The text of a <failure>, <error> or warning: message, counterexample, evidence. */
function detail(result: CheckResult): string {
  const lines = [result.message];
  if (result.counterexample) lines.push('', `counterexample: ${counterexampleText(result.counterexample)}`);
  const evidence = evidenceSummary(result.evidence);
  if (evidence.length > 0) lines.push('', 'evidence:', ...evidence.map((l) => `  ${l}`));
  return xmlText(lines.join('\n'));
}

/** The testcase's own properties, as `key: value` lines (the schema has no <properties> in a testcase). */
function caseProperties(result: CheckResult): string[] {
  const rule = findRule(result.rule);
  const lines = [`rule: ${result.rule}`, `check: ${result.check}`];
  if (result.kind !== undefined) lines.push(`kind: ${result.kind}`);
  lines.push(`severity: ${rule?.severity ?? 'unknown'}`, `status: ${result.status}`);
  const c = result.counterexample;
  if (c) lines.push(`counterexample.seed: ${c.seed}`, `counterexample.path: ${c.path}`, `counterexample.value: ${c.value}`);
  const b = result.baseline;
  if (b) lines.push(`baseline.entry: ${b.entry}`, `baseline.found: ${b.status}`, `baseline.owner: ${b.owner}`, `baseline.expires: ${b.expires}`, `baseline.reason: ${b.reason}`);
  return lines;
}

function suiteProperties(run: RunResult): Array<[string, string]> {
  const properties: Array<[string, string]> = [
    ['kit', run.kit.name],
    ['kit.version', run.kit.version],
    ['seed', String(run.seed)],
    ['target.role', run.target.role],
    ['target.url', run.target.url],
    ...(run.target.name === undefined ? [] : [['target.name', run.target.name] as [string, string]]),
    ['outcome', run.outcome],
    ['started_at', run.started_at],
    ['finished_at', run.finished_at],
  ];
  for (const [status, n] of Object.entries(run.summary)) properties.push([`summary.${status}`, String(n)]);
  if (run.capabilities) properties.push(['capabilities', run.capabilities.join(',')]);
  const p = run.propagation;
  if (p) {
    properties.push(['propagation.registered', String(p.registered)], ['propagation.visible', String(p.visible)]);
    if (p.latencyMs) {
      properties.push(['propagation.latency_ms.min', String(p.latencyMs.min)], ['propagation.latency_ms.median', String(p.latencyMs.median)], ['propagation.latency_ms.max', String(p.latencyMs.max)]);
    }
    properties.push(['propagation.waited_ms', String(p.waitedMs)], ['propagation.timeout_ms', String(p.timeout_ms)]);
  }
  if (run.outcome === 'interrupted') properties.push(['interrupted', 'true']);
  if (run.stopped_by) properties.push(['stopped_by', run.stopped_by]);
  if (run.undecided_rules) properties.push(['undecided_rules', run.undecided_rules.join(',')]);
  if (run.error !== undefined) properties.push(['error', run.error]);
  if (run.baseline) {
    properties.push(['baseline.file', run.baseline.file]);
    for (const state of ['accepted', 'stale', 'expired', 'unused']) properties.push([`baseline.${state}`, String(run.baseline.entries.filter((e) => e.state === state).length)]);
  }
  return properties;
}

/** What went wrong with the run as a whole, for the testsuite's <system-err>; empty when nothing did. */
function runProblems(run: RunResult): string[] {
  const lines: string[] = [];
  if (run.outcome === 'interrupted') {
    const s = summarize(run.results);
    lines.push(`interrupted: the run was stopped before every check finished; the results are those found until then (${s.pass + s.fail + s.warn + s.error} decided, ${s.skipped} skipped)`);
  }
  if (run.error !== undefined) lines.push(`could not test: ${run.error}`);
  if (run.undecided_rules) lines.push(`incomplete: MUST rules not decided: ${run.undecided_rules.join(', ')}`);
  // Entries that fail the run, and stale ones (a warning) even when they do not.
  lines.push(...baselineFailures(run.baseline), ...(run.baseline?.entries ?? []).filter((e) => e.state === 'stale' && !e.fails_run).map((e) => `warning: ${entryLine(e)}`));
  return lines;
}

function duration(run: RunResult): number {
  const wall = Date.parse(run.finished_at) - Date.parse(run.started_at);
  return Number.isFinite(wall) && wall >= 0 ? wall : run.results.reduce((sum, r) => sum + r.duration_ms, 0);
}

function addTestcase(suite: XMLBuilder, run: RunResult, result: CheckResult): void {
  const role = findRule(result.rule)?.role ?? run.target.role;
  const testcase = suite.ele('testcase', {
    name: attribute(`${result.rule} ${result.check}${result.target === undefined ? '' : ` [${result.target}]`}`),
    classname: attribute(`uid2-conformance.${role}.${result.rule}`),
    time: junitSeconds(result.duration_ms),
    status: result.status,
  });
  const out = caseProperties(result);
  switch (result.status) {
    case 'pass':
      break;
    case 'fail':
      testcase.ele('failure', { message: attribute(result.message), type: 'fail' }).txt(detail(result));
      break;
    case 'error':
      testcase.ele('error', { message: attribute(result.message), type: 'error' }).txt(detail(result));
      break;
    case 'warn':
      out.unshift(`warning: ${detail(result)}`, '');
      break;
    case 'skipped':
    case 'not_applicable':
      testcase.ele('skipped').txt(xmlText(`${result.status}: ${result.message}`));
      break;
  }
  testcase.ele('system-out').txt(xmlText(out.join('\n')));
}

/** Counted from the results themselves, so the counts always match the testcases. */
function counts(run: RunResult) {
  const summary = summarize(run.results);
  return { tests: String(run.results.length), failures: String(summary.fail), errors: String(summary.error), skipped: String(summary.skipped + summary.not_applicable) };
}

/** The JUnit XML of one run: one test suite, or one per target (named by it) in a run of several. */
export function junitXml(run: RunResult): string {
  const { skipped: _, ...total } = counts(run);
  const doc = xmlbuilder2().create({ version: '1.0', encoding: 'UTF-8' });
  const suites = doc.ele('testsuites', { name: 'uid2-conformance', ...total, time: junitSeconds(duration(run)) });
  const perTarget = targetRuns(run);
  for (const suiteRun of perTarget ?? [run]) addSuite(suites, suiteRun, `uid2-conformance ${perTarget ? suiteRun.target.name : run.target.role}`);
  return doc.end({ prettyPrint: true });
}

function addSuite(suites: XMLBuilder, run: RunResult, suiteName: string): void {
  const suite = suites.ele('testsuite', {
    name: suiteName,
    ...counts(run),
    time: junitSeconds(duration(run)),
    timestamp: run.started_at,
  });
  const properties = suite.ele('properties');
  for (const [name, value] of suiteProperties(run)) properties.ele('property', { name, value: attribute(value) });
  for (const result of run.results) addTestcase(suite, run, result);
  const problems = runProblems(run);
  if (problems.length > 0) suite.ele('system-err').txt(xmlText(problems.join('\n')));
}

/** Writes `dir/junit.xml` (replacing any earlier one whole) and returns its path. */
export function writeJunitReport(dir: string, run: RunResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'junit.xml');
  writeFileAtomic(path, `${junitXml(run)}\n`);
  return path;
}
