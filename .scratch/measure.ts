import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { launchChromium } from '../harness/page/browser.ts';
import { PageDriver } from '../harness/page/page-driver.ts';
import { EvidenceLog } from '../harness/engine/recording.ts';
import { Redactor } from '../harness/engine/redact.ts';
import { fixtureJourney, startFixture } from '../test/page/fixture.ts';

function treeRssMb(root: number): number {
  const out = execSync('ps -e -o pid=,ppid=,rss=').toString().trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const kids = new Map<number, number[]>();
  for (const [pid, ppid] of out) kids.set(ppid!, [...(kids.get(ppid!) ?? []), pid!]);
  const pss = (pid: number) => { try { return Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]); } catch { return 0; } };
  const rss = new Map(out.map(([pid]) => [pid!, pss(pid!)]));
  let sum = 0; const stack = [...(kids.get(root) ?? [])];
  while (stack.length) { const p = stack.pop()!; sum += rss.get(p) ?? 0; stack.push(...(kids.get(p) ?? [])); }
  return Math.round(sum / 1024);
}
const t0 = performance.now();
const browser = await launchChromium();
console.log('launch ms', Math.round(performance.now() - t0), 'browser tree PSS MB', treeRssMb(process.pid));
const fixture = await startFixture();
const driver = new PageDriver({ pageUrl: fixture.pageUrl, journey: fixtureJourney, browser, operatorUrl: fixture.operator.url });
const check = driver.forCheck({ check: 'm', signal: new AbortController().signal, log: new EvidenceLog(), redactor: new Redactor() });
const firsts: number[] = []; const agains: number[] = [];
for (let i = 0; i < 10; i++) {
  const id = { email: `m${i}@example.com` };
  let s = performance.now(); await check.publisherLogin(id); firsts.push(performance.now() - s);
  s = performance.now(); await check.publisherLogin(id); agains.push(performance.now() - s);
  if (i === 0 || i === 9) console.log(`${i + 1} contexts: chromium tree PSS MB`, treeRssMb(process.pid));
}
const med = (a: number[]) => Math.round([...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!);
console.log('login new user median ms', med(firsts), 'min', Math.round(Math.min(...firsts)), 'max', Math.round(Math.max(...firsts)));
console.log('login again (logout+login) median ms', med(agains), 'min', Math.round(Math.min(...agains)), 'max', Math.round(Math.max(...agains)));
await check.end('pass');
await browser.close(); await fixture.close();
