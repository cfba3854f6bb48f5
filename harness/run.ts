// `uid2-conformance run`: picks the target (the embedded simulated operator by default), checks that it can
// be tested at all, runs the operator suite, prints progress and a summary, writes the reports, and returns
// the exit code of PROTOCOL.md §2.
import { randomInt } from 'node:crypto';
import { newTransportStats, OperatorClient, TransportError, type TransportStats } from './client/operator-client.ts';
import { checkClientSecret, parseDuration, parseListen, TargetError, UsageError } from './config.ts';
import type { Check, CheckSettings } from './engine/check.ts';
import { outcomeOf, summarize, undecidedRules, type CheckResult, type RunResult } from './engine/result.ts';
import { skipChecks } from './engine/runner.ts';
import { applyBaseline, baselined, baselineOutcome, loadBaseline, utcDay, type Baseline } from './engine/baseline.ts';
import { ensureOutDir, runStop, SIGNAL_EXIT, stopMessage, unwritableOut, type RunStop } from './lifecycle.ts';
import { CATALOG_VERSION, findRule } from './rules.ts';
import { runOperatorSession, type OperatorTarget, type SessionOptions, type SessionOutcome } from './engine/session.ts';
import { sumTransport, targetSections, type TargetFacts } from './engine/fleet.ts';
import { targetSpecs, type ConfigTarget, type TargetCredentials, type TargetSpec } from './targets.ts';
import { startOperator, type RunningOperator } from './operator/index.ts';
import { KIT_CSTG_ORIGIN } from './operator/variants.ts';
import { base64Hash } from './engine/synthetic.ts';
import { createProgress, type Progress } from './progress.ts';
import { Scrubber } from './engine/scrub.ts';
import { DriverUnavailableError, runParticipantSession, type ParticipantCheckContext, type ParticipantSettings } from './engine/participant-session.ts';
import { Webhook } from './engine/webhook.ts';
import { quoteTarget } from './engine/scrub.ts';
import { PAGE_RUN_DEFAULTS, startPageDriver } from './page/page-driver.ts';
export { PAGE_RUN_DEFAULTS };
import { DEFAULT_OPERATOR_HOSTS, operatorHostsOf } from './page/routing.ts';
import { startReferenceParticipants } from './participants/driver-server.ts';
import { REFERENCE_ROLES } from './participants/reference.ts';
import { PagesUnavailableError, runEmbeddedPages } from './page/reference/session.ts';
import { PARTICIPANT_ROLES, type ParticipantRole } from './participants/role.ts';
import { PARTICIPANT_CHECKS } from '../suites/participants.ts';
import { writeReports } from '../reports/index.ts';
import { signKeyOption } from '../reports/manifest.ts';
import { formatOutcomeLine, formatSummary } from '../reports/console.ts';
import { OPERATOR_CHECKS } from '../suites/operator/index.ts';

/** The run's options; the credentials are those of its target (`targets` in the config file may have their own). */
export interface RunOptions extends TargetCredentials {
  role: string[];
  /** One URL (an environment variable, the config file) or several (`--target` repeated). */
  target?: string | readonly string[];
  /** `targets` of the config file. */
  targets?: readonly ConfigTarget[];
  driver?: string;
  /** A publisher's page, driven in Chromium by the journey (harness/page/). */
  page?: string;
  journey?: string;
  chromium?: string;
  /** Browser tabs a page run keeps open (PAGE_RUN_DEFAULTS.openPages): memory against time. */
  openPages?: string;
  operatorHost?: string[];
  operatorListen?: string;
  webhook?: string;
  webhookMethod?: string;
  refreshAfter?: string;
  identityExpiresAfter?: string;
  refreshExpiresAfter?: string;
  /** Default: RUN_DEFAULTS, or the `target*` ones against --target. */
  propagationTimeout?: string;
  settle?: string;
  watch?: string;
  timeout: string;
  deadline: string;
  /** Default RUN_DEFAULTS.concurrency; a page run (--page) PAGE_RUN_DEFAULTS.concurrency. */
  concurrency?: string;
  allowProduction?: boolean;
  strict?: boolean;
  /** Known failures accepted until a date (JSON or YAML, schemas/baseline.schema.json). */
  baseline?: string;
  seed?: string;
  /** Default RUN_DEFAULTS.runs; a page run (--page) PAGE_RUN_DEFAULTS.runs. */
  runs?: string;
  out: string;
  /** Ed25519 private key file (PEM) that signs manifest.json. */
  signKey?: string;
  /**
   * The embedded default's reference publisher pages in Chromium: by default run when Chromium and the browser
   * bundles are here (otherwise a phase line says what is missing); --pages requires them (exit 2 without);
   * --no-pages leaves them out.
   */
  pages?: boolean;
}

