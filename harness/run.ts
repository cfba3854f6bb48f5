// `uid2-conformance run`: picks the target (the embedded simulated operator by default), checks that it can
// be tested at all, runs the operator suite, prints progress and a summary, writes the reports, and returns
// the exit code of PROTOCOL.md §2.
import { randomInt } from 'node:crypto';
import { OperatorClient, TransportError } from './client/operator-client.ts';
import { checkClientSecret, parseDuration, TargetError, UsageError } from './config.ts';
import type { Check, CheckSettings } from './engine/check.ts';
import { outcomeOf, summarize, type CheckResult, type RunResult } from './engine/result.ts';
import { runOperatorSession, type OperatorTarget } from './engine/session.ts';
import { startOperator, type RunningOperator } from './operator/index.ts';
import { createProgress } from './progress.ts';
import { writeReports } from '../reports/index.ts';
import { formatOutcomeLine, formatSummary } from '../reports/console.ts';
import { OPERATOR_CHECKS } from '../suites/operator/index.ts';

export interface RunOptions {
  role: string[];
  target?: string;
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
  return parsed;
}

function positiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option}: "${text}" is not a positive integer`);
  return n;
}

/** Can we test at all? An unreachable operator or refused credentials are exit 2, not a list of failures. */
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
  replayPaths?: ReadonlyMap<string, string>;
}

export async function runCommand(options: RunOptions, kit: { name: string; version: string }, overrides: RunOverrides = {}): Promise<number> {
  const roles = options.role.length > 0 ? options.role : ['operator'];
  const unsupported = roles.filter((r) => r !== 'operator');
  if (unsupported.length > 0) throw new UsageError(`--role ${unsupported.join(', ')}: only the operator role is available in this version`);
  const session = sessionSettings(options);
  const { settings, requestTimeoutMs } = session;
  const propagationTimeoutMs = settings.propagationTimeoutMs;
  const deadlineMs = Date.now() + parseDuration(options.deadline, '--deadline');

  const { target, embedded } = await resolveTarget(options);
  const progress = createProgress();
  const say = (line: string) => progress.phase(line);
  if (embedded) say(`no --target: testing the embedded simulated operator at ${embedded.url}`);
  const startedAt = new Date();
  const report = (results: CheckResult[], extra: Partial<RunResult> & { outcome?: RunResult['outcome'] } = {}) => {
    const summary = summarize(results);
    const run: RunResult = {
      kit,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      seed: settings.seed,
      target: { role: 'operator', url: embedded ? 'embedded:simulated-operator' : target.url },
      outcome: outcomeOf(summary, options.strict ?? false),
      summary,
      results,
      ...extra,
    };
    return { run, paths: writeReports(options.out, run) };
  };

  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    try {
      await preflight(new OperatorClient({ baseUrl: target.url, apiKey: target.apiKey, clientSecret: target.clientSecret, timeoutMs: requestTimeoutMs }));
    } catch (e) {
      if (e instanceof TargetError) report([], { outcome: 'error', error: e.message });
      throw e;
    }
    let done = 0;
    const checks = overrides.checks ?? OPERATOR_CHECKS;
    const outcome = await runOperatorSession(target, {
      checks,
      replayPaths: overrides.replayPaths,
      ...session,
      deadlineMs,
      signal: interrupt.signal,
      progress,
      onResult: (r) => {
        done += 1;
        say(`[${String(done).padStart(3)}/${checks.length}] ${r.status.toUpperCase().padEnd(14)} ${r.rule.padEnd(22)} ${r.check}: ${r.message}`);
      },
    });
    const { run, paths } = report(outcome.results, {
      ...(interrupt.signal.aborted ? { outcome: 'interrupted' as const } : {}),
      propagation: { ...outcome.propagation, timeout_ms: propagationTimeoutMs },
      capabilities: outcome.capabilities,
    });
    say(`\n${formatSummary(run, paths)}`);
    process.stdout.write(`${formatOutcomeLine(run, paths)}\n`);
    return EXIT_OF[run.outcome];
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await embedded?.close();
  }
}
