// ADV-MAP-OPTOUT: an advertiser or data provider never uses or sends onward a raw UID2 for an identity that
// identity map reports as `optout`, and drops ones it mapped earlier when a re-map says `optout` (RULES.md;
// UID2-SPEC §1.3, §6.3). Judged from the sync answers (`raw_uid2s`: what it would now use or send onward): no
// raw UID2 of a user who opted out globally before the sync. The situations a real implementation gets wrong:
// a re-sync after the opt-out (a store that only writes on success), an invalid identifier earlier in the
// same v3 array (answers read as if invalid identifiers had no entry), another spelling of the same person,
// a user past the first 5,000-identifier batch, and any mix of these in generated sequences.
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { DriverIdentity } from '../../harness/client/driver-client.ts';
import { DriverError } from '../../harness/client/driver-client.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { acceptsInvalidIdentifiers, describePlan, invalidIdentity, label, listUsers, mappingCallsAbout, newUser, planArbitrary, runPlan, spell, their, type User } from './support.ts';

/** At most this many identifiers in one identity map request (UID2-SPEC §8); one more puts a user past it. */
const MAP_BATCH = 5_000;

/** Why the kit judged: whether the participant asked the operator about these users since `since`. */
function askedNote(ctx: ParticipantCheckContext, users: readonly User[], since: number): string {
  const asked = users.filter((u) => mappingCallsAbout(ctx, u, since).length > 0);
  if (asked.length === users.length) return "identity map was asked about them in that sync, and the kit's operator answers optout for them";
  if (asked.length === 0) return 'it did not ask the operator about them in that sync (a sync re-maps, PROTOCOL.md §3)';
  return `it asked the operator about ${listUsers(asked)} only`;
}

/** A sync that contains invalid identifiers; a driver that refuses them leaves the kit unable to judge. */
async function syncWithInvalid(ctx: ParticipantCheckContext, identities: DriverIdentity[]): Promise<Set<string>> {
  try {
    return new Set(await ctx.driver.sync(identities));
  } catch (e) {
    if (e instanceof DriverError && e.reason === 'http') undecided(`the driver refused a sync that includes invalid identifiers (${e.message}): the kit cannot judge how the advertiser reads identity map answers around them`);
    throw e;
  }
}

