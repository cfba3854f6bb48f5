// PUB-OPTOUT-CHECK: every generate request a publisher sends carries `optout_check: 1` (RULES.md; UID2-SPEC
// §1.1: required, the number 1, from Oct 2023). Judged from the kit's operator call log: every `generate` call
// concerning the case's users, whatever caused it (first login, a login in another spelling, a repeated login,
// a login of a globally opted-out user — where the parameter matters most — an ad request or a tick). CSTG has
// no such parameter and is not judged. What implementations get wrong: one code path (phone, hashed input, the
// re-login path) that builds the request without it, or sends it as a string or boolean.
import { fail, notApplicable, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { callsTo, describePlan, label, newUsers, planArbitrary, plural, Recorder, runPlan, type User } from './support.ts';

/** Fails on the first generate request about `users` since `sinceMs` without optout_check 1; returns the count. */
function judgeOptoutCheck(ctx: ParticipantCheckContext, users: readonly User[], sinceMs: number, context: string): number {
  let generates = 0;
  for (const user of users) {
    const calls = callsTo(ctx, user, 'generate', sinceMs);
    generates += calls.length;
    const bad = calls.find((c) => c.optoutCheck !== 1);
    if (bad) fail(`${context}: a generate request for ${label(user)} carried optout_check ${JSON.stringify(bad.optoutCheck ?? null)}, not 1`);
  }
  return generates;
}

/**
 * No generate to judge: a publisher that generated client-side only (CSTG, which has no optout_check) is not
 * subject to the rule; one that generated nothing at all is undecided.
 */
function nothingToJudge(ctx: ParticipantCheckContext, users: readonly User[], sinceMs: number): never {
  if (users.some((u) => callsTo(ctx, u, 'client-generate', sinceMs).length > 0)) {
    notApplicable('the publisher generates client-side only (CSTG, which has no optout_check parameter): no server-side generate request to judge');
  }
  undecided('the publisher sent no generate request for any login: nothing to judge (PUB-SITE-NOT-RELAYED covers a publisher that never generates)');
}

export const optoutCheckChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.optout-check.paths',
    rule: 'PUB-OPTOUT-CHECK',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'generate requests for email, gmail, dotted and phone logins, other spellings, repeated logins and globally opted-out users carry optout_check 1',
    async run(ctx) {
      const since = Date.now();
      const rec = new Recorder(ctx);
      const users = newUsers(ctx, ['email', 'gmail', 'dotted', 'phone']);
      const out = newUsers(ctx, ['email', 'phone'], 5);
      for (const user of out) await rec.globalOptout(user);
      for (const user of [...users, ...out]) await rec.login(user);
      for (const user of [...users, ...out]) await rec.login(user, 1);
      await rec.tick();
      for (const user of users) await rec.ad(user);
      const generates = judgeOptoutCheck(ctx, [...users, ...out], since, 'logins of every kind');
      if (generates === 0) nothingToJudge(ctx, [...users, ...out], since);
      return `${plural(generates, 'generate request')} for logins by email, gmail, dotted email and phone, in two spellings, two of them globally opted out: each with optout_check 1`;
    },
  },
  {
    id: 'publisher.optout-check.logins',
    rule: 'PUB-OPTOUT-CHECK',
    kind: 'property',
    needs: ['publisher'],
    title: 'every generate request in generated sequences of logins (any kind, any spelling), ad requests, ticks and global opt-outs carries optout_check 1',
    async run(ctx) {
      let generates = 0;
      const judged: User[] = [];
      const since = Date.now();
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: false, global: true, maxSteps: 10 }),
        async (plan) => {
          const { users, started } = await runPlan(ctx, plan);
          judged.push(...users);
          generates += judgeOptoutCheck(ctx, users, started, 'in the generated sequence');
        },
        describePlan,
        { runs: Math.min(ctx.settings.runs, 10) },
      );
      if (generates === 0) nothingToJudge(ctx, judged, since);
      return `${message}; ${plural(generates, 'generate request')}, each with optout_check 1`;
    },
  },
];
