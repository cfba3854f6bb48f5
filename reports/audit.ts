// The audit report that engineers hand to compliance: audit.html (one self-contained, printable file:
// inline CSS, no scripts, no external assets) and audit.md (the same content in Markdown), written
// atomically beside report.json. Both are rendered from one model built from the RunResult, so they say
// the same thing; neither adds anything the RunResult does not hold (its evidence is already redacted).
//
// - A rule's verdict, for the roles the run covered, in catalog order: fail if any of its results failed;
//   else warn; else error (could not decide); else pass if any passed; else not applicable; a rule with
//   no result, or only skipped ones, was not run.
// - Findings: every non-pass result. Failures, warnings and undecided checks get the message, the
//   counterexample and how to replay it, and up to MAX_EVIDENCE transcript entries; checks that did not
//   apply or did not run are one table row each, with the reason.
// - The HTML is also well-formed XML (void elements self-closed, only the XML entities), so a plain XML
//   parser checks its structure; its layout has no fixed widths, and long values wrap when printed.
// - In the Markdown, text is backslash-escaped where it could become markup (`<script>` stays literal in
//   any renderer, `|` cannot split a table), and transcripts are fenced code blocks.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { summarize, type CheckResult, type Evidence, type RunResult, type Status } from '../harness/engine/result.ts';
import { RETIRED_RULES, RULES, type Role, type Severity } from '../harness/rules.ts';
import { writeFileAtomic } from './json.ts';

/** Transcript entries shown per finding; the rest stay in report.json. */
const MAX_EVIDENCE = 10;
/** Of those, how many come from the start of the transcript (the rest are its end, where a check stops). */
const EVIDENCE_HEAD = 3;
/** Characters of one request or response body shown as compact JSON. */
const MAX_BODY = 600;

const TITLE = 'UID2 opt-out conformance audit';

export type VerdictKind = 'pass' | 'fail' | 'warn' | 'error' | 'not_applicable' | 'not_run';

export const VERDICT_LABEL: Record<VerdictKind, string> = {
  pass: 'Pass',
  fail: 'Fail',
  warn: 'Warning',
  error: 'Could not decide',
  not_applicable: 'Not applicable',
  not_run: 'Not run',
};

const STATUS_LABEL: Record<Status, string> = {
  pass: 'Pass',
  fail: 'Fail',
  warn: 'Warning',
  error: 'Could not decide',
  skipped: 'Not run',
  not_applicable: 'Not applicable',
};

const ROLE_HEADING: Record<Role, string> = {
  operator: 'Operator rules',
  publisher: 'Publisher rules',
  dsp: 'DSP rules',
  advertiser: 'Advertiser and data provider rules',
  sharer: 'Sharer rules',
};

export interface RuleVerdict {
  id: string;
  severity: Severity | 'unknown';
  /** The catalog role, or undefined for a rule this kit version does not know. */
  role: Role | undefined;
  summary: string;
  verdict: VerdictKind;
  /** Why, or how many: "1 of 3 checks failed", "needs --cstg-public-key …". */
  detail: string;
  checks: number;
  /** "2 scenario, 1 property" (empty when no result says its kind). */
  kinds: string;
}

interface Finding {
  number: number;
  result: CheckResult;
  severity: Severity | 'unknown';
  replay: string | undefined;
}

interface TranscriptEntry {
  /** 1-based index in the result's evidence (as in report.json). */
  index: number;
  heading: string;
  note: string | undefined;
  request: string | undefined;
  response: string | undefined;
}

type TranscriptLine = TranscriptEntry | { omitted: number };

interface Section {
  title: string;
  paragraphs: string[];
}

interface AuditModel {
  title: string;
  outcome: { kind: RunResult['outcome']; text: string; caution: string | undefined };
  facts: Array<[string, string]>;
  intro: Section[];
  verdicts: Array<{ heading: string; rules: RuleVerdict[] }>;
  findings: Finding[];
  notDecided: CheckResult[];
  propagation: Array<[string, string]> | undefined;
  capabilities: string[] | undefined;
}

