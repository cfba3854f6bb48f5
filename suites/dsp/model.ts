// Populations of DSP users and what happens to them, for the property checks (and the scenarios that are one
// fixed case of them): some users stay, some opt out through the webhook (with or without `+` in the raw UID2),
// some opt out at the operator only; some were bid on before the opt-outs, others appear only afterwards; bids
// go in a generated order, alone or in bursts. A user's refresh chain was established in the same second as its
// opt-out time, whole seconds, hours or days before it (in production most tokens belong to chains established
// long before), or the opt-out time lies seconds before the establishment (a user who logged in again). One run
// gives a trace that each rule judges for its own users (see the pitfalls in support.ts).
//
// A case runs: fresh users and a generated token each (minted into its older chain where it has one) → round
// 0: bids for the users "seen before" → the opt-outs (webhook calls, operator registrations) → rounds 1, 2, …:
// every user bids again with every kind of token it can have now, until the users of the judged fate have
// stopped being used (plus one confirming round) or the bound `actWithinMs` after their opt-out has passed.
// Isolation runs two rounds.
import fc from 'fast-check';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { deliver, duration, fire, hasLife, label, newUser, nowSeconds, pause, relation, seconds, shape, shuffled, Tokens, type BidItem, type BidRecord, type Issued, type Kind, type User } from './support.ts';

/** stays: never opts out; webhook: opts out through the DSP's webhook only; operator: at the operator only. */
export type Fate = 'stays' | 'webhook' | 'operator';

export interface Member {
  kind: Kind;
  plus: boolean;
  fate: Fate;
  /** Bid on (round 0) before the opt-outs. */
  seenBefore: boolean;
  /**
   * Whole seconds from the establishment of the user's refresh chain to its opt-out time: > 0 the chain was
   * established that long before the case's opt-outs (seconds, hours, days); 0 in the same second. For a webhook
   * opt-out, its timestamp is exactly this many seconds after the second of the establishment, so < 0 puts
   * the timestamp that long before it (the user logged in again after opting out).
   */
  establishedS: number;
  /** Webhook: the opt-out service calls again later with a later timestamp (a user who opts out twice). */
  repeat: boolean;
}

export interface Case {
  members: Member[];
  /** Bids of a round all at once (Promise.all) or one after the other. */
  burst: boolean;
  /** Seeds the order of bids and opt-outs. */
  order: number;
}

/**
 * Which tokens carry a user's UID2 after the opt-outs:
 * - first: the token generated at the start (before the opt-out), while it has life left;
 * - refreshed: a refresh of it (same established time, generated now);
 * - new: generated after the opt-out (established after the opt-out time);
 * - late / late-new: operator opt-outs only (the operator no longer issues): what an operator the opt-out has
 *   not reached yet issues, established at the first token's time or now.
 */
export type Variant = 'first' | 'refreshed' | 'new' | 'late' | 'late-new';

export interface OptoutRecord {
  via: 'webhook' | 'operator';
  /** When the opt-out was acknowledged (webhook answered, operator registered it). */
  ackMs: number;
  /** Webhook: the opt-out time it carried (ms). */
  timestampMs?: number;
  /** Webhook: HTTP answers. */
  answers?: number[];
}

export interface Trace {
  case: Case;
  users: User[];
  first: Issued[];
  bids: BidRecord<Variant>[];
  optouts: Map<number, OptoutRecord>;
  rounds: number;
}

/** Where a generated user's chain begins relative to its opt-out time (see Member.establishedS). */
export const ESTABLISHED_S: readonly number[] = [-3, -1, 0, 1, 3, 3 * 3600, 2 * 86_400];

/** A user; the judged fate (`focus`) comes twice as often as each other one. */
export function memberArbitrary(fates: readonly Fate[], focus: Fate): fc.Arbitrary<Member> {
  return fc.record({
    kind: fc.constantFrom<Kind>('email', 'phone'),
    plus: fc.boolean(),
    fate: fc.oneof(...fates.map((f) => ({ weight: f === focus ? 2 : 1, arbitrary: fc.constant(f) }))),
    seenBefore: fc.boolean(),
    establishedS: fc.constantFrom(...ESTABLISHED_S),
    repeat: fc.boolean(),
  });
}

/**
 * 2–5 users with the fates offered; at least one of `focus` (isolation: at least one who stays and one who
 * opts out), in bursts or one by one, in a generated order.
 */
export function caseArbitrary(focus: Fate, fates: readonly Fate[]): fc.Arbitrary<Case> {
  return fc
    .record({ members: fc.array(memberArbitrary(fates, focus), { minLength: 2, maxLength: 5 }), burst: fc.boolean(), order: fc.nat({ max: 0xffff }) })
    .map((c) => {
      const members = c.members.map((m) => ({ ...m }));
      if (focus === 'stays') {
        if (!members.some((m) => m.fate === 'stays')) members[members.length - 1]!.fate = 'stays';
        if (!members.some((m) => m.fate !== 'stays')) members[0]!.fate = fates.find((f) => f !== 'stays') ?? 'operator';
      } else if (!members.some((m) => m.fate === focus)) members[0]!.fate = focus;
      return { ...c, members };
    });
}

