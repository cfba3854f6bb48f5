// npm run soak [-- N]: N consecutive embedded runs (default 50), each `uid2-conformance run` in a process of
// its own as users run it. Counts non-zero exits and results that did not pass (fail, warn, error, skipped)
// against the conformant embedded targets, where there must be none; prints the figures, asserts nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../harness/engine/result.ts';

const BIN = new URL('../bin/uid2-conformance.mjs', import.meta.url).pathname;
const runs = Number(process.argv[2] ?? 50);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`soak: "${process.argv[2]}" is not a positive number of runs`);

function run(out: string): Promise<{ code: number | null; ms: number; stderr: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'run', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, ms: performance.now() - started, stderr })));
}

const dir = mkdtempSync(join(tmpdir(), 'uid2-soak-'));
const exits = new Map<number | null, number>();
const notPassed = new Map<string, number>();
const times: number[] = [];
try {
  for (let i = 1; i <= runs; i++) {
    const out = join(dir, `run-${i}`);
    const { code, ms, stderr } = await run(out);
    times.push(ms);
    exits.set(code, (exits.get(code) ?? 0) + 1);
    let report: RunResult | undefined;
    try {
      report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunResult;
    } catch {
      notPassed.set('no report.json', (notPassed.get('no report.json') ?? 0) + 1);
    }
    const bad = (report?.results ?? []).filter((r) => r.status !== 'pass' && r.status !== 'not_applicable');
    for (const r of bad) notPassed.set(`${r.status} ${r.rule} ${r.check}`, (notPassed.get(`${r.status} ${r.rule} ${r.check}`) ?? 0) + 1);
    process.stdout.write(`run ${String(i).padStart(3)}/${runs}: exit ${code}, ${report?.outcome ?? 'no report'}, ${bad.length} not passed, ${(ms / 1000).toFixed(1)} s\n`);
    if (code !== 0) process.stdout.write(`  last stderr: ${stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}\n`);
    for (const r of bad) process.stdout.write(`  ${r.status} ${r.rule} ${r.check}: ${r.message.slice(0, 200)}\n`);
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const nonZero = [...exits].filter(([code]) => code !== 0).reduce((n, [, count]) => n + count, 0);
const sorted = [...times].sort((a, b) => a - b);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
process.stdout.write(`\n${runs} embedded runs: ${nonZero} non-zero exits (${[...exits].map(([code, n]) => `exit ${code}: ${n}`).join(', ')}), ${[...notPassed.values()].reduce((a, b) => a + b, 0)} results not passed\n`);
for (const [what, n] of notPassed) process.stdout.write(`  ${n}× ${what}\n`);
process.stdout.write(`wall time per run: min ${s(sorted[0]!)}, median ${s(sorted[Math.floor(sorted.length / 2)]!)}, max ${s(sorted.at(-1)!)}\n`);
