// npm run bench: requests per second of encrypted generate requests from the kit's wire client to the
// simulated operator, beside plain JSON requests to a bare node:http server, in the same run and over
// loopback; plus the memory peak of both processes. Prints figures; asserts nothing.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { OperatorClient } from '../harness/client/operator-client.ts';
import type { OperatorCredentials } from '../harness/operator/index.ts';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

interface Ready {
  operator: { url: string; credentials: OperatorCredentials };
  plainUrl: string;
}

const servers = fork(fileURLToPath(new URL('./servers.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [])] });
const ready = await new Promise<Ready>((resolve) => servers.once('message', (m) => resolve(m as Ready)));
const ask = <T>(message: string) => new Promise<T>((resolve) => { servers.once('message', (m) => resolve(m as T)); servers.send(message); });

const client = new OperatorClient({ baseUrl: ready.operator.url, apiKey: ready.operator.credentials.apiKey, clientSecret: ready.operator.credentials.clientSecret });
const emails = Array.from({ length: 1024 }, () => `bench-${randomBytes(6).toString('hex')}@example.com`);

async function encryptedCall(i: number): Promise<void> {
  const answer = await client.generate({ email: emails[i % emails.length]!, optout_check: 1 });
  if (answer.http !== 200 || (answer.body as { status?: string }).status !== 'success') throw new Error(`generate answered ${answer.http}`);
}

/** The wire layer alone: an encrypted request that mints no token (an empty opt-out status lookup). */
async function encryptedStatusCall(): Promise<void> {
  const answer = await client.optoutStatus([]);
  if (answer.http !== 200 || (answer.body as { status?: string }).status !== 'success') throw new Error(`optout status answered ${answer.http}`);
}

async function plainCall(i: number): Promise<void> {
  const response = await request(ready.plainUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: emails[i % emails.length], optout_check: 1 }),
  });
  const answer = (await response.body.json()) as { status?: string };
  if (response.statusCode !== 200 || answer.status !== 'success') throw new Error('plain server failed');
}

interface Stats {
  maxRssKb: number;
  cpuUs: NodeJS.CpuUsage;
}
const cpuTotal = (u: NodeJS.CpuUsage) => u.user + u.system;
/** CPU microseconds per request spent by the client and by the servers, per path. */
const PATHS = ['plain', 'status', 'encrypted'] as const;
const cpuPerRequest = Object.fromEntries(PATHS.map((p) => [p, { client: [] as number[], server: [] as number[] }])) as Record<(typeof PATHS)[number], { client: number[]; server: number[] }>;

/** Keeps CONCURRENCY requests in flight for ROUND_MS and returns requests per second. */
async function measure(call: (i: number) => Promise<void>, path?: keyof typeof cpuPerRequest): Promise<number> {
  let done = 0;
  const serverBefore = cpuTotal((await ask<Stats>('stats')).cpuUs);
  const clientBefore = cpuTotal(process.cpuUsage());
  const started = performance.now();
  const until = started + ROUND_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) await call(done++);
    }),
  );
  const elapsed = performance.now() - started;
  if (path) {
    cpuPerRequest[path].client.push((cpuTotal(process.cpuUsage()) - clientBefore) / done);
    cpuPerRequest[path].server.push((cpuTotal((await ask<Stats>('stats')).cpuUs) - serverBefore) / done);
  }
  return done / (elapsed / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

await measure(plainCall); // warm-up: JIT, connections
await measure(encryptedCall);
const plainRates: number[] = [];
const statusRates: number[] = [];
const encryptedRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  plainRates.push(await measure(plainCall, 'plain'));
  statusRates.push(await measure(encryptedStatusCall, 'status'));
  encryptedRates.push(await measure(encryptedCall, 'encrypted'));
  process.stderr.write(`round ${round + 1}/${ROUNDS}: plain ${plainRates[round]!.toFixed(0)}, encrypted status ${statusRates[round]!.toFixed(0)}, encrypted generate ${encryptedRates[round]!.toFixed(0)} req/s\n`);
}
const { maxRssKb: serverRssKb } = await ask<Stats>('stats');
servers.send('stop');

const plain = median(plainRates);
const encrypted = median(encryptedRates);
const ratio = encrypted / plain;
const mb = (kb: number) => (kb / 1024).toFixed(1);
console.log(`wire bench (${ROUNDS} rounds of ${ROUND_MS} ms, ${CONCURRENCY} in flight, client and servers in two processes over 127.0.0.1)`);
console.log(`  plain JSON to bare node:http:         ${plain.toFixed(0)} req/s (median)`);
console.log(`  encrypted status (wire layer only):   ${median(statusRates).toFixed(0)} req/s (median), ratio ${(median(statusRates) / plain).toFixed(3)}`);
console.log(`  encrypted generate to sim. operator:  ${encrypted.toFixed(0)} req/s (median)`);
console.log(`  ratio encrypted / plain:              ${ratio.toFixed(3)} (target >= 0.65)`);
for (const path of PATHS) {
  console.log(`  CPU per request, ${path.padEnd(9)}:          client ${median(cpuPerRequest[path].client).toFixed(0)} us, server ${median(cpuPerRequest[path].server).toFixed(0)} us`);
}
console.log(`  peak RSS: client ${mb(process.resourceUsage().maxRSS)} MB, servers ${mb(serverRssKb)} MB`);
