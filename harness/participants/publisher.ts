// The reference publisher (PROTOCOL.md §3 `/publisher/*`; RULES.md PUB-*), integrated server side
// (UID2-SPEC §1.1, §1.2, §7). A login generates with `optout_check: 1` and keeps the identity per person
// (normalized DII); an ad request serves the kept advertising token, refreshed first once `refresh_from` has
// passed; `tick` does the same for every kept identity. An `optout` answer to generate or refresh drops the
// identity and is remembered as the JS SDK does (72 h, PUB-OPTOUT-REMEMBERED), so no later login generates
// again (a publisher built from the server-side guide asks once at each login). A user who opted out of this
// site is never generated for, in any spelling, and that opt-out is not relayed to UID2.
import { hashDii, InvalidDiiError, normalizeEmail, personKey } from '../wire/dii.ts';
import type { IdentityBody } from '../wire/identity.ts';
import { ask, malformed, statusOf, unexpected } from './operator-answer.ts';
import { DriverRequestError, identityOf, type DriverCall, type ParticipantContext, type ParticipantFault, type RoleHandler } from './role.ts';

export const PUBLISHER_FAULTS: readonly ParticipantFault[] = [
  {
    name: 'pub-site-optout-case-sensitive',
    role: 'publisher',
    breaks: ['PUB-SITE-OPTOUT'],
    description:
      'keys its site opt-out list by the email as typed: a user who opted out as Jane.Doe@example.com and logs in as jane.doe@example.com is generated for and gets a token; the same spelling, and phones, are handled right',
  },
  {
    name: 'pub-site-optout-keeps-session',
    role: 'publisher',
    breaks: ['PUB-SITE-OPTOUT'],
    description:
      'consults its site opt-out list at login only: a user who opted out while logged in keeps the token of that session in ad requests (and it keeps being refreshed); later logins generate nothing',
  },
  {
    name: 'pub-relays-site-optout',
    role: 'publisher',
    breaks: ['PUB-SITE-NOT-RELAYED'],
    description:
      'forwards each site opt-out to UID2 as a logout of the hashed DII (the operator refuses the publisher key with 401, but the call is made); nothing else changes',
  },
  {
    name: 'pub-site-optout-overbroad',
    role: 'publisher',
    breaks: ['PUB-SITE-NOT-RELAYED'],
    description:
      'applies the gmail.com rule to every domain in its site opt-out list (dots and +tag dropped): after pat.lee@example.org opts out, the different user patlee@example.org gets no UID2 either',
  },
  {
    name: 'pub-optout-check-missing-for-phone',
    role: 'publisher',
    breaks: ['PUB-OPTOUT-CHECK'],
    description: 'its phone login path builds the generate request without optout_check; email logins carry optout_check 1',
  },
  {
    name: 'pub-retries-within-login',
    role: 'publisher',
    breaks: ['PUB-OPTOUT-RESPONSE'],
    description:
      'treats an optout answer to generate like a transient error: asks generate once more within the same login (optout again), then gives up and remembers the answer; no token is ever served and later logins ask nothing',
  },
  {
    name: 'pub-generates-at-every-login',
    role: 'publisher',
    breaks: ['PUB-OPTOUT-REMEMBERED'],
    description:
      'the server-side guide publisher: remembers no optout answer, so every later login of that user calls generate once again (the operator answers optout again, so no token is ever served)',
  },
  {
    name: 'pub-keeps-session-after-generate-optout',
    role: 'publisher',
    breaks: ['PUB-OPTOUT-RESPONSE'],
    description:
      'writes the session only on a generate success: a user who logged in before opting out and logs in again gets optout, yet ad requests keep serving the earlier token until its refresh answers optout',
  },
  {
    name: 'pub-refresh-only-once',
    role: 'publisher',
    breaks: ['PUB-REFRESH'],
    description:
      'refreshes a chain only the first time its refresh_from passes; afterwards it keeps serving the token it got, without refreshing, until refresh_expires',
  },
  {
    name: 'pub-keeps-token-after-refresh-optout',
    role: 'publisher',
    breaks: ['PUB-REFRESH-OPTOUT'],
    description: 'on an optout answer to refresh it stops refreshing the chain but keeps serving the last advertising token until refresh_expires',
  },
];

