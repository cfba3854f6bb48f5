// What the advertiser checks share: synthetic users in several spellings, invalid identifiers, generated
// sequences of syncs, site opt-outs and global opt-outs (with a runner that keeps a trace to judge), and the
// call-log readings both rules rely on.
//
// Pitfalls (keep each check to its own rule):
// - ADV-MAP-OPTOUT is judged from the sync answers only (a raw UID2 of a globally opted-out user must not come
//   back); ADV-SITE-OPTOUT from the operator's call log only (no identity map — or any other call asking UID2
//   for the DII — concerning a site-opted-out user). A site-opt-out fault that maps too much must not fail the
//   map rule, and a map fault that keeps a stale raw UID2 must not fail the site rule.
// - A site opt-out is judged from 1 ms after the driver acknowledged it (calls in the same millisecond may
//   belong to the opt-out itself).
// - Every case uses fresh synthetic users; messages name users by index and kind, never by DII or raw UID2.
// - A participant that maps nothing, or answers no raw UID2 for anyone, must not pass: the checks count what
//   they could judge and end `undecided` when there was nothing.
import fc from 'fast-check';
import { DriverError, type DriverIdentity } from '../../harness/client/driver-client.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import type { Endpoint, OperatorCall } from '../../harness/operator/call-log.ts';
import { normalizeEmail } from '../../harness/wire/dii.ts';

/** email: a plain example.com address; gmail: gmail.com, whose dots and +tags do not count; phone: E.164. */
export type UserKind = 'email' | 'gmail' | 'phone';
export const USER_KINDS: readonly UserKind[] = ['email', 'gmail', 'phone'];

/** Calls that ask UID2 for a DII: what a participant must not do for a user who opted out of it. */
export const MAPPING_ENDPOINTS: ReadonlySet<Endpoint> = new Set<Endpoint>(['map-v3', 'map-v2', 'generate', 'client-generate']);

export interface User {
  /** 1-based, as messages name it. */
  n: number;
  kind: UserKind;
  /** The canonical identity (normalized email or the phone). */
  canonical: DriverIdentity;
}

export function newUser(ctx: ParticipantCheckContext, n: number, kind: UserKind): User {
  const canonical: DriverIdentity = kind === 'phone' ? { phone: ctx.identities.phone() } : { email: kind === 'gmail' ? ctx.identities.gmail() : ctx.identities.email() };
  return { n, kind, canonical };
}

export const label = (user: User): string => `user ${user.n} (${user.kind})`;

/**
 * The user written in spelling `s`: 0 is the canonical form; for email, 1 and 2 change case and add surrounding
 * spaces; for gmail, 1 and 2 also add dots and a +tag (each spelling different as written, one person per
 * UID2-SPEC §3.1); a phone has one spelling only (the operator does not normalize phones, §3.3).
 */
export function spell(user: User, s: number): DriverIdentity {
  if ('phone' in user.canonical || s === 0) return user.canonical;
  const address = user.canonical.email;
  const at = address.indexOf('@');
  const local = address.slice(0, at);
  let written: string;
  if (user.kind === 'gmail') {
    const dotted = local.replace(/(.{3})(?=.)/g, '$1.');
    written = s === 1 ? `${dotted[0]!.toUpperCase()}${dotted.slice(1)}+News@GMail.com` : ` ${local.toUpperCase().replace(/(.{5})(?=.)/, '$1.')}+t${s}@gmail.COM `;
  } else {
    written = s === 1 ? `${local.toUpperCase()}@Example.Com` : `  ${local[0]!.toUpperCase()}${local.slice(1)}@EXAMPLE.com `;
  }
  // The kit's own sanity: a spelling is the same person, whatever the participant makes of it.
  if (normalizeEmail(written) !== normalizeEmail(address)) throw new Error(`spelling ${s} of ${label(user)} is not the same person`);
  return { email: written };
}

/** Identifiers no operator maps (UID2-SPEC §3.2, §3.3), distinct per call so none is taken for a person. */
export function invalidIdentity(ctx: ParticipantCheckContext, field: 'email' | 'phone', variant: number): DriverIdentity {
  // Too short for E.164 however a participant cleans them up (no digits to add a `+` to).
  if (field === 'phone') return { phone: variant % 2 === 0 ? '+99912' : '999-12' };
  const token = ctx.identities.email().split('@')[0]!;
  return { email: variant % 2 === 0 ? `${token}.example.com` : `${token}@one@example.com` };
}

/**
 * Whether the driver takes a sync with invalid identifiers (real lists carry bad records; PROTOCOL.md §3 does not
 * say). When it refuses one (an HTTP error), generated syncs leave invalid identifiers out and the check notes it.
 */
export async function acceptsInvalidIdentifiers(ctx: ParticipantCheckContext): Promise<boolean> {
  try {
    await ctx.driver.sync([invalidIdentity(ctx, 'email', 0), invalidIdentity(ctx, 'phone', 0)]);
    return true;
  } catch (e) {
    if (!(e instanceof DriverError) || e.reason !== 'http') throw e;
    ctx.note(`the driver refused a sync of invalid identifiers only (${e.message}): generated syncs carry none`);
    return false;
  }
}

/** The calls that asked UID2 for this user's DII (any form) from `sinceMs` on. */
export function mappingCallsAbout(ctx: ParticipantCheckContext, user: User, sinceMs: number): readonly OperatorCall[] {
  return ctx.callsAbout(user.canonical, sinceMs).filter((c) => MAPPING_ENDPOINTS.has(c.endpoint));
}

/** A time strictly after every call the operator logged so far (waits out the current millisecond). */
export async function markAfterNow(): Promise<number> {
  const now = Date.now();
  while (Date.now() <= now) await new Promise((resolve) => setTimeout(resolve, 1));
  return now + 1;
}

