// What the publisher checks share: synthetic users in several spellings and their look-alikes (other people),
// a recorder of the driver calls of a case (every answer with its start and end time on the kit's clock),
// readings of the operator's call log, decoding of the kit's advertising tokens, and the timing of refresh.
//
// Pitfalls (keep each check to its own rule):
// - Times: the call log (`at`) and the driver calls are both on the kit's clock (Date.now). A site opt-out is
//   judged from 1 ms after the driver acknowledged it (calls in the same millisecond may belong to it).
// - A user is addressed in ad requests in the spelling it logged in with, wherever the check needs the
//   publisher to find a session: a driver may key its test users by the address as typed. Other spellings are
//   used only where they can reveal a violation (a site opt-out must hold for every form of the DII).
// - Control users (who must get tokens) are never look-alikes of a site-opted-out user, except in
//   PUB-SITE-NOT-RELAYED, whose rule they are; look-alikes are other people (UID2-SPEC §3.1: only gmail.com
//   drops dots and +tags).
// - A check judges only what its rule governs: PUB-OPTOUT-RESPONSE reads generate answers and the generates
//   within one login, PUB-OPTOUT-REMEMBERED the generates at later logins, PUB-REFRESH-OPTOUT refresh answers,
//   PUB-REFRESH only users who never opted out, PUB-SITE-* never global opt-outs' effects.
// - Every message and `describe` names users by number and kind, never by DII, token or raw UID2.
// - A publisher that does nothing must not pass: every check counts what it could judge and ends `undecided`
//   when that was nothing (PUB-SITE-NOT-RELAYED fails a publisher that generates for nobody).
import fc from 'fast-check';
import type { DriverIdentity } from '../../harness/client/driver-client.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import type { RunningOperator } from '../../harness/operator/index.ts';
import type { Endpoint, OperatorCall } from '../../harness/operator/call-log.ts';
import { hashDii, normalizeEmail, personKey } from '../../harness/wire/dii.ts';

// ---- users ---------------------------------------------------------------------------------------------

/**
 * email: a plain example.com address; gmail: gmail.com (dots and +tags do not count); dotted: a non-gmail
 * address with dots and a +tag (they count: its gmail-style variants are other people); phone: E.164.
 */
export type UserKind = 'email' | 'gmail' | 'dotted' | 'phone';
export const USER_KINDS: readonly UserKind[] = ['email', 'gmail', 'dotted', 'phone'];

export interface User {
  /** 1-based, as messages name it. */
  n: number;
  kind: UserKind;
  /** The canonical identity (as generated: normalized, except the dotted kind keeps its dots and +tag). */
  canonical: DriverIdentity;
  /** Extra words for messages, e.g. `look-alike of user 1`. */
  note?: string;
}

export function newUser(ctx: ParticipantCheckContext, n: number, kind: UserKind): User {
  const canonical: DriverIdentity =
    kind === 'phone' ? { phone: ctx.identities.phone() } : { email: kind === 'gmail' ? ctx.identities.gmail() : kind === 'dotted' ? ctx.identities.dottedEmail() : ctx.identities.email() };
  return { n, kind, canonical };
}

export const newUsers = (ctx: ParticipantCheckContext, kinds: readonly UserKind[], first = 1): User[] => kinds.map((kind, i) => newUser(ctx, first + i, kind));

export const label = (user: User): string => `user ${user.n} (${user.kind}${user.note ? `, ${user.note}` : ''})`;

/** `user 2 (gmail)`, `users 1 (email) and 3 (phone)`. */
export function listUsers(users: readonly User[]): string {
  const parts = users.map((u) => `${u.n} (${u.kind}${u.note ? `, ${u.note}` : ''})`);
  if (parts.length === 0) return 'no user';
  return `${users.length === 1 ? 'user' : 'users'} ${parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]}`;
}

export const personOf = (identity: DriverIdentity): string => {
  const [field, value] = Object.entries(identity)[0]! as ['email' | 'phone', string];
  return personKey(hashDii(field, value));
};

/** How many spellings a user has (a phone has one: the operator does not normalize phones, UID2-SPEC §3.3). */
export const spellingCount = (user: User): number => ('phone' in user.canonical ? 1 : 3);

/**
 * The user written in spelling `s` (taken modulo its spelling count): 0 is the canonical form; 1 and 2 change
 * case and add surrounding spaces; for gmail they also add dots and a +tag. Every spelling is the same person
 * (UID2-SPEC §3.1), which the kit asserts.
 */
