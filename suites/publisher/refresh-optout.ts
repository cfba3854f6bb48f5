// PUB-REFRESH-OPTOUT: after an `optout` answer to refresh, the publisher stops sending that advertising token
// and never refreshes that chain again (RULES.md; UID2-SPEC §1.2, §7: "an optout on refresh ends the refresh
// chain, and that UID2 token must not be used again"). Users log in, opt out globally (at once, or after their
// chain was refreshed once), and the kit ticks and sends ad requests until their refresh answers optout, then
// watches. Judged from the call log (the first `refresh` call of the chain answering optout, and any refresh of
// that chain after it) and the driver's answers (no answer to a request started after it carries a token of
// that chain: the user's raw UID2 with the chain's established time). Users whose refresh never answered optout
// are not judged (that is PUB-REFRESH's business); a check where none did ends `undecided`.
import fc from 'fast-check';
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { chainOf, decodeToken, label, listUsers, plural, type User } from './support.ts';
import { describeMembers, lastLogin, memberArbitrary, runTimeline, type Member, type MemberSpec, type Timeline, timedRuns } from './timeline.ts';

/** When the member's chain first answered optout to a refresh (kit clock), if it did. */
function optoutAnswer(ctx: ParticipantCheckContext, m: Member): { chain: string; at: number; seq: number; later: number } | undefined {
  if (!m.first || m.loginStarted === undefined) return undefined;
  const chain = chainOf(ctx, m.user, m.first);
  const calls = ctx.callsAbout(m.user.canonical, m.loginStarted).filter((c) => c.endpoint === 'refresh' && c.chain === chain);
  const first = calls.findIndex((c) => c.status === 'optout');
  if (first < 0) return undefined;
  return { chain, at: calls[first]!.at, seq: calls[first]!.seq, later: calls.length - first - 1 };
}

const optedOut = (m: Member) => m.fate === 'global-now' || m.fate === 'global-after-refresh';

/** Fails on the first chain refreshed again, or whose token was still sent, after its optout answer; returns the users judged. */
function judgeRefreshOptout(ctx: ParticipantCheckContext, tl: Timeline, context: string): User[] {
  const judged: User[] = [];
  for (const m of tl.members) {
    if (!optedOut(m)) continue;
    const answer = optoutAnswer(ctx, m);
    if (!answer) continue;
    if (answer.later > 0) fail(`${context}: after a refresh of ${label(m.user)}'s chain answered optout, the publisher refreshed that chain ${plural(answer.later, 'more time')}`);
    const uid = ctx.rawUid(m.user.canonical);
    const sent = tl.rec.of(m.user).find((a) => {
      if (a.seqBefore < answer.seq || a.token === null) return false; // asked after the optout answer
      const facts = decodeToken(ctx, a.token);
      return facts !== undefined && facts.rawUid === uid && chainOf(ctx, m.user, facts) === answer.chain;
    });
    if (sent) fail(`${context}: after a refresh of ${label(m.user)}'s chain answered optout, the publisher still answered a${sent.op === 'ad' ? 'n ad request' : ' login'} ${Math.max(0, sent.started - answer.at)} ms later with an advertising token of that chain`);
    judged.push(m.user);
  }
  return judged;
}

/** Every opted-out member with a token has its optout answer, and the watch since the last one has passed. */
function settled(ctx: ParticipantCheckContext, tl: Timeline): boolean {
  const watched = tl.members.filter((m) => optedOut(m) && m.first);
  if (watched.length === 0 || watched.some((m) => m.optedOutAt === undefined)) return false;
  const answers = watched.map((m) => optoutAnswer(ctx, m));
  if (answers.some((a) => a === undefined)) return false;
  return Date.now() >= Math.max(...answers.map((a) => a!.at)) + watch(tl);
}

/** How long the kit keeps ticking and asking after the last optout answer. */
const watch = (tl: Timeline): number => tl.t.grace + 2 * tl.t.step;

/** The bound: a refresh after the first one, its grace, and the watch. */
const maxMs = (tl: Timeline): number => lastLogin(tl) + 2 * tl.t.refreshAfter + 2 * tl.t.grace + watch(tl) + 2 * tl.t.step;

export const refreshOptoutChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.refresh-optout.chain-ends',
    rule: 'PUB-REFRESH-OPTOUT',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users opted out globally while logged in (at once, or after one refresh): once their refresh answers optout, no token of that chain is sent and the chain is never refreshed again',
    async run(ctx) {
      const specs: MemberSpec[] = [
        { kind: 'email', spelling: 0, quarter: 0, every: 1, fate: 'global-now' },
        { kind: 'phone', spelling: 0, quarter: 0, every: 1, fate: 'global-now' },
        { kind: 'gmail', spelling: 1, quarter: 1, every: 1, fate: 'global-after-refresh' },
        { kind: 'email', spelling: 0, quarter: 0, every: 2, fate: 'stays' },
      ];
      const tl = await runTimeline(ctx, specs, { done: (tl) => settled(ctx, tl), maxMs, judge: (tl) => judgeRefreshOptout(ctx, tl, 'users opted out while logged in') });
      // A new login of each judged user must not bring the ended chain's token back either.
      for (const m of tl.members.filter(optedOut)) await tl.rec.login(m.user, m.spelling);
      for (const m of tl.members.filter(optedOut)) await tl.rec.ad(m.user, m.spelling);
      const judged = judgeRefreshOptout(ctx, tl, 'users opted out while logged in');
      if (judged.length === 0) {
        const out = tl.members.filter(optedOut).map((m) => m.user);
        if (tl.members.filter(optedOut).every((m) => m.first === undefined)) undecided(`the publisher served ${listUsers(out)} no token, at login or later: no refresh chain to end`);
        undecided(`no refresh of ${listUsers(out)}'s chains answered optout (the publisher did not refresh them after the opt-out): nothing to judge`);
      }
      return `${listUsers(judged)}: after the optout answer to refresh, no token of the chain in ${tl.steps} steps of ticks and ad requests and a new login, and no refresh of it`;
    },
  },
  {
    id: 'publisher.refresh-optout.timelines',
    rule: 'PUB-REFRESH-OPTOUT',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated users opting out globally at generated times beside users who stay: every chain that answered optout is dropped and never refreshed again',
    async run(ctx) {
      let judged = 0;
      // The first member logs in with the canonical spelling: a publisher that hashes the DII as typed (the EUID
      // SDK's CSTG, README "Known findings") mints other spellings a UID2 the person's opt-out never reaches, so
      // their refresh never answers optout and they cannot be judged here; every case keeps one who can.
      const arbitrary = fc
        .tuple(
          memberArbitrary(['global-now']).map((m) => ({ ...m, spelling: 0 })),
          fc.array(memberArbitrary(['global-now', 'global-after-refresh']), { maxLength: 2 }),
          fc.array(memberArbitrary(['stays', 'site-later']), { maxLength: 2 }),
        )
        .map(([first, out, others]) => [first, ...out, ...others]);
      const message = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (specs) => {
          const tl = await runTimeline(ctx, specs, { done: (tl) => settled(ctx, tl), maxMs, judge: (tl) => judgeRefreshOptout(ctx, tl, 'in the generated timeline') });
          judged += judgeRefreshOptout(ctx, tl, 'in the generated timeline').length;
        },
        describeMembers,
        { runs: timedRuns(ctx) },
      );
      if (judged === 0) undecided('no refresh in the generated timelines answered optout (the publisher did not refresh after the opt-outs): nothing to judge');
      return `${message}; ${plural(judged, 'ended chain')} dropped and never refreshed again`;
    },
  },
];
