// PUB-OPTOUT-RESPONSE: after an `optout` answer to generate, the publisher has and sends no advertising token
// for that user, and does not retry generate in a loop (RULES.md; UID2-SPEC §1.1, §7).
//
// The kit's reading. "Has and sends no token": from the moment the operator answered optout to a generate (or
// CSTG) request for a person, every login and ad request for that person answers no token — including a token
// of a session the user had before the opt-out, whose refresh has not come due yet (the generate answer is the
// publisher's news of the opt-out; it must not wait for the old chain's refresh). "No retry loop": a global
// opt-out is permanent (§5.1: any record means opted out), so asking again can only get optout again; the SDKs
// §7 cites remember the answer (the JS SDK does not generate again for an opted-out DII even when the identity
// is set again; mobile: do not repeat generateIdentity). The kit allows at most ONE further generate request
// for that person after its first optout answer, over at least three later logins (in several spellings), ad
// requests and ticks; two or more are a loop. Judged from the call log (generate answers, their times) and the
// driver's answers; users whose generate never answered optout are not judged (a publisher that reuses a
// session at re-login never asks), and a check with no such user ends `undecided`.
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { decodeToken, describePlan, generateCalls, label, listUsers, newUsers, planArbitrary, plural, Recorder, runPlan, sleep, timing, type User } from './support.ts';

/** How many more generate requests for a person the kit tolerates after its first optout answer. */
export const FURTHER_GENERATES_ALLOWED = 1;

/** Fails on the first user the publisher kept a token for, or asked generate for in a loop; returns the users judged. */
function judgeOptoutResponse(ctx: ParticipantCheckContext, users: readonly User[], rec: Recorder, sinceMs: number, context: string): User[] {
  const judged: User[] = [];
  for (const user of users) {
    const calls = generateCalls(ctx, user, sinceMs);
    const first = calls.findIndex((c) => c.status === 'optout');
    if (first < 0) continue;
    const answered = calls[first]!.seq;
    // Every answer given after the optout answer reached the publisher, including the one to the request
    // that caused it.
    const served = rec.of(user).find((a) => a.seqAfter >= answered && a.token !== null);
    if (served) {
      const during = served.seqBefore < answered ? ` (the ${served.op === 'ad' ? 'ad request' : 'login'} that got the optout answer)` : '';
      fail(`${context}: after the operator answered optout to generate for ${label(user)}, the publisher still answered ${served.op === 'ad' ? 'an ad request' : 'a login'} with an advertising token${during}`);
    }
    const again = calls.length - first - 1;
    if (again > FURTHER_GENERATES_ALLOWED) {
      const logins = rec.of(user).filter((a) => a.op === 'login' && a.seqBefore >= answered).length;
      fail(`${context}: after the operator answered optout to generate for ${label(user)}, the publisher asked generate ${again} more times (over ${plural(logins, 'later login')}): a retry loop; the answer is final`);
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
    title: 'users globally opted out before logging in (email, gmail, dotted, phone) get no token and no repeated generate over three more logins, ad requests and ticks',
    async run(ctx) {
      const since = Date.now();
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      for (const user of users) await rec.globalOptout(user);
      for (const user of users) await rec.login(user);
      for (const user of users) await rec.ad(user);
      await rec.tick();
      for (const user of users) await rec.login(user, 1);
      await sleep(2 * timing(ctx).step);
      await rec.tick();
      for (const user of users) await rec.login(user);
      for (const user of users) await rec.ad(user);
      for (const user of users) await rec.login(user, 2);
      await rec.tick();
      const judged = judgeOptoutResponse(ctx, users, rec, since, 'opted out before the first login');
      if (judged.length === 0) undecided(`the publisher sent no generate request that answered optout for ${listUsers(users)}: nothing to judge`);
      return `${listUsers(judged)}: no token after the optout answer to generate, and at most ${FURTHER_GENERATES_ALLOWED} more generate request over four logins`;
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
        undecided(`the publisher did not ask generate again when ${listUsers(users)} logged in after their global opt-out (it reused the session): no optout answer to generate to judge here (PUB-REFRESH-OPTOUT covers the session's refresh)`);
      }
      if (early === 0) ctx.note("no ad request came before the old session's refresh_from (the driver was slow): the case of a kept session was not exercised");
      return `${listUsers(judged)}: no token from the moment generate answered optout (${early} ad request${early === 1 ? '' : 's'} before the old session came due for refresh), no repeated generate`;
    },
  },
  {
    id: 'publisher.optout-response.sequences',
    rule: 'PUB-OPTOUT-RESPONSE',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated sequences of logins (any spelling), ad requests, ticks and global opt-outs, then three logins of each opted-out user: after an optout answer to generate, no token and no generate loop',
    async run(ctx) {
      let judged = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: false, global: true, maxSteps: 14 }),
        async (plan) => {
          // After the generated steps, every globally opted-out user logs in three times (three spellings), each
          // followed by an ad request in the spelling of its first login.
          const { users, rec, started } = await runPlan(ctx, plan, async (users, rec) => {
            for (const user of users.filter((u) => rec.globalOutAt.has(u.n))) {
              const home = rec.of(user).find((a) => a.op === 'login')?.spelling ?? 0;
              for (const s of [home, home + 1, home + 2]) {
                await rec.login(user, s);
                await rec.ad(user, home);
              }
            }
          });
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
