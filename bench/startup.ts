// npm run bench, part 0: how fast the binary starts, as `uid2-conformance list` (compiled dist/, heavy modules
// loaded only by the commands that need them). Goal: median ≤ 0.5 s. The ceiling is Node itself starting
// (`node -e 0`), spawned in the same run, alternating with the binary so both see the same machine load.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SPAWNS = 15;
const GOAL_S = 0.5;
const bin = fileURLToPath(new URL('../bin/uid2-conformance.mjs', import.meta.url));

function wallSeconds(args: string[]): number {
  const started = performance.now();
  const { status } = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (status !== 0) throw new Error(`node ${args.join(' ')} exited ${status}`);
  return (performance.now() - started) / 1000;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const list: number[] = [];
const node: number[] = [];
for (let i = 0; i < SPAWNS; i++) {
  list.push(wallSeconds([bin, 'list']));
  node.push(wallSeconds(['-e', '0']));
}
console.log(`start-up bench: median of ${SPAWNS} spawns each`);
console.log(`  uid2-conformance list   ${median(list).toFixed(3)} s   (goal <= ${GOAL_S} s: ${median(list) <= GOAL_S ? 'met' : 'NOT met'}; min ${Math.min(...list).toFixed(3)} s)`);
console.log(`  ceiling: node -e 0      ${median(node).toFixed(3)} s   (Node's own start on this machine now)`);
