// npm run bench, part 3: a page run of the whole publisher suite through the CLI, as a user runs it
// (`run --role publisher --page URL --journey FILE`, the kit's operator at --operator-listen), against the
// reference page prebid-server (Prebid.js uid2IdSystem fed by its server's generate). Prints the wall time
// (goal <= 60 s) and the peak memory of the run's whole process tree, Chromium included (goal <= 700 MB): the
// sum of VmRSS over the tree counts the pages every Chromium process shares once per process, so the PSS sum
// beside it (shared pages shared out) is the fair figure. Then what the same page views cost Chromium alone,
// with no kit: the floor under the run's time on this machine's cores, and the memory of its open tabs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defaultChromium, launchChromium } from '../harness/page/browser.ts';
import { PAGE_RUN_DEFAULTS } from '../harness/page/page-driver.ts';
import { ensureBundles } from '../harness/page/reference/files.ts';
import { startReferencePages } from '../harness/page/reference/server.ts';
import { freePort } from '../test/free-port.ts';

/** One process of a tree as /proc shows it now. */
interface Proc {
  kind: string;
  /** CPU seconds (user + system) so far. */
  cpu: number;
  rssKb: number;
  pssKb: number;
}

/** Every process of a tree (the root and all its descendants) from /proc. */
function processTree(root: number): Map<number, Proc> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we read it
    }
  }
  const tree = new Map<number, Proc>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      tree.set(pid, {
        kind: kindOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8')),
        cpu: (Number(stat[11]) + Number(stat[12])) / 100,
        rssKb: Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0),
        pssKb: Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0),
      });
    } catch {
      // ended meanwhile
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** node (the kit), Chromium's browser process, its renderers, its GPU process, or its other helpers (network, zygotes). */
function kindOf(cmdline: string): string {
  if (!cmdline.includes('chromium')) return cmdline.split('\0')[0]!.endsWith('node') ? 'node' : 'other';
  const type = /--type=([a-z-]+)/.exec(cmdline)?.[1];
  return type === undefined ? 'chromium browser' : type === 'renderer' ? 'renderers' : type === 'gpu-process' ? 'gpu' : 'chromium helpers';
}

/**
 * Samples a process tree until stopped: the peak of its summed PSS (with the RSS sum and the memory by kind
 * there) and the CPU of every process it saw. The CPU is read from each process while it runs, not from the
 * exit accounting of its parent: Chromium's renderers are children of its zygote, which nobody reaps once
 * the browser is closed, so their CPU never reaches this process's children times. A process's CPU after its
 * last sample is missed: a lower bound, within 250 ms per process.
 */
function sampleTree(root: () => number | undefined, withRoot = true) {
  const seen = new Map<number, Proc>();
  const peak = { rssKb: 0, pssKb: 0, kinds: new Map<string, { n: number; pssKb: number }>() };
  const timer = setInterval(() => {
    const pid = root();
    if (pid === undefined) return;
    const tree = processTree(pid);
    if (!withRoot) tree.delete(pid);
    let rssKb = 0;
    let pssKb = 0;
    for (const [p, proc] of tree) {
      seen.set(p, proc);
      rssKb += proc.rssKb;
      pssKb += proc.pssKb;
    }
    peak.rssKb = Math.max(peak.rssKb, rssKb);
    if (pssKb > peak.pssKb) {
      peak.pssKb = pssKb;
      peak.kinds = new Map();
      for (const { kind, pssKb: own } of tree.values()) {
        const sum = peak.kinds.get(kind) ?? { n: 0, pssKb: 0 };
        peak.kinds.set(kind, { n: sum.n + 1, pssKb: sum.pssKb + own });
      }
    }
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      const cpuByKind = new Map<string, number>();
      for (const { kind, cpu } of seen.values()) cpuByKind.set(kind, (cpuByKind.get(kind) ?? 0) + cpu);
      return { peak, cpuByKind, cpu: [...cpuByKind.values()].reduce((a, b) => a + b, 0) };
    },
  };
}

const mb = (kb: number): string => (kb / 1024).toFixed(0);
const byKind = (kinds: Map<string, { n: number; pssKb: number }>): string =>
  [...kinds].map(([kind, { n, pssKb }]) => `${kind} ${n === 1 ? '' : `${n}× `}${mb(pssKb)} MB`).join(', ');
const cores = availableParallelism();

ensureBundles();
const port = await freePort();
const apiKey = `bench-${randomBytes(8).toString('hex')}`;
const clientSecret = randomBytes(32).toString('base64');
const pages = await startReferencePages({ operator: { url: `http://127.0.0.1:${port}`, apiKey, clientSecret, cstgPublicKey: '', cstgSubscriptionId: '' }, pages: ['prebid-server'] });
const page = pages.pages[0]!;
const out = `/tmp/uid2-conformance-bench-pages-${process.pid}`;
const bin = fileURLToPath(new URL('../bin/uid2-conformance.mjs', import.meta.url));
// BENCH_RUNS / BENCH_CONCURRENCY: the run with other values than a page run's defaults, for comparisons.
const args = [bin, 'run', '--role', 'publisher', '--page', page.url, '--journey', page.journey, '--operator-listen', `127.0.0.1:${port}`, ...(process.env.BENCH_RUNS ? ['--runs', process.env.BENCH_RUNS] : []), ...(process.env.BENCH_CONCURRENCY ? ['--concurrency', process.env.BENCH_CONCURRENCY] : []), '--out', out];

const started = performance.now();
let childPid: number | undefined;
const sampler = sampleTree(() => childPid);
const code = await new Promise<number>((resolve) => {
  const child = execFile(process.execPath, args, { env: { ...process.env, UID2_API_KEY: apiKey, UID2_CLIENT_SECRET: clientSecret }, maxBuffer: 64 << 20 }, (error) => resolve(error ? Number(error.code ?? 1) : 0));
  childPid = child.pid;
});
const wallMs = performance.now() - started;
const run = sampler.stop();
const report = JSON.parse(readFileSync(`${out}/report.json`, 'utf8')) as { summary: Record<string, number>; browser?: { refused_requests: number; operator_requests: number; contexts_opened?: number; page_loads?: number } };
const contexts = report.browser?.contexts_opened ?? 0;
const loads = report.browser?.page_loads ?? 0;
console.log(`page run bench: the publisher suite through Chromium (${defaultChromium()}) on the reference page ${page.name} (a page run's defaults), through the CLI`);
console.log(`  wall ${(wallMs / 1000).toFixed(1)} s (goal <= 60 s)   peak memory of the process tree, Chromium included: PSS ${mb(run.peak.pssKb)} MB (goal <= 700 MB; RSS sum ${mb(run.peak.rssKb)} MB)   exit ${code}`);
console.log(`  at the PSS peak: ${byKind(run.peak.kinds)}`);
console.log(`  CPU ${run.cpu.toFixed(1)} s over the tree (${[...run.cpuByKind].map(([k, s]) => `${k} ${s.toFixed(1)}`).join(', ')}): on ${cores} cores no less than ${(run.cpu / cores).toFixed(1)} s of wall`);
console.log(`  ${Object.entries(report.summary).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ')}; ${report.browser?.operator_requests ?? 0} operator requests routed, ${report.browser?.refused_requests ?? 0} refused; ${contexts} browser contexts opened, ${loads} page loads`);

// The floor: the same Chromium and flags, no kit, no routing, no user. Each of the run's contexts costs at
// least a new context with one view of the page, each further page load at least a reload of it (a view with
// no user: it loads Prebid.js and runs an auction, but no UID2 call). Then the memory of a page run's open tabs.
const ALONE_TABS: number = PAGE_RUN_DEFAULTS.openPages;
const RELOADS = 5;
// This process serves the page; Chromium is its child: the tree without this process is Chromium's.
const browser = await launchChromium(undefined, []);
const alone = sampleTree(() => process.pid, false);
const cpuNow = (): number => [...processTree(process.pid).entries()].reduce((sum, [pid, p]) => sum + (pid === process.pid ? 0 : p.cpu), 0);
const viewed = async (tab: Awaited<ReturnType<typeof browser.newPage>>, reload: boolean) => {
  await (reload ? tab.reload() : tab.goto(page.url));
  await tab.waitForFunction(() => document.documentElement.dataset.uid2 === 'settled');
};
const tabs = [];
const cpuStart = cpuNow();
for (let i = 0; i < ALONE_TABS; i++) {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const tab = await context.newPage();
  await viewed(tab, false);
  tabs.push(tab);
}
const cpuPerContext = (cpuNow() - cpuStart) / ALONE_TABS;
const cpuBeforeReloads = cpuNow();
for (let r = 0; r < RELOADS; r++) for (const tab of tabs) await viewed(tab, true);
const cpuPerReload = (cpuNow() - cpuBeforeReloads) / (RELOADS * ALONE_TABS);
await new Promise((resolve) => setTimeout(resolve, 500));
const aloneMemory = alone.stop();
await browser.close();
await pages.close();
const floorCpu = contexts * cpuPerContext + Math.max(0, loads - contexts) * cpuPerReload;
console.log(`  Chromium alone (no kit, no user): a new context with one view of the page ${(cpuPerContext * 1000).toFixed(0)} ms CPU, a reload ${(cpuPerReload * 1000).toFixed(0)} ms;`);
console.log(`    the run's ${contexts} contexts and ${loads} page loads need >= ${floorCpu.toFixed(1)} s CPU: on ${cores} cores >= ${(floorCpu / cores).toFixed(1)} s of wall before the kit does anything`);
console.log(`    ${ALONE_TABS} open tabs of the page (a page run's default --open-pages): PSS ${mb(aloneMemory.peak.pssKb)} MB (${byKind(aloneMemory.peak.kinds)})`);
