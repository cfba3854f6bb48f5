// npm run bench, part 2: the full operator run on the embedded simulated operator, each in a fresh process:
// wall time and peak RSS with no propagation delay, then with a 4 s delay (a run should pay it about once:
// target at most the 0-delay run + 1.2 × 4 s), then against a 3-instance fleet syncing every 4 s with a 6 s
// settle window (a run should pay the first sync plus the settle window once, not once per check). Also the
// CLI end to end (`uid2-conformance run`).
import { execFile, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface RunFigures {
  wallMs: number;
  maxRssKb: number;
  summary: Record<string, number>;
  checks: number;
  latency?: { min: number; median: number; max: number };
  waitedMs: number;
}

function operatorRun(delayMs: number, fleet: number[] = []): Promise<RunFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL('./operator-run.ts', import.meta.url)), [String(delayMs), ...fleet.map(String)], { execArgv: ['--import', 'tsx'] });
    child.once('message', (m) => resolve(m as RunFigures));
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`operator run exited ${code}`))));
  });
}

function cliRun(): Promise<{ wallMs: number; code: number }> {
  const started = performance.now();
  const bin = fileURLToPath(new URL('../bin/uid2-conformance.mjs', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'run', '--out', '/tmp/uid2-conformance-bench-report'], (error) => {
      resolve({ wallMs: performance.now() - started, code: error ? Number(error.code) : 0 });
    });
  });
}

const line = (label: string, f: RunFigures) =>
  `  ${label.padEnd(34)} ${(f.wallMs / 1000).toFixed(2).padStart(6)} s wall   peak RSS ${(f.maxRssKb / 1024).toFixed(0).padStart(4)} MB   ${f.checks} checks: ${Object.entries(f.summary).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ')}`;

const DELAY_MS = 4000;
const runs: RunFigures[] = [];
for (let i = 0; i < 3; i++) runs.push(await operatorRun(0));
const delayed = await operatorRun(DELAY_MS);
const FLEET = { instances: 3, syncMs: 4000, settleMs: 6000 };
const fleet = await operatorRun(0, [FLEET.instances, FLEET.syncMs, FLEET.settleMs]);
const cli = await cliRun();
const fastest = runs.reduce((a, b) => (a.wallMs <= b.wallMs ? a : b));
const slowest = runs.reduce((a, b) => (a.wallMs >= b.wallMs ? a : b));
console.log('operator run bench: embedded simulated operator, default budgets, each run in a fresh process');
runs.forEach((r, i) => console.log(line(`no propagation delay (run ${i + 1})`, r)));
console.log(line(`propagation delay ${DELAY_MS / 1000} s`, delayed));
console.log(`  targets: wall <= 10 s (slowest ${(slowest.wallMs / 1000).toFixed(2)} s), peak RSS <= 250 MB (max ${(Math.max(...runs.map((r) => r.maxRssKb), delayed.maxRssKb) / 1024).toFixed(0)} MB)`);
const paid = delayed.wallMs - fastest.wallMs;
console.log(`  the ${DELAY_MS / 1000} s delay cost ${(paid / 1000).toFixed(2)} s = ${(paid / DELAY_MS).toFixed(2)} x the delay (target <= 1.2 x; measured latency ${delayed.latency ? `${delayed.latency.min}–${delayed.latency.max} ms` : 'n/a'})`);
console.log(line(`fleet: ${FLEET.instances} instances, sync ${FLEET.syncMs / 1000} s, settle ${FLEET.settleMs / 1000} s`, fleet));
const fleetPaid = fleet.wallMs - fastest.wallMs;
const once = FLEET.syncMs + FLEET.settleMs;
console.log(
  `  the fleet cost ${(fleetPaid / 1000).toFixed(2)} s more = ${(fleetPaid / once).toFixed(2)} x (first sync + settle window, ${once / 1000} s; paid once, not per check: the wait itself took ${(fleet.waitedMs / 1000).toFixed(2)} s)`,
);
console.log(`  CLI end to end (uid2-conformance run, incl. startup): ${(cli.wallMs / 1000).toFixed(2)} s, exit ${cli.code}`);