// ── the model ──────────────────────────────────────────────────────────────────────────────────────

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Distinct messages, joined (a rule's N/A checks usually share one reason). */
function reasons(results: readonly CheckResult[]): string {
  return [...new Set(results.map((r) => oneLine(r.message)))].join('; ');
}

/** The roles the run covered: every role when it says so, else its one role. */
export function coveredRoles(run: RunResult): string[] {
  return run.target.roles && run.target.roles.length > 0 ? run.target.roles : [run.target.role];
}

function kindsOf(results: readonly CheckResult[]): string {
  const scenario = results.filter((r) => r.kind === 'scenario').length;
  const property = results.filter((r) => r.kind === 'property').length;
  return [scenario > 0 ? `${scenario} scenario` : '', property > 0 ? `${property} property` : ''].filter(Boolean).join(', ');
}

function notRunReason(run: RunResult): string {
  if (run.error !== undefined) return 'the run could not test the target';
  if (run.outcome === 'interrupted') return 'the run was interrupted before any check of this rule finished';
  return 'no check of this rule was part of this run';
}

function verdictOf(run: RunResult, results: readonly CheckResult[]): { verdict: VerdictKind; detail: string } {
  const count = (status: Status) => results.filter((r) => r.status === status).length;
  const of = (n: number, what: string) => `${n} of ${plural(results.length, 'check')} ${what}`;
  const skipped = count('skipped');
  const notRun = skipped > 0 ? ` (${plural(skipped, 'check')} not run)` : '';
  const others = [count('not_applicable') > 0 ? `${count('not_applicable')} not applicable` : '', skipped > 0 ? `${skipped} not run` : ''].filter(Boolean).join(', ');
  if (count('fail') > 0) return { verdict: 'fail', detail: of(count('fail'), 'failed') };
  if (count('warn') > 0) return { verdict: 'warn', detail: of(count('warn'), 'found the recommendation not followed') };
  if (count('error') > 0) return { verdict: 'error', detail: of(count('error'), 'could not decide') };
  if (count('pass') > 0) return { verdict: 'pass', detail: `${of(count('pass'), 'passed')}${others ? ` (${others})` : ''}` };
  const notApplicable = results.filter((r) => r.status === 'not_applicable');
  if (notApplicable.length > 0) return { verdict: 'not_applicable', detail: `${reasons(notApplicable)}${notRun}` };
  if (skipped > 0) return { verdict: 'not_run', detail: reasons(results) };
  return { verdict: 'not_run', detail: notRunReason(run) };
}

/** Every rule of the covered roles (and any rule a result names), in catalog order, with its verdict. */
export function ruleVerdicts(run: RunResult): RuleVerdict[] {
  const byRule = new Map<string, CheckResult[]>();
  for (const r of run.results) byRule.set(r.rule, [...(byRule.get(r.rule) ?? []), r]);
  const roles = new Set(coveredRoles(run));
  const verdicts: RuleVerdict[] = [];
  const make = (id: string, severity: RuleVerdict['severity'], role: Role | undefined, summary: string): RuleVerdict => {
    const results = byRule.get(id) ?? [];
    return { id, severity, role, summary, ...verdictOf(run, results), checks: results.length, kinds: kindsOf(results) };
  };
  for (const rule of RULES) {
    if (roles.has(rule.role) || byRule.has(rule.id)) verdicts.push(make(rule.id, rule.severity, rule.role, rule.summary));
  }
  for (const id of byRule.keys()) {
    if (!RULES.some((r) => r.id === id)) verdicts.push(make(id, 'unknown', undefined, RETIRED_RULES.has(id) ? `(${RETIRED_RULES.get(id)})` : '(not in this kit version’s rule catalog)'));
  }
  return verdicts;
}

function outcomeOf(run: RunResult, verdicts: readonly RuleVerdict[]): AuditModel['outcome'] {
  const ids = (kind: VerdictKind) => verdicts.filter((v) => v.verdict === kind).map((v) => v.id);
  const failed = ids('fail');
  const warned = ids('warn');
  const undecided = ids('error');
  const notRun = ids('not_run');
  const caution = notRun.length > 0 && run.error === undefined ? `${plural(notRun.length, 'rule')} of the tested roles ${notRun.length === 1 ? 'was' : 'were'} not checked in this run: ${notRun.join(', ')}.` : undefined;
  const list = (rules: string[]) => (rules.length > 0 ? ` (${rules.join(', ')})` : '');
  switch (run.outcome) {
    case 'pass':
      return {
        kind: 'pass',
        text: `Conformant: every applicable MUST rule passed${warned.length > 0 ? `; ${plural(warned.length, 'SHOULD rule')} gave a warning${list(warned)}` : ''}.`,
        caution,
      };
    case 'fail':
      return {
        kind: 'fail',
        text:
          failed.length > 0
            ? `Not conformant: ${plural(failed.length, 'rule')} failed${list(failed)}${run.incomplete ? `; ${plural(run.undecided_rules!.length, 'MUST rule')} not decided${list(run.undecided_rules!)}` : ''}.`
            : `Not conformant: ${plural(warned.length, 'SHOULD rule')} gave a warning${list(warned)}, and the run was strict (--strict), where warnings fail.`,
        caution,
      };
    case 'error':
      if (run.error !== undefined) return { kind: 'error', text: `Could not be tested: ${oneLine(run.error)}.`.replace(/\.\.$/, '.'), caution };
      if (run.incomplete) {
        const why = run.stopped_by === 'deadline' ? 'the run deadline passed before the kit decided' : 'the kit could not decide';
        return { kind: 'error', text: `Incomplete: ${why} ${plural(run.undecided_rules!.length, 'MUST rule')}${list(run.undecided_rules!)}; no rule failed. Not a conformance verdict.`, caution };
      }
      if (undecided.length === 0 || verdicts.every((v) => v.verdict !== 'pass' && v.verdict !== 'warn')) {
        return { kind: 'error', text: 'Could not be tested: no check could decide its rule.', caution };
      }
      return { kind: 'error', text: `Could not be tested completely: the kit could not decide ${plural(undecided.length, 'rule')}${list(undecided)}; no rule failed.`, caution };
    case 'interrupted':
      return {
        kind: 'interrupted',
        text: `Interrupted${run.stopped_by ? ` (${run.stopped_by})` : ''}: the run was stopped before every check finished; the verdicts below are what was found until then${failed.length > 0 ? `, and ${plural(failed.length, 'rule')} had already failed${list(failed)}` : ''}${run.undecided_rules ? `; not decided: ${run.undecided_rules.join(', ')}` : ''}.`,
        caution,
      };
  }
}

/** A time as `2026-01-02 03:04:05 UTC` (the ISO text itself when it does not parse). */
export function humanTime(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC` : iso;
}

export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s} s`;
}

/** `22 passed, 1 warning, 9 not run`: the non-zero counts of the six statuses, in that order. */
function countsText(counts: readonly number[]): string {
  const words: ReadonlyArray<[string, string]> = [['passed', 'passed'], ['failed', 'failed'], ['warning', 'warnings'], ['could not decide', 'could not decide'], ['not applicable', 'not applicable'], ['not run', 'not run']];
  return counts.flatMap((n, i) => (n > 0 ? [plural(n, words[i]![0], words[i]![1])] : [])).join(', ');
}

function facts(run: RunResult, verdicts: readonly RuleVerdict[]): Array<[string, string]> {
  const s = summarize(run.results);
  const v = (kind: VerdictKind) => verdicts.filter((r) => r.verdict === kind).length;
  const wall = Date.parse(run.finished_at) - Date.parse(run.started_at);
  const checks = countsText([s.pass, s.fail, s.warn, s.error, s.not_applicable, s.skipped]);
  const rules = countsText([v('pass'), v('fail'), v('warn'), v('error'), v('not_applicable'), v('not_run')]);
  return [
    ['Kit', `${run.kit.name} ${run.kit.version}`],
    ['Target', run.target.url],
    ['Roles tested', coveredRoles(run).join(', ')],
    ['Started', humanTime(run.started_at)],
    ['Finished', humanTime(run.finished_at)],
    ['Duration', humanDuration(wall)],
    ['Seed', String(run.seed)],
    ['Rules', `${verdicts.length}${rules ? `: ${rules}` : ''}`],
    ['Checks', `${run.results.length}${checks ? `: ${checks}` : ''}`],
  ];
}

function intro(run: RunResult): Section[] {
  const roles = coveredRoles(run);
  const participants = roles.filter((r) => r !== 'operator');
  const production = run.capabilities !== undefined && !run.capabilities.includes('synthetic');
  const acted: string[] = [];
  if (roles.includes('operator')) {
    acted.push('For the operator, the kit acted as UID2 participants (publisher, advertiser, data provider, sharer): it registered opt-outs through the opt-out service’s endpoint and then asked every endpoint that opt-out touches about the same people.');
  }
  if (participants.length > 0) {
    acted.push(`For the participant roles (${participants.join(', ')}), the kit played the UID2 operator and the opt-out service, and drove the participant’s own code through its test driver as synthetic users.`);
  }
  const identities = production
    ? 'Because the target is a production host, only the identities UID2 documents for testing were sent.'
    : 'Only synthetic identities were used: invented email addresses at the reserved domains example.com and example.org (gmail.com addresses only to test its spelling rules) and phone numbers under the unassigned +999 prefix, each marked with a per-run value. No real person’s data was sent.';
  return [
    {
      title: 'How to read this report',
      paragraphs: [
        'Each rule comes from the UID2 opt-out rule catalog. MUST rules are requirements: one failure makes the target not conformant. SHOULD rules are recommendations: breaking one gives a Warning, which fails the run only when it was run in strict mode.',
        'Each rule is checked by one or more checks. A scenario check plays one fixed situation; a property check tries many generated cases (for example every spelling of an email address, or a batch with the opted-out person at any position) and, when one fails, reduces it to a minimal case that can be replayed exactly.',
        'Verdicts: Pass: every check that could decide found the rule honored. Fail: at least one check found the rule broken (see Findings). Warning: a SHOULD rule was not followed. Could not decide: the kit could not reach a verdict, for example because the target did not answer in time; this never counts as a pass. Not applicable: the target does not play that role or lacks something the check needs, such as credentials to register opt-outs. Not run: no check of the rule ran in this run.',
        'Findings list every check that did not pass, with the evidence: the requests the kit sent and the answers it received, in order. The file report.json beside this report is the complete record.',
        'Opt-outs take time to spread: a real operator is several instances that each pick up new opt-outs on their own timer. Until an opt-out has settled (reported with no flip back for the settle window, or the propagation bound has passed), an answer that still says "opted in" is propagation, not a failure; the Propagation section counts such answers per endpoint. Once it has settled, any such answer fails the rule. Throttling and outages of the target are retried and, if they persist, give Could not decide, never a failure.',
        'The kit is calibrated both ways before it is trusted: every named fault of its simulated operator and reference participants must fail exactly the rules it breaks, and the conformant variants real deployments show (a fleet of instances, a gateway that throttles, the latest time kept for same-day repeats, empty error messages, short refresh lifetimes, a CSTG origin check) must pass with nothing failed.',
      ],
    },
    {
      title: 'What was tested',
      paragraphs: [
        ...acted,
        identities,
        'In every output of the kit, this report included, identifying values are replaced by stable stand-ins (pseudonyms): <email dii#3> stands for one person across every form of their email address (as typed, normalized, hashed), <phone dii#7> likewise for a phone number, <uid2#5> for a raw UID2 and <token#2> for a token. They let a reader follow one person through the transcript (opted out, then refused) without learning who it is. API keys and client secrets never appear. Nothing sensitive is in this report.',
      ],
    },
  ];
}

function replayOf(run: RunResult, result: CheckResult, role: Role | undefined): string | undefined {
  if (result.status !== 'fail' && result.status !== 'warn' && result.status !== 'error') return undefined;
  if (result.counterexample && (role === undefined || role === 'operator')) return `uid2-conformance replay report.json --check ${result.check}`;
  return `uid2-conformance run --seed ${run.seed}`;
}

/** The transcript of one finding: the first entries and the last ones, with what was left out between. */
function transcript(evidence: readonly Evidence[]): TranscriptLine[] {
  const entry = (e: Evidence, i: number): TranscriptEntry => {
    const parts: string[] = [];
    if (e.http > 0) parts.push(`HTTP ${e.http}`);
    else if (e.path) parts.push('no HTTP answer');
    if (e.status !== undefined) parts.push(`answer status ${e.status}`);
    if (e.ms !== undefined) parts.push(`${e.ms} ms`);
    return {
      index: i + 1,
      heading: [e.path, parts.join(', ')].filter(Boolean).join(': ') || 'note',
      note: e.note === undefined ? undefined : oneLine(e.note),
      request: compactJson(e.request),
      response: compactJson(e.response),
    };
  };
  if (evidence.length <= MAX_EVIDENCE) return evidence.map(entry);
  const tail = MAX_EVIDENCE - EVIDENCE_HEAD;
  return [
    ...evidence.slice(0, EVIDENCE_HEAD).map(entry),
    { omitted: evidence.length - MAX_EVIDENCE },
    ...evidence.slice(evidence.length - tail).map((e, i) => entry(e, evidence.length - tail + i)),
  ];
}

export function compactJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length <= MAX_BODY) return text;
  let cut = MAX_BODY;
  if (/[\uDC00-\uDFFF]/.test(text.charAt(cut))) cut -= 1;
  return `${text.slice(0, cut)}… (${text.length - cut} more characters in report.json)`;
}