function describeMember(m: Member, i: number): string {
  const fate = m.fate === 'stays' ? 'stays' : m.fate === 'operator' ? 'opts out at the operator only' : `opts out by webhook${m.repeat ? ' (delivered twice)' : ''}`;
  return `user ${i + 1} (${m.kind}, ${shape(m.plus)}, chain established ${establishedText(m.establishedS)}) ${fate}, ${m.seenBefore ? 'bid on before' : 'never bid on before'}`;
}

/** "3 h before the opt-out time", "in the opt-out time's second", "1 s after the opt-out time". */
export function establishedText(establishedS: number): string {
  if (establishedS === 0) return "in the opt-out time's second";
  return `${duration(Math.abs(establishedS) * 1000)} ${establishedS > 0 ? 'before' : 'after'} the opt-out time`;
}

export function describeCase(c: Case): string {
  return `${c.burst ? 'bursts' : 'one bid at a time'}; ${c.members.map(describeMember).join('; ')}`;
}

export const VARIANT_TEXT: Record<Variant, string> = {
  first: 'the token generated before the opt-out',
  refreshed: 'a refresh of that token (same established time)',
  new: 'a token generated after the opt-out',
  late: 'a token from an operator the opt-out had not reached yet (established before the opt-out)',
  'late-new': 'a token from an operator the opt-out had not reached yet (established after the opt-out)',
};

/** The same, for users who had not opted out (no opt-out to place the tokens around). */
export const PLAIN_VARIANT_TEXT: Record<Variant, string> = {
  first: 'its first token',
  refreshed: 'a refresh of its first token',
  new: 'a newly generated token',
  late: 'a token from another operator',
  'late-new': 'a token from another operator',
};

/** A variant's text with its established time relative to the webhook's opt-out time, where there is one. */
export function variantText(record: BidRecord<Variant>, optout: OptoutRecord | undefined): string {
  const text = VARIANT_TEXT[record.variant];
  if (optout?.timestampMs === undefined) return text;
  return `${text}, established ${relation(record.issued.fields.establishedMs, optout.timestampMs)} the webhook's opt-out time`;
}

/** Runs one case against the DSP; `judged` decides how long the rounds go on. */
export async function runCase(ctx: ParticipantCheckContext, tokens: Tokens, c: Case, judged: Fate): Promise<Trace> {
  const users = c.members.map((m, i) => newUser(ctx, i + 1, m.kind, m.plus));
  // A chain established earlier: the generated token as the operator issues it at the chain's latest refresh.
  const first = (await Promise.all(users.map((u) => tokens.generate(u)))).map((issued, i) => {
    const ageS = c.members[i]!.establishedS;
    return ageS > 0 ? tokens.mint(issued, { establishedMs: issued.fields.establishedMs - ageS * 1000 }) : issued;
  });
  const trace: Trace = { case: c, users, first, bids: [], optouts: new Map(), rounds: 0 };
  const indices = c.members.map((_, i) => i);

  const before: BidItem<Variant>[] = indices.filter((i) => c.members[i]!.seenBefore).map((i) => ({ member: i, variant: 'first', issued: first[i]! }));
  trace.bids.push(...(await fire(ctx, shuffled(before, c.order), 0, c.burst)));

  for (const i of shuffled(indices, c.order + 1)) {
    const m = c.members[i]!;
    const user = users[i]!;
    if (m.fate === 'webhook') {
      // Whole seconds from the second the chain was established; never in the future.
      const timestampS = Math.floor(first[i]!.fields.establishedMs / 1000) + m.establishedS;
      const delivered = await deliver(ctx, user.uid, timestampS, label(user));
      const answers = [delivered.http];
      if (m.repeat) answers.push((await deliver(ctx, user.uid, nowSeconds(), `${label(user)}, again`)).http);
      trace.optouts.set(i, { via: 'webhook', ackMs: delivered.ackMs, timestampMs: timestampS * 1000, answers });
    } else if (m.fate === 'operator') {
      await ctx.optOutGlobally(user.identity);
      trace.optouts.set(i, { via: 'operator', ackMs: Date.now() });
    }
  }

  const watched = indices.filter((i) => c.members[i]!.fate === judged && judged !== 'stays');
  const bound = Math.max(0, ...watched.map((i) => trace.optouts.get(i)!.ackMs)) + ctx.settings.actWithinMs;
  const stopped = new Set<number>();
  let confirming = false;
  for (let round = 1; ; round++) {
    const items = (await Promise.all(indices.map((i) => roundTokens(tokens, c.members[i]!, users[i]!, first[i]!, i)))).flat();
    const records = await fire(ctx, shuffled(items, c.order + 7 * round), round, c.burst);
    trace.bids.push(...records);
    trace.rounds = round;
    for (const i of watched) if (records.filter((r) => r.member === i).every((r) => !r.used)) stopped.add(i);
    if (judged === 'stays') {
      if (round >= 2) break;
    } else if (stopped.size === watched.length) {
      if (confirming) break;
      confirming = true;
    } else if (Date.now() > bound) break;
    await pause(ctx.settings.pollIntervalMs);
  }
  return trace;
}

