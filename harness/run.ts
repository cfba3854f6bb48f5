// `uid2-conformance run`: picks the target (the embedded simulated operator by default), checks that it can
// be tested at all, runs the operator suite, prints progress and a summary, writes the reports, and returns
// the exit code of PROTOCOL.md §2.
import { randomInt } from 'node:crypto';
import { newTransportStats, OperatorClient, TransportError } from './client/operator-client.ts';
import { checkClientSecret, parseDuration, parseListen, TargetError, UsageError } from './config.ts';
import type { Check, CheckSettings } from './engine/check.ts';
import { outcomeOf, summarize, type CheckResult, type RunResult } from './engine/result.ts';
import { runOperatorSession, type OperatorTarget } from './engine/session.ts';
import { startOperator, type RunningOperator } from './operator/index.ts';
import { createProgress } from './progress.ts';
import { DriverUnavailableError, runParticipantSession, type ParticipantCheckContext, type ParticipantSettings } from './engine/participant-session.ts';
import { Webhook } from './engine/webhook.ts';
import { startReferenceParticipants } from './participants/driver-server.ts';
import { REFERENCE_ROLES } from './participants/reference.ts';
import { PARTICIPANT_ROLES, type ParticipantRole } from './participants/role.ts';
import { PARTICIPANT_CHECKS } from '../suites/participants.ts';
import { writeReports } from '../reports/index.ts';
import { formatOutcomeLine, formatSummary } from '../reports/console.ts';
import { OPERATOR_CHECKS } from '../suites/operator/index.ts';

export interface RunOptions {
  role: string[];
  target?: string;
  driver?: string;
  operatorListen?: string;
  webhook?: string;
  webhookMethod?: string;
  refreshAfter?: string;
  identityExpiresAfter?: string;
  refreshExpiresAfter?: string;
  apiKey?: string;
  clientSecret?: string;
  optoutApiKey?: string;
  optoutClientSecret?: string;
  cstgPublicKey?: string;
  cstgSubscriptionId?: string;
  propagationTimeout: string;
  watch?: string;
  timeout: string;
  deadline: string;
  concurrency: string;
  allowProduction?: boolean;
  strict?: boolean;
  seed?: string;
  runs: string;
  out: string;
}