const FINDING_ORDER: readonly Status[] = ['fail', 'warn', 'error'];

function model(run: RunResult): AuditModel {
  const verdicts = ruleVerdicts(run);
  const position = new Map(verdicts.map((v, i) => [v.id, i]));
  const inCatalogOrder = (a: CheckResult, b: CheckResult) => (position.get(a.rule) ?? 0) - (position.get(b.rule) ?? 0);
  const ruleOf = new Map(verdicts.map((v) => [v.id, v]));
  const findings = FINDING_ORDER.flatMap((status) => run.results.filter((r) => r.status === status).sort(inCatalogOrder)).map((result, i) => ({
    number: i + 1,
    result,
    severity: ruleOf.get(result.rule)?.severity ?? 'unknown',
    replay: replayOf(run, result, ruleOf.get(result.rule)?.role),
  }));
  const notDecided = run.results.filter((r) => r.status === 'not_applicable' || r.status === 'skipped').sort(inCatalogOrder);

  const groups: AuditModel['verdicts'] = [];
  for (const v of verdicts) {
    const heading = v.role ? ROLE_HEADING[v.role] : 'Rules not in the catalog';
    const last = groups.at(-1);
    if (last && last.heading === heading) last.rules.push(v);
    else groups.push({ heading, rules: [v] });
  }

  const p = run.propagation;
  const propagation: AuditModel['propagation'] = p
    ? [
        ['Opt-outs registered', String(p.registered)],
        ['Visible within the bound', `${p.visible} of ${p.registered}`],
        ['Latency from acknowledgement to first observation', p.latencyMs ? `min ${p.latencyMs.min} ms, median ${p.latencyMs.median} ms, max ${p.latencyMs.max} ms` : 'not measured'],
        ['Bound (--propagation-timeout)', `${p.timeout_ms} ms (${humanDuration(p.timeout_ms)})`],
        ['Time the run waited', `${p.waitedMs} ms`],
        ...(p.settleMs !== undefined ? [['Settled (reported without a flip for the --settle window)', `${p.settled ?? 0} of ${p.registered}, window ${p.settleMs} ms (${humanDuration(p.settleMs)})`] as [string, string]] : []),
        ...Object.entries(p.disagreements ?? {}).map(([endpoint, d]): [string, string] => [
          `Disagreements before settling on ${endpoint}`,
          `${d!.answers} answers for ${d!.persons} opt-outs said opted in after an earlier report, up to ${d!.longestMs} ms after it`,
        ]),
      ]
    : undefined;

  return {
    title: TITLE,
    outcome: outcomeOf(run, verdicts),
    facts: facts(run, verdicts),
    intro: intro(run),
    verdicts: groups,
    findings,
    notDecided,
    propagation,
    capabilities: run.capabilities?.map(capabilityText),
  };
}