/** Defaults of the run options (the CLI shows them; the bench runs with them). */
export const RUN_DEFAULTS = {
  propagationTimeout: '30s',
  settle: '0ms',
  /**
   * Against --target: a real opt-out takes about 5 minutes plus a sync (UID2-SPEC §5.2), and a fleet's
   * instances may disagree for a sync interval (60 s by default, §1.4), so an opt-out settles after 2 minutes.
   */
  targetPropagationTimeout: '20m',
  targetSettle: '2m',
  timeout: '10s',
  deadline: '30m',
  concurrency: '4',
  runs: '25',
  out: './uid2-conformance-report',
} as const;

export interface SessionSettings {
  settings: CheckSettings;
  requestTimeoutMs: number;
  checkTimeoutMs: number;
  concurrency: number;
}

/** The session settings a set of run options means; with no argument, the defaults. */
export function sessionSettings(options: Pick<RunOptions, 'target' | 'targets' | 'page' | 'propagationTimeout' | 'settle' | 'watch' | 'runs' | 'seed' | 'timeout' | 'concurrency'> = RUN_DEFAULTS): SessionSettings {
  const target = hasTarget(options);
  const page = options.page !== undefined;
  const propagationTimeoutMs = parseDuration(options.propagationTimeout ?? (target ? RUN_DEFAULTS.targetPropagationTimeout : RUN_DEFAULTS.propagationTimeout), '--propagation-timeout');
  const settings: CheckSettings = {
    propagationTimeoutMs,
    settleMs: parseDuration(options.settle ?? (target ? RUN_DEFAULTS.targetSettle : RUN_DEFAULTS.settle), '--settle'),
    watchMs: options.watch ? parseDuration(options.watch, '--watch') : Math.min(2000, propagationTimeoutMs),
    // Polls ~100 times within the bound: a short bound is watched closely, a long one without flooding.
    pollIntervalMs: Math.min(2000, Math.max(50, Math.round(propagationTimeoutMs / 100))),
    runs: positiveInteger(options.runs ?? String(page ? PAGE_RUN_DEFAULTS.runs : RUN_DEFAULTS.runs), '--runs'),
    seed: options.seed === undefined ? randomInt(2 ** 31) : Number(options.seed),
  };
  if (!Number.isInteger(settings.seed)) throw new UsageError(`--seed: "${options.seed}" is not an integer`);
  return {
    settings,
    requestTimeoutMs: parseDuration(options.timeout, '--timeout'),
    checkTimeoutMs: propagationTimeoutMs + settings.watchMs * 2 + 60_000,
    concurrency: positiveInteger(options.concurrency ?? String(page ? PAGE_RUN_DEFAULTS.concurrency : RUN_DEFAULTS.concurrency), '--concurrency'),
  };
}

/** Whether the run tests operators at URLs (`--target`, or `targets` in the config file). */
function hasTarget(options: Pick<RunOptions, 'target' | 'targets'>): boolean {
  return options.target !== undefined || options.targets !== undefined;
}

/** Production operator hosts (UID2-SPEC §0): refused unless --allow-production. */
const PRODUCTION_HOST = /(^|\.)prod\.uidapi\.com$/i;
const EXIT_OF = { pass: 0, fail: 1, error: 2, interrupted: 130 } as const;

function parseTarget(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: a malformed URL may still carry a token.
    throw new UsageError('--target: not a URL (give the base URL, e.g. https://operator.staging.example)');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('--target: use an http or https URL');
  // The URL goes into every report: credentials belong in --api-key and --client-secret, never in it.
  if (parsed.username || parsed.password) throw new UsageError('--target: no credentials in the URL; use --api-key and --client-secret');
  // A query string (which can carry a token) would be printed into every report, and no endpoint takes one.
  if (parsed.search || parsed.hash) throw new UsageError('--target: no query string or fragment in the URL; give the base URL only (its path is kept)');
  return parsed;
}

