// The reference publisher through the driver protocol (PROTOCOL.md §3) and the operator's call log: it
// generates with optout_check 1 (PUB-OPTOUT-CHECK), never for a user who opted out of the site, in any
// spelling (PUB-SITE-OPTOUT), without relaying that opt-out (PUB-SITE-NOT-RELAYED), stops at an optout answer
// to generate (PUB-OPTOUT-RESPONSE) or refresh (PUB-REFRESH-OPTOUT), remembers it at later logins
// (PUB-OPTOUT-REMEMBERED), and refreshes from refresh_from (PUB-REFRESH). A probe per rule runs against the
// conformant publisher and every named fault: each fault must break exactly the rules it declares.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exchange, OperatorClient } from '../../harness/client/operator-client.ts';
import type { OperatorCall } from '../../harness/operator/call-log.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { startReferenceParticipants } from '../../harness/participants/driver-server.ts';
import { createPublisher, OPTOUT_MEMORY_MS, PUBLISHER_FAULTS } from '../../harness/participants/publisher.ts';
import { RULES } from '../../harness/rules.ts';
import { hashDii, personKey } from '../../harness/wire/dii.ts';
import { kitClients, optOut, People, postDriver, startRole, startTestOperator, type Identity } from './reference-fixture.ts';

/** Past a refresh_from of the test operator (refreshAfterMs 300). */
const PAST_REFRESH_FROM_MS = 350;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const personOf = (identity: Identity): string => personKey('email' in identity ? hashDii('email', identity.email) : hashDii('phone', identity.phone));

let op: RunningOperator;
let optoutClient: ReturnType<typeof kitClients>['optout'];
const people = new People();
beforeAll(async () => {
  op = await startTestOperator();
  optoutClient = kitClients(op).optout;
});
afterAll(() => op.close());

type Publisher = Awaited<ReturnType<typeof startRole>>;
const startPublisher = (fault?: string) => startRole(op, 'publisher', createPublisher, fault);

/** The operator's calls about `identity` (any spelling) from `mark` (an index into the log) on. */
function callsAbout(identity: Identity, mark: number, endpoint?: OperatorCall['endpoint']): OperatorCall[] {
  const person = personOf(identity);
  return op.operator.calls
    .list()
    .slice(mark)
    .filter((c) => c.persons.includes(person) && (endpoint === undefined || c.endpoint === endpoint));
}
const mark = () => op.operator.calls.list().length;

// ------------------------------------------------------------------ one probe per rule

type PubRule = 'PUB-SITE-OPTOUT' | 'PUB-SITE-NOT-RELAYED' | 'PUB-OPTOUT-CHECK' | 'PUB-OPTOUT-RESPONSE' | 'PUB-OPTOUT-REMEMBERED' | 'PUB-REFRESH' | 'PUB-REFRESH-OPTOUT';
/** Drives a publisher through one rule's scenario; answers the violations seen (none when it follows the rule). */
type Probe = (p: Publisher) => Promise<string[]>;

async function loggedIn(p: Publisher, identity: Identity): Promise<string> {
  const token = await p.driver.publisherLogin(identity);
  if (token === null) throw new Error('the probe needs a user who gets a token at login');
  return token;
}