export function spell(user: User, s: number): DriverIdentity {
  const i = s % spellingCount(user);
  if ('phone' in user.canonical || i === 0) return user.canonical;
  const address = user.canonical.email;
  const at = address.indexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  let written: string;
  if (user.kind === 'gmail') {
    const dotted = local.replace(/(.{3})(?=.)/g, '$1.');
    written = i === 1 ? `${dotted[0]!.toUpperCase()}${dotted.slice(1)}+News@GMail.com` : ` ${local.toUpperCase().replace(/(.{5})(?=.)/, '$1.')}+t${i}@gmail.COM `;
  } else {
    const mixed = domain
      .split('.')
      .map((p) => `${p[0]!.toUpperCase()}${p.slice(1)}`)
      .join('.');
    written = i === 1 ? `${local.toUpperCase()}@${mixed}` : `  ${local[0]!.toUpperCase()}${local.slice(1)}@${domain.toUpperCase()} `;
  }
  if (normalizeEmail(written) !== normalizeEmail(address)) throw new Error(`spelling ${i} of ${label(user)} is not the same person`);
  return { email: written };
}

/** Every distinct spelling of the user. */
export const spellings = (user: User): DriverIdentity[] => Array.from({ length: spellingCount(user) }, (_, s) => spell(user, s));

/**
 * Other people who look like `user` (UID2-SPEC §3.1: outside gmail.com dots and +tags count): for a dotted
 * address, the forms without dots, without the +tag, and without both (what the gmail rule would make of
 * it); for a plain address, a +tag and a dotted form; for gmail, the same local part at another domain.
 * Phones have none. The kit asserts each is a different person.
 */
export function lookAlikes(user: User, firstN: number): User[] {
  if (!('email' in user.canonical)) return [];
  const address = user.canonical.email;
  const at = address.indexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const plus = local.indexOf('+');
  const bare = plus >= 0 ? local.slice(0, plus) : local;
  const tag = plus >= 0 ? local.slice(plus) : '';
  let forms: string[];
  if (user.kind === 'dotted') forms = [`${bare.replaceAll('.', '')}@${domain}`, `${bare}@${domain}`, `${bare.replaceAll('.', '')}${tag}@${domain}`];
  else if (user.kind === 'gmail') forms = [`${local}@example.com`];
  else forms = [`${local}+news@${domain}`, `${local.slice(0, 4)}.${local.slice(4)}@${domain}`];
  const me = personOf(user.canonical);
  return forms.map((email, i) => {
    if (personOf({ email }) === me) throw new Error(`look-alike ${i + 1} of ${label(user)} is the same person`);
    return { n: firstN + i, kind: 'email' as const, canonical: { email }, note: `look-alike of user ${user.n}` };
  });
}

// ---- the call log ----------------------------------------------------------------------------------------

/** Calls that create a UID2 for a DII: server-side generate and CSTG. */
export const GENERATE_ENDPOINTS: ReadonlySet<Endpoint> = new Set<Endpoint>(['generate', 'client-generate']);

export const generateCalls = (ctx: ParticipantCheckContext, user: User, sinceMs: number): readonly OperatorCall[] =>
  ctx.callsAbout(user.canonical, sinceMs).filter((c) => GENERATE_ENDPOINTS.has(c.endpoint));

export const callsTo = (ctx: ParticipantCheckContext, user: User, endpoint: Endpoint, sinceMs: number): readonly OperatorCall[] =>
  ctx.callsAbout(user.canonical, sinceMs).filter((c) => c.endpoint === endpoint);

/** A person's generate calls after an optout answer, grouped by the login they belong to (see loginsAfter). */
export interface LoginGenerates {
  /** The login; undefined for the time before the first login the recorder made for the user. */
  login: Answer | undefined;
  /** Generate (and CSTG) calls in that login's time, each with a later sequence number than the optout answer. */
  generates: OperatorCall[];
}

/**
 * The generate calls about `user` that follow the operator call `answered` (a sequence number), by login: a call
 * belongs to the latest login of the user that had started when it was logged (a publisher may retry in the
 * background after it answered the login; ad requests and ticks count with the login before them). The first
 * group is the login in whose time the answer came (its retries), then one group per later login, in order.
 */
