// PUB-SITE-OPTOUT: a publisher creates no UID2 for a user who opted out of its site: no generate (or CSTG) call
// for any form of that DII, and no advertising token for that user in its ad requests (RULES.md; UID2-SPEC §7).
// Judged from the operator's call log (no generate / client-generate concerning the person from 1 ms after the
// driver acknowledged the opt-out) and the driver's answers (every login and ad request for that user answers
// no token; no answer to anyone carries a token of that user's UID2). What implementations get wrong: keying
// the opt-out list by the address as typed (case, spaces, gmail dots and +tags), checking it at login only so a
// logged-in user keeps the session's token (and its refreshes), forgetting it for phones, and suppressing the
// answer while generating anyway. Precondition of every pass: the same publisher did give tokens to users who
// did not opt out (a publisher that serves no one would pass by accident).
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import {
  decodeToken,
  describePlan,
  generateCalls,
  label,
  listUsers,
  newUser,
  newUsers,
  plural,
  planArbitrary,
  Recorder,
  runPlan,
  sleep,
  spellingCount,
  timing,
  type User,
} from './support.ts';

/** Fails on the first user who was generated for, or given a token, since its site opt-out. */
function judgeSiteOptouts(ctx: ParticipantCheckContext, users: readonly User[], rec: Recorder, context: string): number {
  let judged = 0;
  for (const user of users) {
    const since = rec.siteOutSince.get(user.n);
    const seq = rec.siteOutSeq.get(user.n);
    const order = rec.siteOutOrder.get(user.n);
    if (since === undefined || seq === undefined || order === undefined) continue;
    // From the acknowledgement on, exactly (the call log's sequence, not its milliseconds).
    const calls = generateCalls(ctx, user, since - 1).filter((c) => c.seq > seq);
    if (calls.length > 0) {
      const endpoints = [...new Set(calls.map((c) => c.endpoint))].join(', ');
      fail(`${context}: the publisher sent ${plural(calls.length, `${endpoints} request`)} for ${label(user)} after it opted out of the site (any form of its DII counts)`);
    }
    const served = rec.of(user).filter((a) => a.order > order && a.token !== null);
    if (served.length > 0) {
      const first = served[0]!;
      fail(`${context}: the publisher answered ${first.op === 'ad' ? 'an ad request' : 'a login'} for ${label(user)}${first.spelling ? ` (spelling ${first.spelling})` : ''} with an advertising token after the user opted out of the site`);
    }
    judged += rec.of(user).filter((a) => a.order > order).length + 1;
    // No token with this user's UID2 may reach anyone's ad request either.
    const uid = ctx.rawUid(user.canonical);
    const leaked = rec.answers.find((a) => a.user !== user && a.order > order && a.token !== null && decodeToken(ctx, a.token)?.rawUid === uid);
    if (leaked) fail(`${context}: an answer for ${label(leaked.user)} carried an advertising token of ${label(user)}, who had opted out of the site`);
  }
  return judged;
}

/** Users who did not opt out and got a token from a login (the precondition of a meaningful pass). */
const servedControls = (rec: Recorder, controls: readonly User[]) => controls.filter((u) => rec.of(u).some((a) => a.op === 'login' && a.token !== null));