const PROBES: Record<PubRule, Probe> = {
  // Logged-in users opt out of the site; then ad requests and logins in other spellings (case, spaces, gmail).
  async 'PUB-SITE-OPTOUT'(p) {
    const violations: string[] = [];
    const run = people.email().split('@')[0]!;
    const gmail = people.gmail();
    const users: Array<{ optout: Identity; spellings: Identity[] }> = [
      { optout: { email: `Jane.Doe.${run}@Example.com` }, spellings: [{ email: `jane.doe.${run}@example.com` }, { email: ` JANE.DOE.${run}@EXAMPLE.COM ` }] },
      { optout: { email: gmail.variant }, spellings: [{ email: gmail.normalized }] },
      { optout: { phone: people.phone() }, spellings: [] },
    ];
    for (const [i, { optout, spellings }] of users.entries()) {
      await loggedIn(p, optout);
      await p.driver.publisherSiteOptout(optout);
      const since = mark();
      for (const identity of [optout, ...spellings]) {
        if ((await p.driver.publisherAdRequest(identity)) !== null) violations.push(`user ${i}: an ad request carried a token after the site opt-out`);
        if ((await p.driver.publisherLogin(identity)) !== null) violations.push(`user ${i}: a login got a token after the site opt-out`);
        if ((await p.driver.publisherAdRequest(identity)) !== null) violations.push(`user ${i}: an ad request after a new login carried a token`);
      }
      const generates = callsAbout(optout, since).filter((c) => c.endpoint === 'generate' || c.endpoint === 'client-generate');
      if (generates.length > 0) violations.push(`user ${i}: ${generates.length} generate calls after the site opt-out`);
    }
    return violations;
  },

  // One user opts out of the site; no logout for them, and users whose addresses resemble theirs keep UID2s.
  async 'PUB-SITE-NOT-RELAYED'(p) {
    const violations: string[] = [];
    const run = people.email().split('@')[0]!;
    const leaving: Identity = { email: `pat.lee.${run}@example.org` };
    const before: Identity = { email: people.email('example.org') };
    const others: Identity[] = [{ email: `patlee${run}@example.org` }, { email: `pat.lee.${run}+news@example.org` }, { email: people.email('example.org') }, { phone: people.phone() }];
    await loggedIn(p, leaving);
    await loggedIn(p, before);
    const since = mark();
    await p.driver.publisherSiteOptout(leaving);
    const logouts = callsAbout(leaving, since, 'logout');
    if (logouts.length > 0) violations.push(`the site opt-out was relayed: ${logouts.length} logout calls (${logouts.map((c) => c.status).join(', ')})`);
    if ((await p.driver.publisherAdRequest(before)) === null) violations.push('a user logged in before the site opt-out lost their token');
    for (const [i, other] of others.entries()) {
      if ((await p.driver.publisherLogin(other)) === null) violations.push(`other user ${i} got no token at login`);
      if (callsAbout(other, since, 'generate').length === 0) violations.push(`other user ${i}: no generate call`);
      if ((await p.driver.publisherAdRequest(other)) === null) violations.push(`other user ${i}: an ad request carried no token`);
    }
    return violations;
  },

  // Logins by email and by phone: every generate carries optout_check 1.
  async 'PUB-OPTOUT-CHECK'(p) {
    const violations: string[] = [];
    for (const identity of [{ email: people.email() }, { phone: people.phone() }, { email: people.gmail().variant }]) {
      const since = mark();
      await loggedIn(p, identity);
      const generates = callsAbout(identity, since, 'generate');
      if (generates.length === 0) throw new Error('the probe needs a generate call');
      for (const call of generates) if (call.optoutCheck !== 1) violations.push(`a ${Object.keys(identity)[0]} generate carried optout_check ${JSON.stringify(call.optoutCheck ?? null)}`);
    }
    return violations;
  },

  // A logged-in user and a new user opt out globally; each logs in three times, in several spellings: no token,
  // and at most one generate within each login.
  async 'PUB-OPTOUT-RESPONSE'(p) {
    const violations: string[] = [];
    const gmail = people.gmail();
    const earlier: Identity = { email: gmail.normalized };
    await loggedIn(p, earlier); // its refresh_from is 300 ms away: the steps below take a few ms
    const fresh: Identity = { phone: people.phone() };
    for (const [name, user, again] of [['logged-in', earlier, { email: gmail.variant }], ['new', fresh, fresh]] as const) {
      await optOut(optoutClient, user);
      const since = mark();
      for (const [i, identity] of [user, again, user].entries()) {
        const login = mark();
        if ((await p.driver.publisherLogin(identity)) !== null) violations.push(`${name} user: a login after the optout answer got a token`);
        if ((await p.driver.publisherAdRequest(identity)) !== null) violations.push(`${name} user: an ad request after the optout answer carried a token`);
        const generates = callsAbout(user, login, 'generate').length;
        if (generates > 1) violations.push(`${name} user: generate called ${generates} times within login ${i + 1}`);
      }
      if (callsAbout(user, since, 'generate')[0]?.status !== 'optout') throw new Error('the probe needs an optout answer to generate');
    }
    return violations;
  },

  // A user opted out globally logs in (generate answers optout), then twice more in other spellings: no generate.
  async 'PUB-OPTOUT-REMEMBERED'(p) {
    const gmail = people.gmail();
    const user: Identity = { email: gmail.normalized };
    await optOut(optoutClient, user);
    const since = mark();
    await p.driver.publisherLogin(user);
    if (callsAbout(user, since, 'generate')[0]?.status !== 'optout') throw new Error('the probe needs an optout answer to generate');
    const later = mark();
    for (const identity of [{ email: gmail.variant }, user]) await p.driver.publisherLogin(identity);
    const generates = callsAbout(user, later, 'generate').length;
    return generates > 0 ? [`${generates} generate calls at two later logins after the optout answer`] : [];
  },

  // A token in use: refreshed after each refresh_from, twice, and the ad request carries the new token.
  async 'PUB-REFRESH'(p) {
    const violations: string[] = [];
    const user: Identity = { email: people.email() };
    const since = mark();
    let token = await loggedIn(p, user);
    for (const round of [1, 2]) {
      await sleep(PAST_REFRESH_FROM_MS);
      await p.driver.publisherTick();
      const refreshes = callsAbout(user, since, 'refresh').filter((c) => c.status === 'success');
      if (refreshes.length < round) violations.push(`refresh_from passed ${round} times, ${refreshes.length} refreshes`);
      const next = await p.driver.publisherAdRequest(user);
      if (next === null) throw new Error('the probe needs the user to keep a token');
      if (next === token) violations.push(`after refresh_from passed ${round} times the ad request carried the token from before`);
      token = next;
    }
    return violations;
  },

  // A logged-in user opts out globally: the next refresh answers optout; no token after it, no refresh again.
  async 'PUB-REFRESH-OPTOUT'(p) {
    const violations: string[] = [];
    const user: Identity = { phone: people.phone() };
    await loggedIn(p, user);
    await optOut(optoutClient, user);
    const since = mark();
    for (const round of [1, 2]) {
      await sleep(PAST_REFRESH_FROM_MS);
      await p.driver.publisherTick();
      if (callsAbout(user, since, 'refresh')[0]?.status !== 'optout') throw new Error('the probe needs an optout answer to refresh');
      if ((await p.driver.publisherAdRequest(user)) !== null) violations.push(`round ${round}: an ad request carried a token after the optout answer to refresh`);
    }
    const refreshes = callsAbout(user, since, 'refresh');
    if (refreshes.length > 1) violations.push(`the chain was refreshed ${refreshes.length} times; it ended at the first optout answer`);
    return violations;
  },
};