/** `its` for one user, `their` for several. */
export const their = (users: readonly unknown[]): string => (users.length === 1 ? 'its' : 'their');

/** `user 2 (gmail)`, `users 1 (email) and 3 (phone)`. */
export function listUsers(users: readonly User[]): string {
  const parts = users.map((u) => `${u.n} (${u.kind})`);
  return `${users.length === 1 ? 'user' : 'users'} ${parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]}`;
}

// ---- generated sequences -------------------------------------------------------------------------------

/** One entry of a sync: a user in one spelling, or an invalid identifier of a kind. */
export type SyncEntry = { user: number; spelling: number } | { invalid: 'email' | 'phone' };

export type Step =
  | { op: 'sync'; entries: SyncEntry[] }
  | { op: 'global'; user: number }
  | { op: 'site'; user: number; spelling: number };

export interface Plan {
  kinds: UserKind[];
  steps: Step[];
}

/**
 * Populations of 2–4 users and 2–4 rounds; a round is 0–2 opt-outs (global or site, any spelling; weighted per
 * check) followed by a sync of a generated list (any users, any spellings, duplicates, invalid identifiers
 * anywhere).
 */
export function planArbitrary(options: { site: number; global: number; invalid: boolean }): fc.Arbitrary<Plan> {
  return fc.array(fc.constantFrom(...USER_KINDS), { minLength: 2, maxLength: 4 }).chain((kinds) => {
    const user = fc.nat({ max: kinds.length - 1 });
    const events = [
      { weight: options.global, arbitrary: fc.record({ op: fc.constant('global' as const), user }) as fc.Arbitrary<Step> },
      { weight: options.site, arbitrary: fc.record({ op: fc.constant('site' as const), user, spelling: fc.nat({ max: 2 }) }) as fc.Arbitrary<Step> },
    ].filter((e) => e.weight > 0);
    const spelling = fc.nat({ max: 2 });
    // Any non-empty subset of the users in any order and spelling, sometimes one twice; 0–2 invalid identifiers anywhere.
    const sync = fc
      .tuple(
        fc.shuffledSubarray(kinds.map((_, i) => i), { minLength: 1 }).chain((order) => fc.tuple(...order.map((i) => fc.record({ user: fc.constant(i), spelling })))),
        fc.array(fc.record({ user, spelling }), { maxLength: 1 }),
        fc.array(fc.record({ at: fc.nat({ max: 8 }), invalid: fc.constantFrom<'email' | 'phone'>('email', 'phone') }), { maxLength: options.invalid ? 2 : 0 }),
      )
      .map(([users, repeats, invalids]): Step => {
        const entries: SyncEntry[] = [...users, ...repeats];
        for (const { at, invalid } of invalids) entries.splice(at % (entries.length + 1), 0, { invalid });
        return { op: 'sync', entries };
      });
    const round = fc.tuple(fc.array(fc.oneof(...events), { maxLength: 2 }), sync).map(([before, s]) => [...before, s]);
    return fc.array(round, { minLength: 2, maxLength: 4 }).map((rounds) => ({ kinds, steps: rounds.flat() }));
  });
}

export function describePlan(plan: Plan): string {
  const users = plan.kinds.map((k, i) => `${i + 1} ${k}`).join(', ');
  const steps = plan.steps.map((step) => {
    if (step.op === 'global') return `global opt-out of user ${step.user + 1}`;
    if (step.op === 'site') return `site opt-out of user ${step.user + 1}${step.spelling ? ` (spelling ${step.spelling})` : ''}`;
    const entries = step.entries.map((e) => ('invalid' in e ? `invalid ${e.invalid}` : `${e.user + 1}${e.spelling ? `/s${e.spelling}` : ''}`));
    return `sync [${entries.join(', ')}]`;
  });
  return `users ${users}; ${steps.join('; ')}`;
}

/** What happened at one sync of a plan. */
export interface SyncTrace {
  /** 1-based among the plan's syncs. */
  n: number;
  since: number;
  /** The users in this sync (each once). */
  users: User[];
  /** Users globally opted out before this sync started. */
  globallyOut: Set<number>;
  answer: Set<string>;
}

export interface PlanTrace {
  users: User[];
  syncs: SyncTrace[];
  /** Per user index: when its first site opt-out was acknowledged (judge calls from then on). */
  siteOutSince: Map<number, number>;
}

/** Runs a plan against the participant: fresh users, every step in order. */
export async function runPlan(ctx: ParticipantCheckContext, plan: Plan): Promise<PlanTrace> {
  const users = plan.kinds.map((kind, i) => newUser(ctx, i + 1, kind));
  const trace: PlanTrace = { users, syncs: [], siteOutSince: new Map() };
  const globallyOut = new Set<number>();
  let invalids = 0;
  for (const step of plan.steps) {
    if (step.op === 'global') {
      await ctx.optOutGlobally(users[step.user]!.canonical);
      globallyOut.add(step.user);
    } else if (step.op === 'site') {
      await ctx.driver.advertiserSiteOptout(spell(users[step.user]!, step.spelling));
      if (!trace.siteOutSince.has(step.user)) trace.siteOutSince.set(step.user, await markAfterNow());
    } else {
      const identities = step.entries.map((e) => ('invalid' in e ? invalidIdentity(ctx, e.invalid, invalids++) : spell(users[e.user]!, e.spelling)));
      const inSync = [...new Set(step.entries.flatMap((e) => ('invalid' in e ? [] : [e.user])))].map((i) => users[i]!);
      const since = Date.now();
      const answer = await ctx.driver.sync(identities);
      trace.syncs.push({ n: trace.syncs.length + 1, since, users: inSync, globallyOut: new Set(globallyOut), answer: new Set(answer) });
    }
  }
  return trace;
}
