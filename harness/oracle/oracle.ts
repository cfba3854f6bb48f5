// The oracle: what the rules say an operator must answer, as a deliberately small model (DESIGN.md).
// It knows which DII forms are the same person (UID2-SPEC §3), which persons were opted out and when
// the operator acknowledged it, the documented test identities (§4), and the propagation bound.
// It never looks at how an operator implements any of it.
//
// Eventually, then consistently. A real operator is a fleet: each instance refreshes its own opt-out snapshot
// on its own timer (60 s by default, UID2-SPEC §1.4, §5.2), so right after an opt-out appears one answer can
// say "opted out" and the next "opted in". Before an opt-out has settled, either answer is propagation (a
// disagreement is measured, never judged); once settled, every answer must report it (RULES.md
// OP-PROPAGATION). Settled: the answers reported it for the settle window without a flip (an endpoint that
// had reported it answering "opted in"; 0: the first report settles it), or ack + the bound has passed.
import { hashDii, personKey, sha256, type DiiField } from '../wire/dii.ts';

export type Endpoint = 'generate' | 'refresh' | 'map' | 'status' | 'cstg';
/** `pending`: acknowledged, not settled yet: either answer is propagation. */
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
  /** Start of the current run of answers reporting the opt-out (reset by a disagreeing answer). */
  reportedSinceMs?: number;
  /** The endpoints that have reported it: only a flip on one of them restarts the settle window. */
  reportedBy: Set<Endpoint>;
  /** When that run had lasted the settle window: from then on every answer must report the opt-out. */
  settledMs?: number;
  /** The latest time a poll, sent then or later, still found the person opted in (ms). */
  lastInMs?: number;
}

/** Answers that said "opted in" after an earlier one had reported the opt-out, before it settled. */
export interface Disagreement {
  answers: number;
  persons: number;
  /** The longest span from a person's first report of the opt-out to a later disagreeing answer (ms). */
  longestMs: number;
}

export class Oracle {
  private readonly registrations = new Map<PersonKey, Registration>();
  private readonly personOfUid = new Map<string, PersonKey>();
  private readonly testPersons = new Map<PersonKey, 'always' | 'refresh' | 'never'>(
    TEST_PERSONS.map(([dii, kind, behavior]) => [personKey({ kind, hash: sha256(dii) }), behavior]),
  );

  private readonly disagreements = new Map<Endpoint, { answers: number; persons: Set<PersonKey>; longestMs: number }>();

  /** `settleMs`: how long the answers must report an opt-out without a disagreement before it counts as settled. */
  constructor(
    readonly propagationTimeoutMs: number,
    readonly settleMs = 0,
  ) {}

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
    if (!existing) this.registrations.set(person, { sentMs, ackMs, reportedBy: new Set() });
  }

  /** Records that an endpoint reported the person opted out; the first time sets the measured latency. */
  observedOut(person: PersonKey, endpoint: Endpoint, atMs: number): void {
    const r = this.registrations.get(person);
    if (!r) return;
    r.reportedBy.add(endpoint);
    r.firstSeenMs ??= atMs;
    r.reportedSinceMs ??= atMs;
    if (r.settledMs === undefined && atMs - r.reportedSinceMs >= this.settleMs) r.settledMs = atMs;
  }

  /**
   * Records that an endpoint answered the person opted in (or did not report the opt-out) for a request sent
   * at `sentMs`. Before the opt-out settled and after it was first reported, that is a disagreement: measured;
   * when this endpoint had reported it before (a flip, as between instances), the settle window starts again.
   * An endpoint that never reported it is judged by its own rule, not waited for. After it settled, the
   * caller fails its rule.
   */
  observedIn(person: PersonKey, endpoint: Endpoint, sentMs: number): void {
    const r = this.registrations.get(person);
    // Not seen yet: the latest poll that still found the person opted in proves lateness (lateness()).
    if (r && r.firstSeenMs === undefined) r.lastInMs = Math.max(r.lastInMs ?? 0, sentMs);
    if (!r || r.firstSeenMs === undefined || sentMs < r.firstSeenMs || this.isSettled(person, sentMs)) return;
    if (r.reportedBy.has(endpoint)) r.reportedSinceMs = undefined;
    const d = this.disagreements.get(endpoint) ?? { answers: 0, persons: new Set<PersonKey>(), longestMs: 0 };
    d.answers += 1;
    d.persons.add(person);
    d.longestMs = Math.max(d.longestMs, sentMs - r.firstSeenMs);
    this.disagreements.set(endpoint, d);
  }

  /** Whether every answer to a request sent at `atMs` must report the opt-out (see the file comment). */
  isSettled(person: PersonKey, atMs: number): boolean {
    const r = this.registrations.get(person);
    if (!r) return false;
    return (r.settledMs !== undefined && atMs >= r.settledMs) || atMs > r.ackMs + this.propagationTimeoutMs;
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
    if (!this.registrations.has(person)) return 'in';
    return this.isSettled(person, nowMs) ? 'out' : 'pending';
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

  /** The disagreements measured per endpoint (only endpoints that had one). */
  disagreementsByEndpoint(): Partial<Record<Endpoint, Disagreement>> {
    return Object.fromEntries([...this.disagreements].map(([endpoint, d]) => [endpoint, { answers: d.answers, persons: d.persons.size, longestMs: d.longestMs }]));
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