/** Every token a user can be bid with now (see Variant). */
async function roundTokens(tokens: Tokens, m: Member, user: User, first: Issued, i: number): Promise<BidItem<Variant>[]> {
  const items: BidItem<Variant>[] = [];
  if (hasLife(first, Date.now(), 600)) items.push({ member: i, variant: 'first', issued: first });
  if (m.fate === 'operator') {
    items.push({ member: i, variant: 'late', issued: tokens.mint(first) });
    items.push({ member: i, variant: 'late-new', issued: tokens.mint(first, { establishedMs: Date.now() }) });
  } else {
    // A chain minted older has no refresh token at the kit: its refresh is minted the same way.
    const [refreshed, fresh] = await Promise.all([first.refreshToken ? tokens.refresh(user, first) : tokens.mint(first), tokens.generate(user)]);
    items.push({ member: i, variant: 'refreshed', issued: refreshed }, { member: i, variant: 'new', issued: fresh });
  }
  return items;
}

// ---- judgments -------------------------------------------------------------------------------------------

/** Bids for users who had not opted out when bid on, the token still alive: each must have been used. */
export function isolationViolations(trace: Trace): BidRecord<Variant>[] {
  return trace.bids.filter((b) => (trace.case.members[b.member]!.fate === 'stays' || b.round === 0) && hasLife(b.issued, b.sentMs, 300) && !b.used);
}

/** How many bids used a UID2 of a user who had not opted out (the "DSP uses something" precondition). */
export function usesOfOptedIn(trace: Trace): number {
  return trace.bids.filter((b) => (trace.case.members[b.member]!.fate === 'stays' || b.round === 0) && b.used).length;
}

export interface StopVerdict {
  member: number;
  problem: 'never-stopped' | 'stopped-late' | 'used-again';
  record: BidRecord<Variant>;
  /** ms from the opt-out's acknowledgement to the offending bid. */
  afterMs: number;
}

/**
 * For users of `fate`: after their opt-out was acknowledged, a round must come within `actWithinMs` in which
 * no token of theirs is used, and from that round on none may be used again.
 */
export function stopViolations(trace: Trace, fate: 'webhook' | 'operator', actWithinMs: number): StopVerdict[] {
  const verdicts: StopVerdict[] = [];
  trace.case.members.forEach((m, i) => {
    if (m.fate !== fate) return;
    const optout = trace.optouts.get(i)!;
    const after = trace.bids.filter((b) => b.member === i && b.round >= 1);
    const rounds = [...new Set(after.map((b) => b.round))].sort((a, b) => a - b);
    const clean = rounds.find((r) => after.filter((b) => b.round === r).every((b) => !b.used));
    if (clean === undefined) {
      const last = after.filter((b) => b.round === rounds.at(-1) && b.used);
      const record = last[0] ?? after.at(-1)!;
      verdicts.push({ member: i, problem: 'never-stopped', record, afterMs: record.sentMs - optout.ackMs });
      return;
    }
    const cleanStart = Math.min(...after.filter((b) => b.round === clean).map((b) => b.sentMs));
    if (cleanStart - optout.ackMs > actWithinMs) {
      const record = after.filter((b) => b.round < clean && b.used).at(-1);
      if (record) {
        verdicts.push({ member: i, problem: 'stopped-late', record, afterMs: record.sentMs - optout.ackMs });
        return;
      }
    }
    const again = after.find((b) => b.round > clean && b.used);
    if (again) verdicts.push({ member: i, problem: 'used-again', record: again, afterMs: again.sentMs - optout.ackMs });
  });
  return verdicts;
}

/** One sentence per stop violation. */
export function describeStop(trace: Trace, v: StopVerdict, what: string, actWithinMs: number): string {
  const user = label(trace.users[v.member]!);
  const optout = trace.optouts.get(v.member);
  const token = variantText(v.record, optout);
  const seen = trace.case.members[v.member]!.seenBefore ? 'bid on before its opt-out' : 'never bid on before its opt-out';
  if (v.problem === 'used-again') return `${user} (${seen}): ${what}; the DSP stopped using its UID2, then used it again ${seconds(v.afterMs)} later (${token})`;
  if (v.problem === 'stopped-late') return `${user} (${seen}): ${what}; the DSP still used its UID2 ${seconds(v.afterMs)} later (${token}), past the ${seconds(actWithinMs)} bound`;
  return `${user} (${seen}): ${what}; the DSP still used its UID2 ${seconds(v.afterMs)} later, past the ${seconds(actWithinMs)} bound (${token})`;
}
