// PUB-OPTOUT-REMEMBERED (SHOULD): the publisher remembers an `optout` answer: later logins of that user within
// 72 hours make no generate call (RULES.md v1.1; UID2-SPEC §7: the JS SDK stores the opt-out for 72 h and will
// not generate again for that DII; the mobile SDKs do not repeat generateIdentity). A publisher built from the
// server-side guide generates once at every login; it breaks this rule, not PUB-OPTOUT-RESPONSE.
//
// The kit's reading: from the first `optout` answer about a person (to generate, CSTG or refresh: the SDKs keep
// either), no generate call falls in the time of a later login of that person, in any spelling, that started
// within 72 h of the answer (calls are attributed to logins as in PUB-OPTOUT-RESPONSE: support.ts loginsAfter).
// Generates retried within the login that got the answer are PUB-OPTOUT-RESPONSE's concern and not judged here.
// Users with no optout answer, or no login after it, are not judged; a check with none ends `undecided`.
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import {
  GENERATE_ENDPOINTS,
  describePlan,
  label,
  listUsers,
  loginsAfter,
  loginsAfterGlobalOptout,
  newUsers,
  planArbitrary,
  plural,
  Recorder,
  reloginGloballyOptedOut,
  runPlan,
  sleep,
  timing,
  type User,
} from './support.ts';

/** How long an optout answer is to be remembered (UID2-SPEC §7, §8: the JS SDK's marker). */
export const REMEMBER_MS = 72 * 3_600_000;

/** Fails on the first user a later login generated for; returns how many users and later logins were judged. */
function judgeRemembered(ctx: ParticipantCheckContext, users: readonly User[], rec: Recorder, sinceMs: number, context: string): { users: number; logins: number } {
  let judgedUsers = 0;
  let logins = 0;
  for (const user of users) {
    const answer = ctx.callsAbout(user.canonical, sinceMs).find((c) => c.status === 'optout' && (GENERATE_ENDPOINTS.has(c.endpoint) || c.endpoint === 'refresh'));
    if (!answer) continue;
    const later = loginsAfter(ctx, user, rec, sinceMs, answer.seq).later.filter((g) => g.login!.started < answer.at + REMEMBER_MS);
    if (later.length === 0) continue;
    const asked = later.filter((g) => g.generates.length > 0);
    if (asked.length > 0) {
      fail(`${context}: after the operator answered optout to ${answer.endpoint} for ${label(user)}, the publisher asked generate again at ${asked.length} of its ${plural(later.length, 'later login')} (within 72 h): the answer was not remembered`);
    }
    judgedUsers += 1;
    logins += later.length;
  }
  return { users: judgedUsers, logins };
}

export const optoutRememberedChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.optout-remembered.later-logins',
    rule: 'PUB-OPTOUT-REMEMBERED',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users globally opted out before logging in (email, gmail, dotted, phone), after the optout answer: three more logins in other spellings, with ad requests and ticks, make no generate call',
    async run(ctx) {
      const since = Date.now();
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      await loginsAfterGlobalOptout(ctx, rec, users);
      const judged = judgeRemembered(ctx, users, rec, since, 'opted out before the first login');
      if (judged.users === 0) undecided(`no optout answer was followed by a later login of ${listUsers(users)}: nothing to judge`);
      return `${plural(judged.users, 'user')} whose generate answered optout: ${plural(judged.logins, 'later login')} (in three spellings), none asked generate again`;
    },
  },
  {
    id: 'publisher.optout-remembered.after-refresh-optout',
    rule: 'PUB-OPTOUT-REMEMBERED',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users logged in (email, phone, gmail) who opt out globally: once their refresh answers optout, three more logins in other spellings make no generate call',
    async run(ctx) {
      const since = Date.now();
      const t = timing(ctx);
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'phone', 'gmail']);
      for (const user of users) await rec.login(user);
      for (const user of users) await rec.globalOptout(user);
      // Ticks and ad requests (as the users logged in) until every refresh answered optout, or the last could have:
      // while their tokens live, so a publisher that refreshes late (PUB-REFRESH's business) is judged here too.
      const refreshOptout = (user: User) => ctx.callsAbout(user.canonical, since).some((c) => c.endpoint === 'refresh' && c.status === 'optout');
      const until = Date.now() + Math.max(t.refreshAfter, ctx.tokens.identityLifetimeMs) + t.grace + 2 * t.step;
      while (!users.every(refreshOptout) && Date.now() < until) {
        await rec.tick();
        for (const user of users.filter((u) => !refreshOptout(u))) await rec.ad(user);
        await sleep(t.step);
      }
      const answered = users.filter(refreshOptout);
      if (answered.length === 0) undecided(`no refresh for ${listUsers(users)} answered optout (a publisher that keeps no session or never refreshes): nothing to judge here (PUB-REFRESH covers refreshing)`);
      for (const user of answered) for (const s of [1, 2, 0]) await rec.login(user, s);
      const judged = judgeRemembered(ctx, answered, rec, since, 'after an optout answer to refresh');
      return `${plural(judged.users, 'user')} whose refresh answered optout: ${plural(judged.logins, 'later login')} (in three spellings), none asked generate`;
    },
  },
  {
    id: 'publisher.optout-remembered.sequences',
    rule: 'PUB-OPTOUT-REMEMBERED',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated sequences of logins (any spelling), ad requests, ticks and global opt-outs, then three logins of each opted-out user: no later login after an optout answer asks generate',
    async run(ctx) {
      let users = 0;
      let logins = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: false, global: true, maxSteps: 14, require: 'global' }),
        async (plan) => {
          const run = await runPlan(ctx, plan, reloginGloballyOptedOut);
          const judged = judgeRemembered(ctx, run.users, run.rec, run.started, 'in the generated sequence');
          users += judged.users;
          logins += judged.logins;
        },
        (plan) => `${describePlan(plan)}; then three logins of each globally opted-out user`,
        { runs: Math.min(ctx.settings.runs, 15) },
      );
      if (users === 0) undecided('no optout answer in the generated sequences was followed by a later login: nothing to judge');
      return `${message}; ${plural(users, 'user')} with an optout answer, ${plural(logins, 'later login')}, none asked generate`;
    },
  },
];