export function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: "${text}" is not a positive integer`);
  return n;
}

/**
 * Can we test at all? Only a target that speaks UID2 v2 (a generate answered by an HTTP 200 that decrypts
 * with our secret and echoes our nonce) is judged; anything else (unreachable, refused credentials, an
 * error page, a redirect, garbage) is exit 2, not a list of failures.
 */
async function preflight(client: OperatorClient, cstg: OperatorTarget['cstg']): Promise<void> {
  const reach = async <T>(request: Promise<T>): Promise<T> => {
    try {
      return await request;
    } catch (e) {
      if (e instanceof TransportError) throw new TargetError(`cannot reach the operator: ${e.message}`);
      throw e;
    }
  };
  const answer = await reach(client.generate({ email: 'validate@example.com', optout_check: 1 }));
  if (answer.http === 401) throw new TargetError(`the operator refused the API key (HTTP 401 on ${answer.path})`);
  const message = (answer.body as { message?: unknown } | undefined)?.message;
  if (answer.http === 400 && typeof message === 'string' && message.includes('Check encryption key')) {
    throw new TargetError('the operator cannot decrypt our requests: check --client-secret (HTTP 400 "Check encryption key")');
  }
  if (answer.http === 200 && answer.envelopeError?.reason === 'auth_failed') {
    throw new TargetError('the operator answered with a different client secret: check --client-secret');
  }
  const what = `HTTP ${answer.http}${answer.contentType ? ` (${answer.contentType.split(';')[0]})` : ''} on ${answer.path}`;
  if (answer.http >= 300 && answer.http < 400) throw new TargetError(`the target answered a redirect (${what}), which the kit does not follow: give --target the operator's own base URL`);
  if (answer.http !== 200) throw new TargetError(`the target does not speak UID2 v2: ${what} to a well-formed generate`);
  if (answer.envelopeError) throw new TargetError(`the target does not speak UID2 v2: its ${what} is no answer to our request (${answer.envelopeError.reason}: ${answer.envelopeError.message})`);
  if (!cstg) return;
  // The operator checks the Origin of client-generate against the site's domains (UID2-SPEC §1.6).
  const request = client.clientGenerate({ serverPublicKey: cstg.publicKey, subscriptionId: cstg.subscriptionId, dii: { email_hash: base64Hash('validate@example.com') } }).catch((e: unknown) => {
    if (e instanceof TransportError) throw e;
    throw new UsageError('--cstg-public-key: not a UID2-X-… P-256 public key');
  });
  const generated = await reach(request);
  if (generated.http === 403 && (generated.body as { status?: unknown } | undefined)?.status === 'invalid_http_origin') {
    const sent = cstg.origin ? `the origin ${cstg.origin}` : 'no Origin';
    throw new TargetError(`the operator refused client-generate with ${sent} (HTTP 403 invalid_http_origin): give one of the CSTG site's domains with --cstg-origin (or UID2_CSTG_ORIGIN)`);
  }
}

/** `--cstg-origin`: an http(s) origin, sent as the browser would (scheme, host and port only). */
function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--cstg-origin: "${text}" is not a URL (e.g. https://publisher.example)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--cstg-origin: use an http or https origin');
  return url.origin;
}

/** The target and its credentials: the embedded simulated operator, or a --target with its keys. */
async function resolveTarget(options: RunOptions, spec: TargetSpec | undefined): Promise<{ target: OperatorTarget; embedded?: RunningOperator }> {
  if (spec === undefined) {
    // The embedded operator checks the CSTG origin like a real one; the kit sends its site's domain.
    const embedded = await startOperator({ cstgOrigins: [KIT_CSTG_ORIGIN] });
    const c = embedded.credentials;
    const cstg = { publicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId, origin: KIT_CSTG_ORIGIN };
    return {
      embedded,
      target: { url: embedded.url, apiKey: c.apiKey, clientSecret: c.clientSecret, optoutApiKey: c.optoutApiKey, optoutClientSecret: c.optoutClientSecret, cstg, production: false },
    };
  }
  const url = parseTarget(spec.url);
  const production = PRODUCTION_HOST.test(url.hostname);
  if (production && !options.allowProduction) {
    throw new UsageError(`--target ${url.hostname} is a production operator; use a staging or integration URL, or --allow-production`);
  }
  if (!spec.apiKey || !spec.clientSecret) throw new UsageError('--target needs --api-key and --client-secret (or UID2_API_KEY, UID2_CLIENT_SECRET)');
  if (Boolean(spec.optoutApiKey) !== Boolean(spec.optoutClientSecret)) throw new UsageError('--optout-api-key and --optout-client-secret go together');
  if (Boolean(spec.cstgPublicKey) !== Boolean(spec.cstgSubscriptionId)) throw new UsageError('--cstg-public-key and --cstg-subscription-id go together');
  if (spec.cstgOrigin && !spec.cstgPublicKey) throw new UsageError('--cstg-origin needs --cstg-public-key and --cstg-subscription-id');
  const origin = spec.cstgOrigin ? { origin: parseOrigin(spec.cstgOrigin) } : {};
  return {
    target: {
      url: url.href.replace(/\/$/, ''),
      apiKey: spec.apiKey,
      clientSecret: checkClientSecret(spec.clientSecret, '--client-secret'),
      ...(spec.optoutApiKey ? { optoutApiKey: spec.optoutApiKey, optoutClientSecret: checkClientSecret(spec.optoutClientSecret!, '--optout-client-secret') } : {}),
      ...(spec.cstgPublicKey ? { cstg: { publicKey: spec.cstgPublicKey, subscriptionId: spec.cstgSubscriptionId!, ...origin } } : {}),
      production,
    },
  };
}