/** How long an `optout` answer is remembered (UID2-SPEC §7, §8: the JS SDK's marker lasts 72 h). */
export const OPTOUT_MEMORY_MS = 72 * 3_600_000;

/** A driver identity: as typed (sent to the operator as given; §3 normalization is the operator's) and the person. */
interface User {
  field: 'email' | 'phone';
  value: string;
  /** `<kind>:<base64 SHA-256 of the normalized DII>`: one person whatever the spelling. */
  person: string;
}

/** A kept identity: one refresh chain. */
interface Session {
  identity: IdentityBody;
  /** Successful refreshes of this chain (fault `pub-refresh-only-once` stops after one). */
  refreshes: number;
  /** Fault `pub-keeps-token-after-refresh-optout` only: the chain answered optout, the token is still served. */
  ended: boolean;
  /** The refresh under way, so that a tick and an ad request share one call. */
  refreshing?: Promise<void>;
}

function userOf(body: unknown): User {
  const identity = identityOf(body);
  const [field, value] = 'email' in identity ? (['email', identity.email] as const) : (['phone', identity.phone] as const);
  try {
    return { field, value, person: personKey(hashDii(field, value)) };
  } catch (e) {
    if (e instanceof InvalidDiiError) throw new DriverRequestError(400, `not a valid ${field}: there is no user`);
    throw e;
  }
}

/** The identity of a generate or refresh success (§1.1, §1.2), or a driver 502 when it is not one. */
function issuedIdentity(what: string, body: unknown): IdentityBody {
  const identity = (body as { body?: Partial<IdentityBody> } | undefined)?.body;
  const strings = ['advertising_token', 'refresh_token', 'refresh_response_key'] as const;
  const times = ['identity_expires', 'refresh_from', 'refresh_expires'] as const;
  if (!identity || !strings.every((k) => typeof identity[k] === 'string') || !times.every((k) => typeof identity[k] === 'number')) {
    throw malformed(what, 'the success body is not an identity (advertising_token, refresh_token, refresh_response_key, times in ms)');
  }
  return identity as IdentityBody;
}

