// `uid2-conformance run`: picks the target (embedded simulated operator by default), runs the suites,
// prints progress and a summary, writes the report, and returns the exit code of PROTOCOL.md §2.
import { randomInt } from 'node:crypto';
import { OperatorClient, TransportError } from './client/operator-client.ts';
import { checkClientSecret, parseDuration, TargetError, UsageError } from './config.ts';
import { outcomeOf, summarize, type CheckResult, type RunResult } from './engine/result.ts';
import { startOperator, type RunningOperator } from './operator/index.ts';
import { writeJsonReport } from '../reports/json.ts';
import { runSmokeChecks } from '../suites/operator/smoke.ts';

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
  timeout: string;
  allowProduction?: boolean;
  strict?: boolean;
  seed?: string;
  out: string;
}

/** Production operator hosts (UID2-SPEC §0): refused unless --allow-production. */
const PRODUCTION_HOST = /(^|\.)prod\.uidapi\.com$/i;

const EXIT_OF = { pass: 0, fail: 1, error: 2, interrupted: 130 } as const;

/** Can we test at all? An unreachable operator or a refused key is exit 2, not a list of failures. */
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

function parseTarget(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--target: "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('--target: use an http or https URL');
  return parsed;
}

export async function runCommand(options: RunOptions, kit: { name: string; version: string }): Promise<number> {
  const roles = options.role.length > 0 ? options.role : ['operator'];
  const unsupported = roles.filter((r) => r !== 'operator');
  if (unsupported.length > 0) throw new UsageError(`--role ${unsupported.join(', ')}: only the operator role is available in this version`);
  const propagationTimeoutMs = parseDuration(options.propagationTimeout, '--propagation-timeout');
  const timeoutMs = parseDuration(options.timeout, '--timeout');
  const seed = options.seed === undefined ? randomInt(2 ** 31) : Number(options.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed: "${options.seed}" is not an integer`);

  let embedded: RunningOperator | undefined;
  let url: string;
  let credentials: { apiKey: string; clientSecret: string; optoutApiKey?: string; optoutClientSecret?: string; cstgPublicKey?: string; cstgSubscriptionId?: string };
  if (options.target === undefined) {
    embedded = await startOperator();
    url = embedded.url;
    credentials = embedded.credentials;
    process.stderr.write(`no --target: testing the embedded simulated operator at ${url}\n`);
  } else {
    const target = parseTarget(options.target);
    if (PRODUCTION_HOST.test(target.hostname) && !options.allowProduction) {
      throw new UsageError(`--target ${target.hostname} is a production operator; use a staging or integration URL, or --allow-production`);
    }
    if (!options.apiKey || !options.clientSecret) throw new UsageError('--target needs --api-key and --client-secret (or UID2_API_KEY, UID2_CLIENT_SECRET)');
    url = target.href;
    credentials = {
      apiKey: options.apiKey,
      clientSecret: checkClientSecret(options.clientSecret, '--client-secret'),
      ...(options.optoutApiKey && options.optoutClientSecret && !options.allowProduction
        ? { optoutApiKey: options.optoutApiKey, optoutClientSecret: checkClientSecret(options.optoutClientSecret, '--optout-client-secret') }
        : {}),
      cstgPublicKey: options.cstgPublicKey,
      cstgSubscriptionId: options.cstgSubscriptionId,
    };
  }

  const startedAt = new Date();
  const client = new OperatorClient({ baseUrl: url, apiKey: credentials.apiKey, clientSecret: credentials.clientSecret, timeoutMs });
  const optoutClient =
    credentials.optoutApiKey && credentials.optoutClientSecret
      ? new OperatorClient({ baseUrl: url, apiKey: credentials.optoutApiKey, clientSecret: credentials.optoutClientSecret, timeoutMs })
      : undefined;
  const cstg = credentials.cstgPublicKey && credentials.cstgSubscriptionId ? { publicKey: credentials.cstgPublicKey, subscriptionId: credentials.cstgSubscriptionId } : undefined;
  const report = (results: CheckResult[], error?: string): { run: RunResult; path: string } => {
    const summary = summarize(results);
    const run: RunResult = {
      kit,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      seed,
      target: { role: 'operator', url: embedded ? 'embedded:simulated-operator' : url },
      outcome: error ? 'error' : outcomeOf(summary, options.strict ?? false),
      ...(error ? { error } : {}),
      summary,
      results,
    };
    return { run, path: writeJsonReport(options.out, run) };
  };
  try {
    await preflight(client);
  } catch (e) {
    await embedded?.close();
    if (e instanceof TargetError) report([], e.message);
    throw e;
  }
  const printResult = (r: CheckResult) => process.stderr.write(`${r.status.toUpperCase().padEnd(14)} ${r.rule.padEnd(20)} ${r.check}: ${r.message}\n`);
  let results: CheckResult[];
  try {
    results = await runSmokeChecks({ client, optoutClient, cstg, propagationTimeoutMs }, printResult);
  } finally {
    await embedded?.close();
  }

  const { run, path } = report(results);
  const { outcome, summary } = run;
  const counts = Object.entries(summary).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ');
  process.stdout.write(`${outcome.toUpperCase()}: ${counts}; report ${path}\n`);
  if (outcome === 'error' && results.some((r) => r.status === 'error')) {
    process.stderr.write(`could not test: ${results.find((r) => r.status === 'error')!.message}\n`);
  }
  return EXIT_OF[outcome];
}
