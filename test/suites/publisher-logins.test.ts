// How the publisher checks attribute generate calls to logins (suites/publisher/support.ts loginsAfter), the
// reading PUB-OPTOUT-RESPONSE (retries within a login) and PUB-OPTOUT-REMEMBERED (generates at later logins)
// both rest on: for generated histories of logins, each with its own generate calls (some made after the login
// was answered, as background work would) and other calls in between, every group holds exactly the generates
// made in that login's time after the optout answer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import type { OperatorCall } from '../../harness/operator/call-log.ts';
import { loginsAfter, planArbitrary, Recorder, type User } from '../../suites/publisher/support.ts';

interface Login {
  /** Generate calls while the login is under way. */
  during: number;
  /** Generate calls after it was answered, before the next login (ad requests, ticks, background retries). */
  after: number;
  /** Other calls about the user (refreshes) in its time. */
  others: number;
}

const user: User = { n: 1, kind: 'email', canonical: { email: 'user@example.com' } };

function history(logins: readonly Login[]): { ctx: ParticipantCheckContext; rec: Recorder; calls: OperatorCall[]; loginOfCall: number[] } {
  const calls: OperatorCall[] = [];
  const loginOfCall: number[] = [];
  const ctx = { callsAbout: () => calls } as unknown as ParticipantCheckContext;
  const rec = new Recorder(ctx);
  let seq = 0;
  const call = (endpoint: OperatorCall['endpoint'], k: number) => {
    calls.push({ seq: ++seq, at: seq, endpoint, persons: ['email:p'], status: 'optout' });
    loginOfCall.push(k);
  };
  logins.forEach((login, k) => {
    const seqBefore = seq;
    for (let i = 0; i < login.others; i++) call('refresh', k);
    for (let i = 0; i < login.during; i++) call('generate', k);
    rec.answers.push({ op: 'login', user, spelling: 0, started: seqBefore, ended: seq, order: k + 1, seqBefore, seqAfter: seq, token: null });
    for (let i = 0; i < login.after; i++) call('generate', k);
  });
  return { ctx, rec, calls, loginOfCall };
}

const loginArbitrary: fc.Arbitrary<Login> = fc.record({ during: fc.nat({ max: 3 }), after: fc.nat({ max: 2 }), others: fc.nat({ max: 2 }) });

describe('loginsAfter', () => {
  it('groups the generates after the answer by the login in whose time they were made', () => {
    fc.assert(
      fc.property(fc.array(loginArbitrary, { minLength: 1, maxLength: 6 }), fc.nat(), (logins, pick) => {
        const { ctx, rec, calls, loginOfCall } = history(logins);
        const generates = calls.map((c, i) => ({ c, login: loginOfCall[i]! })).filter(({ c }) => c.endpoint === 'generate');
        fc.pre(generates.length > 0);
        const { c: answer, login: answeredIn } = generates[pick % generates.length]!;
        const { current, later } = loginsAfter(ctx, user, rec, 0, answer.seq);
        const expected = (k: number) => generates.filter((g) => g.login === k && g.c.seq > answer.seq).map((g) => g.c.seq);
        expect(current.login).toBe(rec.answers[answeredIn]);
        expect(current.generates.map((c) => c.seq)).toEqual(expected(answeredIn));
        expect(later.map((g) => g.login)).toEqual(rec.answers.slice(answeredIn + 1));
        later.forEach((group, i) => expect(group.generates.map((c) => c.seq)).toEqual(expected(answeredIn + 1 + i)));
      }),
    );
  });

  it('puts what came after an answer before any login (an ad request that generated) in a group without a login', () => {
    const { ctx, rec, calls } = history([{ during: 1, after: 0, others: 0 }]);
    // Two generates before the login: the first answered optout, the second asked again.
    const early = [1, 2].map((seq): OperatorCall => ({ seq, at: seq, endpoint: 'generate', persons: ['email:p'], status: 'optout' }));
    calls[0] = { ...calls[0]!, seq: 3, at: 3 };
    calls.unshift(...early);
    rec.answers[0]!.seqBefore = 2;
    const { current, later } = loginsAfter(ctx, user, rec, 0, 1);
    expect(current).toEqual({ login: undefined, generates: [early[1]] });
    expect(later).toEqual([{ login: rec.answers[0], generates: [calls[2]] }]);
  });
});

describe('planArbitrary', () => {
  it('with `require`, every generated sequence has a step of that kind, within the step bounds; without, some have none', () => {
    for (const require of ['site', 'global'] as const) {
      fc.assert(
        fc.property(planArbitrary({ site: true, global: true, maxSteps: 10, require }), (plan) => {
          expect(plan.steps.some((s) => s.op === require)).toBe(true);
          expect(plan.steps.length).toBeGreaterThanOrEqual(3);
          expect(plan.steps.length).toBeLessThanOrEqual(10);
          for (const s of plan.steps) if ('user' in s) expect(s.user).toBeLessThan(plan.kinds.length);
        }),
        { numRuns: 500 },
      );
    }
    // The generator alone leaves some sequences without a site opt-out: what `require` is for.
    const plans = fc.sample(planArbitrary({ site: true, global: true }), { numRuns: 200, seed: 1 });
    expect(plans.some((p) => !p.steps.some((s) => s.op === 'site'))).toBe(true);
  });
});