export const mapOptoutChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'advertiser.map-optout.resync',
    rule: 'ADV-MAP-OPTOUT',
    kind: 'scenario',
    needs: ['advertiser'],
    title: 'users synced while opted in, then opted out globally, are dropped at the re-sync; one opted out before any sync never comes back',
    async run(ctx) {
      const [email, phone, gmail, stays] = (['email', 'phone', 'gmail', 'email'] as const).map((kind, i) => newUser(ctx, i + 1, kind)) as [User, User, User, User];
      const early = newUser(ctx, 5, 'phone');
      await ctx.optOutGlobally(early.canonical);
      const first = new Set(await ctx.driver.sync([email.canonical, phone.canonical, spell(gmail, 1), stays.canonical, early.canonical]));
      if (first.has(ctx.rawUid(early.canonical))) fail(`${label(early)} opted out globally before sync 1, yet the advertiser answered its raw UID2 (identity map reports it as optout)`);
      const leavers = [email, phone, gmail];
      const kept = leavers.filter((u) => first.has(ctx.rawUid(u.canonical)));
      if (kept.length === 0) undecided('sync 1 answered no raw UID2 for users who were opted in: there is nothing for a re-map to drop (the advertiser maps nobody)');
      for (const user of leavers) await ctx.optOutGlobally(user.canonical);
      const since = Date.now();
      const second = new Set(await ctx.driver.sync([stays.canonical, spell(gmail, 2), early.canonical, phone.canonical, email.canonical]));
      const stale = kept.filter((u) => second.has(ctx.rawUid(u.canonical)));
      if (stale.length > 0) fail(`${listUsers(stale)} mapped in sync 1, then opted out globally: the re-sync still answered ${their(stale)} raw UID2 (${askedNote(ctx, stale, since)})`);
      if (second.has(ctx.rawUid(early.canonical))) fail(`${label(early)} opted out globally before sync 1, yet the re-sync answered its raw UID2`);
      if (!second.has(ctx.rawUid(stays.canonical))) undecided(`the re-sync answered no raw UID2 for ${label(stays)}, who stayed opted in: the kit cannot tell dropping the opted-out users from answering nobody`);
      return `${listUsers(kept)} were dropped at the re-sync after their global opt-out; ${label(early)} (opted out before any sync) never came back; ${label(stays)} was kept`;
    },
  },
  {
    id: 'advertiser.map-optout.invalid-identifiers',
    rule: 'ADV-MAP-OPTOUT',
    kind: 'scenario',
    needs: ['advertiser'],
    title: 'a re-sync with invalid identifiers before and between the opted-out users (emails and phones in one request) drops them',
    async run(ctx) {
      const [email, phone, otherEmail, otherPhone] = (['email', 'phone', 'gmail', 'phone'] as const).map((kind, i) => newUser(ctx, i + 1, kind)) as [User, User, User, User];
      const first = new Set(await ctx.driver.sync([email.canonical, phone.canonical, otherEmail.canonical, otherPhone.canonical]));
      const leavers = [email, phone];
      const kept = leavers.filter((u) => first.has(ctx.rawUid(u.canonical)));
      if (kept.length === 0) undecided('sync 1 answered no raw UID2 for users who were opted in: there is nothing for a re-map to drop (the advertiser maps nobody)');
      for (const user of leavers) await ctx.optOutGlobally(user.canonical);
      const since = Date.now();
      // UID2-SPEC §1.3: each v3 array is index-aligned with the request, invalid identifiers included.
      const second = await syncWithInvalid(ctx, [
        invalidIdentity(ctx, 'email', 0),
        invalidIdentity(ctx, 'phone', 0),
        email.canonical,
        invalidIdentity(ctx, 'phone', 1),
        phone.canonical,
        invalidIdentity(ctx, 'email', 1),
        otherEmail.canonical,
        otherPhone.canonical,
      ]);
      const stale = kept.filter((u) => second.has(ctx.rawUid(u.canonical)));
      if (stale.length > 0) fail(`${listUsers(stale)} opted out globally after sync 1; in the re-sync an invalid identifier came before each of them in the same array, and the advertiser still answered ${their(stale)} raw UID2 (${askedNote(ctx, stale, since)})`);
      const controls = [otherEmail, otherPhone].filter((u) => second.has(ctx.rawUid(u.canonical)));
      if (controls.length === 0) undecided(`the re-sync answered no raw UID2 for ${listUsers([otherEmail, otherPhone])}, who stayed opted in: the kit cannot tell dropping the opted-out users from answering nobody`);
      return `${listUsers(kept)} were dropped at a re-sync with invalid identifiers before them (emails and phones together); ${listUsers(controls)} kept`;
    },
  },
  {
    id: 'advertiser.map-optout.past-first-batch',
    rule: 'ADV-MAP-OPTOUT',
    kind: 'scenario',
    needs: ['advertiser'],
    title: `a user after the first ${MAP_BATCH.toLocaleString('en-US')} identifiers of a sync, opted out between two syncs, is dropped`,
    async run(ctx) {
      const crowd = Array.from({ length: MAP_BATCH }, (_, i) => newUser(ctx, i + 1, i % 3 === 2 ? 'phone' : 'email'));
      const last = newUser(ctx, MAP_BATCH + 1, 'email');
      const lastPhone = newUser(ctx, MAP_BATCH + 2, 'phone');
      const all = [...crowd, last, lastPhone].map((u) => u.canonical);
      const first = new Set(await ctx.driver.sync(all));
      const leavers = [last, lastPhone];
      const kept = leavers.filter((u) => first.has(ctx.rawUid(u.canonical)));
      if (kept.length === 0) undecided(`sync 1 answered no raw UID2 for the users after the first ${MAP_BATCH} identifiers: there is nothing for a re-map to drop`);
      for (const user of leavers) await ctx.optOutGlobally(user.canonical);
      const since = Date.now();
      const second = new Set(await ctx.driver.sync(all));
      const stale = kept.filter((u) => second.has(ctx.rawUid(u.canonical)));
      if (stale.length > 0) fail(`${listUsers(stale)} came after the first ${MAP_BATCH} identifiers of a ${all.length}-identifier sync and opted out globally after sync 1: the re-sync still answered ${their(stale)} raw UID2 (${askedNote(ctx, stale, since)})`);
      const controls = crowd.filter((u, i) => i % 997 === 0 && second.has(ctx.rawUid(u.canonical)));
      if (controls.length === 0) undecided('the re-sync answered no raw UID2 for the users who stayed opted in: the kit cannot tell dropping the opted-out users from answering nobody');
      return `${listUsers(kept)}, after the first ${MAP_BATCH} identifiers, were dropped at the re-sync`;
    },
  },
  {
    id: 'advertiser.map-optout.sequences',
    rule: 'ADV-MAP-OPTOUT',
    kind: 'property',
    needs: ['advertiser'],
    title: 'generated users and sequences of syncs (spellings, duplicates, invalid identifiers), site and global opt-outs: no sync answers a globally opted-out user',
    async run(ctx) {
      let answered = 0;
      let drops = 0;
      const invalid = await acceptsInvalidIdentifiers(ctx);
      const message = await checkProperty(
        ctx,
        this.id,
        planArbitrary({ site: 1, global: 3, invalid }),
        async (plan) => {
          const trace = await runPlan(ctx, plan);
          const seen = new Set<number>();
          for (const sync of trace.syncs) {
            const bad = sync.users.filter((u) => sync.globallyOut.has(u.n - 1) && sync.answer.has(ctx.rawUid(u.canonical)));
            if (bad.length > 0) {
              const when = bad.map((u) => (seen.has(u.n) ? `${label(u)} was answered in an earlier sync` : `${label(u)} was never answered before`)).join('; ');
              fail(`sync ${sync.n}: ${listUsers(bad)} opted out globally before it, yet the advertiser answered ${their(bad)} raw UID2 (${when}; ${askedNote(ctx, bad, sync.since)})`);
            }
            for (const u of sync.users) {
              if (sync.answer.has(ctx.rawUid(u.canonical))) {
                answered += 1;
                seen.add(u.n);
              } else if (sync.globallyOut.has(u.n - 1) && seen.has(u.n)) drops += 1;
            }
          }
        },
        describePlan,
        { runs: ctx.settings.runs },
      );
      if (answered === 0) undecided('no sync answered a raw UID2 for any user who was opted in: nothing to judge (the advertiser maps nobody)');
      return `${message}${invalid ? '' : ' (without invalid identifiers: the driver refuses them)'}; ${answered} raw UID2s answered for opted-in users, ${drops} dropped after a global opt-out, none answered for an opted-out user`;
    },
  },
];