const PUB_RULES = RULES.filter((r) => r.role === 'publisher').map((r) => r.id);

describe('the named faults', () => {
  it('are distinct publisher faults, and every PUB rule has at least one', () => {
    expect(new Set(PUBLISHER_FAULTS.map((f) => f.name)).size).toBe(PUBLISHER_FAULTS.length);
    for (const fault of PUBLISHER_FAULTS) {
      expect(fault.role).toBe('publisher');
      expect(fault.breaks.length).toBeGreaterThan(0);
      for (const rule of fault.breaks) expect(PUB_RULES).toContain(rule);
    }
    expect(new Set(PUBLISHER_FAULTS.flatMap((f) => f.breaks))).toEqual(new Set(PUB_RULES));
    expect(Object.keys(PROBES).sort()).toEqual([...PUB_RULES].sort());
  });

  // Every probe against the conformant publisher and each fault, all at once (the probes wait for refresh_from).
  const configs = [undefined, ...PUBLISHER_FAULTS.map((f) => f.name)];
  const outcomes = new Map<string | undefined, Record<string, string[]>>();
  beforeAll(async () => {
    await Promise.all(
      configs.map(async (fault) => {
        const p = await startPublisher(fault);
        try {
          const seen: Record<string, string[]> = {};
          for (const [rule, probe] of Object.entries(PROBES)) seen[rule] = await probe(p);
          outcomes.set(fault, seen);
        } finally {
          await p.close();
        }
      }),
    );
  });

  it.each(configs.map((fault) => [fault ?? 'conformant', fault] as const))('%s breaks exactly its declared rules', (_, fault) => {
    const seen = outcomes.get(fault)!;
    const broken = Object.fromEntries(Object.entries(seen).filter(([, violations]) => violations.length > 0));
    const declared = PUBLISHER_FAULTS.find((f) => f.name === fault)?.breaks ?? [];
    expect(Object.keys(broken).sort(), JSON.stringify(broken)).toEqual([...declared].sort());
  });
});

// ------------------------------------------------------------------ the conformant publisher in detail

