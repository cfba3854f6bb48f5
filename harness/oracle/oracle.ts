// The oracle: what the rules say an operator must answer, as a deliberately small model (DESIGN.md).
// It knows which DII forms are the same person (UID2-SPEC §3), which persons were opted out and when
// the operator acknowledged it, the documented test identities (§4), and the propagation bound.
// It never looks at how an operator implements any of it.
import { hashDii, personKey, sha256, type DiiField } from '../wire/dii.ts';

export type Endpoint = 'generate' | 'refresh' | 'map' | 'status' | 'cstg';
/** `pending`: acknowledged, still inside the propagation bound: either answer is allowed (once). */
export type Expectation = 'in' | 'out' | 'pending';

/** A person as the rules see them: the kind and the SHA-256 of the normalized DII, base64. */
export type PersonKey = string;

const TEST_PERSONS: ReadonlyArray<[string, 'email' | 'phone', 'always' | 'refresh' | 'never']> = [
  ['optout@example.com', 'email', 'always'],
  ['+00000000000', 'phone', 'always'],
  ['refresh-optout@example.com', 'email', 'refresh'],
  ['+00000000002', 'phone', 'refresh'],
  ['validate@example.com', 'email', 'never'],
  ['+12345678901', 'phone', 'never'],
];

interface Registration {
  /** When the kit sent the logout, and when the operator acknowledged it (ms). */
  sentMs: number;
  ackMs: number;
  /** When an endpoint first reported the person opted out (the measured propagation). */
  firstSeenMs?: number;
  /** The latest time a poll, sent then or later, still found the person opted in (ms). */
  lastInMs?: number;
}

export class Oracle {
  private readonly registrations = new Map<PersonKey, Registration>();
  private readonly personOfUid = new Map<string, PersonKey>();
  private readonly testPersons = new Map<PersonKey, 'always' | 'refresh' | 'never'>(
    TEST_PERSONS.map(([dii, kind, behavior]) => [personKey({ kind, hash: sha256(dii) }), behavior]),
  );

  constructor(readonly propagationTimeoutMs: number) {}

  /** The person behind any request form, or undefined for an invalid identifier. */
  person(field: DiiField, value: string): PersonKey | undefined {
    try {
      return personKey(hashDii(field, value));
    } catch {
      return undefined;
    }
  }

  registerOptOut(person: PersonKey, sentMs: number, ackMs: number): void {
    const existing = this.registrations.get(person);
    if (!existing) this.registrations.set(person, { sentMs, ackMs });
  }

  /** Records that an endpoint reported the person opted out; the first time sets the measured latency. */
  observedOut(person: PersonKey, atMs: number): void {
    const r = this.registrations.get(person);
    if (r && r.firstSeenMs === undefined) r.firstSeenMs = atMs;
  }

  /** Records that a poll sent at `sentMs` still found the person opted in. */
  observedIn(person: PersonKey, sentMs: number): void {
    const r = this.registrations.get(person);
    if (r && r.firstSeenMs === undefined) r.lastInMs = Math.max(r.lastInMs ?? 0, sentMs);
  }

  registration(person: PersonKey): Readonly<Registration> | undefined {
    return this.registrations.get(person);
  }

  /** What the endpoint must answer for this person at this time. */
  expect(person: PersonKey, endpoint: Endpoint, nowMs: number): Expectation {
    const test = this.testPersons.get(person);
    if (test) {
      if (endpoint === 'status') return 'in'; // status looks up raw UID2s in the store, not test DII (§1.4)
      return test === 'always' || (test === 'refresh' && endpoint === 'refresh') ? 'out' : 'in';
    }
    const r = this.registrations.get(person);
    if (!r) return 'in';
    if (r.firstSeenMs !== undefined || nowMs > r.ackMs + this.propagationTimeoutMs) return 'out';
    return 'pending';
  }

  isTestPerson(person: PersonKey): boolean {
    return this.testPersons.has(person);
  }

  /** Raw UID2s learned from identity map before any opt-out, to judge /v2/optout/status. */
  learnUid(uid: string, person: PersonKey): void {
    this.personOfUid.set(uid, person);
  }

  personOf(uid: string): PersonKey | undefined {
    return this.personOfUid.get(uid);
  }

  /**
   * Registered opt-outs first seen (or never seen) later than `boundMs` after their acknowledgement; `proven`
   * counts those a poll sent after the bound still found opted in. The others were late only as far as the
   * kit could see (its polls were late: slow answers, retries through a flaky gateway).
   */
  lateness(boundMs: number): { late: number; proven: number } {
    let late = 0;
    let proven = 0;
    for (const r of this.registrations.values()) {
      if (r.firstSeenMs !== undefined && r.firstSeenMs - r.ackMs <= boundMs) continue;
      late += 1;
      if (r.lastInMs !== undefined && r.lastInMs - r.ackMs > boundMs) proven += 1;
    }
    return { late, proven };
  }

  /** Measured latencies (ms from acknowledgement to first observation) of every registered opt-out. */
  latencies(): number[] {
    return [...this.registrations.values()].filter((r) => r.firstSeenMs !== undefined).map((r) => Math.max(0, r.firstSeenMs! - r.ackMs));
  }
}
