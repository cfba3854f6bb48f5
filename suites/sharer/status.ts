// SHR-STATUS-BEFORE-SHARE: a sharer checks /v2/optout/status for the raw UID2s it is about to share and shares
// none that opted out (RULES.md; UID2-SPEC §1.4, §6.3). Judged per share from the driver's answer (`shared`) and
// the kit's operator call log:
//   - nothing shared belongs to a user who opted out globally before the share;
//   - every raw UID2 shared was asked about in an opt-out status request the operator answered with success
//     while that share was under way ("before sharing": an answer from an earlier share does not count, since a
//     UID2 can opt out between two shares).
// What a real sharer gets wrong: never asking, asking only the first 5,000 (the status limit, §8), remembering
// an earlier "not opted out" (a UID2 shared once, then opted out, then shared again), a status request refused
// (e.g. more than 5,000 ids: 400) treated as "none opted out". Raw UID2s are those the kit's operator maps
// synthetic users to; every case uses fresh users; messages name users by index and kind, never a raw UID2.
//
// Pitfall: shares of other checks run concurrently; every check asks about its own raw UID2s only, so the union
// of the status requests in a share's time window is a superset of what this share asked, never a subset.
import fc from 'fast-check';
import type { DriverIdentity } from '../../harness/client/driver-client.ts';
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';

/** At most this many raw UID2s in one opt-out status request (UID2-SPEC §1.4, §8). */
const STATUS_BATCH = 5_000;

type Kind = 'email' | 'phone';

interface User {
  /** 1-based, as messages name it. */
  n: number;
  kind: Kind;
  identity: DriverIdentity;
  /** The raw UID2 the kit's operator maps the user to. */
  uid: string;
}

function newUser(ctx: ParticipantCheckContext, n: number, kind: Kind): User {
  const identity: DriverIdentity = kind === 'email' ? { email: ctx.identities.email() } : { phone: ctx.identities.phone() };
  return { n, kind, identity, uid: ctx.rawUid(identity) };
}

async function optOut(ctx: ParticipantCheckContext, user: User): Promise<void> {
  await ctx.optOutGlobally(user.identity);
}

const label = (user: User): string => `user ${user.n} (${user.kind})`;
function listUsers(users: readonly User[]): string {
  const parts = users.map((u) => `${u.n} (${u.kind})`);
  if (parts.length > 4) return `${users.length} users (${parts.slice(0, 3).join(', ')}, …)`;
  return `${users.length === 1 ? 'user' : 'users'} ${parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]}`;
}

export interface ShareOutcome {
  /** Distinct raw UID2s shared that belong to users still opted in. */
  sharedIn: number;
}

/**
 * One share through the driver, judged: `users` are the requested ones (in order, duplicates allowed), `out` the
 * users who opted out globally before the share started. Fails on an opted-out user shared, or a raw UID2 shared
 * that the sharer did not ask /v2/optout/status about during this share.
 */
async function share(ctx: ParticipantCheckContext, n: number, users: readonly User[], out: ReadonlySet<User>): Promise<ShareOutcome> {
  const since = Date.now();
  const answer = await ctx.driver.share(users.map((u) => u.uid));
  const until = Date.now();
  const statusCalls = ctx.calls(since).filter((c) => c.endpoint === 'optout-status' && c.at <= until);
  const asked = new Set(statusCalls.filter((c) => c.status === 'success').flatMap((c) => c.uids ?? []));
  const refused = statusCalls.filter((c) => c.status !== 'success');
  const byUid = new Map(users.map((u) => [u.uid, u]));
  const shared = [...new Set(answer)];
  const refusedNote = refused.length > 0 ? `; ${refused.length} opt-out status request${refused.length === 1 ? ' was' : 's were'} refused (${[...new Set(refused.map((c) => c.status))].join(', ')})` : '';
  const why = (who: readonly User[]) => {
    const notAsked = who.filter((u) => !asked.has(u.uid));
    if (notAsked.length === 0) return `it asked /v2/optout/status about ${who.length === 1 ? 'it' : 'them'} and the operator listed ${who.length === 1 ? 'it' : 'them'}${refusedNote}`;
    if (notAsked.length === who.length) return `it did not ask /v2/optout/status about ${who.length === 1 ? 'it' : 'them'} in this share${refusedNote}`;
    return `it did not ask /v2/optout/status about ${listUsers(notAsked)} in this share${refusedNote}`;
  };
  const leaked = shared.flatMap((id) => {
    const user = byUid.get(id);
    return user && out.has(user) ? [user] : [];
  });
  if (leaked.length > 0) fail(`share ${n}: the sharer shared ${listUsers(leaked)}, opted out globally before the share (${why(leaked)})`);
  const unasked = shared.flatMap((id) => (asked.has(id) ? [] : [byUid.get(id)])).filter((u): u is User => u !== undefined);
  if (unasked.length > 0) {
    fail(`share ${n}: the sharer shared ${listUsers(unasked)} without asking /v2/optout/status about ${unasked.length === 1 ? 'it' : 'them'} during the share (${asked.size === 0 ? 'no successful status request at all' : 'the status requests of the share left them out'}${refusedNote})`);
  }
  return { sharedIn: shared.filter((id) => byUid.has(id)).length };
}

/** The precondition of a pass: the sharer shared someone who stayed opted in. */
function requireShared(outcome: ShareOutcome, what: string): void {
  if (outcome.sharedIn === 0) undecided(`${what}: the sharer shared none of the raw UID2s, though their users were opted in: the kit cannot tell checking opt-outs from sharing nothing`);
}