/** Defaults of the run options (the CLI shows them; the bench runs with them). */
export const RUN_DEFAULTS = {
  propagationTimeout: '30s',
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
export function sessionSettings(options: Pick<RunOptions, 'propagationTimeout' | 'watch' | 'runs' | 'seed' | 'timeout' | 'concurrency'> = RUN_DEFAULTS): SessionSettings {
  const propagationTimeoutMs = parseDuration(options.propagationTimeout, '--propagation-timeout');
  const settings: CheckSettings = {
    propagationTimeoutMs,
    watchMs: options.watch ? parseDuration(options.watch, '--watch') : Math.min(2000, propagationTimeoutMs),
    // Polls ~100 times within the bound: a short bound is watched closely, a long one without flooding.
    pollIntervalMs: Math.min(2000, Math.max(50, Math.round(propagationTimeoutMs / 100))),
    runs: positiveInteger(options.runs, '--runs'),
    seed: options.seed === undefined ? randomInt(2 ** 31) : Number(options.seed),
  };
  if (!Number.isInteger(settings.seed)) throw new UsageError(`--seed: "${options.seed}" is not an integer`);
  return {
    settings,
    requestTimeoutMs: parseDuration(options.timeout, '--timeout'),
    checkTimeoutMs: propagationTimeoutMs + settings.watchMs * 2 + 60_000,
    concurrency: positiveInteger(options.concurrency, '--concurrency'),
  };
}

/** Production operator hosts (UID2-SPEC §0): refused unless --allow-production. */
const PRODUCTION_HOST = /(^|\.)prod\.uidapi\.com$/i;
const EXIT_OF = { pass: 0, fail: 1, error: 2, interrupted: 130 } as const;

function parseTarget(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--target: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('--target: use an http or https URL');
  // The URL goes into every report: credentials belong in --api-key and --client-secret, never in it.
  if (parsed.username || parsed.password) throw new UsageError('--target: no credentials in the URL; use --api-key and --client-secret');
  // A query string (which can carry a token) would be printed into every report, and no endpoint takes one.
  if (parsed.search || parsed.hash) throw new UsageError('--target: no query string or fragment in the URL; give the base URL only (its path is kept)');
  return parsed;
}

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: "${text}" is not a positive integer`);
  return n;
}

/**
 * Can we test at all? Only a target that speaks UID2 v2 (a generate answered by an HTTP 200 that decrypts
 * with our secret and echoes our nonce) is judged; anything else (unreachable, refused credentials, an
 * error page, a redirect, garbage) is exit 2, not a list of failures.
 */
async function preflight(client: OperatorClient): Promise<void> {
  let answer;
  try {
    answer = await client.generate({ email: 'validate@example.com', optout_check: 1 });
  } catch (e) {
    if (e instanceof TransportError) throw new TargetError(`cannot reach the operator: ${e.message}`);
    throw e;
  }
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
}

/** The target and its credentials: the embedded simulated operator, or --target with the given keys. */
async function resolveTarget(options: RunOptions): Promise<{ target: OperatorTarget; embedded?: RunningOperator }> {
  if (options.target === undefined) {
    const embedded = await startOperator();
    const c = embedded.credentials;
    return {
      embedded,
      target: { url: embedded.url, apiKey: c.apiKey, clientSecret: c.clientSecret, optoutApiKey: c.optoutApiKey, optoutClientSecret: c.optoutClientSecret, cstg: { publicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId }, production: false },
    };
  }
  const url = parseTarget(options.target);
  const production = PRODUCTION_HOST.test(url.hostname);
  if (production && !options.allowProduction) {
    throw new UsageError(`--target ${url.hostname} is a production operator; use a staging or integration URL, or --allow-production`);
  }
  if (!options.apiKey || !options.clientSecret) throw new UsageError('--target needs --api-key and --client-secret (or UID2_API_KEY, UID2_CLIENT_SECRET)');
  if (Boolean(options.optoutApiKey) !== Boolean(options.optoutClientSecret)) throw new UsageError('--optout-api-key and --optout-client-secret go together');
  if (Boolean(options.cstgPublicKey) !== Boolean(options.cstgSubscriptionId)) throw new UsageError('--cstg-public-key and --cstg-subscription-id go together');
  return {
    target: {
      url: url.href.replace(/\/$/, ''),
      apiKey: options.apiKey,
      clientSecret: checkClientSecret(options.clientSecret, '--client-secret'),
      ...(options.optoutApiKey ? { optoutApiKey: options.optoutApiKey, optoutClientSecret: checkClientSecret(options.optoutClientSecret!, '--optout-client-secret') } : {}),
      ...(options.cstgPublicKey ? { cstg: { publicKey: options.cstgPublicKey, subscriptionId: options.cstgSubscriptionId! } } : {}),
      production,
    },
  };
}

export interface RunOverrides {
  /** Only these checks (replay). */
  checks?: readonly Check[];
  participantChecks?: readonly Check<ParticipantCheckContext>[];
  replayPaths?: ReadonlyMap<string, string>;
}

/** Which suites a run has, from --role, --target and --driver (PROTOCOL.md §1: default every role the target can play). */
function planRoles(options: RunOptions): { operator: boolean; participants: ParticipantRole[] | 'all-played'; embedded: boolean } {
  const known = new Set<string>(['operator', ...PARTICIPANT_ROLES]);
  const unknown = options.role.filter((r) => !known.has(r));
  if (unknown.length > 0) throw new UsageError(`--role ${unknown.join(', ')}: use operator, publisher, dsp, advertiser or sharer`);
  if (options.target && options.driver) throw new UsageError('--target (an operator under test) and --driver (a participant under test) go in separate runs: --api-key means a different credential in each');
  const embedded = !options.target && !options.driver;
  const asked = options.role as Array<'operator' | ParticipantRole>;
  const participants = asked.filter((r): r is ParticipantRole => r !== 'operator');
  if (asked.includes('operator') && options.driver) throw new UsageError('--role operator needs --target (or nothing, for the embedded operator), not --driver');
  if (participants.length > 0 && options.target) throw new UsageError(`--role ${participants.join(', ')} needs --driver (or nothing, for the reference participants), not --target`);
  if (asked.length > 0) return { operator: asked.includes('operator'), participants, embedded };
  return { operator: !options.driver, participants: options.target ? [] : 'all-played', embedded };
}

export async function runCommand(options: RunOptions, kit: { name: string; version: string }, overrides: RunOverrides = {}): Promise<number> {
  const plan = planRoles(options);
  const session = sessionSettings(options);
  const { settings, requestTimeoutMs } = session;
  const deadlineMs = Date.now() + parseDuration(options.deadline, '--deadline');
  const participantSettings = participantSettingsOf(options, settings);
  const operatorListen = options.operatorListen ? parseListen(options.operatorListen, '--operator-listen') : { host: '127.0.0.1', port: 0 };
  const webhook = options.webhook ? new Webhook(checkWebhook(options.webhook), { method: options.webhookMethod === 'POST' ? 'POST' : 'GET', timeoutMs: requestTimeoutMs }) : undefined;

  const progress = createProgress();
  const say = (line: string) => progress.phase(line);
  const startedAt = new Date();
  const results: CheckResult[] = [];
  const extras: Partial<RunResult> = {};
  const targets: string[] = [];
  const roles: string[] = [];
  const report = (error?: string) => {
    const summary = summarize(results);
    const run: RunResult = {
      kit,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      seed: settings.seed,
      target: { role: (roles[0] ?? 'operator') as RunResult['target']['role'], url: targets.join(' ') || 'none', ...(roles.length > 1 ? { roles } : {}) },
      outcome: error ? 'error' : interrupt.signal.aborted ? 'interrupted' : outcomeOf(summary, options.strict ?? false),
      ...(error ? { error } : {}),
      summary,
      results,
      ...extras,
    };
    return { run, paths: writeReports(options.out, run) };
  };
  let done = 0;
  const onResult = (r: CheckResult) => {
    done += 1;
    say(`[${String(done).padStart(3)}] ${r.status.toUpperCase().padEnd(14)} ${r.rule.padEnd(22)} ${r.check}: ${r.message}`);
  };

  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cleanup: Array<() => Promise<void>> = [];
  try {
    if (plan.operator) {
      const { target, embedded } = await resolveTarget(options);
      if (embedded) cleanup.push(() => embedded.close());
      roles.push('operator');
      targets.push(embedded ? 'embedded:simulated-operator' : target.url);
      if (embedded) say(`operator role: testing the embedded simulated operator at ${embedded.url}`);
      const transport = (extras.transport = newTransportStats());
      await preflight(new OperatorClient({ baseUrl: target.url, apiKey: target.apiKey, clientSecret: target.clientSecret, timeoutMs: requestTimeoutMs, signal: interrupt.signal, transport }));
      const outcome = await runOperatorSession(target, { checks: overrides.checks ?? OPERATOR_CHECKS, replayPaths: overrides.replayPaths, ...session, deadlineMs, signal: interrupt.signal, transport, progress, onResult });
      results.push(...outcome.results);
      extras.propagation = { ...outcome.propagation, timeout_ms: settings.propagationTimeoutMs };
      extras.capabilities = outcome.capabilities;
    }
    if (plan.participants === 'all-played' || plan.participants.length > 0) {
      const operator = await startOperator({
        ...operatorListen,
        apiKey: options.driver ? options.apiKey : undefined,
        clientSecret: options.driver && options.clientSecret ? checkClientSecret(options.clientSecret, '--client-secret') : undefined,
        lifetimes: participantSettings.lifetimes,
        recordCalls: true,
      }).catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`--operator-listen: cannot listen on ${options.operatorListen ?? '127.0.0.1:0'} (${e.code ?? e.message})`);
      });
      cleanup.push(() => operator.close());
      let driverUrl = options.driver;
      let hook = webhook;
      if (plan.embedded) {
        const reference = await startReferenceParticipants({ operator: { url: operator.url, apiKey: operator.credentials.apiKey, clientSecret: operator.credentials.clientSecret }, roles: REFERENCE_ROLES });
        cleanup.unshift(() => reference.close());
        driverUrl = reference.url;
        hook ??= new Webhook(reference.webhookTemplate, { method: 'GET', timeoutMs: requestTimeoutMs });
        say(`participant roles: testing the reference participants at ${reference.url}, with the kit's operator at ${operator.url}`);
      } else {
        say(`participant roles: the kit's operator listens at ${operator.url}: point the participant's UID2 base URL there`);
        for (const name of ['apiKey', 'clientSecret'] as const) {
          if (operator.generated.has(name)) say(`${name === 'apiKey' ? 'api-key' : 'client-secret'} the kit's operator accepts: ${operator.credentials[name]}`);
        }
      }
      targets.push(plan.embedded ? 'embedded:reference-participants' : driverUrl!);
      const outcome = await runParticipantSession(
        { driverUrl: driverUrl!, operator, webhook: hook, roles: plan.participants === 'all-played' ? undefined : plan.participants, requestTimeoutMs },
        { checks: overrides.participantChecks ?? PARTICIPANT_CHECKS, replayPaths: overrides.replayPaths, settings: participantSettings, checkTimeoutMs: session.checkTimeoutMs, concurrency: session.concurrency, deadlineMs, signal: interrupt.signal, progress, onResult },
      );
      roles.push(...outcome.roles);
      results.push(...outcome.results);
    }
    const { run, paths } = report();
    say(`\n${formatSummary(run, paths)}`);
    process.stdout.write(`${formatOutcomeLine(run, paths)}\n`);
    return EXIT_OF[run.outcome];
  } catch (e) {
    if (e instanceof TargetError || e instanceof DriverUnavailableError) {
      report(e.message);
      throw new TargetError(e.message);
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const close of cleanup.reverse()) await close();
  }
}