export const siteOptoutChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.site-optout.before-login',
    rule: 'PUB-SITE-OPTOUT',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users who opt out of the site before logging in (email, gmail, dotted, phone; one spelling) are never generated for in any spelling',
    async run(ctx) {
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      const [control] = newUsers(ctx, ['email'], 5) as [User];
      const rec = new Recorder(ctx);
      for (const user of users) await rec.siteOptout(user, 1);
      for (const user of users) for (let s = 0; s < spellingCount(user); s++) await rec.login(user, s + 2);
      await rec.login(control);
      await rec.tick();
      for (const user of users) for (let s = 0; s < spellingCount(user); s++) await rec.ad(user, s);
      await rec.ad(control);
      if (servedControls(rec, [control]).length === 0) undecided(`the publisher gave ${label(control)}, who did not opt out, no token at login either: the kit cannot tell honoring site opt-outs from serving no one`);
      judgeSiteOptouts(ctx, users, rec, 'opted out before any login');
      return `${listUsers(users)} opted out of the site before logging in: no generate request and no token in ${plural(rec.answers.length - 2, 'login and ad request')} in every spelling; ${label(control)} got a token`;
    },
  },
  {
    id: 'publisher.site-optout.logged-in',
    rule: 'PUB-SITE-OPTOUT',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users who opt out of the site while logged in (in another spelling) get no token in ad requests from then on, past refresh_from, and no new generate',
    async run(ctx) {
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      const [control] = newUsers(ctx, ['email'], 5) as [User];
      const rec = new Recorder(ctx);
      for (const user of [...users, control]) await rec.login(user);
      const loggedIn = users.filter((u) => rec.of(u).some((a) => a.token !== null));
      if (loggedIn.length === 0) undecided(`the publisher gave none of ${listUsers(users)} a token at login: nothing to take away`);
      for (const user of users) await rec.siteOptout(user, 1);
      // At once, in the login spelling and every other one.
      for (const user of users) for (let s = 0; s < spellingCount(user); s++) await rec.ad(user, s);
      judgeSiteOptouts(ctx, users, rec, 'right after the site opt-out of users who were logged in');
      // After the session's refresh_from: a due refresh, a tick, and a new login change nothing.
      const t = timing(ctx);
      await sleep(t.refreshAfter + t.step);
      await rec.tick();
      for (const user of users) await rec.ad(user);
      await rec.ad(control);
      for (const user of users) await rec.login(user, 2);
      for (const user of users) await rec.ad(user);
      if (!rec.of(control).some((a) => a.op === 'ad' && a.token !== null)) {
        undecided(`the publisher served ${label(control)}, logged in and never opted out, no token in its ad request after refresh_from: the kit cannot tell honoring site opt-outs from serving no one`);
      }
      judgeSiteOptouts(ctx, users, rec, 'after refresh_from of the session of users who opted out of the site while logged in');
      const refreshed = users.filter((u) => ctx.callsAbout(u.canonical, rec.siteOutSince.get(u.n)!).some((c) => c.endpoint === 'refresh' && c.status === 'success'));
      if (refreshed.length > 0) ctx.note(`the publisher still refreshed the session of ${listUsers(refreshed)} after the site opt-out (it served no token from it)`);
      return `${listUsers(loggedIn)} logged in, opted out of the site in another spelling: no token in any ad request from then on, past refresh_from, and no generate at a new login; ${label(control)} kept its token`;
    },
  },
  {
    id: 'publisher.site-optout.sequences',
    rule: 'PUB-SITE-OPTOUT',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated populations and sequences of logins, ad requests, ticks, site and global opt-outs, then every spelling of each site-opted-out user: no UID2 for them',
    async run(ctx) {
      let judged = 0;
      let served = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: true, global: true, require: 'site' }),
        async (plan) => {
          // After the generated steps, every site-opted-out user logs in and is asked for, in every spelling; then a
          // new user who opted out of nothing logs in, so every case shows whether the publisher serves anyone.
          const { users, rec } = await runPlan(ctx, plan, async (users, rec) => {
            const out = users.filter((u) => rec.siteOutSince.has(u.n));
            await rec.tick();
            for (const user of out) for (let s = 0; s < spellingCount(user); s++) await rec.ad(user, s);
            for (const user of out) for (let s = 0; s < spellingCount(user); s++) await rec.login(user, s);
            if (out.length > 0) await rec.login(newUser(ctx, users.length + 1, 'email'));
          });
          const out = new Set(rec.siteOutSince.keys());
          served += rec.answers.filter((a) => a.token !== null && !out.has(a.user.n) && !rec.globalOutAt.has(a.user.n)).length;
          judged += judgeSiteOptouts(ctx, users, rec, 'in the generated sequence');
        },
        (plan) => `${describePlan(plan)}; then every site-opted-out user in every spelling, and a new user's login`,
        { runs: Math.min(ctx.settings.runs, 15) },
      );
      if (served === 0) undecided('the publisher gave no token to any generated user who did not opt out: the kit cannot tell honoring site opt-outs from serving no one');
      if (judged === 0) undecided('no generated sequence had a site opt-out: nothing to judge');
      return `${message}; ${plural(judged, 'judgment')} of site-opted-out users, ${plural(served, 'token')} served to the others`;
    },
  },
];
