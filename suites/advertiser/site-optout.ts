// ADV-SITE-OPTOUT: an advertiser or data provider maps no identity of a user who opted out of that participant
// (RULES.md; UID2-SPEC §7). Judged from the kit's operator call log: from the moment the driver acknowledged the
// site opt-out, no identity map (nor generate / CSTG) request carries that user's DII in any form. What a real
// implementation gets wrong: suppressing only the answer and mapping anyway, keying the opt-out list by the
// address as written (another gmail spelling, case, spaces), honoring it only for users it knew before, and
// forgetting it over later syncs; the property mixes these with global opt-outs and invalid identifiers.
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { acceptsInvalidIdentifiers, describePlan, label, listUsers, mappingCallsAbout, markAfterNow, newUser, planArbitrary, runPlan, spell, type User } from './support.ts';

/** Fails when any of `users` was asked about since its site opt-out; `since` per user. */
function judgeNotMapped(ctx: ParticipantCheckContext, optedOut: ReadonlyArray<{ user: User; since: number; how: string }>): void {
  const mapped = optedOut.filter(({ user, since }) => mappingCallsAbout(ctx, user, since).length > 0);
  if (mapped.length === 0) return;
  const details = mapped.map(({ user, since, how }) => {
    const calls = mappingCallsAbout(ctx, user, since);
    const endpoints = [...new Set(calls.map((c) => c.endpoint))].join(', ');
    return `${label(user)} (opted out ${how}): ${calls.length} ${endpoints} request${calls.length === 1 ? '' : 's'} carried its DII afterwards`;
  });
  fail(`the advertiser mapped users who had opted out of it: ${details.join('; ')}`);
}

/** The precondition of a pass: the same syncs did map users who did not opt out. */
function requireMapped(ctx: ParticipantCheckContext, controls: readonly User[], since: number, what: string): User[] {
  const mapped = controls.filter((u) => mappingCallsAbout(ctx, u, since).length > 0);
  if (mapped.length === 0) undecided(`${what}: the advertiser did not ask identity map about ${listUsers(controls)}, who did not opt out, either: the kit cannot tell honoring the site opt-out from mapping nobody`);
  return mapped;
}

export const siteOptoutChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'advertiser.site-optout.known-users',
    rule: 'ADV-SITE-OPTOUT',
    kind: 'scenario',
    needs: ['advertiser'],
    title: 'users mapped before they opt out of the advertiser (email, phone) are not mapped again in later syncs',
    async run(ctx) {
      const [email, phone, stays] = (['email', 'phone', 'email'] as const).map((kind, i) => newUser(ctx, i + 1, kind)) as [User, User, User];
      const before = Date.now();
      await ctx.driver.sync([email.canonical, phone.canonical, stays.canonical]);
      requireMapped(ctx, [email, phone, stays], before, 'sync 1');
      await ctx.driver.advertiserSiteOptout(email.canonical);
      await ctx.driver.advertiserSiteOptout(phone.canonical);
      const since = await markAfterNow();
      await ctx.driver.sync([email.canonical, stays.canonical, phone.canonical]);
      await ctx.driver.sync([phone.canonical, email.canonical, stays.canonical]);
      judgeNotMapped(ctx, [
        { user: email, since, how: 'after sync 1' },
        { user: phone, since, how: 'after sync 1' },
      ]);
      requireMapped(ctx, [stays], since, 'the syncs after the site opt-outs');
      return `${listUsers([email, phone])} were not mapped in the two syncs after their site opt-out; ${label(stays)} was`;
    },
  },
  {
    id: 'advertiser.site-optout.other-spelling',
    rule: 'ADV-SITE-OPTOUT',
    kind: 'scenario',
    needs: ['advertiser'],
    title: 'a site opt-out in one spelling (gmail dots and +tag, case, spaces) holds for every spelling of the user, known or new to the advertiser',
    async run(ctx) {
      const [knownGmail, newGmail, newEmail, stays] = (['gmail', 'gmail', 'email', 'email'] as const).map((kind, i) => newUser(ctx, i + 1, kind)) as [User, User, User, User];
      const before = Date.now();
      await ctx.driver.sync([spell(knownGmail, 2), stays.canonical]);
      requireMapped(ctx, [knownGmail, stays], before, 'sync 1');
      await ctx.driver.advertiserSiteOptout(spell(knownGmail, 1));
      await ctx.driver.advertiserSiteOptout(spell(newGmail, 1));
      await ctx.driver.advertiserSiteOptout(spell(newEmail, 2));
      const since = await markAfterNow();
      // Every spelling: the one of the opt-out, the canonical one, another one.
      await ctx.driver.sync([knownGmail.canonical, newGmail.canonical, newEmail.canonical, stays.canonical, spell(newGmail, 2), spell(knownGmail, 2), spell(newEmail, 1)]);
      await ctx.driver.sync([spell(knownGmail, 1), spell(newGmail, 1), spell(newEmail, 2), stays.canonical]);
      judgeNotMapped(ctx, [
        { user: knownGmail, since, how: 'in another spelling than it was mapped in' },
        { user: newGmail, since, how: 'with dots and a +tag, before any sync' },
        { user: newEmail, since, how: 'in upper case with spaces, before any sync' },
      ]);
      requireMapped(ctx, [stays], since, 'the syncs after the site opt-outs');
      return `no spelling of ${listUsers([knownGmail, newGmail, newEmail])} was mapped after their site opt-outs; ${label(stays)} was`;
    },
  },
  {
    id: 'advertiser.site-optout.sequences',
    rule: 'ADV-SITE-OPTOUT',
    kind: 'property',
    needs: ['advertiser'],
    title: 'generated users and sequences of syncs (spellings, duplicates, invalid identifiers), site and global opt-outs: no site-opted-out user is mapped again',
    async run(ctx) {
      let mappedOthers = 0;
      let judged = 0;
      const invalid = await acceptsInvalidIdentifiers(ctx);
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: 3, global: 1, invalid }),
        async (plan) => {
          const started = Date.now();
          const trace = await runPlan(ctx, plan);
          const optedOut = [...trace.siteOutSince].map(([i, since]) => ({ user: trace.users[i]!, since, synced: trace.syncs.filter((s) => s.since >= since && s.users.includes(trace.users[i]!)).length }));
          const mapped = optedOut.filter(({ user, since }) => mappingCallsAbout(ctx, user, since).length > 0);
          if (mapped.length > 0) {
            const details = mapped.map(({ user, since }) => {
              const at = mappingCallsAbout(ctx, user, since)[0]!.at;
              const sync = trace.syncs.filter((s) => s.since <= at).at(-1);
              return `${label(user)} in ${sync ? `sync ${sync.n}` : 'no sync (between driver calls)'}`;
            });
            fail(`the advertiser mapped users after they opted out of it: ${details.join('; ')}`);
          }
          judged += optedOut.filter((o) => o.synced > 0).length;
          const others = trace.users.filter((u, i) => !trace.siteOutSince.has(i));
          mappedOthers += others.filter((u) => mappingCallsAbout(ctx, u, started).length > 0).length;
        },
        describePlan,
        { runs: ctx.settings.runs },
      );
      if (mappedOthers === 0) undecided('the advertiser asked identity map about no user at all: the kit cannot tell honoring site opt-outs from mapping nobody');
      return `${message}${invalid ? '' : ' (without invalid identifiers: the driver refuses them)'}; ${judged} site-opted-out users synced again and never mapped, ${mappedOthers} other users mapped`;
    },
  },
];