export function loginsAfter(ctx: ParticipantCheckContext, user: User, rec: Recorder, sinceMs: number, answered: number): { current: LoginGenerates; later: LoginGenerates[] } {
  const logins = rec.of(user).filter((a) => a.op === 'login');
  const current: LoginGenerates = { login: logins.filter((a) => a.seqBefore < answered).at(-1), generates: [] };
  const later: LoginGenerates[] = logins.filter((a) => a.seqBefore >= answered).map((login) => ({ login, generates: [] }));
  for (const call of generateCalls(ctx, user, sinceMs)) {
    if (call.seq <= answered) continue;
    let group = current;
    for (const g of later) if (g.login!.seqBefore < call.seq) group = g;
    group.generates.push(call);
  }
  return { current, later };
}

/**
 * The sequence number of the last call logged so far. Each recorded answer keeps the log's numbers before and
 * after it (`OperatorCall.seq`, exact where milliseconds tie): a call a driver request caused is logged before
 * the request is answered, so it falls in (seqBefore, seqAfter].
 */
export const seqNow = (ctx: ParticipantCheckContext): number => ctx.lastCallSeq();

/** A time strictly after every call the operator logged so far (waits out the current millisecond). */
export async function markAfterNow(): Promise<number> {
  const now = Date.now();
  while (Date.now() <= now) await sleep(1);
  return now + 1;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---- tokens ----------------------------------------------------------------------------------------------

export interface TokenFacts {
  /** Base64 raw UID2 (never put in a message). */
  rawUid: string;
  generatedMs: number;
  establishedMs: number;
}

/** Decodes an advertising token the kit's operator issued; undefined for anything else. */
export function decodeToken(ctx: ParticipantCheckContext, token: string): TokenFacts | undefined {
  try {
    const decoded = ctx.tokens.decode(token);
    if (!decoded.ok) return undefined;
    const { rawUid, generatedMs, establishedMs } = decoded.fields;
    return { rawUid: rawUid.toString('base64'), generatedMs, establishedMs };
  } catch {
    return undefined;
  }
}

/** The refresh chain a token of `user` belongs to, as the call log writes it (`<person>@<established ms>`). */
export const chainOf = (ctx: ParticipantCheckContext, user: User, facts: TokenFacts): string => `${ctx.person(user.canonical)}@${facts.establishedMs}`;

// ---- timing ----------------------------------------------------------------------------------------------

export interface Timing {
  /** refresh_from after issue (ms). */
  refreshAfter: number;
  /** refresh_expires after issue (ms). */
  refreshExpires: number;
  /** The kit's polling step while it watches refresh (ticks and ad requests). */
  step: number;
  /**
   * How long after refresh_from a due token may still be served. With /publisher/tick ("run due work now")
   * half a refresh period (the kit ticks every step); without it the publisher acts on its own within
   * actWithinMs. Never past refresh_expires.
   */
  grace: number;
}

export function timing(ctx: ParticipantCheckContext): Timing {
  const { refreshAfterMs, refreshExpiresAfterMs } = ctx.settings.lifetimes;
  const step = Math.max(20, Math.min(ctx.settings.pollIntervalMs, Math.round(refreshAfterMs / 5)));
  const wanted = ctx.hasTick ? Math.max(Math.round(refreshAfterMs / 2), 3 * step) : ctx.settings.actWithinMs;
  const grace = Math.max(step, Math.min(wanted, refreshExpiresAfterMs - refreshAfterMs - step));
  return { refreshAfter: refreshAfterMs, refreshExpires: refreshExpiresAfterMs, step, grace };
}

/** By when a token generated at `generatedMs` must no longer be served (refreshed or dropped). */
export const servedUntil = (t: Timing, generatedMs: number): number => Math.min(generatedMs + t.refreshAfter + t.grace, generatedMs + t.refreshExpires);

// ---- recording a case ------------------------------------------------------------------------------------

export interface Answer {
  op: 'login' | 'ad';
  user: User;
  spelling: number;
  started: number;
  ended: number;
  /** Its place among the recorder's own events (answers and opt-outs), in the order the kit made them. */
  order: number;
  /** The operator's call sequence before the request and when its answer came (see seqNow). */
  seqBefore: number;
  seqAfter: number;
  token: string | null;
}

/** The driver calls of one case, each answer kept with its times; site and global opt-outs with theirs. */
export class Recorder {
  readonly answers: Answer[] = [];
  /** Per user number: when its first site opt-out was acknowledged (judge from then on). */
  readonly siteOutSince = new Map<number, number>();
  /** Per user number: the call sequence when its first site opt-out was acknowledged. */
  readonly siteOutSeq = new Map<number, number>();
  /** Per user number: the recorder's event number of its first site opt-out. */
  readonly siteOutOrder = new Map<number, number>();
  private events = 0;
  /** Per user number: when its first global opt-out was registered. */
  readonly globalOutAt = new Map<number, number>();
  ticks = 0;

  constructor(private readonly ctx: ParticipantCheckContext) {}

  private async answer(op: 'login' | 'ad', user: User, spelling: number): Promise<string | null> {
    const started = Date.now();
    const seqBefore = seqNow(this.ctx);
    const identity = spell(user, spelling);
    const token = op === 'login' ? await this.ctx.driver.login(identity) : await this.ctx.driver.adRequest(identity);
    this.answers.push({ op, user, spelling, started, ended: Date.now(), order: ++this.events, seqBefore, seqAfter: seqNow(this.ctx), token });
    return token;
  }

  login = (user: User, spelling = 0): Promise<string | null> => this.answer('login', user, spelling);
  ad = (user: User, spelling = 0): Promise<string | null> => this.answer('ad', user, spelling);

  async tick(): Promise<void> {
    if (!this.ctx.hasTick) return;
    await this.ctx.driver.tick();
    this.ticks += 1;
  }

  async siteOptout(user: User, spelling = 0): Promise<number> {
    const requested = Date.now();
    await this.ctx.driver.siteOptout(spell(user, spelling));
    const seq = seqNow(this.ctx);
    const since = await markAfterNow();
    if (!this.siteOutSince.has(user.n)) {
      this.siteOutSince.set(user.n, since);
      this.siteOutSeq.set(user.n, seq);
      this.siteOutOrder.set(user.n, ++this.events);
    }
    registerSiteOptout(this.ctx.operator, this.ctx.person(user.canonical), requested);
    return since;
  }

  async globalOptout(user: User): Promise<number> {
    await this.ctx.optOutGlobally(user.canonical);
    const at = Date.now();
    if (!this.globalOutAt.has(user.n)) this.globalOutAt.set(user.n, at);
    return at;
  }

  of(user: User): Answer[] {
    return this.answers.filter((a) => a.user === user);
  }
}

// ---- site opt-outs across the session --------------------------------------------------------------------

/**
 * Every site opt-out the publisher checks made in a session (keyed by the kit's operator, one per session):
 * person → when the first one was requested (a relay may happen while the driver handles it). The last
 * PUB-SITE-NOT-RELAYED check scans the whole call log for a logout of any of them (a relay may come late).
 */
const SITE_OPTOUTS = new WeakMap<RunningOperator, Map<string, number>>();

export function registerSiteOptout(operator: RunningOperator, person: string, since: number): void {
  let persons = SITE_OPTOUTS.get(operator);
  if (!persons) SITE_OPTOUTS.set(operator, (persons = new Map()));
  if (!persons.has(person)) persons.set(person, since);
}

export const siteOptoutsOf = (operator: RunningOperator): ReadonlyMap<string, number> => SITE_OPTOUTS.get(operator) ?? new Map();

// ---- generated sequences ---------------------------------------------------------------------------------

export type Step =
  | { op: 'login'; user: number; spelling: number }
  | { op: 'ad'; user: number; spelling: number }
  | { op: 'site'; user: number; spelling: number }
  | { op: 'global'; user: number }
  | { op: 'tick' };

export interface Plan {
  kinds: UserKind[];
  steps: Step[];
}

/**
 * Populations of 2–4 users of every kind and sequences of 3–`maxSteps` steps: logins and ad requests in any
 * spelling, ticks, and (where asked) site opt-outs in any spelling and global opt-outs. `require`: every
 * sequence has at least one step of that kind (at a generated place), so every case has what its rule is
 * about, also when a page run generates only a couple of cases.
 */
export function planArbitrary(options: { site: boolean; global: boolean; maxSteps?: number; kinds?: readonly UserKind[]; require?: 'site' | 'global' }): fc.Arbitrary<Plan> {
  return fc.array(fc.constantFrom(...(options.kinds ?? USER_KINDS)), { minLength: 2, maxLength: 4 }).chain((kinds) => {
    const user = fc.nat({ max: kinds.length - 1 });
    const spelling = fc.nat({ max: 2 });
    const steps: Array<{ weight: number; arbitrary: fc.Arbitrary<Step> }> = [
      { weight: 5, arbitrary: fc.record({ op: fc.constant('login' as const), user, spelling }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('ad' as const), user, spelling }) },
      { weight: 1, arbitrary: fc.constant<Step>({ op: 'tick' }) },
    ];
    if (options.site) steps.push({ weight: 3, arbitrary: fc.record({ op: fc.constant('site' as const), user, spelling }) });
    if (options.global) steps.push({ weight: 3, arbitrary: fc.record({ op: fc.constant('global' as const), user }) });
    const maxSteps = options.maxSteps ?? 12;
    if (!options.require) return fc.array(fc.oneof(...steps), { minLength: 3, maxLength: maxSteps }).map((s) => ({ kinds, steps: s }));
    const required: fc.Arbitrary<Step> = options.require === 'site' ? fc.record({ op: fc.constant('site' as const), user, spelling }) : fc.record({ op: fc.constant('global' as const), user });
    return fc
      .tuple(fc.array(fc.oneof(...steps), { minLength: 2, maxLength: maxSteps - 1 }), required, fc.nat())
      .map(([s, step, at]) => {
        const i = at % (s.length + 1);
        return { kinds, steps: [...s.slice(0, i), step, ...s.slice(i)] };
      });
  });
}