describe('the conformant publisher', () => {
  let p: Publisher;
  beforeAll(async () => {
    p = await startPublisher();
  });
  afterAll(() => p.close());

  it('plays the publisher role', async () => {
    expect(await p.driver.roles()).toEqual(['publisher']);
  });

  it('generates once per login, as typed, with optout_check 1, and serves the token of the person whatever the spelling', async () => {
    const gmail = people.gmail();
    const phone = people.phone();
    const since = mark();
    const emailToken = await p.driver.publisherLogin({ email: gmail.variant });
    const phoneToken = await p.driver.publisherLogin({ phone });
    expect(callsAbout({ email: gmail.normalized }, since).map((c) => [c.endpoint, c.optoutCheck, c.status])).toEqual([['generate', 1, 'success']]);
    expect(callsAbout({ phone }, since).map((c) => [c.endpoint, c.optoutCheck, c.status])).toEqual([['generate', 1, 'success']]);
    for (const [token, identity] of [[emailToken, { email: gmail.normalized }], [phoneToken, { phone }]] as const) {
      const decoded = op.operator.tokens.decodeAdvertising(token!);
      expect(decoded.ok).toBe(true);
      const dii = 'email' in identity ? hashDii('email', identity.email) : hashDii('phone', identity.phone);
      if (decoded.ok) expect(decoded.fields.rawUid).toEqual(op.operator.identities.rawUid(dii.kind, op.operator.identities.firstLevelHash(dii)));
    }
    const before = mark();
    expect(await p.driver.publisherAdRequest({ email: gmail.normalized })).toBe(emailToken);
    expect(await p.driver.publisherAdRequest({ phone })).toBe(phoneToken);
    expect(op.operator.calls.list().slice(before)).toEqual([]); // nothing due yet: no operator call
  });

  it('refreshes nothing before refresh_from; once it passed, an ad request refreshes lazily and a tick refreshes every due identity', async () => {
    const [a, b, c] = [{ email: people.email() }, { email: people.email() }, { phone: people.phone() }];
    const tokens = [await loggedIn(p, a), await loggedIn(p, b), await loggedIn(p, c)];
    const since = mark();
    await p.driver.publisherTick();
    expect(callsAbout(a, since, 'refresh')).toEqual([]);
    await sleep(PAST_REFRESH_FROM_MS);
    const lazily = await p.driver.publisherAdRequest(a);
    expect(lazily).not.toBe(tokens[0]);
    expect(callsAbout(a, since, 'refresh').map((x) => x.status)).toEqual(['success']);
    await p.driver.publisherTick();
    for (const [i, user] of [b, c].entries()) {
      expect(callsAbout(user, since, 'refresh').map((x) => x.status)).toEqual(['success']);
      const refreshed = await p.driver.publisherAdRequest(user);
      expect(refreshed).not.toBeNull();
      expect(refreshed).not.toBe(tokens[i + 1]);
    }
    expect(callsAbout(a, since, 'refresh')).toHaveLength(1); // a's new refresh_from has not passed
    expect(await p.driver.publisherAdRequest(a)).toBe(lazily);
  });

  it('stops at the documented test identities: optout@example.com never generates twice, refresh-optout@example.com ends at its first refresh', async () => {
    const since = mark();
    expect(await p.driver.publisherLogin({ email: 'optout@example.com' })).toBeNull();
    expect(await p.driver.publisherLogin({ email: ' OPTOUT@example.com' })).toBeNull();
    expect(callsAbout({ email: 'optout@example.com' }, since).map((c) => [c.endpoint, c.status])).toEqual([['generate', 'optout']]);

    const user = { email: 'refresh-optout@example.com' };
    expect(await p.driver.publisherLogin(user)).toEqual(expect.any(String));
    await sleep(PAST_REFRESH_FROM_MS);
    expect(await p.driver.publisherAdRequest(user)).toBeNull();
    await p.driver.publisherTick();
    expect(await p.driver.publisherLogin(user)).toBeNull(); // the optout answer is remembered: no generate
    expect(callsAbout(user, since).map((c) => [c.endpoint, c.status])).toEqual([
      ['generate', 'success'],
      ['refresh', 'optout'],
    ]);
  });

  it('keeps its site opt-out list to itself: the user gets nothing, nobody else loses anything', async () => {
    const leaving = { email: `Sam.Roe.${people.email()}` };
    const stays = { phone: people.phone() };
    await loggedIn(p, leaving);
    const staying = await loggedIn(p, stays);
    const since = mark();
    expect(await postDriver(p.url, '/publisher/site-optout', leaving)).toEqual({ status: 200, json: {} });
    expect(await p.driver.publisherAdRequest({ email: leaving.email.toLowerCase() })).toBeNull();
    expect(await p.driver.publisherLogin({ email: ` ${leaving.email.toUpperCase()}` })).toBeNull();
    expect(await p.driver.publisherAdRequest(stays)).toBe(staying);
    expect(op.operator.calls.list().slice(since)).toEqual([]); // no logout, no generate: nothing at all
  });

  it('refuses bad driver input with 400 and unknown actions with 404', async () => {
    const bad = [{}, { email: 'no-at-sign' }, { phone: '5551234' }, { email: people.email(), phone: people.phone() }, { email: 7 }, 'not json'];
    for (const body of bad) {
      for (const action of ['login', 'site-optout', 'ad-request']) {
        const answer = await postDriver(p.url, `/publisher/${action}`, body);
        expect(answer.status, `${action} ${JSON.stringify(body)}`).toBe(400);
        expect(answer.json).toEqual({ error: expect.any(String) });
      }
    }
    expect((await postDriver(p.url, '/publisher/logout', { email: people.email() })).status).toBe(404);
  });
});

