// Issue "operator conformance", done when: against every named fault `uid2-conformance run` exits 1 with the
// right rule failing (with --strict, so that the SHOULD rules' warnings fail the run too), as a user's CI
// would see it: the CLI as a child process, the faulty operator as its --target.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPERATOR_FAULTS, type OperatorFault } from '../../harness/operator/faults.ts';
import { startOperator } from '../../harness/operator/index.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-faults-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

async function runAgainst(fault: OperatorFault): Promise<{ code: number; failing: string[]; stderr: string }> {
  const op = await startOperator({ fault: fault.name as never, propagationDelayMs: 300 });
  const c = op.credentials;
  const dir = join(out, fault.name);
  try {
    const args = ['run', '--strict', '--target', op.url, '--propagation-timeout', '1500ms', '--watch', '1s', '--seed', '1', '--out', dir];
    const env = { ...process.env, UID2_API_KEY: c.apiKey, UID2_CLIENT_SECRET: c.clientSecret, UID2_OPTOUT_API_KEY: c.optoutApiKey, UID2_OPTOUT_CLIENT_SECRET: c.optoutClientSecret, UID2_CSTG_PUBLIC_KEY: c.cstgPublicKey, UID2_CSTG_SUBSCRIPTION_ID: c.cstgSubscriptionId };
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, ...args], { env, timeout: 120_000 }, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr })),
    );
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { results: Array<{ rule: string; status: string }> };
    const failing = [...new Set(report.results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => r.rule))].sort();
    return { code, failing, stderr };
  } finally {
    await op.close();
  }
}

describe('uid2-conformance run --strict against each named fault', () => {
  it('exits 1 with exactly the broken rules failing', async () => {
    const outcomes: Array<[string, Awaited<ReturnType<typeof runAgainst>>]> = [];
    const queue = [...OPERATOR_FAULTS];
    // Two at a time: the machine has two cores.
    await Promise.all(
      [0, 1].map(async () => {
        for (let fault = queue.shift(); fault; fault = queue.shift()) outcomes.push([fault.name, await runAgainst(fault)]);
      }),
    );
    for (const fault of OPERATOR_FAULTS) {
      const [, outcome] = outcomes.find(([name]) => name === fault.name)!;
      expect({ fault: fault.name, code: outcome.code, failing: outcome.failing }, outcome.stderr.slice(-2000)).toEqual({ fault: fault.name, code: 1, failing: [...fault.breaks].sort() });
    }
  }, 600_000);
});
