// npm run bench: requests per second of encrypted generate requests from the kit's wire client to the
// simulated operator, beside plain JSON requests to a bare node:http server, in the same run and over
// loopback, with CPU per request and the memory peak of both processes. Two yardsticks measured in the
// same run put the ratio in context: a hand-written minimal AES-GCM envelope (what any encrypted API pays),
// and the kit's own wire layer on an endpoint that mints no token. Prints figures; asserts nothing.
import { fork, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { OperatorClient } from '../harness/client/operator-client.ts';
import type { OperatorCredentials } from '../harness/operator/index.ts';
import { gcmDecrypt, gcmEncrypt } from '../harness/wire/gcm.ts';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MINIMAL_KEY = Buffer.alloc(32, 7);

interface Ready {
  operator: { url: string; credentials: OperatorCredentials };
  plainUrl: string;
  minimalUrl: string;
  mintingUrl: string;
}
interface Stats {
  maxRssKb: number;
  cpuUs: NodeJS.CpuUsage;
}

const servers = fork(fileURLToPath(new URL('./servers.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });

/** Every thread of a process onto these CPUs (Linux taskset); false where that is not possible. */
const pin = (pid: number, cpus: string): boolean => spawnSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
// Client and servers on CPUs of their own: without it the scheduler's choices move the ratios by ±30 % per round.
const CPUS = availableParallelism();
const pinned = CPUS >= 2 && process.env.BENCH_PIN !== '0' && pin(servers.pid!, '0') && pin(process.pid, '1');
const ready = await new Promise<Ready>((resolve) => servers.once('message', (m) => resolve(m as Ready)));
const ask = () =>
  new Promise<Stats>((resolve) => {
    servers.once('message', (m) => resolve(m as Stats));
    servers.send('stats');
  });

const client = new OperatorClient({ baseUrl: ready.operator.url, apiKey: ready.operator.credentials.apiKey, clientSecret: ready.operator.credentials.clientSecret });
const emails = Array.from({ length: 1024 }, () => `bench-${randomBytes(6).toString('hex')}@example.com`);
const requestJson = (i: number) => JSON.stringify({ email: emails[i % emails.length], optout_check: 1 });

function expectSuccess(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench: ${what} did not answer success`);
}

async function minimalEnvelope(url: string, i: number): Promise<void> {
  const body = gcmEncrypt(MINIMAL_KEY, Buffer.from(requestJson(i))).toString('base64');
  const response = await request(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
  const answer = JSON.parse(gcmDecrypt(MINIMAL_KEY, Buffer.from(await response.body.text(), 'base64')).toString('utf8')) as { status?: string };
  expectSuccess(answer.status === 'success', 'minimal envelope server');
}

const PATHS = {
  plain: async (i: number) => {
    const response = await request(ready.plainUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: requestJson(i) });
    expectSuccess(response.statusCode === 200 && ((await response.body.json()) as { status?: string }).status === 'success', 'plain server');
  },
  minimal: (i: number) => minimalEnvelope(ready.minimalUrl, i),
  minting: (i: number) => minimalEnvelope(ready.mintingUrl, i),
  status: async () => {
    const answer = await client.optoutStatus([]);
    expectSuccess(answer.http === 200 && (answer.body as { status?: string }).status === 'success', '/v2/optout/status');
  },
  generate: async (i: number) => {
    const answer = await client.generate({ email: emails[i % emails.length]!, optout_check: 1 });
    expectSuccess(answer.http === 200 && (answer.body as { status?: string }).status === 'success', '/v2/token/generate');
  },
} as const;
type Path = keyof typeof PATHS;

const cpuTotal = (u: NodeJS.CpuUsage) => u.user + u.system;
const samples = Object.fromEntries(Object.keys(PATHS).map((p) => [p, { rate: [] as number[], client: [] as number[], server: [] as number[] }])) as Record<Path, { rate: number[]; client: number[]; server: number[] }>;

/** Keeps CONCURRENCY requests in flight for ROUND_MS; records requests/s and CPU µs per request on both sides. */
async function measure(path: Path, record: boolean): Promise<void> {
  const call = PATHS[path];
  let done = 0;
  const serverBefore = cpuTotal((await ask()).cpuUs);
  const clientBefore = cpuTotal(process.cpuUsage());
  const started = performance.now();
  const until = started + ROUND_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) await call(done++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (!record) return;
  samples[path].rate.push(done / seconds);
  samples[path].client.push((cpuTotal(process.cpuUsage()) - clientBefore) / done);
  samples[path].server.push((cpuTotal((await ask()).cpuUs) - serverBefore) / done);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const paths = Object.keys(PATHS) as Path[];

for (const path of paths) await measure(path, false); // warm-up: JIT, connections
for (let round = 1; round <= ROUNDS; round++) {
  // Interleaved, so a change in machine load hits every path alike.
  for (const path of paths) await measure(path, true);
  process.stderr.write(`round ${round}/${ROUNDS}: ${paths.map((p) => `${p} ${samples[p].rate.at(-1)!.toFixed(0)}`).join(', ')} req/s\n`);
}
const serverRssKb = (await ask()).maxRssKb;
servers.send('stop');
if (pinned) pin(process.pid, `0-${CPUS - 1}`); // the benchmarks after this one start processes of their own

/** Ratios per round (same round, same load), then the median of those. */
const ratios = (a: Path, b: Path) => samples[a].rate.map((r, i) => r / samples[b].rate[i]!);
const ratio = (a: Path, b: Path) => median(ratios(a, b));
const TARGET = 0.65;
const LABELS: Record<Path, string> = {
  plain: 'plain JSON, bare node:http server',
  minimal: 'minimal AES-GCM envelope, bare server',
  minting: 'same + the 3 AES-GCM of minting tokens',
  status: 'kit wire layer: /v2/optout/status',
  generate: 'kit encrypted /v2/token/generate',
};
console.log(`wire bench: ${ROUNDS} interleaved rounds of ${ROUND_MS} ms, ${CONCURRENCY} requests in flight, client and servers in two processes over 127.0.0.1${pinned ? ', pinned to CPU 1 and CPU 0' : ' (not pinned to CPUs)'}`);
for (const path of paths) {
  const s = samples[path];
  console.log(`  ${LABELS[path].padEnd(40)} ${median(s.rate).toFixed(0).padStart(6)} req/s   ${ratio(path, 'plain').toFixed(3)} x plain   CPU/request: client ${median(s.client).toFixed(0)} us, server ${median(s.server).toFixed(0)} us`);
}
const ceiling = ratios('minting', 'plain');
const generate = ratio('generate', 'plain');
console.log(`  encrypted generate / plain: ${generate.toFixed(3)} (target >= ${TARGET}): ${generate >= TARGET ? 'met' : 'NOT met'}`);
// The ideal minting server does only the cryptography every generate must do, so it bounds any implementation.
console.log(`  ceiling, the ideal minting server / plain: ${median(ceiling).toFixed(3)} (rounds ${Math.min(...ceiling).toFixed(3)}-${Math.max(...ceiling).toFixed(3)})${Math.max(...ceiling) < TARGET ? `: below ${TARGET} in every round, so no generate that mints real tokens reaches the target on this machine` : ''}`);
console.log(`  wire layer / minimal envelope: ${ratio('status', 'minimal').toFixed(3)}; kit generate / ideal minting server: ${ratio('generate', 'minting').toFixed(3)}`);
console.log(`  peak RSS: client ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB, servers ${(serverRssKb / 1024).toFixed(1)} MB`);