export interface RunOverrides {
  /** Only these checks (replay). */
  checks?: readonly Check[];
  participantChecks?: readonly Check<ParticipantCheckContext>[];
  replayPaths?: ReadonlyMap<string, string>;
  /** A usage error found before the run could start (the command line, --config), already printed: report it. */
  usageError?: string;
}

/** Which suites a run has, from --role, --target and --driver (PROTOCOL.md §1: default every role the target can play). */
function planRoles(options: RunOptions): { operator: boolean; participants: ParticipantRole[] | 'all-played'; embedded: boolean } {
  const known = new Set<string>(['operator', ...PARTICIPANT_ROLES]);
  const unknown = options.role.filter((r) => !known.has(r));
  if (unknown.length > 0) throw new UsageError(`--role ${unknown.join(', ')}: use operator, publisher, dsp, advertiser or sharer`);
  const remote = hasTarget(options);
  if (remote && options.driver) throw new UsageError('--target (an operator under test) and --driver (a participant under test) go in separate runs: --api-key means a different credential in each');
  const asked = options.role as Array<'operator' | ParticipantRole>;
  if (options.page !== undefined || options.journey !== undefined) {
    if (options.page === undefined) throw new UsageError('--journey needs --page URL (or UID2_PAGE): the publisher page it drives');
    if (options.journey === undefined) throw new UsageError('--page needs --journey FILE (or UID2_JOURNEY): how a user logs in and opts out on the page');
    if (options.driver || remote) throw new UsageError(`--page (a publisher page in the browser) and ${options.driver ? '--driver' : '--target'} go in separate runs`);
    if (asked.some((r) => r !== 'publisher')) throw new UsageError('--page tests the publisher role only: leave out --role or give --role publisher');
    return { operator: false, participants: ['publisher'], embedded: false };
  }
  const embedded = !remote && !options.driver;
  const participants = asked.filter((r): r is ParticipantRole => r !== 'operator');
  if (asked.includes('operator') && options.driver) throw new UsageError('--role operator needs --target (or nothing, for the embedded operator), not --driver');
  if (participants.length > 0 && remote) throw new UsageError(`--role ${participants.join(', ')} needs --driver (or nothing, for the reference participants), not --target`);
  if (asked.length > 0) return { operator: asked.includes('operator'), participants, embedded };
  return { operator: !options.driver, participants: remote ? [] : 'all-played', embedded };
}

/** One suite of the run: the checks it plans, for which roles, and its results once it has them. */
interface SessionEntry {
  checks: readonly Check<never>[];
  roles: readonly string[];
  results?: CheckResult[];
}

/**
 * The one place where a run ends, whatever happens: reports go out on every exit (pass, fail, could not
 * test, deadline, SIGINT, SIGTERM, an unexpected error), and the exit code follows from them.
 */
