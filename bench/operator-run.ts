// A full operator run in a process of its own, as `uid2-conformance run` does it with no target: the
// embedded simulated operator (with the given propagation delay) and the whole operator suite with the
// default budgets. Reports wall time, peak RSS and the summary to the parent (bench/run.ts). With a fleet
// (instances, sync interval in ms, settle window): that many instances and a 20 s bound, as against --target.
import { RUN_DEFAULTS, sessionSettings } from '../harness/run.ts';
import { runOperatorSession } from '../harness/engine/session.ts';
import { startOperator } from '../harness/operator/index.ts';
import { summarize } from '../harness/engine/result.ts';
import { OPERATOR_CHECKS } from '../suites/operator/index.ts';

const delayMs = Number(process.argv[2] ?? 0);
const [instances, syncIntervalMs, settle] = process.argv.slice(3);
const fleet = instances !== undefined;
const started = performance.now();
const operator = await startOperator({ propagationDelayMs: delayMs, ...(fleet ? { instances: Number(instances), syncIntervalMs: Number(syncIntervalMs) } : {}) });
const c = operator.credentials;
const session = await runOperatorSession(
  { url: operator.url, apiKey: c.apiKey, clientSecret: c.clientSecret, optoutApiKey: c.optoutApiKey, optoutClientSecret: c.optoutClientSecret, cstg: { publicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId }, production: false },
  { checks: OPERATOR_CHECKS, ...sessionSettings(fleet ? { ...RUN_DEFAULTS, propagationTimeout: '20s', settle: `${settle}ms` } : RUN_DEFAULTS), deadlineMs: Date.now() + 10 * 60_000 },
);
await operator.close();
process.send!({ wallMs: performance.now() - started, maxRssKb: process.resourceUsage().maxRSS, summary: summarize(session.results), checks: session.results.length, latency: session.propagation.latencyMs, waitedMs: session.propagation.waitedMs });
