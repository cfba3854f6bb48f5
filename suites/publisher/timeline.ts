// Timelines for the refresh rules: users log in at their offsets, then every step the kit ticks (when the
// publisher offers /publisher/tick) and sends ad requests (each user at its cadence, in the spelling it logged
// in with), for as long as the check needs. Some users opt out globally at once or after their first refresh;
// some opt out of the site. A judge runs after every step so a violation ends the case at once.
import fc from 'fast-check';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { decodeToken, newUser, Recorder, sleep, timing, USER_KINDS, type TokenFacts, type Timing, type User, type UserKind } from './support.ts';

/** What happens to a member besides logging in and being served. */
export type Fate = 'stays' | 'global-now' | 'global-after-refresh' | 'site-later';

export interface MemberSpec {
  kind: UserKind;
  /** The spelling it logs in with (and uses in ad requests). */
  spelling: number;
  /** Login offset in quarters of a refresh period. */
  quarter: number;
  /** An ad request every `every` steps. */
  every: number;
  fate: Fate;
}

export interface Member extends MemberSpec {
  user: User;
  loggedIn: boolean;
  /** The first token served to it (at login, or later for a publisher that generates in the background), decoded. */
  first?: TokenFacts;
  loginStarted?: number;
  optedOutAt?: number;
}

export const memberArbitrary = (fates: readonly Fate[]): fc.Arbitrary<MemberSpec> =>
  fc.record({
    kind: fc.constantFrom(...USER_KINDS),
    spelling: fc.nat({ max: 2 }),
    quarter: fc.nat({ max: 3 }),
    every: fc.constantFrom(1, 2, 3),
    fate: fc.constantFrom(...fates),
  });

export function describeMembers(specs: readonly MemberSpec[]): string {
  return specs
    .map((m, i) => `${i + 1} ${m.kind}${m.spelling % (m.kind === 'phone' ? 1 : 3) ? `/s${m.spelling}` : ''} login at ${m.quarter}/4 period, ad request every ${m.every} step${m.every === 1 ? '' : 's'}${m.fate === 'stays' ? '' : `, ${m.fate.replaceAll('-', ' ')}`}`)
    .join('; ');
}

export interface Timeline {
  members: Member[];
  rec: Recorder;
  t: Timing;
  started: number;
  steps: number;
}

/**
 * Runs members until `done` says so (checked after every step) or `maxMs` passes; `judge` runs after every
 * step and at the end and throws to end the case.
 */
export async function runTimeline(
  ctx: ParticipantCheckContext,
  specs: readonly MemberSpec[],
  options: { done: (tl: Timeline) => boolean; maxMs: (tl: Timeline) => number; judge: (tl: Timeline) => void },
): Promise<Timeline> {
  const t = timing(ctx);
  const rec = new Recorder(ctx);
  const members: Member[] = specs.map((spec, i) => ({ ...spec, user: newUser(ctx, i + 1, spec.kind), loggedIn: false }));
  const tl: Timeline = { members, rec, t, started: Date.now(), steps: 0 };
  for (;;) {
    const elapsed = Date.now() - tl.started;
    for (const m of members) {
      if (m.loggedIn || elapsed < (m.quarter * t.refreshAfter) / 4) continue;
      m.loggedIn = true;
      m.loginStarted = Date.now();
      const token = await rec.login(m.user, m.spelling);
      m.first = token === null ? undefined : decodeToken(ctx, token);
      if (m.fate === 'global-now') m.optedOutAt = await rec.globalOptout(m.user);
    }
    await rec.tick();
    for (const m of members) {
      if (!m.loggedIn || tl.steps % m.every !== 0) continue;
      const token = await rec.ad(m.user, m.spelling);
      if (!m.first && token !== null) m.first = decodeToken(ctx, token);
    }
    for (const m of members) {
      if (!m.loggedIn || m.optedOutAt !== undefined) continue;
      const refreshed = () => ctx.callsAbout(m.user.canonical, m.loginStarted!).some((c) => c.endpoint === 'refresh' && c.status === 'success');
      if (m.fate === 'global-after-refresh' && refreshed()) m.optedOutAt = await rec.globalOptout(m.user);
      if (m.fate === 'site-later' && Date.now() - m.loginStarted! >= t.refreshAfter / 2) m.optedOutAt = await rec.siteOptout(m.user, m.spelling + 1);
    }
    options.judge(tl);
    tl.steps += 1;
    if (options.done(tl) || Date.now() >= options.maxMs(tl)) break;
    // Nothing to watch: everyone logged in a refresh period ago and no one got a token (the check ends undecided).
    if (members.every((m) => m.loggedIn && m.first === undefined) && Date.now() >= lastLogin(tl) + t.refreshAfter) break;
    await sleep(t.step);
  }
  options.judge(tl);
  return tl;
}

/**
 * Cases per timed property: each case waits two refresh periods and more, so one per 25 of --runs (one at the
 * default); a user who asks for more runs gets more timelines.
 */
export const timedRuns = (ctx: ParticipantCheckContext): number => Math.max(1, Math.floor(ctx.settings.runs / 25));

/** When the last member logs in (ms since the epoch), once all have. */
export const lastLogin = (tl: Timeline): number => Math.max(tl.started, ...tl.members.map((m) => m.loginStarted ?? Infinity));
