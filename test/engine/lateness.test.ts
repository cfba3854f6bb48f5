// OP-PROPAGATION lateness needs evidence: a poll sent after the bound that still found the person opted in.
// A first sighting after the bound with no such poll (the kit's own polls came late) proves nothing.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Oracle } from '../../harness/oracle/oracle.ts';

const BOUND = 1000;

describe('Oracle.lateness', () => {
  it('counts as proven late exactly the opt-outs a poll sent after the bound still found opted in', () => {
    const sighting = fc.record({ lastIn: fc.option(fc.nat({ max: 3000 }), { nil: undefined }), seenAfter: fc.option(fc.nat({ max: 3000 }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(sighting, { maxLength: 8 }), (people) => {
        const oracle = new Oracle(BOUND);
        let late = 0;
        let proven = 0;
        people.forEach(({ lastIn, seenAfter }, i) => {
          const person = oracle.person('email', `person-${i}@example.com`)!;
          oracle.registerOptOut(person, 0, 0);
          // Polls find the person opted in until the first sighting, never after it.
          const seen = seenAfter === undefined ? undefined : Math.max(seenAfter, (lastIn ?? 0) + 1);
          if (lastIn !== undefined) oracle.observedIn(person, 'generate', lastIn);
          if (seen !== undefined) oracle.observedOut(person, 'generate', seen);
          if (seen === undefined || seen > BOUND) {
            late += 1;
            if (lastIn !== undefined && lastIn > BOUND) proven += 1;
          }
        });
        expect(oracle.lateness(BOUND)).toEqual({ late, proven });
      }),
    );
  });

  it('ignores a poll that found the person opted in after it was already seen opted out', () => {
    const oracle = new Oracle(BOUND);
    const person = oracle.person('email', 'someone@example.com')!;
    oracle.registerOptOut(person, 0, 0);
    oracle.observedOut(person, 'generate', 1500);
    oracle.observedIn(person, 'generate', 1600);
    expect(oracle.lateness(BOUND)).toEqual({ late: 1, proven: 0 });
  });
});
