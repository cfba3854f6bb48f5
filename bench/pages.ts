// npm run bench, part 3: a page run of the whole publisher suite through the CLI, as a user runs it
// (`run --role publisher --page URL --journey FILE`, the kit's operator at --operator-listen), against the
// reference page prebid-server (Prebid.js uid2IdSystem fed by its server's generate). Prints the wall time
// (goal <= 60 s) and the peak RSS of the run's whole process tree, Chromium included (the sum of VmRSS over
// the tree, sampled every 250 ms; goal <= 700 MB). Shared pages are counted once per process, so the sum is
// an upper bound; the PSS sum beside it shares them out.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ensureBundles } from '../harness/page/reference/files.ts';
import { startReferencePages } from '../harness/page/reference/server.ts';

/** A free port on 127.0.0.1 for the run's operator (the page's server must know it before the run starts). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The RSS and PSS (kB) of a process and all its descendants, from /proc (PSS shares shared pages out fairly). */
function treeMemoryKb(root: number): { rss: number; pss: number } {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      rss.set(Number(entry), Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we read it
    }
  }
  const total = { rss: 0, pss: 0, kinds: new Map<string, { n: number; pss: number }>() };
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total.rss += rss.get(pid) ?? 0;
    try {
      const pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      total.pss += pss;
      const kind = kindOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      const sum = total.kinds.get(kind) ?? { n: 0, pss: 0 };
      total.kinds.set(kind, { n: sum.n + 1, pss: sum.pss + pss });
    } catch {
      // ended meanwhile
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** node, Chromium's browser process, its renderers, or its other helpers (GPU, network, storage, zygotes). */
function kindOf(cmdline: string): string {
  if (!cmdline.includes('chromium')) return cmdline.split('\0')[0]!.endsWith('node') ? 'node' : 'other';
  return cmdline.includes('--type=renderer') ? 'renderers' : cmdline.includes('--type=') ? 'chromium helpers' : 'chromium browser';
}

ensureBundles();
const port = await freePort();
const apiKey = `bench-${randomBytes(8).toString('hex')}`;
const clientSecret = randomBytes(32).toString('base64');
const pages = await startReferencePages({ operator: { url: `http://127.0.0.1:${port}`, apiKey, clientSecret, cstgPublicKey: '', cstgSubscriptionId: '' }, pages: ['prebid-server'] });
const page = pages.pages[0]!;
const out = `/tmp/uid2-conformance-bench-pages-${process.pid}`;
const bin = fileURLToPath(new URL('../bin/uid2-conformance.mjs', import.meta.url));
const args = [bin, 'run', '--role', 'publisher', '--page', page.url, '--journey', page.journey, '--operator-listen', `127.0.0.1:${port}`, ...(process.env.XRUNS ? ['--runs', process.env.XRUNS] : []), ...(process.env.XCONC ? ['--concurrency', process.env.XCONC] : []), '--out', out];
/** CPU seconds (user + system) of this process's reaped children: the run's whole tree once it exited. */
const childCpuSeconds = (): number => {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
};
const cpuBefore = childCpuSeconds();
const started = performance.now();
let peak = { rss: 0, pss: 0, kinds: new Map<string, { n: number; pss: number }>() };
const code = await new Promise<number>((resolve) => {
  const child = execFile(process.execPath, args, { env: { ...process.env, UID2_API_KEY: apiKey, UID2_CLIENT_SECRET: clientSecret }, maxBuffer: 64 << 20 }, (error) => resolve(error ? Number(error.code ?? 1) : 0));
  const sampler = setInterval(() => {
    const now = treeMemoryKb(child.pid!);
    if (now.pss > peak.pss) peak = { ...now, rss: Math.max(peak.rss, now.rss) };
    else peak.rss = Math.max(peak.rss, now.rss);
  }, 250);
  child.once('exit', () => clearInterval(sampler));
});
const wallMs = performance.now() - started;
const cpuSeconds = childCpuSeconds() - cpuBefore;
await pages.close();
const report = JSON.parse(readFileSync(`${out}/report.json`, 'utf8')) as { summary: Record<string, number>; browser?: { refused_requests: number; operator_requests: number; contexts_opened?: number; page_loads?: number } };
console.log(`page run bench: the publisher suite through Chromium on the reference page ${page.name} (a page run's defaults), through the CLI`);
console.log(`  wall ${(wallMs / 1000).toFixed(1)} s (goal <= 60 s)   peak RSS of the process tree, Chromium included ${(peak.rss / 1024).toFixed(0)} MB (goal <= 700 MB; PSS ${(peak.pss / 1024).toFixed(0)} MB)   exit ${code}`);
console.log(`  at the PSS peak: ${[...peak.kinds].map(([kind, { n, pss }]) => `${kind} ${n === 1 ? '' : `${n}× `}${(pss / 1024).toFixed(0)} MB`).join(', ')}`);
console.log(`  CPU ${cpuSeconds.toFixed(1)} s over the whole tree: on ${availableParallelism()} cores no less than ${(cpuSeconds / availableParallelism()).toFixed(1)} s of wall for this work`);
console.log(`  ${Object.entries(report.summary).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(', ')}; ${report.browser?.operator_requests ?? 0} operator requests routed, ${report.browser?.refused_requests ?? 0} refused; ${report.browser?.contexts_opened ?? 0} browser contexts opened, ${report.browser?.page_loads ?? 0} page loads`);