export async function runCommand(options: RunOptions, kit: { name: string; version: string }, overrides: RunOverrides = {}): Promise<number> {
  ensureOutDir(options.out);
  // One scrubber for the whole run: every credential given, then every value the sessions send or receive;
  // progress, the console and the reports all pass through it.
  const scrubber = new Scrubber();
  scrubber.addCredentials(options);
  const signKey = signKeyOption(options.signKey, scrubber);
  const progress = createProgress(process.stderr, undefined, scrubber);
  const say = (line: string) => progress.phase(line);
  const startedAt = new Date();
  const sessions: SessionEntry[] = [];
  const extras: Partial<RunResult> = {};
  const targets: string[] = [];
  /** The name of the run's one --target; in a fleet run, what it knows of each target. */
  let targetName: string | undefined;
  const fleet: TargetFacts[] = [];
  let seed = 0;
  const record = (ending: Pick<RunResult, 'outcome' | 'error' | 'stopped_by'>, results: CheckResult[]): RunResult => {
    const roles = [...new Set(sessions.flatMap((s) => s.roles))];
    const undecided = undecidedRules(results);
    return {
      kit,
      catalog: { version: CATALOG_VERSION },
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      seed,
      target: { role: (roles[0] ?? 'operator') as RunResult['target']['role'], url: targets.join(' ') || 'none', ...(roles.length > 1 ? { roles } : {}), ...(targetName ? { name: targetName } : {}) },
      ...ending,
      summary: summarize(results),
      ...(undecided.length > 0 ? { incomplete: true, undecided_rules: undecided } : {}),
      results,
      ...extras,
      ...(fleet.length > 0 ? { targets: targetSections(results, fleet, { strict: options.strict ?? false, interrupted: ending.outcome === 'interrupted' }) } : {}),
    };
  };
  const write = (run: RunResult): string[] => {
    try {
      return writeReports(options.out, run, scrubber, signKey instanceof UsageError ? undefined : signKey);
    } catch (e) {
      throw unwritableOut(options.out, e);
    }
  };
  // Before any request: --out takes reports, and an earlier run's reports there stop looking current.
  write(record({ outcome: 'error', error: `the run started at ${startedAt.toISOString()} has not finished (or the kit was killed)` }, []));

  let stop: RunStop | undefined;
  let failure: string | undefined;
  let baseline: Baseline | undefined;
  const cleanup: Array<() => Promise<void>> = [];
  try {
    if (overrides.usageError !== undefined) throw new UsageError(overrides.usageError);
    if (options.baseline !== undefined) baseline = loadBaseline(options.baseline, [...OPERATOR_CHECKS, ...PARTICIPANT_CHECKS]);
    const plan = planRoles(options);
    const session = sessionSettings(options);
    const { settings, requestTimeoutMs } = session;
    seed = settings.seed;
    if (signKey instanceof UsageError) throw signKey;
    const deadlineMs = Date.now() + parseDuration(options.deadline, '--deadline');
    const participantSettings = participantSettingsOf(options, settings);
    const operatorListen = options.operatorListen ? parseListen(options.operatorListen, '--operator-listen') : { host: '127.0.0.1', port: 0 };
    const webhook = options.webhook ? new Webhook(checkWebhook(options.webhook), { method: options.webhookMethod === 'POST' ? 'POST' : 'GET', timeoutMs: requestTimeoutMs }) : undefined;
    let done = 0;
    const onResult = (found: CheckResult) => {
      done += 1;
      // The progress line says what the reports will: a failure the baseline accepts is skipped there too.
      const r = baseline ? baselined(baseline, found, utcDay(startedAt)) : found;
      say(`[${String(done).padStart(3)}] ${r.status.toUpperCase().padEnd(14)} ${r.rule.padEnd(22)} ${r.target ? `${r.target} ` : ''}${r.check}: ${oneLine(r.message)}`);
    };
    stop = runStop(deadlineMs, options.deadline);
    const { signal } = stop;

    if (plan.operator) {
      const checks = overrides.checks ?? OPERATOR_CHECKS;
      const entry: SessionEntry = { checks, roles: ['operator'] };
      sessions.push(entry);
      const specs = targetSpecs(options);
      const several = specs.length > 1;
      // Every target's options are checked before any request is sent to any of them.
      const operators = await Promise.all(
        (specs.length > 0 ? specs : [undefined]).map((spec) =>
          resolveTarget(options, spec).then(
            (resolved) => ({ spec, ...resolved }),
            (e: unknown) => {
              throw several && e instanceof UsageError ? new UsageError(`target ${spec!.name}: ${e.message}`) : e;
            },
          ),
        ),
      );
      for (const { target, embedded } of operators) {
        if (embedded) cleanup.push(() => embedded.close());
        scrubber.addCredentials(target);
        targets.push(embedded ? 'embedded:simulated-operator' : target.url);
      }
      const test = (target: OperatorTarget, transport: TransportStats, name?: string) =>
        testOperator(target, { checks, replayPaths: overrides.replayPaths, ...session, deadlineMs, signal, transport, scrubber, ...(name === undefined ? { progress, onResult } : { progress: labelled(progress, name), onResult: (r) => onResult({ ...r, target: name }) }) });
      if (!several) {
        const { spec, target, embedded } = operators[0]!;
        targetName = spec?.name;
        if (embedded) say(`operator role: testing the embedded simulated operator at ${embedded.url}`);
        const outcome = await test(target, (extras.transport = newTransportStats()));
        entry.results = outcome.results;
        extras.propagation = { ...outcome.propagation, timeout_ms: settings.propagationTimeoutMs };
        extras.capabilities = outcome.capabilities;
      } else {
        say(`operator role: testing ${operators.length} operators at once: ${operators.map((o) => `${o.spec!.name} (${o.target.url})`).join(', ')}`);
        // Each target in its own session; one that cannot be tested does not stop the others.
        const tested = await Promise.all(
          operators.map(async ({ spec, target }) => {
            const facts: TargetFacts = { name: spec!.name, url: target.url, transport: newTransportStats() };
            try {
              const outcome = await test(target, facts.transport!, facts.name);
              const figures = { propagation: { ...outcome.propagation, timeout_ms: settings.propagationTimeoutMs }, capabilities: outcome.capabilities };
              return { facts: { ...facts, ...figures }, results: outcome.results };
            } catch (e) {
              if (signal.aborted) return { facts, results: skipChecks(checks, `${stopMessage(signal)} before this check ran`) };
              return { facts: { ...facts, error: failureText(e, scrubber) }, results: [] };
            }
          }),
        );
        entry.results = tested.flatMap((t) => t.results.map((r) => ({ ...r, target: t.facts.name })));
        fleet.push(...tested.map((t) => t.facts));
        extras.transport = sumTransport(tested.map((t) => t.facts.transport!));
        const untested = fleet.filter((f) => f.error !== undefined);
        if (untested.length > 0) throw new TargetError(untested.map((f) => `target ${f.name} could not be tested: ${f.error}`).join('; '));
      }
    }
    if (plan.participants === 'all-played' || plan.participants.length > 0) {
      const operator = await startOperator({
        ...operatorListen,
        apiKey: plan.embedded ? undefined : options.apiKey,
        clientSecret: !plan.embedded && options.clientSecret ? checkClientSecret(options.clientSecret, '--client-secret') : undefined,
        lifetimes: participantSettings.lifetimes,
        recordCalls: true,
        onIssued: (issued) => {
          scrubber.add(issued.advertising_token, '<token>');
          scrubber.add(issued.refresh_token, '<refresh>');
          scrubber.add(issued.refresh_response_key, '<secret>');
        },
      }).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`--operator-listen: cannot listen on ${options.operatorListen ?? '127.0.0.1:0'} (${e.code ?? e.message})`);
      });
      cleanup.push(() => operator.close());
      let driver: Parameters<typeof runParticipantSession>[0]['driver'] | undefined = options.driver;
      let page: Awaited<ReturnType<typeof startPageDriver>> | undefined;
      if (options.page !== undefined) {
        const pageUrl = parsePage(options.page);
        const hosts = operatorHostsOf(options.operatorHost ?? []);
        page = await startPageDriver({ pageUrl, journeyFile: options.journey!, chromium: options.chromium, operatorUrl: operator.url, operatorHosts: hosts.length > 0 ? hosts : DEFAULT_OPERATOR_HOSTS, timeoutMs: Math.max(requestTimeoutMs, 15_000), maxOpenPages: openPagesOf(options) });
        cleanup.unshift(page.close);
        driver = page.driver;
        say(`publisher page: ${quoteTarget(pageUrl, 200)} in Chromium ${page.browser.version()}, journey ${quoteTarget(options.journey, 200)}; requests to ${hosts.length > 0 ? hosts.join(', ') : 'the UID2 and EUID operator hosts'} answered by the kit's operator`);
      }
      let hook = webhook;
      if (plan.embedded) {
        const reference = await startReferenceParticipants({ operator: { url: operator.url, apiKey: operator.credentials.apiKey, clientSecret: operator.credentials.clientSecret }, roles: REFERENCE_ROLES });
        cleanup.unshift(() => reference.close());
        driver = reference.url;
        hook ??= new Webhook(reference.webhookTemplate, { method: 'GET', timeoutMs: requestTimeoutMs });
        say(`participant roles: testing the reference participants at ${reference.url}, with the kit's operator at ${operator.url}`);
      } else {
        say(`participant roles: the kit's operator listens at ${operator.url}: point the participant's UID2 base URL there`);
        for (const name of ['apiKey', 'clientSecret'] as const) {
          // The one line that shows a secret, on purpose and past the scrubber: one the kit made for the user (PROTOCOL.md §1).
          if (operator.generated.has(name)) process.stderr.write(`${name === 'apiKey' ? 'api-key' : 'client-secret'} the kit's operator accepts: ${operator.credentials[name]}\n`);
        }
      }
      targets.push(plan.embedded ? 'embedded:reference-participants' : (options.page ?? options.driver)!);
      const asked = plan.participants === 'all-played' ? undefined : plan.participants;
      const checks = overrides.participantChecks ?? PARTICIPANT_CHECKS;
      const entry: SessionEntry = { checks: checks.filter((c) => !asked || asked.includes(findRule(c.rule)?.role as ParticipantRole)), roles: asked ?? PARTICIPANT_ROLES };
      sessions.push(entry);
      const outcome = await runParticipantSession(
        { driver: driver!, operator, webhook: hook, roles: asked, requestTimeoutMs },
        { checks, replayPaths: overrides.replayPaths, settings: participantSettings, checkTimeoutMs: session.checkTimeoutMs, concurrency: session.concurrency, deadlineMs, signal, progress, onResult, scrubber },
      );
      entry.roles = outcome.roles;
      entry.results = outcome.results;
      if (page) extras.browser = page.driver.stats;
    }
    // The embedded default also drives the reference publisher pages in Chromium (harness/page/reference/).
    if (plan.embedded && options.pages !== false && (plan.participants === 'all-played' || plan.participants.includes('publisher'))) {
      const pageChecks = (overrides.participantChecks ?? PARTICIPANT_CHECKS).filter((c) => findRule(c.rule)?.role === 'publisher');
      const entry: SessionEntry = { checks: pageChecks, roles: ['publisher'] };
      sessions.push(entry);
      const pages = await runEmbeddedPages(
        { checks: pageChecks, settings: participantSettings, requestTimeoutMs, checkTimeoutMs: session.checkTimeoutMs, concurrency: session.concurrency, deadlineMs, signal, progress, onResult, scrubber, chromium: options.chromium, maxOpenPages: openPagesOf(options) },
        say,
      ).catch((e: unknown) => {
        if (!(e instanceof PagesUnavailableError)) throw e;
        if (options.pages === true) throw new UsageError(`--pages: the reference pages cannot run here: ${e.message}`);
        say(`reference publisher pages not run: ${e.message} (--no-pages leaves them out without this line)`);
        sessions.splice(sessions.indexOf(entry), 1);
        return undefined;
      });
      if (pages) {
        entry.results = pages.results;
        targets.push('embedded:reference-pages');
        extras.browser = pages.browser;
      }
    }
  } catch (e) {
    if (stop?.signal.aborted) {
      // The deadline or a signal cut a phase short: the unfinished suites' checks are reported as not run.
    } else {
      failure = failureText(e, scrubber);
    }
  } finally {
    for (const close of cleanup.reverse()) await close().catch(() => undefined);
  }

  // A suite the stop cut short reports its checks as not run; after a failure the error says it all.
  const notRun = `${stopMessage(stop?.signal)} before this check ran`;
  const found = sessions.flatMap((s) => s.results ?? (failure === undefined ? skipChecks(s.checks, notRun) : []));
  const judged = baseline && failure === undefined ? applyBaseline(baseline, found, { today: utcDay(startedAt), strict: options.strict ?? false }) : undefined;
  const results = judged?.results ?? found;
  if (judged) extras.baseline = judged.report;
  const by = failure === undefined ? stop?.by : undefined;
  const outcome = failure !== undefined ? 'error' : by === 'SIGINT' || by === 'SIGTERM' ? 'interrupted' : baselineOutcome(outcomeOf(results, options.strict ?? false), judged?.report);
  const run = record({ outcome, ...(failure !== undefined ? { error: failure } : {}), ...(by ? { stopped_by: by } : {}) }, results);
  let paths: string[];
  try {
    paths = write(run);
  } finally {
    stop?.dispose(); // only now: a second signal while the reports are written finds the run's listener
  }
  if (failure !== undefined) {
    if (overrides.usageError === undefined) process.stderr.write(`uid2-conformance: ${failure}\n`);
  } else {
    say(`\n${formatSummary(run, paths)}`);
  }
  process.stdout.write(`${scrubber.scrub(formatOutcomeLine(run, paths))}\n`);
  return outcome === 'interrupted' ? SIGNAL_EXIT[by as 'SIGINT' | 'SIGTERM'] : EXIT_OF[outcome];
}

