// One operator conformance session: clients, capabilities, the oracle, the population of the run, then
// the checks. Used by `run`, `calibrate`, `replay` and the kit's own tests alike.
import { OperatorClient, type TransportStats } from '../client/operator-client.ts';
import type { Progress } from '../progress.ts';
import { Oracle } from '../oracle/oracle.ts';
import type { Capability, Check, CheckSettings } from './check.ts';
import { Population, type PropagationFigures } from './population.ts';
import { RecordingApi } from './recording.ts';
import { Redactor } from './redact.ts';
import type { Scrubber } from './scrub.ts';
import { AnswerLedger } from './ledger.ts';
import type { CheckResult } from './result.ts';
import { operatorContexts, runChecks } from './runner.ts';
import { SyntheticIdentities } from './synthetic.ts';

export interface OperatorTarget {
  url: string;
  apiKey: string;
  clientSecret: string;
  optoutApiKey?: string;
  optoutClientSecret?: string;
  /** A CSTG key pair; `origin` is sent as the `Origin` of client-generate (one of the site's domains). */
  cstg?: { publicKey: string; subscriptionId: string; origin?: string };
  /** A production host: only the documented test identities are sent, no opt-out is registered. */
  production: boolean;
}

export interface SessionOptions {
  checks: readonly Check[];
  settings: CheckSettings;
  requestTimeoutMs: number;
  checkTimeoutMs: number;
  concurrency: number;
  /** Absolute time (ms) after which no check starts. */
  deadlineMs: number;
  signal?: AbortSignal;
  /** Counters the session's clients add to (the report's `transport`). */
  transport?: TransportStats;
  replayPaths?: ReadonlyMap<string, string>;
  progress?: Progress;
  onResult?: (result: CheckResult) => void;
  /** The run's scrubber: the session registers the credentials and every value its checks send or receive. */
  scrubber?: Scrubber;
}

export interface SessionOutcome {
  results: CheckResult[];
  propagation: PropagationFigures;
  capabilities: Capability[];
  /** Evidence of the preparation phase (mapping, issuing, logouts, the wait), redacted. */
  preparation: CheckResult['evidence'];
}

export async function runOperatorSession(target: OperatorTarget, options: SessionOptions): Promise<SessionOutcome> {
  const { signal } = options;
  const wire = { timeoutMs: options.requestTimeoutMs, signal, transport: options.transport };
  const client = new OperatorClient({ baseUrl: target.url, apiKey: target.apiKey, clientSecret: target.clientSecret, cstgOrigin: target.cstg?.origin, ...wire });
  const optoutClient =
    target.optoutApiKey && target.optoutClientSecret && !target.production
      ? new OperatorClient({ baseUrl: target.url, apiKey: target.optoutApiKey, clientSecret: target.optoutClientSecret, ...wire })
      : undefined;
  const capabilities = new Set<Capability>();
  if (optoutClient) capabilities.add('optout');
  if (target.cstg) capabilities.add('cstg');
  if (!target.production) capabilities.add('synthetic');

  const oracle = new Oracle(options.settings.propagationTimeoutMs, options.settings.settleMs);
  const redactor = new Redactor(options.scrubber);
  redactor.scrubber.addCredentials(target);
  const ledger = new AnswerLedger();
  const prepareApi = new RecordingApi(client, redactor, { book: ledger, check: 'preparation' }, signal);
  const population = await Population.prepare({
    api: prepareApi,
    optoutApi: optoutClient && new RecordingApi(optoutClient, redactor, { book: ledger, check: 'preparation' }, signal),
    oracle,
    identities: new SyntheticIdentities(),
    synthetic: capabilities.has('synthetic'),
    propagationTimeoutMs: options.settings.propagationTimeoutMs,
    pollIntervalMs: options.settings.pollIntervalMs,
    progress: options.progress,
    signal,
  });
  const results = await runChecks({
    checks: options.checks,
    capabilities,
    contextFor: operatorContexts({ client, optoutClient, cstg: target.cstg, capabilities, population, oracle, redactor, ledger, settings: options.settings, replayPaths: options.replayPaths }),
    concurrency: options.concurrency,
    checkTimeoutMs: options.checkTimeoutMs,
    deadlineMs: options.deadlineMs,
    signal,
    onResult: options.onResult,
  });
  // Disagreements measured by the checks too (fresh opt-outs of the model checks), not only during the wait.
  const propagation = { ...population.figures, disagreements: oracle.disagreementsByEndpoint() };
  return { results, propagation, capabilities: [...capabilities], preparation: prepareApi.evidence };
}