// ------------------------------------------------------------------ remembering an optout answer (own clock)

describe('the publisher remembers an optout answer for 72 hours', () => {
  const optoutAnswer: Exchange = { path: '', requestPayload: undefined, http: 200, contentType: 'text/plain', body: { status: 'optout' }, rawBytes: 0, durationMs: 0 };

  /** Generate calls per login of one user: at once, 1 ms before the memory ends, and when it ends. */
  async function generatesPerLogin(fault?: string): Promise<number[]> {
    let clock = Date.now();
    let generates = 0;
    const client = { generate: async () => (generates++, optoutAnswer) } as unknown as OperatorClient;
    const publisher = createPublisher({ client, fault, now: () => clock });
    const login = async () => {
      const before = generates;
      expect(await publisher.handle({ action: 'login', method: 'POST', body: { email: ' Pat@Example.com' }, query: new URLSearchParams() })).toEqual({ advertising_token: null });
      return generates - before;
    };
    const seen = [await login(), await login()];
    clock += OPTOUT_MEMORY_MS - 1;
    seen.push(await login());
    clock += 1;
    seen.push(await login());
    return seen;
  }

  it('conformant: one generate, none at later logins within 72 h, one again once they passed', async () => {
    expect(OPTOUT_MEMORY_MS).toBe(72 * 3_600_000);
    expect(await generatesPerLogin()).toEqual([1, 0, 0, 1]);
  });

  it('pub-retries-within-login asks twice within the first login and remembers; pub-generates-at-every-login asks once at every login', async () => {
    expect(await generatesPerLogin('pub-retries-within-login')).toEqual([2, 0, 0, 2]);
    expect(await generatesPerLogin('pub-generates-at-every-login')).toEqual([1, 1, 1, 1]);
  });
});

// ------------------------------------------------------------------ time and failures (own operator and clock)

describe('the publisher over time and when the operator fails', () => {
  const lifetimes = { refreshAfterMs: 300, identityExpiresAfterMs: 2000, refreshExpiresAfterMs: 4000 };
  let clock = Date.now();
  const now = () => clock;
  let own: RunningOperator;
  let participants: Awaited<ReturnType<typeof startReferenceParticipants>>;
  const driverCall = (path: string, body: unknown) => postDriver(participants.url, path, body);
  beforeAll(async () => {
    own = await startOperator({ lifetimes, now, recordCalls: true });
    const { apiKey, clientSecret } = own.credentials;
    participants = await startReferenceParticipants({ operator: { url: own.url, apiKey, clientSecret }, roles: { publisher: createPublisher }, now });
  });
  afterAll(async () => {
    await participants.close();
    await own.close();
  });

  it('drops an identity whose refresh token expired, without asking the operator', async () => {
    const user = { email: people.email() };
    expect((await driverCall('/publisher/login', user)).json).toEqual({ advertising_token: expect.any(String) });
    clock += lifetimes.refreshExpiresAfterMs;
    const since = own.operator.calls.list().length;
    expect(await driverCall('/publisher/tick', {})).toEqual({ status: 200, json: {} });
    expect(await driverCall('/publisher/ad-request', user)).toEqual({ status: 200, json: { advertising_token: null } });
    expect(own.operator.calls.list().slice(since)).toEqual([]);
  });

  it('answers 502 when the operator is down, with no secret in the message', async () => {
    const user = { phone: people.phone() };
    expect((await driverCall('/publisher/login', user)).status).toBe(200);
    await own.close();
    clock += lifetimes.refreshAfterMs; // a refresh is due, and the operator is gone
    for (const [path, body, call] of [
      ['/publisher/ad-request', user, 'refresh'],
      ['/publisher/tick', {}, 'refresh'],
      ['/publisher/login', { email: people.email() }, 'generate'],
    ] as const) {
      const answer = await driverCall(path, body);
      expect(answer.status, path).toBe(502);
      expect((answer.json as { error: string }).error).toMatch(new RegExp(`operator's ${call} failed: .*unreachable`));
      expect(JSON.stringify(answer.json)).not.toContain(own.credentials.apiKey);
    }
  });
});