/** Why a run (or one target of it) could not be tested, scrubbed. */
function failureText(e: unknown, scrubber: Scrubber): string {
  if (e instanceof UsageError || e instanceof TargetError || e instanceof DriverUnavailableError) return scrubber.scrub(e.message);
  return `unexpected error: ${oneLine(scrubber.scrub((e as Error)?.message ?? String(e)))}`;
}

/** One operator: preflight, then its session. A target that stops answering after preflight could not be tested. */
async function testOperator(target: OperatorTarget, options: SessionOptions): Promise<SessionOutcome> {
  const { signal, transport } = options;
  await preflight(new OperatorClient({ baseUrl: target.url, apiKey: target.apiKey, clientSecret: target.clientSecret, timeoutMs: options.requestTimeoutMs, cstgOrigin: target.cstg?.origin, signal, transport }), target.cstg);
  return runOperatorSession(target, options).catch((e: unknown) => {
    // Could not test, with the reason, never a crash.
    throw e instanceof TransportError && !signal?.aborted ? new TargetError(`the operator stopped answering during the run: ${e.message}`) : e;
  });
}

/** A target's progress lines in a fleet run, each led by its name. */
function labelled(progress: Progress, name: string): Progress {
  return { phase: (line) => progress.phase(`[${name}] ${line}`), tick: (text) => progress.tick(`[${name}] ${text}`) };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Short token lifetimes: refresh and propagation happen in seconds (the kit is the participant's operator). */
function participantSettingsOf(options: RunOptions, settings: CheckSettings): ParticipantSettings {
  const duration = (text: string | undefined, fallback: number, option: string) => (text === undefined ? fallback : parseDuration(text, option));
  const lifetimes = {
    refreshAfterMs: duration(options.refreshAfter, 1000, '--refresh-after'),
    identityExpiresAfterMs: duration(options.identityExpiresAfter, 4000, '--identity-expires-after'),
    refreshExpiresAfterMs: duration(options.refreshExpiresAfter, options.page === undefined ? 12_000 : PAGE_RUN_DEFAULTS.refreshExpiresAfterMs, '--refresh-expires-after'),
  };
  if (!(lifetimes.refreshAfterMs <= lifetimes.identityExpiresAfterMs && lifetimes.identityExpiresAfterMs <= lifetimes.refreshExpiresAfterMs)) {
    throw new UsageError('token lifetimes must keep refresh-after <= identity-expires-after <= refresh-expires-after (UID2-SPEC §8)');
  }
  return { seed: settings.seed, runs: settings.runs, lifetimes, pollIntervalMs: 100, actWithinMs: lifetimes.refreshAfterMs * 3 + 2000 };
}

/** `--open-pages`: the page driver's tab budget. */
const openPagesOf = (options: RunOptions): number => positiveInteger(options.openPages ?? String(PAGE_RUN_DEFAULTS.openPages), '--open-pages');

/** `--page`: an http(s) URL with no credentials in it (the URL goes into every report). */
function parsePage(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('--page: not a URL (give the page a user logs in on, e.g. http://127.0.0.1:8080/login)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--page: use an http or https URL');
  if (url.username || url.password) throw new UsageError('--page: no credentials in the URL');
  return url.href;
}

function checkWebhook(template: string): string {
  let url: URL;
  try {
    url = new URL(template.replaceAll('{uid2}', 'x').replaceAll('{timestamp}', '0'));
  } catch {
    // Not echoed: webhook URLs often carry a secret.
    throw new UsageError('--webhook: not a URL template (e.g. https://dsp.example/optout?uid2={uid2}&timestamp={timestamp})');
  }
  if (!template.includes('{uid2}')) throw new UsageError('--webhook: the template needs a {uid2} placeholder (and usually {timestamp})');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--webhook: use an http or https URL');
  return template;
}
