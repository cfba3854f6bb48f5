// The engine's side of how a run ends: a check that times out or is stopped sends nothing more, and the
// outcome counts what did not run (a MUST rule left undecided is never a pass).
import { createServer } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import type { Check } from '../../harness/engine/check.ts';
import { AnswerLedger } from '../../harness/engine/ledger.ts';
import { Population } from '../../harness/engine/population.ts';
import { Redactor } from '../../harness/engine/redact.ts';
import { outcomeOf, undecidedRules, type CheckResult, type Status } from '../../harness/engine/result.ts';
import { operatorContexts, runChecks } from '../../harness/engine/runner.ts';
import { RunStopped } from '../../harness/lifecycle.ts';
import { Oracle } from '../../harness/oracle/oracle.ts';
import { findRule, RULES } from '../../harness/rules.ts';

let requests = 0;
const server = createServer((req, res) => {
  requests += 1;
  req.resume();
  res.writeHead(400, { 'content-type': 'application/json' }).end('{"status":"client_error","message":"no"}');
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A check that keeps asking until it is stopped. */
const busy: Check = {
  id: 'x.busy',
  rule: 'OP-LOGOUT',
  kind: 'scenario',
  needs: [],
  title: 'asks forever',
  run: async (ctx) => {
    for (;;) await ctx.api.generate({ email: 'busy@example.com' });
  },
};

function plan(signal?: AbortSignal) {
  const client = new OperatorClient({ baseUrl: url, apiKey: 'k', clientSecret: Buffer.alloc(32).toString('base64'), signal });
  const settings = { propagationTimeoutMs: 1000, watchMs: 0, pollIntervalMs: 50, runs: 1, seed: 1 };
  return {
    checks: [busy],
    capabilities: new Set<never>(),
    contextFor: operatorContexts({ client, capabilities: new Set(), population: new Population(), oracle: new Oracle(1000), redactor: new Redactor(), ledger: new AnswerLedger(), settings }),
    concurrency: 1,
    checkTimeoutMs: 200,
    deadlineMs: Date.now() + 60_000,
    signal,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Requests that reach the server after the check ended: none may be sent then. One sent just before the
 * stop may still be on its way over loopback, so counting starts 150 ms later.
 */
async function requestsAfterwards(): Promise<number> {
  await sleep(150);
  const before = requests;
  await sleep(400);
  return requests - before;
}

describe('a stopped check sends nothing more', () => {
  it('after its timeout', async () => {
    const [result] = await runChecks(plan());
    expect(result).toMatchObject({ status: 'error', message: expect.stringMatching(/did not finish within 200 ms/) });
    expect(await requestsAfterwards()).toBe(0);
  });

  it('after the run stops (deadline or signal): skipped with the reason, never an error of the target', async () => {
    const stop = new AbortController();
    const pending = runChecks(plan(stop.signal));
    setTimeout(() => stop.abort(new RunStopped('deadline', 'the run deadline (--deadline 1s) passed')), 50);
    const [result] = await pending;
    expect(result).toMatchObject({ status: 'skipped', message: 'the run deadline (--deadline 1s) passed before this check finished' });
    expect(await requestsAfterwards()).toBe(0);
  });
});

const STATUSES: Status[] = ['pass', 'fail', 'warn', 'error', 'skipped', 'not_applicable'];
const resultOf = (rule: string, status: Status): CheckResult => ({ rule, check: `${rule}.${status}`, status, message: '', duration_ms: 0, evidence: [] });
const results = fc.array(
  fc.tuple(fc.constantFrom(...RULES.map((r) => r.id)), fc.constantFrom(...STATUSES)).map(([rule, status]) => resultOf(rule, status)),
  { maxLength: 30 },
);

describe('the outcome counts what did not run', () => {
  it('a failure wins; otherwise a MUST rule with a skipped or errored check is undecided and the run is never a pass', () => {
    fc.assert(
      fc.property(results, fc.boolean(), (list, strict) => {
        const outcome = outcomeOf(list, strict);
        const undecided = undecidedRules(list);
        const failedRules = new Set(list.filter((r) => r.status === 'fail').map((r) => r.rule));
        for (const r of list) {
          const open = (r.status === 'skipped' || r.status === 'error') && findRule(r.rule)!.severity === 'MUST' && !failedRules.has(r.rule);
          expect(undecided.includes(r.rule) || !open).toBe(true);
        }
        expect(undecided.every((id) => findRule(id)!.severity === 'MUST' && !failedRules.has(id))).toBe(true);
        if (failedRules.size > 0) expect(outcome).toBe('fail');
        else if (undecided.length > 0) expect(outcome).not.toBe('pass');
        if (outcome === 'pass') expect(list.some((r) => r.status === 'pass' || r.status === 'warn')).toBe(true);
      }),
    );
  });

  it('a run whose every check passed but one MUST check was skipped by the deadline is an error, not a pass', () => {
    const list = [resultOf('OP-GEN-OPTOUT', 'pass'), resultOf('OP-LOGOUT', 'pass'), resultOf('OP-LOGOUT', 'skipped')];
    expect(outcomeOf(list, false)).toBe('error');
    expect(undecidedRules(list)).toEqual(['OP-LOGOUT']);
    expect(outcomeOf([resultOf('OP-STATUS-EARLIEST', 'skipped'), resultOf('OP-GEN-OPTOUT', 'pass')], false)).toBe('pass'); // a SHOULD rule
  });
});