export function createPublisher(context: ParticipantContext): RoleHandler {
  const { client, fault, now } = context;
  const sessions = new Map<string, Session>();
  /** Persons the operator answered `optout` for, until when (ms): no generate for them meanwhile (§7). */
  const optedOut = new Map<string, number>();
  /** Users who opted out of this site (§7), by person; two faults key them otherwise. */
  const siteOptouts = new Set<string>();

  function siteOptoutKey(user: User): string {
    if (user.field === 'email' && fault === 'pub-site-optout-case-sensitive') return `email:${user.value}`;
    if (user.field === 'email' && fault === 'pub-site-optout-overbroad') {
      const normalized = normalizeEmail(user.value);
      const at = normalized.indexOf('@');
      return `email:${normalized.slice(0, at).split('+')[0]!.replaceAll('.', '')}${normalized.slice(at)}`;
    }
    return user.person;
  }
  const optedOutOfSite = (user: User) => siteOptouts.has(siteOptoutKey(user));

  function rememberOptout(person: string): void {
    optedOut.set(person, now() + OPTOUT_MEMORY_MS);
  }
  const remembersOptout = (person: string) => (optedOut.get(person) ?? -Infinity) > now();

  async function login(user: User): Promise<string | null> {
    if (optedOutOfSite(user)) return null; // PUB-SITE-OPTOUT: no generate, in any spelling
    // PUB-OPTOUT-REMEMBERED: the operator said optout; a later login does not ask again for 72 h (§7).
    if (remembersOptout(user.person) && fault !== 'pub-generates-at-every-login') return null;
    const optoutCheck = fault === 'pub-optout-check-missing-for-phone' && user.field === 'phone' ? {} : { optout_check: 1 };
    const request = user.field === 'email' ? { email: user.value, ...optoutCheck } : { phone: user.value, ...optoutCheck };
    const generate = () => ask('generate', () => client.generate(request));
    let exchange = await generate();
    // PUB-OPTOUT-RESPONSE: an optout answer is final; asking again within this login is a retry loop.
    if (fault === 'pub-retries-within-login' && exchange.http === 200 && statusOf(exchange) === 'optout') exchange = await generate();
    const status = statusOf(exchange);
    if (exchange.http === 200 && status === 'optout') {
      rememberOptout(user.person);
      if (fault !== 'pub-keeps-session-after-generate-optout') sessions.delete(user.person); // no token for this user at all
      return null;
    }
    if (exchange.http !== 200 || status !== 'success') throw unexpected('generate', exchange);
    const identity = issuedIdentity('generate', exchange.body);
    if (optedOutOfSite(user)) return null; // the user opted out of the site while generate was under way
    sessions.set(user.person, { identity, refreshes: 0, ended: false });
    return identity.advertising_token;
  }

  /** One refresh of a chain (§1.2), its answer applied only if the session is still the one kept. */
  async function refresh(person: string, session: Session): Promise<void> {
    const { refresh_token, refresh_response_key } = session.identity;
    const exchange = await ask('refresh', () => client.refresh(refresh_token, refresh_response_key, { authenticated: true }));
    if (sessions.get(person) !== session) return; // a new login or a site opt-out replaced it meanwhile
    const status = statusOf(exchange);
    if (exchange.http === 200 && status === 'success') {
      sessions.set(person, { identity: issuedIdentity('refresh', exchange.body), refreshes: session.refreshes + 1, ended: false });
    } else if (exchange.http === 200 && status === 'optout') {
      // PUB-REFRESH-OPTOUT (§7): the chain ends and its token is never used again.
      rememberOptout(person);
      if (fault === 'pub-keeps-token-after-refresh-optout') session.ended = true;
      else sessions.delete(person);
    } else if (exchange.http === 400 && (status === 'expired_token' || status === 'invalid_token')) {
      sessions.delete(person); // the chain is dead; the user logs in again
    } else {
      throw unexpected('refresh', exchange); // transient: kept, tried again by the next tick or ad request
    }
  }

  /** The person's session after its due work: dropped once the refresh token expired, refreshed from refresh_from. */
  async function current(person: string): Promise<Session | undefined> {
    const session = sessions.get(person);
    if (!session) return undefined;
    const at = now();
    if (at >= session.identity.refresh_expires) {
      sessions.delete(person);
      return undefined;
    }
    // PUB-REFRESH: every refresh re-checks opt-out, so a token in use is refreshed once refresh_from passed.
    const due = !session.ended && at >= session.identity.refresh_from && !(fault === 'pub-refresh-only-once' && session.refreshes >= 1);
    if (due) {
      session.refreshing ??= refresh(person, session).finally(() => (session.refreshing = undefined));
      await session.refreshing;
    }
    return sessions.get(person);
  }

  async function adRequest(user: User): Promise<string | null> {
    if (optedOutOfSite(user) && fault !== 'pub-site-optout-keeps-session') return null; // PUB-SITE-OPTOUT
    return (await current(user.person))?.identity.advertising_token ?? null;
  }

  async function siteOptout(user: User): Promise<object> {
    siteOptouts.add(siteOptoutKey(user));
    if (fault !== 'pub-site-optout-keeps-session') sessions.delete(user.person);
    // PUB-SITE-NOT-RELAYED: a site opt-out stays with the site (§7). The fault relays it; it ignores the answer.
    if (fault === 'pub-relays-site-optout') {
      const { hash } = hashDii(user.field, user.value);
      const dii = user.field === 'email' ? { email_hash: hash.toString('base64') } : { phone_hash: hash.toString('base64') };
      await client.logout(dii).catch(() => undefined);
    }
    return {};
  }

  /** Due background work: every kept identity refreshed or dropped as an ad request would. */
  async function tick(): Promise<object> {
    const results = await Promise.allSettled([...sessions.keys()].map(current));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const bug = failed.find((e) => !(e instanceof DriverRequestError));
    if (bug !== undefined) throw bug;
    if (failed.length > 0) throw new DriverRequestError(502, `${failed.length} of ${results.length} kept identities could not be refreshed; the first: ${(failed[0] as Error).message}`);
    return {};
  }

  return {
    role: 'publisher',
    async handle(call: DriverCall): Promise<unknown> {
      switch (call.action) {
        case 'login':
          return { advertising_token: await login(userOf(call.body)) };
        case 'site-optout':
          return siteOptout(userOf(call.body));
        case 'ad-request':
          return { advertising_token: await adRequest(userOf(call.body)) };
        case 'tick':
          return tick();
        default:
          throw new DriverRequestError(404, `no publisher action ${call.action}`);
      }
    },
  };
}
