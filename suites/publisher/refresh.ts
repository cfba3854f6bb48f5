// PUB-REFRESH: the publisher refreshes a token it keeps using once `refresh_from` has passed, before
// `refresh_expires` (RULES.md; UID2-SPEC §1.2, §7: every refresh re-checks opt-out). Judged from the driver's
// answers, with the kit's tokens decoded (their generation time fixes refresh_from and refresh_expires): a token
// served at a time when it should have been refreshed is a violation. "Should have": with /publisher/tick
// ("run due work now"), half a refresh period after refresh_from while the kit ticks every step; without it,
// within actWithinMs (the publisher acts on its own); never at or past refresh_expires. Watched over two
// refresh periods and more, so a publisher that refreshes a chain once and then stops fails. Only users who
// never opted out are judged; a bystander whose chain ends (global or site opt-out) must not stop the others.
// A publisher that stops serving tokens before two refresh periods leaves nothing to judge (`undecided`).
import fc from 'fast-check';
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { decodeToken, label, listUsers, plural } from './support.ts';
import { describeMembers, lastLogin, memberArbitrary, runTimeline, type MemberSpec, type Timeline, timedRuns } from './timeline.ts';

interface RefreshTally {
  /** Served tokens judged. */
  judged: number;
  /** Answers whose token is not one of the kit's. */
  foreign: number;
  /** Members served a token two refresh periods after their login. */
  kept: Set<number>;
  /** Distinct tokens served, over all members. */
  distinct: Set<string>;
}

const newTally = (): RefreshTally => ({ judged: 0, foreign: 0, kept: new Set(), distinct: new Set() });

/** Fails on the first token served past its due refresh; tallies what was judged. */
function judgeRefresh(ctx: ParticipantCheckContext, tl: Timeline, tally: RefreshTally | undefined, context: string): void {
  const { t } = tl;
  for (const m of tl.members) {
    if (m.fate !== 'stays') continue;
    for (const a of tl.rec.of(m.user)) {
      if (a.token === null) continue;
      const facts = decodeToken(ctx, a.token);
      if (!facts) {
        if (tally) tally.foreign += 1;
        continue;
      }
      const refreshFrom = facts.generatedMs + t.refreshAfter;
      const refreshExpires = facts.generatedMs + t.refreshExpires;
      if (a.started >= Math.min(refreshFrom + t.grace, refreshExpires)) {
        const ticks = ctx.hasTick ? ` although the kit ticked every ${t.step} ms` : ` within ${t.grace} ms (the publisher offers no tick)`;
        const past = a.started >= refreshExpires ? `, ${a.started - refreshExpires} ms past its refresh_expires` : `, ${refreshExpires - a.started} ms before its refresh_expires`;
        fail(`${context}: ${label(m.user)}'s ${a.op === 'ad' ? 'ad request' : 'login'} was served a token ${a.started - refreshFrom} ms after its refresh_from${past}: the publisher kept using it without refreshing it${ticks}`);
      }
      if (tally) {
        tally.judged += 1;
        tally.distinct.add(a.token);
        if (a.started >= m.loginStarted! + 2 * t.refreshAfter) tally.kept.add(m.user.n);
      }
    }
  }
}

/** Two refresh periods after the last login, the grace of the second, and two steps. */
const refreshWindow = (tl: Timeline): number => lastLogin(tl) + 2 * tl.t.refreshAfter + tl.t.grace + 2 * tl.t.step;

function requireKept(tl: Timeline, tally: RefreshTally): void {
  if (tally.judged === 0 && tally.foreign > 0) undecided("the publisher's ad requests carried tokens the kit's operator did not issue: nothing to judge");
  const stays = tl.members.filter((m) => m.fate === 'stays');
  if (stays.every((m) => m.first === undefined)) undecided(`the publisher served ${listUsers(stays.map((m) => m.user))} no token of the kit's operator, at login or later: no token in use to judge`);
  if (tally.kept.size === 0) {
    undecided(`the publisher served ${listUsers(stays.map((m) => m.user))} no token two refresh periods after login (it stopped using their tokens): PUB-REFRESH could not be judged over two refresh periods`);
  }
}

export const refreshChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.refresh.kept-tokens',
    rule: 'PUB-REFRESH',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'tokens of email, phone and gmail users served in ad requests over two refresh periods are refreshed each time refresh_from passes',
    async run(ctx) {
      const specs: MemberSpec[] = [
        { kind: 'email', spelling: 0, quarter: 0, every: 1, fate: 'stays' },
        { kind: 'phone', spelling: 0, quarter: 1, every: 1, fate: 'stays' },
        { kind: 'gmail', spelling: 1, quarter: 2, every: 2, fate: 'stays' },
      ];
      const tally = newTally();
      const tl = await runTimeline(ctx, specs, { done: () => false, maxMs: refreshWindow, judge: (tl) => judgeRefresh(ctx, tl, undefined, 'over two refresh periods') });
      judgeRefresh(ctx, tl, tally, 'over two refresh periods');
      requireKept(tl, tally);
      const refreshes = tl.members.reduce((n, m) => n + ctx.callsAbout(m.user.canonical, tl.started).filter((c) => c.endpoint === 'refresh' && c.status === 'success').length, 0);
      return `${plural(tally.judged, 'served token')} over ${tl.steps} steps, none past its refresh_from plus ${tl.t.grace} ms; ${plural(tally.distinct.size, 'distinct token')} for ${plural(tl.members.length, 'user')}, ${refreshes} successful refresh${refreshes === 1 ? '' : 'es'}`;
    },
  },
  {
    id: 'publisher.refresh.timelines',
    rule: 'PUB-REFRESH',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated users logging in at different times, served at different cadences, beside users whose chains end: every kept token refreshed in time',
    async run(ctx) {
      const tally = newTally();
      let last: Timeline | undefined;
      const arbitrary = fc
        .tuple(fc.array(memberArbitrary(['stays']), { minLength: 1, maxLength: 3 }), fc.array(memberArbitrary(['global-now', 'global-after-refresh', 'site-later']), { maxLength: 2 }))
        .map(([stays, others]) => [...stays, ...others]);
      const message = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (specs) => {
          last = await runTimeline(ctx, specs, { done: () => false, maxMs: refreshWindow, judge: (tl) => judgeRefresh(ctx, tl, undefined, 'in the generated timeline') });
          judgeRefresh(ctx, last, tally, 'in the generated timeline');
        },
        describeMembers,
        { runs: timedRuns(ctx) },
      );
      requireKept(last!, tally);
      return `${message}; ${plural(tally.judged, 'served token')}, none kept past its due refresh`;
    },
  },
];