/** Short token lifetimes: refresh and propagation happen in seconds (the kit is the participant's operator). */
function participantSettingsOf(options: RunOptions, settings: CheckSettings): ParticipantSettings {
  const duration = (text: string | undefined, fallback: number, option: string) => (text === undefined ? fallback : parseDuration(text, option));
  const lifetimes = {
    refreshAfterMs: duration(options.refreshAfter, 1000, '--refresh-after'),
    identityExpiresAfterMs: duration(options.identityExpiresAfter, 4000, '--identity-expires-after'),
    refreshExpiresAfterMs: duration(options.refreshExpiresAfter, 12_000, '--refresh-expires-after'),
  };
  if (!(lifetimes.refreshAfterMs <= lifetimes.identityExpiresAfterMs && lifetimes.identityExpiresAfterMs <= lifetimes.refreshExpiresAfterMs)) {
    throw new UsageError('token lifetimes must keep refresh-after <= identity-expires-after <= refresh-expires-after (UID2-SPEC §8)');
  }
  return { seed: settings.seed, runs: settings.runs, lifetimes, pollIntervalMs: 100, actWithinMs: lifetimes.refreshAfterMs * 3 + 2000 };
}

function checkWebhook(template: string): string {
  let url: URL;
  try {
    url = new URL(template.replaceAll('{uid2}', 'x').replaceAll('{timestamp}', '0'));
  } catch {
    throw new UsageError(`--webhook: "${template}" is not a URL template`);
  }
  if (!template.includes('{uid2}')) throw new UsageError('--webhook: the template needs a {uid2} placeholder (and usually {timestamp})');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--webhook: use an http or https URL');
  return template;
}
