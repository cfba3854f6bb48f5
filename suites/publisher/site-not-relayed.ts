// PUB-SITE-NOT-RELAYED: a site opt-out is not relayed to UID2 (no logout call), and the publisher keeps
// generating for its other users (RULES.md; UID2-SPEC §7, §5.2). Judged from the operator's call log: no
// `/v2/token/logout` request concerning a site-opted-out user (the kit's operator refuses the publisher's key
// with 401, but the call itself is the relay), and for every other user a login answers a token and a generate
// (or CSTG) request concerning that user was made. "Other users" include look-alikes that are other people
// (UID2-SPEC §3.1: outside gmail.com, dots and +tags count; the same local part at another domain is someone
// else) and users logging in right after the opt-out. What implementations get wrong: forwarding the opt-out
// (to be safe), normalizing every domain like gmail.com so look-alikes are blocked, blocking by local part or
// domain, and a publisher that generates for no one must fail (not pass by accident).
import fc from 'fast-check';
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { callsTo, generateCalls, label, listUsers, lookAlikes, newUser, newUsers, plural, Recorder, siteOptoutsOf, sleep, timing, USER_KINDS, type User, type UserKind } from './support.ts';

/** Fails when any logout request concerned one of `users` since `sinceMs`. */
function judgeNoLogout(ctx: ParticipantCheckContext, users: readonly User[], sinceMs: number, context: string): void {
  const relayed = users.filter((u) => callsTo(ctx, u, 'logout', sinceMs).length > 0);
  if (relayed.length === 0) return;
  const n = relayed.reduce((sum, u) => sum + callsTo(ctx, u, 'logout', sinceMs).length, 0);
  fail(`${context}: the publisher relayed site opt-outs to UID2: ${plural(n, 'logout request')} concerning ${listUsers(relayed)}`);
}

/**
 * Fails when a user who did not opt out got no token from a login, or (for a user first seen at or after
 * `newSince`) no generate request was made for it. Returns how many logins were judged.
 */
function judgeKeepsGenerating(ctx: ParticipantCheckContext, others: readonly User[], rec: Recorder, afterMs: number, context: string): number {
  let judged = 0;
  for (const user of others) {
    const logins = rec.of(user).filter((a) => a.op === 'login' && a.started >= afterMs);
    if (logins.length === 0) continue;
    const refused = logins.find((a) => a.token === null);
    if (refused) fail(`${context}: a login of ${label(user)}, who did not opt out of the site, got no advertising token`);
    const first = rec.of(user).find((a) => a.op === 'login')!;
    if (first.started >= afterMs && generateCalls(ctx, user, first.started).length === 0) {
      fail(`${context}: the publisher sent no generate request for ${label(user)}, who did not opt out of the site, when it logged in`);
    }
    judged += logins.length;
  }
  return judged;
}