// ---- generated sequences -------------------------------------------------------------------------------

type Step = { op: 'optout'; user: number } | { op: 'share'; users: number[] };
interface Plan {
  kinds: Kind[];
  steps: Step[];
}

/** 1–5 users; 2–4 rounds of 0–2 global opt-outs followed by a share of 1–8 of them (any order, duplicates). */
const planArbitrary: fc.Arbitrary<Plan> = fc.array(fc.constantFrom<Kind>('email', 'phone'), { minLength: 1, maxLength: 5 }).chain((kinds) => {
  const user = fc.nat({ max: kinds.length - 1 });
  const optout = fc.record({ op: fc.constant('optout' as const), user });
  const shareStep = fc.array(user, { minLength: 1, maxLength: 8 }).map((users): Step => ({ op: 'share', users }));
  const round = fc.tuple(fc.array(optout, { maxLength: 2 }), shareStep).map(([before, s]) => [...before, s]);
  return fc.array(round, { minLength: 2, maxLength: 4 }).map((rounds) => ({ kinds, steps: rounds.flat() }));
});

function describePlan(plan: Plan): string {
  const users = plan.kinds.map((k, i) => `${i + 1} ${k}`).join(', ');
  const steps = plan.steps.map((s) => (s.op === 'optout' ? `global opt-out of user ${s.user + 1}` : `share [${s.users.map((u) => u + 1).join(', ')}]`));
  return `users ${users}; ${steps.join('; ')}`;
}

export const statusChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'sharer.status.optout-before-share',
    rule: 'SHR-STATUS-BEFORE-SHARE',
    kind: 'scenario',
    needs: ['sharer'],
    title: 'raw UID2s of users who opted out before the share (email, phone, repeated) are not shared; every one shared was asked about',
    async run(ctx) {
      const users = (['email', 'phone', 'email', 'phone', 'email'] as const).map((kind, i) => newUser(ctx, i + 1, kind));
      const [a, b, c, d, e] = users as [User, User, User, User, User];
      await optOut(ctx, b);
      await optOut(ctx, e);
      const outcome = await share(ctx, 1, [a, b, c, e, d, b], new Set([b, e]));
      requireShared(outcome, 'share 1');
      return `${listUsers([b, e])}, opted out before the share, were not shared; the ${outcome.sharedIn} shared were asked about first`;
    },
  },
  {
    id: 'sharer.status.reshare-after-optout',
    rule: 'SHR-STATUS-BEFORE-SHARE',
    kind: 'scenario',
    needs: ['sharer'],
    title: 'a raw UID2 shared once, then opted out, is not shared again; every share asks again',
    async run(ctx) {
      const users = (['email', 'phone', 'email'] as const).map((kind, i) => newUser(ctx, i + 1, kind));
      const [a, b, c] = users as [User, User, User];
      requireShared(await share(ctx, 1, [a, b, c], new Set()), 'share 1');
      await optOut(ctx, b);
      await share(ctx, 2, [c, b, a], new Set([b]));
      await optOut(ctx, a);
      const last = await share(ctx, 3, [a, c, b, a, c], new Set([a, b]));
      requireShared(last, 'share 3');
      return `${label(b)} and then ${label(a)}, each shared while opted in, were not shared after their global opt-out; every share asked about what it shared`;
    },
  },
  {
    id: 'sharer.status.past-first-batch',
    rule: 'SHR-STATUS-BEFORE-SHARE',
    kind: 'scenario',
    needs: ['sharer'],
    title: `a share of ${STATUS_BATCH + 1} raw UID2s (more than one status request may hold) with an opted-out one after the first ${STATUS_BATCH}`,
    async run(ctx) {
      // One such share per run: ~5,001 ids is a large driver call.
      const crowd = Array.from({ length: STATUS_BATCH }, (_, i) => newUser(ctx, i + 1, i % 2 ? 'phone' : 'email'));
      const late = newUser(ctx, STATUS_BATCH + 1, 'email');
      await optOut(ctx, late);
      const outcome = await share(ctx, 1, [...crowd, late], new Set([late]));
      requireShared(outcome, 'share 1');
      return `${label(late)}, opted out and placed after the first ${STATUS_BATCH} raw UID2s, was not shared; all ${outcome.sharedIn} shared were asked about first`;
    },
  },
  {
    id: 'sharer.status.sequences',
    rule: 'SHR-STATUS-BEFORE-SHARE',
    kind: 'property',
    needs: ['sharer'],
    title: 'generated users and sequences of shares and global opt-outs: no opted-out raw UID2 shared, every shared one asked about in that share',
    async run(ctx) {
      let sharedIn = 0;
      let shares = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary,
        async (plan) => {
          const users = plan.kinds.map((kind, i) => newUser(ctx, i + 1, kind));
          const out = new Set<User>();
          let n = 0;
          for (const step of plan.steps) {
            if (step.op === 'optout') {
              await optOut(ctx, users[step.user]!);
              out.add(users[step.user]!);
            } else {
              n += 1;
              const outcome = await share(ctx, n, step.users.map((i) => users[i]!), new Set(out));
              sharedIn += outcome.sharedIn;
              shares += 1;
            }
          }
        },
        describePlan,
        { runs: ctx.settings.runs },
      );
      if (sharedIn === 0) undecided('no share shared any raw UID2 of a user who was opted in: the kit cannot tell checking opt-outs from sharing nothing');
      return `${message}; ${shares} shares, ${sharedIn} raw UID2s of opted-in users shared, each asked about first, none of an opted-out user`;
    },
  },
];
