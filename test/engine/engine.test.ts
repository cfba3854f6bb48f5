// The engine's own guarantees: redaction leaves no DII, token or raw UID2 and keeps one pseudonym per person;
// polling; the runner's verdict rules (not_applicable, SHOULD → warn, error never a pass, timeouts,
// deadline, interruption); property failures are reproducible from their seed and path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OperatorClient, TransportError } from '../../harness/client/operator-client.ts';
import { fail, registryProblems, undecided, type Check, type CheckContext, type CheckSettings } from '../../harness/engine/check.ts';
import { consistently, eventually } from '../../harness/engine/eventually.ts';
import { AnswerLedger } from '../../harness/engine/ledger.ts';
import { Population } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { EvidenceLog, MAX_EVIDENCE } from '../../harness/engine/recording.ts';
import { Redactor } from '../../harness/engine/redact.ts';
import { operatorContexts, runChecks, type RunPlan } from '../../harness/engine/runner.ts';
import { Oracle } from '../../harness/oracle/oracle.ts';
import { sha256 } from '../../harness/wire/dii.ts';

describe('Redactor', () => {
  it('gives every form of one person the same pseudonym and leaves nothing sensitive', () => {
    const r = new Redactor();
    const email = 'Jane.Doe+news@gmail.com';
    const hash = sha256('janedoe@gmail.com');
    const request = { email: [email, ' janedoe@GMAIL.com ', 'other@example.com'], email_hash: hash.toString('base64'), phone: '+15551234567', optout_check: 1 };
    const answer = {
      status: 'success',
      body: {
        mapped: [{ identifier: email, advertising_id: 'A'.repeat(43) + '=', bucket_id: 'b1' }],
        unmapped: [{ identifier: 'other@example.com', reason: 'optout' }],
        advertising_token: 'A4AAAA' + 'x'.repeat(200),
        refresh_token: 'R'.repeat(388),
        refresh_response_key: 'K'.repeat(44),
      },
    };
    const redacted = JSON.stringify([r.value(request), r.value(answer)]);
    for (const secret of [email, 'janedoe', hash.toString('base64'), '+15551234567', 'other@example.com', 'A'.repeat(43), 'x'.repeat(50), 'R'.repeat(50), 'K'.repeat(44)]) {
      expect(redacted).not.toContain(secret);
    }
    const [req] = JSON.parse(redacted) as [{ email: string[]; email_hash: string }];
    expect(req.email[0]).toBe(req.email[1]); // the same person, spelled twice
    expect(req.email[0]).toMatch(/^<email dii#\d+>$/);
    expect(req.email_hash).toBe(req.email[0]!.replace('<email ', '<email_hash '));
    expect(req.email[2]).not.toBe(req.email[0]);
    expect(redacted).toContain('"reason":"optout"');
    expect(redacted).toContain('"bucket_id":"b1"');
  });

  it('follows the operator\'s DII model: inner spaces are one person, 31- and 33-byte hash decodes are others', () => {
    const r = new Redactor();
    const hash = sha256('janedoe@example.com').toString('base64');
    const symbols = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // The 42nd symbol of a 31-byte decode carries 4 unused bits: flipping its lowest bit changes no byte.
    const otherUnusedBits = symbols[symbols.indexOf(hash[41]!) ^ 1];
    const plain = r.dii('email', 'janedoe@example.com');
    expect(r.dii('email', ' Jane Doe @example.com')).toBe(plain);
    expect(r.dii('email_hash', hash)).toBe(plain.replace('<email ', '<email_hash '));
    const longer = r.dii('email_hash', `${hash.slice(0, 43)}A`); // its 32 bytes and a zero byte
    const shorter = r.dii('email_hash', `${hash.slice(0, 42)}==`); // its first 31 bytes
    expect(longer).toMatch(/^<email_hash dii#\d+>$/);
    expect(shorter).toMatch(/^<email_hash dii#\d+>$/);
    expect(new Set([plain.replace('<email ', '<email_hash '), longer, shorter]).size).toBe(3);
    expect(r.dii('email_hash', `${hash.slice(0, 41)}${otherUnusedBits}==`)).toBe(shorter);
  });

  it('never lets a generated DII or hash through (property)', () => {
    const r = new Redactor();
    fc.assert(
      fc.property(fc.emailAddress(), fc.stringMatching(/^\+[0-9]{10,15}$/), (email, phone) => {
        const out = JSON.stringify(r.value({ email: [email], phone, email_hash: sha256(email).toString('hex'), note: email }));
        expect(out).not.toContain(email);
        expect(out).not.toContain(phone);
        expect(out).not.toContain(sha256(email).toString('hex'));
      }),
      { numRuns: 200, seed: 7 },
    );
  });
});

describe('eventually / consistently', () => {
  it('polls until the expectation holds, or reports the last value when the bound passes', async () => {
    let n = 0;
    const held = await eventually(async () => ++n, (v) => v >= 3, { untilMs: Date.now() + 1000, pollMs: 1 });
    expect(held).toMatchObject({ held: true, last: 3, attempts: 3 });
    const missed = await eventually(async () => 0, (v) => v > 0, { untilMs: Date.now() + 30, pollMs: 5 });
    expect(missed.held).toBe(false);
    expect(missed.attempts).toBeGreaterThan(1);
    let m = 0;
    expect((await consistently(async () => ++m, (v) => v < 4, { forMs: 1000, pollMs: 1 })).broken).toBe(4);
    expect((await consistently(async () => 1, () => true, { forMs: 20, pollMs: 5 })).broken).toBeUndefined();
  });
});

function plan(checks: Check[], extra: Partial<RunPlan> = {}): RunPlan {
  const settings: CheckSettings = { propagationTimeoutMs: 1000, watchMs: 10, pollIntervalMs: 5, runs: 20, seed: 42 };
  const capabilities = new Set(['synthetic'] as const);
  return {
    checks,
    capabilities,
    contextFor: operatorContexts({
      client: new OperatorClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k', clientSecret: Buffer.alloc(32).toString('base64') }),
      capabilities,
      population: new Population(),
      oracle: new Oracle(1000),
      redactor: new Redactor(),
      ledger: new AnswerLedger(),
      settings,
    }),
    concurrency: 2,
    checkTimeoutMs: 200,
    deadlineMs: Date.now() + 60_000,
    ...extra,
  };
}

const check = (id: string, rule: string, run: Check['run'], needs: Check['needs'] = []): Check => ({ id, rule, kind: 'scenario', needs, title: id, run });

describe('runner', () => {
  it('turns outcomes into statuses: pass, fail, SHOULD → warn, error, not_applicable, timeout', async () => {
    const results = await runChecks(
      plan([
        check('a.pass', 'OP-GEN-OPTOUT', async () => 'fine'),
        check('a.fail', 'OP-GEN-OPTOUT', async () => fail('broken')),
        check('a.warn', 'OP-GEN-OPTOUT-IMPLICIT', async () => fail('late')),
        check('a.undecided', 'OP-LOGOUT', async () => undecided('no precondition')),
        check('a.transport', 'OP-LOGOUT', async () => {
          throw new TransportError('unreachable', 'gone');
        }),
        check('a.bug', 'OP-LOGOUT', async () => {
          throw new Error('oops');
        }),
        check('a.na', 'OP-CSTG-OPTOUT', async () => 'never runs', ['cstg']),
        check('a.slow', 'OP-LOGOUT', () => new Promise((resolve) => setTimeout(() => resolve('late'), 1000))),
      ]),
    );
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['a.pass', 'pass'],
      ['a.fail', 'fail'],
      ['a.warn', 'warn'],
      ['a.undecided', 'error'],
      ['a.transport', 'error'],
      ['a.bug', 'error'],
      ['a.na', 'not_applicable'],
      ['a.slow', 'error'],
    ]);
    expect(results.find((r) => r.check === 'a.na')!.message).toMatch(/CSTG key pair/);
    expect(results.find((r) => r.check === 'a.slow')!.message).toMatch(/did not finish within 200 ms/);
  });

  it('runs the checks marked last after all the others, and reports in registry order', async () => {
    const order: string[] = [];
    const tracked = (id: string, ms: number, last = false): Check => ({ ...check(id, 'OP-SCHEMA', async () => {
      await new Promise((r) => setTimeout(r, ms));
      order.push(id);
      return 'ok';
    }), last });
    const results = await runChecks(plan([tracked('d.judge', 0, true), tracked('d.slow', 40), tracked('d.fast', 0)]));
    expect(order).toEqual(['d.fast', 'd.slow', 'd.judge']);
    expect(results.map((r) => r.check)).toEqual(['d.judge', 'd.slow', 'd.fast']);
  });

  it('skips checks after the deadline and when interrupted, keeping what finished', async () => {
    const late = await runChecks(plan([check('b.one', 'OP-LOGOUT', async () => 'ok')], { deadlineMs: Date.now() - 1 }));
    expect(late[0]!.status).toBe('skipped');
    const abort = new AbortController();
    const pending = runChecks(
      plan(
        [
          check('c.quick', 'OP-LOGOUT', async () => 'ok'),
          check('c.hangs', 'OP-LOGOUT', () => new Promise(() => {})),
          check('c.never', 'OP-LOGOUT', async () => 'ok'),
        ],
        { concurrency: 1, checkTimeoutMs: 60_000, signal: abort.signal },
      ),
    );
    setTimeout(() => abort.abort(), 30);
    const results = await pending;
    expect(results.map((r) => r.status)).toEqual(['pass', 'skipped', 'skipped']);
    expect(results[1]!.message).toMatch(/interrupted/);
  });
});

describe('registry invariants', () => {
  it('reports duplicate ids, unknown rules and rules the registry refuses, each once', async () => {
    const { validateRegistry } = await import('../../suites/operator/index.ts');
    const { validateParticipantRegistry } = await import('../../suites/participants.ts');
    const check = (id: string, rule: string, needs: Check['needs'] = []) => ({ id, rule, kind: 'scenario', needs, title: id, run: async () => '' }) as Check;
    const checks = [check('a.one', 'OP-GEN-OPTOUT'), check('a.one', 'OP-LOGOUT'), check('a.two', 'NO-SUCH-RULE'), check('a.three', 'DSP-BID-OPTOUT', ['dsp'])];
    expect(validateRegistry(checks)).toEqual(['duplicate check id a.one', 'a.two names unknown rule NO-SUCH-RULE', 'a.three names DSP-BID-OPTOUT, not an operator rule']);
    expect(validateParticipantRegistry([check('p.one', 'DSP-BID-OPTOUT', ['dsp']), check('p.two', 'DSP-BID-OPTOUT'), check('p.three', 'OP-LOGOUT')] as never)).toEqual([
      'p.two does not declare it needs the dsp role',
      'p.three names OP-LOGOUT, not a participant rule',
    ]);
    expect(registryProblems(checks.slice(0, 1), () => undefined)).toEqual([]);
  });
});

describe('EvidenceLog', () => {
  it('keeps the last MAX_EVIDENCE entries after a note of how many came before', () => {
    const log = new EvidenceLog();
    log.note('first');
    expect(log.entries).toEqual([{ path: '', http: 0, note: 'first' }]);
    for (let i = 0; i < MAX_EVIDENCE + 5; i++) log.push({ path: `/p${i}`, http: 200 });
    const entries = log.entries;
    expect(entries).toHaveLength(MAX_EVIDENCE + 1);
    expect(entries[0]!.note).toBe('… 6 earlier entries not kept');
    expect(entries[1]!.path).toBe('/p5');
    expect(entries.at(-1)!.path).toBe(`/p${MAX_EVIDENCE + 4}`);
  });
});

describe('checkProperty', () => {
  const ctx = (replayPath?: string) => ({ settings: { seed: 99, runs: 100 }, replayPath }) as unknown as CheckContext;

  it('shrinks to a minimal counterexample and replays exactly that case from its path', async () => {
    const seen: number[] = [];
    const run = (c: CheckContext) =>
      checkProperty(
        c,
        'test.property',
        fc.integer({ min: 0, max: 10_000 }),
        async (n) => {
          seen.push(n);
          if (n >= 1234) fail(`too big`);
        },
        (n) => `n=${n}`,
      );
    const first = await run(ctx()).catch((e) => e);
    expect(first.verdict.status).toBe('fail');
    expect(first.verdict.counterexample.value).toBe('n=1234');
    expect(first.verdict.message).toMatch(/minimal case: n=1234/);
    seen.length = 0;
    const replayed = await run(ctx(first.verdict.counterexample.path)).catch((e) => e);
    expect(replayed.verdict.counterexample.value).toBe('n=1234');
    expect(seen[0]).toBe(1234); // the replay starts at the recorded case, no search
  });

  it('stops shrinking while the longest case still ends before the check stops: the failure found is reported', async () => {
    // Each case takes 40 ms; the check stops 1.3 s after the start, so about 5 shrink candidates fit, not the ~14 a full shrink takes.
    const stopsAt = Date.now() + 1300;
    let candidates = 0;
    const error = await checkProperty(
      { settings: { seed: 99, runs: 100 }, stopsAt },
      'test.property',
      fc.integer({ min: 0, max: 10_000 }),
      async (n) => {
        await new Promise((resolve) => setTimeout(resolve, 40));
        if (n >= 1234) {
          candidates += 1;
          fail('too big');
        }
      },
      (n) => `n=${n}`,
    ).catch((e) => e);
    expect(Date.now()).toBeLessThan(stopsAt);
    expect(error.verdict.status).toBe('fail');
    expect(error.verdict.message).toMatch(/minimal case: n=\d+/);
    expect(candidates).toBeGreaterThan(0);
    // Without the stop the same search shrinks to n=1234 (the test above).
    expect(error.verdict.counterexample.value).not.toBe('n=1234');
  });

  it('passes with the number of cases, and ends as error (not a shrink) on a transport error', async () => {
    expect(await checkProperty(ctx(), 'test.ok', fc.nat(), async () => {}, String)).toBe('held for 100 generated cases');
    let calls = 0;
    const error = await checkProperty(
      ctx(),
      'test.transport',
      fc.nat(),
      async () => {
        calls += 1;
        throw new TransportError('timeout', 'slow');
      },
      String,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(calls).toBe(1);
  });

  it('stops shrinking once the budget is spent, keeping the smallest failure found so far with an exact replay path', async () => {
    const run = (c: CheckContext, shrinkBudgetMs?: number) => {
      let failures = 0;
      const verdict = checkProperty(
        c,
        'test.budget',
        fc.integer({ min: 0, max: 10_000 }),
        async (n) => {
          if (n < 1234) return;
          failures += 1;
          await new Promise((resolve) => setTimeout(resolve, 30)); // a failing case costs its time bound
          fail('too big');
        },
        (n) => `n=${n}`,
        { shrinkBudgetMs },
      ).catch((e) => e);
      return verdict.then((e) => ({ e, failures }));
    };
    const unbounded = await run(ctx());
    const bounded = await run(ctx(), 100);
    expect(unbounded.e.verdict.counterexample.value).toBe('n=1234');
    expect(bounded.e.verdict.status).toBe('fail');
    expect(bounded.failures).toBeLessThan(unbounded.failures);
    expect(bounded.failures).toBeLessThanOrEqual(6); // ~100 ms of 30 ms failures, plus the one in flight
    const smallest = Number(/n=(\d+)/.exec(bounded.e.verdict.counterexample.value)![1]);
    expect(smallest).toBeGreaterThanOrEqual(1234);
    const replayed = await run(ctx(bounded.e.verdict.counterexample.path), 100);
    expect(replayed.e.verdict.counterexample.value).toBe(`n=${smallest}`);
  });
});