function capabilityText(capability: string): string {
  switch (capability) {
    case 'optout':
      return 'optout: credentials with the OPTOUT role, so the kit could register fresh opt-outs';
    case 'cstg':
      return 'cstg: a client-side token generation key pair, so client-side generation was tested';
    case 'synthetic':
      return 'synthetic: not a production host, so synthetic identities could be used';
    default:
      return capability;
  }
}

const NO_CAPABILITIES = 'none: the target offered only what the documented test identities allow';
const NO_PROPAGATION = 'No opt-out was registered in this run, so no propagation was measured.';

// ── text safety ────────────────────────────────────────────────────────────────────────────────────

/** Control characters (but tab and newline), lone surrogates and U+FFFE/FFFF become U+FFFD. */
function clean(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[^\t\n\u0020-\u007E\u00A0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
}

export function escapeHtml(text: string): string {
  return clean(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Markdown text on one line, escaped where it could become markup (HTML, links, emphasis, table cells). */
export function escapeMarkdown(text: string): string {
  return oneLine(clean(text))
    .replace(/[\\`*[\]<|~]/g, (c) => `\\${c}`)
    .replace(/&(?=#?[A-Za-z0-9]+;)/g, '\\&')
    .replace(/_/g, (c, i: number, s: string) => (/[A-Za-z0-9]/.test(s.charAt(i - 1)) && /[A-Za-z0-9]/.test(s.charAt(i + 1)) ? c : '\\_'));
}

/** An inline code span that holds any text. */
function mdCode(text: string): string {
  const t = oneLine(clean(text));
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** A fenced code block that holds any lines. */
function mdFence(lines: readonly string[]): string[] {
  const body = lines.map(clean);
  const longest = Math.max(0, ...body.flatMap((l) => (l.match(/`+/g) ?? []).map((run) => run.length)));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}text`, ...body, fence];
}

// ── audit.md ───────────────────────────────────────────────────────────────────────────────────────

function findingTitle(f: Finding): string {
  return `F${f.number}. ${STATUS_LABEL[f.result.status]}: ${f.result.rule} (${f.severity}), check ${f.result.check}`;
}

function transcriptText(lines: readonly TranscriptLine[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if ('omitted' in line) {
      out.push(`… ${line.omitted} more in report.json`);
      continue;
    }
    out.push(`${line.index}. ${line.heading}`);
    if (line.note !== undefined) out.push(`   note:     ${line.note}`);
    if (line.request !== undefined) out.push(`   request:  ${line.request}`);
    if (line.response !== undefined) out.push(`   response: ${line.response}`);
  }
  return out;
}

function evidenceCount(result: CheckResult): string {
  return `${plural(result.evidence.length, 'entry', 'entries')}${result.evidence.length > MAX_EVIDENCE ? `, ${MAX_EVIDENCE} shown` : ''}`;
}

/** The audit report as Markdown. */
export function auditMarkdown(run: RunResult): string {
  const m = model(run);
  const md = escapeMarkdown;
  const out: string[] = [`# ${m.title}`, '', `**Outcome: ${md(m.outcome.text)}**`, ''];
  if (m.outcome.caution) out.push(`Note: ${md(m.outcome.caution)}`, '');
  for (const [name, value] of m.facts) out.push(`- **${name}:** ${md(value)}`);
  for (const section of m.intro) {
    out.push('', `## ${section.title}`);
    for (const p of section.paragraphs) out.push('', md(p));
  }

  out.push('', '## Verdict per rule');
  for (const group of m.verdicts) {
    out.push('', `### ${group.heading}`, '', '| Rule | Severity | What the rule requires | Verdict | Checks |', '|---|---|---|---|---|');
    for (const v of group.rules) {
      const checks = v.kinds ? `${v.checks} (${v.kinds})` : String(v.checks);
      out.push(`| ${md(v.id)} | ${v.severity} | ${md(v.summary)} | **${VERDICT_LABEL[v.verdict]}**: ${md(v.detail)} | ${checks} |`);
    }
  }

  out.push('', '## Findings');
  if (m.findings.length === 0) out.push('', 'No check failed, warned or could not decide.');
  for (const f of m.findings) {
    const r = f.result;
    out.push('', `### ${md(findingTitle(f))}`, '');
    out.push(`- **Check:** ${mdCode(r.check)}${r.kind ? ` (${r.kind})` : ''}, ${Math.round(r.duration_ms)} ms`);
    out.push(`- **Message:** ${md(r.message)}`);
    const c = r.counterexample;
    if (c) out.push(`- **Counterexample:** seed ${c.seed}, path ${mdCode(c.path)}, minimal case ${mdCode(c.value)}`);
    if (f.replay) out.push(`- **Replay:** ${mdCode(f.replay)}${c ? '' : ' (a scenario check: rerun the suite with the same seed and the run’s other options)'}`);
    if (r.evidence.length === 0) out.push('- **Evidence:** none recorded');
    else out.push(`- **Evidence** (${evidenceCount(r)}):`, '', ...mdFence(transcriptText(transcript(r.evidence))));
    for (const s of r.screenshots ?? []) out.push(`- **Screenshot:** [${md(s.caption)}](${s.file})`);
  }
  if (m.notDecided.length > 0) {
    out.push('', '### Checks that did not apply or did not run', '', '| Check | Rule | Verdict | Reason |', '|---|---|---|---|');
    for (const r of m.notDecided) out.push(`| ${mdCode(r.check).replace(/\|/g, '\\|')} | ${md(r.rule)} | ${STATUS_LABEL[r.status]} | ${md(r.message)} |`);
  }

  out.push('', '## Propagation of opt-outs', '');
  if (m.propagation) {
    out.push('| Figure | Value |', '|---|---|');
    for (const [name, value] of m.propagation) out.push(`| ${md(name)} | ${md(value)} |`);
  } else out.push(NO_PROPAGATION);
  out.push('', '## Capabilities of the target', '');
  if (m.capabilities === undefined) out.push('Not recorded: the run tested no operator.');
  else if (m.capabilities.length === 0) out.push(md(NO_CAPABILITIES));
  else for (const c of m.capabilities) out.push(`- ${md(c)}`);
  out.push('', `*Generated by ${md(`${run.kit.name} ${run.kit.version}`)} from the same run as report.json.*`, '');
  return out.join('\n');
}

