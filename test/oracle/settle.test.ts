// The oracle's settle logic: eventually, then consistently (RULES.md OP-PROPAGATION). Times are explicit
// milliseconds, so the clock is whatever the test says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Oracle } from '../../harness/oracle/oracle.ts';

const ACK = 1_000_000;
const BOUND = 20_000;

function registered(settleMs: number): { oracle: Oracle; person: string } {
  const oracle = new Oracle(BOUND, settleMs);
  const person = oracle.person('email', 'settle-test@example.org')!;
  oracle.registerOptOut(person, ACK - 5, ACK);
  return { oracle, person };
}

describe('oracle settle', () => {
  it('with no settle window the first report settles the opt-out', () => {
    const { oracle, person } = registered(0);
    expect(oracle.expect(person, 'generate', ACK + 100)).toBe('pending');
    oracle.observedOut(person, 'map', ACK + 100);
    expect(oracle.expect(person, 'generate', ACK + 100)).toBe('out');
    expect(oracle.expect(person, 'generate', ACK + 99)).toBe('pending');
  });

  it('a disagreement before the window is propagation: measured, and the window starts again', () => {
    const { oracle, person } = registered(4000);
    oracle.observedOut(person, 'map', ACK + 1000);
    oracle.observedOut(person, 'map', ACK + 3000);
    oracle.observedIn(person, 'map', ACK + 3500);
    oracle.observedOut(person, 'map', ACK + 6000); // only 2.5 s since the disagreement
    expect(oracle.expect(person, 'map', ACK + 6000)).toBe('pending');
    oracle.observedIn(person, 'generate', ACK + 6200);
    oracle.observedOut(person, 'map', ACK + 7000);
    oracle.observedOut(person, 'map', ACK + 11_000);
    expect(oracle.isSettled(person, ACK + 11_000)).toBe(true);
    expect(oracle.expect(person, 'status', ACK + 11_000)).toBe('out');
    expect(oracle.disagreementsByEndpoint()).toEqual({
      map: { answers: 1, persons: 1, longestMs: 2500 },
      generate: { answers: 1, persons: 1, longestMs: 5200 },
    });
    expect(oracle.latencies()).toEqual([1000]);
  });

  it('only a flip restarts the window: an endpoint that never reported the opt-out is measured, not waited for', () => {
    const { oracle, person } = registered(1000);
    oracle.observedOut(person, 'map', ACK + 100);
    oracle.observedIn(person, 'generate', ACK + 600);
    oracle.observedOut(person, 'map', ACK + 1100);
    expect(oracle.isSettled(person, ACK + 1100)).toBe(true);
    expect(oracle.disagreementsByEndpoint()).toEqual({ generate: { answers: 1, persons: 1, longestMs: 500 } });
  });

  it('an answer after the opt-out settled is not a disagreement: it is the caller’s fail', () => {
    const { oracle, person } = registered(0);
    oracle.observedOut(person, 'map', ACK + 10);
    oracle.observedIn(person, 'map', ACK + 20);
    expect(oracle.disagreementsByEndpoint()).toEqual({});
    expect(oracle.expect(person, 'map', ACK + 20)).toBe('out');
  });

  it('"opted in" before any report is not yet propagated, not a disagreement', () => {
    const { oracle, person } = registered(1000);
    oracle.observedIn(person, 'generate', ACK + 10);
    oracle.observedOut(person, 'map', ACK + 50);
    oracle.observedIn(person, 'generate', ACK + 40); // sent before the first report
    expect(oracle.disagreementsByEndpoint()).toEqual({});
  });

  it('the bound settles an opt-out that never settled by its answers', () => {
    const { oracle, person } = registered(120_000);
    oracle.observedOut(person, 'map', ACK + 100);
    expect(oracle.expect(person, 'generate', ACK + BOUND)).toBe('pending');
    expect(oracle.expect(person, 'generate', ACK + BOUND + 1)).toBe('out');
  });

  it('a person never registered is expected in; test identities keep their documented behaviour', () => {
    const { oracle } = registered(1000);
    expect(oracle.expect(oracle.person('email', 'someone-else@example.org')!, 'map', ACK)).toBe('in');
    expect(oracle.expect(oracle.person('email', 'optout@example.com')!, 'generate', ACK)).toBe('out');
  });

  it('for any sequence of answers: settled exactly when a run of reports without a disagreement lasted the window', () => {
    const step = fc.record({ gapMs: fc.integer({ min: 0, max: 3000 }), out: fc.boolean() });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.array(step, { maxLength: 30 }), (settleMs, steps) => {
        const { oracle, person } = registered(settleMs);
        let t = ACK;
        let since: number | undefined;
        let settledAt: number | undefined;
        let seen = false;
        for (const { gapMs, out } of steps) {
          t += gapMs;
          if (t > ACK + BOUND) break;
          if (out) {
            oracle.observedOut(person, 'map', t);
            seen = true;
            since ??= t;
            if (settledAt === undefined && t - since >= settleMs) settledAt = t;
          } else {
            oracle.observedIn(person, 'map', t);
            if (settledAt === undefined && seen) since = undefined;
          }
          expect(oracle.isSettled(person, t)).toBe(settledAt !== undefined);
        }
      }),
    );
  });
});
