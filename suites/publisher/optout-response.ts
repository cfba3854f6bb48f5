// PUB-OPTOUT-RESPONSE: after an `optout` answer to generate, the publisher has and sends no advertising token
// for that user, and does not retry generate in a loop: at most one generate per login for that user (RULES.md
// v1.1; UID2-SPEC §1.1, §7).
//
// The kit's reading. "Has and sends no token": from the moment the operator answered optout to a generate (or
// CSTG) request for a person, every login and ad request for that person answers no token — including a token
// of a session the user had before the opt-out, whose refresh has not come due yet (the generate answer is the
// publisher's news of the opt-out; it must not wait for the old chain's refresh). "No retry loop": a global
// opt-out is permanent (§5.1: any record means opted out), so asking again within one login can only get
// optout again. Each generate call is attributed to the login whose time it falls in (support.ts loginsAfter:
// the latest login of the person that had started, so background retries, ad requests and ticks count with
// the login before them); after the optout answer, a further generate in that login's time, or two in the time
// of a later login, is the violation. One generate at each later login is allowed here: a publisher built from
// the server-side guide does that, and remembering the answer across logins is PUB-OPTOUT-REMEMBERED's (SHOULD)
// concern. Judged from the call log and the driver's answers; users whose generate never answered optout are
// not judged (a publisher that reuses a session at re-login never asks), and a check with no such user ends
// `undecided`.
import { fail, notApplicable, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import {
  decodeToken,
  describePlan,
  generateCalls,
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
  timing,
  type User,
} from './support.ts';

/** Fails on the first user the publisher kept a token for, or asked generate again within one login; returns the users judged. */
function judgeOptoutResponse(ctx: ParticipantCheckContext, users: readonly User[], rec: Recorder, sinceMs: number, context: string): User[] {
  const judged: User[] = [];
  for (const user of users) {
    const answer = generateCalls(ctx, user, sinceMs).find((c) => c.status === 'optout');
    if (!answer) continue;
    const answered = answer.seq;
    // Every answer given after the optout answer reached the publisher, including the one to the request
    // that caused it.
    const served = rec.of(user).find((a) => a.seqAfter >= answered && a.token !== null);
    if (served) {
      const during = served.seqBefore < answered ? ` (the ${served.op === 'ad' ? 'ad request' : 'login'} that got the optout answer)` : '';
      fail(`${context}: after the operator answered optout to generate for ${label(user)}, the publisher still answered ${served.op === 'ad' ? 'an ad request' : 'a login'} with an advertising token${during}`);
    }
    const { current, later } = loginsAfter(ctx, user, rec, sinceMs, answered);
    if (current.generates.length > 0) {
      const where = current.login ? 'within the same login' : "before the user's next login";
      fail(`${context}: after the operator answered optout to generate for ${label(user)}, the publisher asked generate ${plural(current.generates.length, 'more time')} ${where}: a retry loop; the answer is final`);
    }
    const looped = later.findIndex((g) => g.generates.length > 1);
    if (looped >= 0) {
      fail(`${context}: after the operator answered optout to generate for ${label(user)}, the publisher asked generate ${later[looped]!.generates.length} times within one later login (login ${looped + 1} of ${later.length} after the answer): at most one generate per login`);
    }
    judged.push(user);
  }
  return judged;
}

export const optoutResponseChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.optout-response.before-login',
    rule: 'PUB-OPTOUT-RESPONSE',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'users globally opted out before logging in (email, gmail, dotted, phone) get no token, and no generate is retried within a login, over three more logins, ad requests and ticks',
    async run(ctx) {
      const since = Date.now();
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      await loginsAfterGlobalOptout(ctx, rec, users);
      const judged = judgeOptoutResponse(ctx, users, rec, since, 'opted out before the first login');
      if (judged.length === 0) undecided(`the publisher sent no generate request that answered optout for ${listUsers(users)}: nothing to judge`);
      return `${listUsers(judged)}: no token after the optout answer to generate, and at most one generate request per login over four logins`;
    },
  },
  {
    id: 'publisher.optout-response.logged-in-before',
    rule: 'PUB-OPTOUT-RESPONSE',
    kind: 'scenario',
    needs: ['publisher'],
    title: "users logged in before a global opt-out who log in again and get optout: no token at once, before the old session's refresh_from",
    async run(ctx) {
      const since = Date.now();
      const t = timing(ctx);
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'phone', 'gmail']);
      const refreshFrom = new Map<User, number>();
      for (const user of users) {
        const token = await rec.login(user, user.kind === 'gmail' ? 1 : 0);
        const facts = token === null ? undefined : decodeToken(ctx, token);
        if (facts) refreshFrom.set(user, facts.generatedMs + t.refreshAfter);
      }
      if (refreshFrom.size === 0) undecided(`the publisher gave none of ${listUsers(users)} a token at login: no session to keep`);
      for (const user of users) await rec.globalOptout(user);
      // Each user at once: a new login (the generate answers optout), then an ad request, before the session
      // it had would come due for refresh.
      let early = 0;
      for (const user of users) {
        await rec.login(user, user.kind === 'gmail' ? 1 : 0);
        await rec.ad(user, user.kind === 'gmail' ? 1 : 0);
        const due = refreshFrom.get(user);
        if (due !== undefined && rec.answers.at(-1)!.started < due) early += 1;
      }
      await rec.tick();
      for (const user of users) await rec.ad(user, user.kind === 'gmail' ? 1 : 0);
      for (const user of users) await rec.login(user, 2);
      for (const user of users) await rec.ad(user, user.kind === 'gmail' ? 1 : 0);
      const judged = judgeOptoutResponse(ctx, users, rec, since, 'logged in before the opt-out');
      if (judged.length === 0) {
        // A publisher that keeps the session at a new login (the UID2 SDK does while its identity is live) never
        // asks generate here: this case does not arise for it.
        notApplicable(`the publisher did not ask generate again when ${listUsers(users)} logged in after their global opt-out (it reused the session): no optout answer to generate to judge here (PUB-REFRESH-OPTOUT covers the session's refresh)`);
      }
      if (early === 0) ctx.note("no ad request came before the old session's refresh_from (the driver was slow): the case of a kept session was not exercised");
      return `${listUsers(judged)}: no token from the moment generate answered optout (${early} ad request${early === 1 ? '' : 's'} before the old session came due for refresh), no generate retried within a login`;
    },
  },
  {
    id: 'publisher.optout-response.sequences',
    rule: 'PUB-OPTOUT-RESPONSE',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated sequences of logins (any spelling), ad requests, ticks and global opt-outs, then three logins of each opted-out user: after an optout answer to generate, no token and at most one generate per login',
    async run(ctx) {
      let judged = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: false, global: true, maxSteps: 14, require: 'global' }),
        async (plan) => {
          const { users, rec, started } = await runPlan(ctx, plan, reloginGloballyOptedOut);
          judged += judgeOptoutResponse(ctx, users, rec, started, 'in the generated sequence').length;
        },
        (plan) => `${describePlan(plan)}; then three logins of each globally opted-out user`,
        { runs: Math.min(ctx.settings.runs, 15) },
      );
      if (judged === 0) undecided('no generate request in the generated sequences answered optout: nothing to judge');
      return `${message}; ${plural(judged, 'user')} whose generate answered optout judged`;
    },
  },
];