// ── audit.html ─────────────────────────────────────────────────────────────────────────────────────

const CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; line-height: 1.45; color: #111; margin: 1.5rem auto; padding: 0 1rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin-bottom: .4rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #999; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
.outcome { font-size: 1.15rem; font-weight: bold; padding: .6rem .8rem; border: 2px solid; border-radius: 4px; }
.outcome.pass { border-color: #1a7f37; background: #e6f4ea; }
.outcome.fail { border-color: #b42318; background: #fdecea; }
.outcome.error, .outcome.interrupted { border-color: #9a6700; background: #fff6db; }
.caution { font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { border: 1px solid #bbb; padding: .3rem .45rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eee; }
table.facts th { width: auto; white-space: nowrap; }
.verdict { font-weight: bold; white-space: nowrap; }
.v-pass { color: #1a7f37; }
.v-fail { color: #b42318; }
.v-warn { color: #9a6700; }
.v-error { color: #8250df; }
.v-not_applicable, .v-not_run { color: #555; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .88em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; border: 1px solid #ddd; padding: .35rem .5rem; margin: .2rem 0; }
.screenshot img { max-width: 100%; border: 1px solid #999; }
.finding { border-left: 4px solid #bbb; padding-left: .8rem; margin: 1rem 0; }
.finding.fail { border-color: #b42318; }
.finding.warn { border-color: #9a6700; }
.finding.error { border-color: #8250df; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; }
dl.fields dt { font-weight: bold; }
dl.fields dd { margin: 0; overflow-wrap: anywhere; }
.message { white-space: pre-wrap; }
ol.transcript { padding-left: 1.6rem; }
ol.transcript li { margin-bottom: .4rem; }
.omitted { list-style: none; font-style: italic; }
footer { margin-top: 2rem; font-size: .85rem; color: #555; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2, h3 { break-after: avoid; }
  tr, .finding li { break-inside: avoid; }
  thead { display: table-header-group; }
  .outcome, th, .v-pass, .v-fail, .v-warn, .v-error { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

function transcriptHtml(lines: readonly TranscriptLine[]): string[] {
  const h = escapeHtml;
  const out = ['<ol class="transcript">'];
  for (const line of lines) {
    if ('omitted' in line) {
      out.push(`<li class="omitted">… ${line.omitted} more in report.json</li>`);
      continue;
    }
    const parts = [`<code>${h(line.heading)}</code>`];
    if (line.note !== undefined) parts.push(`<div>note: ${h(line.note)}</div>`);
    if (line.request !== undefined) parts.push(`<div>request:</div><pre>${h(line.request)}</pre>`);
    if (line.response !== undefined) parts.push(`<div>response:</div><pre>${h(line.response)}</pre>`);
    out.push(`<li value="${line.index}">${parts.join('')}</li>`);
  }
  out.push('</ol>');
  return out;
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>, className?: string): string[] {
  return [
    `<table${className ? ` class="${className}"` : ''}>`,
    `<thead><tr>${head.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((row) => `<tr>${row.map((c) => `<td>${c}</td>`).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ];
}

/** The audit report as one self-contained HTML page (also well-formed XML); screenshots embedded from `images` (file → PNG). */
export function auditHtml(run: RunResult, images: ReadonlyMap<string, Uint8Array> = new Map()): string {
  const m = model(run);
  const h = escapeHtml;
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en" xmlns="http://www.w3.org/1999/xhtml">',
    '<head>',
    '<meta charset="utf-8" />',
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    `<title>${h(`${m.title}: ${run.target.url}`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>${h(m.title)}</h1>`,
    `<p class="outcome ${m.outcome.kind}">${h(m.outcome.text)}</p>`,
  ];
  if (m.outcome.caution) out.push(`<p class="caution">${h(m.outcome.caution)}</p>`);
  out.push('<table class="facts"><tbody>', ...m.facts.map(([name, value]) => `<tr><th scope="row">${h(name)}</th><td>${h(value)}</td></tr>`), '</tbody></table>');
  for (const section of m.intro) {
    out.push(`<h2>${h(section.title)}</h2>`, ...section.paragraphs.map((p) => `<p>${h(p)}</p>`));
  }

  out.push('<h2>Verdict per rule</h2>');
  for (const group of m.verdicts) {
    out.push(`<h3>${h(group.heading)}</h3>`);
    const rows = group.rules.map((v) => [
      `<code>${h(v.id)}</code>`,
      h(v.severity),
      h(v.summary),
      `<span class="verdict v-${v.verdict}">${h(VERDICT_LABEL[v.verdict])}</span><br />${h(v.detail)}`,
      h(v.kinds ? `${v.checks} (${v.kinds})` : String(v.checks)),
    ]);
    out.push(...table(['Rule', 'Severity', 'What the rule requires', 'Verdict', 'Checks'], rows, 'verdicts'));
  }

  out.push('<h2>Findings</h2>');
  if (m.findings.length === 0) out.push('<p>No check failed, warned or could not decide.</p>');
  for (const f of m.findings) {
    const r = f.result;
    const c = r.counterexample;
    out.push(`<section class="finding ${r.status}" id="finding-${f.number}">`, `<h3>${h(findingTitle(f))}</h3>`, '<dl class="fields">');
    out.push(`<dt>Check</dt><dd><code>${h(r.check)}</code>${r.kind ? ` (${h(r.kind)})` : ''}, ${Math.round(r.duration_ms)} ms</dd>`);
    out.push(`<dt>Message</dt><dd class="message">${h(r.message)}</dd>`);
    if (c) out.push(`<dt>Counterexample</dt><dd>seed ${h(String(c.seed))}, path <code>${h(c.path)}</code>, minimal case <code>${h(c.value)}</code></dd>`);
    if (f.replay) out.push(`<dt>Replay</dt><dd><code>${h(f.replay)}</code>${c ? '' : ' (a scenario check: rerun the suite with the same seed and the run’s other options)'}</dd>`);
    out.push(`<dt>Evidence</dt><dd>${r.evidence.length === 0 ? 'none recorded' : h(evidenceCount(r))}</dd>`, '</dl>');
    if (r.evidence.length > 0) out.push(...transcriptHtml(transcript(r.evidence)));
    for (const s of r.screenshots ?? []) {
      const png = images.get(s.file);
      out.push(`<figure class="screenshot"><img src="${png ? `data:image/png;base64,${Buffer.from(png).toString('base64')}` : h(s.file)}" alt="${h(s.caption)}" /><figcaption>${h(s.caption)}</figcaption></figure>`);
    }
    out.push('</section>');
  }
  if (m.notDecided.length > 0) {
    out.push('<h3>Checks that did not apply or did not run</h3>');
    out.push(...table(['Check', 'Rule', 'Verdict', 'Reason'], m.notDecided.map((r) => [`<code>${h(r.check)}</code>`, `<code>${h(r.rule)}</code>`, h(STATUS_LABEL[r.status]), h(r.message)])));
  }

  out.push('<h2>Propagation of opt-outs</h2>');
  if (m.propagation) out.push(...table(['Figure', 'Value'], m.propagation.map(([name, value]) => [h(name), h(value)])));
  else out.push(`<p>${h(NO_PROPAGATION)}</p>`);
  out.push('<h2>Capabilities of the target</h2>');
  if (m.capabilities === undefined) out.push('<p>Not recorded: the run tested no operator.</p>');
  else if (m.capabilities.length === 0) out.push(`<p>${h(NO_CAPABILITIES)}</p>`);
  else out.push('<ul>', ...m.capabilities.map((c) => `<li>${h(c)}</li>`), '</ul>');
  out.push(`<footer>Generated by ${h(`${run.kit.name} ${run.kit.version}`)} from the same run as report.json.</footer>`, '</body>', '</html>', '');
  return out.join('\n');
}

/** Writes `dir/audit.html` and `dir/audit.md` (each replaced whole) and returns their paths. */
export function writeAuditReports(dir: string, run: RunResult, images: ReadonlyMap<string, Uint8Array> = new Map()): string[] {
  mkdirSync(dir, { recursive: true });
  const html = join(dir, 'audit.html');
  const md = join(dir, 'audit.md');
  writeFileAtomic(html, auditHtml(run, images));
  writeFileAtomic(md, auditMarkdown(run));
  return [html, md];
}