export function describePlan(plan: Plan): string {
  const users = plan.kinds.map((k, i) => `${i + 1} ${k}`).join(', ');
  const sp = (s: { user: number; spelling: number }) => `${s.user + 1}${s.spelling % (plan.kinds[s.user] === 'phone' ? 1 : 3) ? `/s${s.spelling}` : ''}`;
  const steps = plan.steps.map((step) => {
    switch (step.op) {
      case 'login':
        return `login ${sp(step)}`;
      case 'ad':
        return `ad request ${sp(step)}`;
      case 'site':
        return `site opt-out ${sp(step)}`;
      case 'global':
        return `global opt-out ${step.user + 1}`;
      case 'tick':
        return 'tick';
    }
  });
  return `users ${users}; ${steps.join('; ')}`;
}

/**
 * Runs a plan against the publisher with fresh users, then `epilogue` (a fixed probe after the generated steps,
 * e.g. every opted-out user logging in in every spelling), so each generated history is also looked at fully.
 */
export async function runPlan(
  ctx: ParticipantCheckContext,
  plan: Plan,
  epilogue?: (users: readonly User[], rec: Recorder) => Promise<void>,
): Promise<{ users: User[]; rec: Recorder; started: number }> {
  const started = Date.now();
  const users = newUsers(ctx, plan.kinds);
  const rec = new Recorder(ctx);
  for (const step of plan.steps) {
    switch (step.op) {
      case 'login':
        await rec.login(users[step.user]!, step.spelling);
        break;
      case 'ad':
        await rec.ad(users[step.user]!, step.spelling);
        break;
      case 'site':
        await rec.siteOptout(users[step.user]!, step.spelling);
        break;
      case 'global':
        await rec.globalOptout(users[step.user]!);
        break;
      case 'tick':
        await rec.tick();
        break;
    }
  }
  await epilogue?.(users, rec);
  return { users, rec, started };
}

// ---- sequences PUB-OPTOUT-RESPONSE and PUB-OPTOUT-REMEMBERED share -----------------------------------------

/**
 * Users opted out globally before their first login, then: an ad request, a tick, a login in another spelling,
 * a pause of two steps, a tick, a login and an ad request, a login in a third spelling, a tick (four logins).
 */
export async function loginsAfterGlobalOptout(ctx: ParticipantCheckContext, rec: Recorder, users: readonly User[]): Promise<void> {
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
}

/** A plan's epilogue: every globally opted-out user logs in three times (three spellings), each login followed by an ad request. */
export async function reloginGloballyOptedOut(users: readonly User[], rec: Recorder): Promise<void> {
  for (const user of users.filter((u) => rec.globalOutAt.has(u.n))) {
    const home = rec.of(user).find((a) => a.op === 'login')?.spelling ?? 0;
    for (const s of [home, home + 1, home + 2]) {
      await rec.login(user, s);
      await rec.ad(user, home);
    }
  }
}