export const siteNotRelayedChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.site-not-relayed.look-alikes',
    rule: 'PUB-SITE-NOT-RELAYED',
    kind: 'scenario',
    needs: ['publisher'],
    title: 'site opt-outs (logged in or not) make no logout call; look-alikes who are other people, new users and users logged in before still get UID2s',
    async run(ctx) {
      const since = Date.now();
      const rec = new Recorder(ctx);
      const optedOut = newUsers(ctx, ['dotted', 'email', 'gmail', 'phone']);
      const [dotted, email, gmail, phone] = optedOut as [User, User, User, User];
      const before = newUsers(ctx, ['email', 'phone'], 5);
      for (const user of [dotted, email, phone, ...before]) await rec.login(user);
      for (const user of optedOut) await rec.siteOptout(user, user === gmail ? 1 : 0);
      const after = await rec.siteOptout(dotted, 2); // a repeat in another spelling: the last acknowledgement
      const alikes = [...lookAlikes(dotted, 7), ...lookAlikes(email, 10), ...lookAlikes(gmail, 12)];
      const fresh = newUsers(ctx, ['email', 'phone', 'gmail', 'dotted'], 13);
      for (const user of [...alikes, ...fresh, ...before]) await rec.login(user);
      await rec.tick();
      await sleep(timing(ctx).step);
      judgeNoLogout(ctx, optedOut, since, 'after site opt-outs of users logged in and not');
      judgeKeepsGenerating(ctx, [...alikes, ...fresh, ...before], rec, after, 'after other users opted out of the site');
      return `no logout call for ${listUsers(optedOut)}; ${plural(alikes.length, 'look-alike')} (other people), ${plural(fresh.length, 'new user')} and ${plural(before.length, 'user')} logged in before all got a UID2 right after`;
    },
  },
  {
    id: 'publisher.site-not-relayed.sequences',
    rule: 'PUB-SITE-NOT-RELAYED',
    kind: 'property',
    needs: ['publisher'],
    title: 'generated site opt-outs among generated users and their look-alikes, then every other user logs in: never a logout call, and every other user who logs in gets a UID2',
    async run(ctx) {
      let judged = 0;
      let optouts = 0;
      const population = fc.record({
        optedOut: fc.array(fc.constantFrom(...USER_KINDS), { minLength: 1, maxLength: 2 }),
        fresh: fc.array(fc.constantFrom(...USER_KINDS), { minLength: 0, maxLength: 2 }),
      });
      const arbitrary = population.chain(({ optedOut, fresh }) => {
        const alikes = optedOut.reduce((n, kind) => n + (kind === 'dotted' ? 3 : kind === 'email' ? 2 : kind === 'gmail' ? 1 : 0), 0);
        const people = optedOut.length + alikes + fresh.length;
        const step = fc.oneof(
          { weight: 3, arbitrary: fc.record({ op: fc.constant('site' as const), user: fc.nat({ max: optedOut.length - 1 }), spelling: fc.nat({ max: 2 }) }) },
          { weight: 5, arbitrary: fc.record({ op: fc.constant('login' as const), user: fc.nat({ max: people - 1 }) }) },
          { weight: 2, arbitrary: fc.record({ op: fc.constant('ad' as const), user: fc.nat({ max: people - 1 }) }) },
          { weight: 1, arbitrary: fc.constant({ op: 'tick' as const }) },
        );
        return fc.record({ optedOut: fc.constant(optedOut), fresh: fc.constant(fresh), steps: fc.array(step, { minLength: 3, maxLength: 12 }) });
      });
      type Case = { optedOut: UserKind[]; fresh: UserKind[]; steps: Array<{ op: 'site'; user: number; spelling: number } | { op: 'login' | 'ad'; user: number } | { op: 'tick' }> };
      const peopleOf = (ctx: ParticipantCheckContext, c: Case) => {
        const out = c.optedOut.map((kind, i) => newUser(ctx, i + 1, kind));
        let n = out.length + 1;
        const alikes = out.flatMap((u) => {
          const list = lookAlikes(u, n);
          n += list.length;
          return list;
        });
        const fresh = c.fresh.map((kind) => newUser(ctx, n++, kind));
        return { out, others: [...alikes, ...fresh], all: [...out, ...alikes, ...fresh] };
      };
      const describe = (c: Case) => {
        let n = c.optedOut.length;
        const alikes = c.optedOut.map((kind, i) => {
          const k = kind === 'dotted' ? 3 : kind === 'email' ? 2 : kind === 'gmail' ? 1 : 0;
          const text = k > 0 ? `${n + 1}${k > 1 ? `–${n + k}` : ''} look like ${i + 1}` : '';
          n += k;
          return text;
        });
        const fresh = c.fresh.map((kind) => `${++n} ${kind}`);
        const steps = c.steps.map((s) => (s.op === 'tick' ? 'tick' : s.op === 'site' ? `site opt-out ${s.user + 1}${s.spelling ? `/s${s.spelling}` : ''}` : `${s.op === 'ad' ? 'ad request' : 'login'} ${s.user + 1}`));
        return `opting out: ${c.optedOut.map((k, i) => `${i + 1} ${k}`).join(', ')}; ${[...alikes.filter(Boolean), ...fresh].join(', ') || 'no others'}; ${steps.join('; ')}; then every site opt-out and every other user's login`;
      };
      const message = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (c) => {
          const since = Date.now();
          const { out, others, all } = peopleOf(ctx, c);
          const rec = new Recorder(ctx);
          for (const step of c.steps) {
            if (step.op === 'tick') await rec.tick();
            else if (step.op === 'site') await rec.siteOptout(out[step.user]!, step.spelling);
            else if (step.op === 'login') await rec.login(all[step.user]!);
            else await rec.ad(all[step.user]!);
          }
          // Then every opting-out user has opted out (once more, or for the first time), and every other user logs in.
          for (const user of out) await rec.siteOptout(user, rec.siteOutSince.has(user.n) ? 1 : 0);
          await rec.tick();
          for (const user of others) await rec.login(user);
          optouts += rec.siteOutSince.size;
          judgeNoLogout(ctx, out, since, 'in the generated sequence');
          const first = Math.min(...rec.siteOutSince.values());
          if (Number.isFinite(first)) judged += judgeKeepsGenerating(ctx, others, rec, first, 'in the generated sequence');
        },
        describe,
        { runs: Math.min(ctx.settings.runs, 15) },
      );
      if (judged === 0) undecided('no generated case had another user log in after a site opt-out (only phones opted out, who have no look-alikes, and no new users): nothing to judge');
      return `${message}; ${plural(optouts, 'site opt-out')} not relayed, ${plural(judged, 'login')} of other users after them each got a UID2`;
    },
  },
  {
    id: 'publisher.site-not-relayed.whole-session',
    rule: 'PUB-SITE-NOT-RELAYED',
    kind: 'scenario',
    needs: ['publisher'],
    last: true,
    title: 'over the whole session, no logout call ever concerned a user who opted out of the site (a relay may come late)',
    async run(ctx) {
      const rec = new Recorder(ctx);
      const [email, phone, next] = newUsers(ctx, ['email', 'phone', 'email']) as [User, User, User];
      await rec.login(email);
      await rec.siteOptout(email, 1);
      await rec.siteOptout(phone);
      const after = rec.siteOutSince.get(email.n)!;
      await rec.login(next);
      await rec.tick();
      await sleep(timing(ctx).step);
      judgeKeepsGenerating(ctx, [next], rec, after, 'after two users opted out of the site');
      const persons = siteOptoutsOf(ctx.operator);
      const relays = ctx.calls(0).filter((c) => c.endpoint === 'logout' && c.persons.some((p) => persons.has(p) && c.at >= persons.get(p)!));
      if (relays.length > 0) {
        const who = new Set(relays.flatMap((c) => c.persons.filter((p) => persons.has(p))));
        fail(`over the session the publisher sent ${plural(relays.length, 'logout request')} concerning ${plural(who.size, 'user')} who had opted out of its site (of ${persons.size} site opt-outs made by the publisher checks)`);
      }
      return `no logout call for any of the ${plural(persons.size, 'site opt-out')} the publisher checks made over the session; a user logging in after them got a UID2`;
    },
  },
];
