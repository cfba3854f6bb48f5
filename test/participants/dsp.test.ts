// The reference DSP through the driver protocol (PROTOCOL.md §3: `/dsp/bid` and the opt-out webhook) and the
// operator's call log: it decrypts bid tokens with the bidstream keys and applies the decrypt checks, acknowledges
// every webhook call (DSP-WEBHOOK-ACK), uses no UID2 the webhook opted out (DSP-BID-OPTOUT) or the operator's
// /v2/optout/status lists (DSP-STATUS-CHECK), and keeps using the others (DSP-BID-ISOLATION). One probe per rule
// shows that the conformant DSP breaks none and each named fault exactly the rules it declares.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportError, type Exchange, type OperatorClient } from '../../harness/client/operator-client.ts';
import { Webhook, webhookAcknowledged } from '../../harness/engine/webhook.ts';
import type { RunningOperator } from '../../harness/operator/index.ts';
import { createDsp, DSP_FAULTS, KEY_RELOAD_MIN_MS, STATUS_CACHE_MS } from '../../harness/participants/dsp.ts';
import type { RunningParticipants } from '../../harness/participants/driver-server.ts';
import { DriverRequestError, type ParticipantContext } from '../../harness/participants/role.ts';
import { RULES } from '../../harness/rules.ts';
import { encodeAdvertisingToken, PRIVACY_BITS_SERVER, type AdvertisingTokenFields, type TokenKey } from '../../harness/wire/advertising-token.ts';
import { callsTo, kitClients, optOut, People, postDriver, rawUids, startRole, startTestOperator } from './reference-fixture.ts';

let op: RunningOperator;
let kit: ReturnType<typeof kitClients>;
/** The operator's bidstream keys as the kit reads them: [master, site]. */
let operatorKeys: [TokenKey, TokenKey];
const people = new People();
const running: RunningParticipants[] = [];

beforeAll(async () => {
  op = await startTestOperator();
  kit = kitClients(op);
  const keys = ((await kit.kit.keysBidstream()).body as { body: { keys: Array<{ id: number; secret: string }> } }).body.keys;
  operatorKeys = keys.map((k) => ({ id: k.id, secret: Buffer.from(k.secret, 'base64') })) as [TokenKey, TokenKey];
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});
afterAll(() => op.close());

async function dsp(fault?: string, operator: RunningOperator = op) {
  const started = await startRole(operator, 'dsp', createDsp, fault);
  running.push(started);
  return { ...started, webhook: new Webhook(started.webhookTemplate, { method: 'GET', timeoutMs: 5_000 }) };
}

interface User {
  email: string;
  uid: string;
  token: string;
}

async function tokenFor(email: string): Promise<string> {
  const answer = (await kit.kit.generate({ email, optout_check: 1 })).body as { status: string; body?: { advertising_token: string } };
  if (answer.status !== 'success' || !answer.body) throw new Error(`generate answered ${answer.status}`);
  return answer.body.advertising_token;
}

/** Synthetic users with a fresh advertising token each; `pick` chooses among 16 candidates by raw UID2. */
async function users(count: number, pick?: (uid: string) => boolean): Promise<User[]> {
  const emails = Array.from({ length: pick ? 16 : count }, () => people.email());
  const uids = await rawUids(kit.kit, emails.map((email) => ({ email })));
  const chosen = emails.map((email, i) => ({ email, uid: uids[i]! })).filter((u) => pick?.(u.uid) ?? true).slice(0, count);
  if (chosen.length < count) throw new Error('not enough candidates');
  return Promise.all(chosen.map(async (u) => ({ ...u, token: await tokenFor(u.email) })));
}
const withPlus = (uid: string) => uid.includes('+');
const withoutPlus = (uid: string) => !uid.includes('+');
const leave = (user: User) => optOut(kit.optout, { email: user.email });
const nowS = () => Math.floor(Date.now() / 1000);

/** A token of `user`'s refresh chain established `ageMs` before now, as the operator issues it at a refresh now. */
const olderChain = (user: User, ageMs: number) => forge({ rawUid: Buffer.from(user.uid, 'base64'), establishedMs: Date.now() - ageMs });
const HOURS_3 = 3 * 3_600_000;

/** A v4 token under the operator's keys with chosen fields (for the decrypt checks). */
function forge(fields: Partial<AdvertisingTokenFields> = {}, master: TokenKey = operatorKeys[0]): string {
  const now = Date.now();
  const base: AdvertisingTokenFields = {
    kind: 'email',
    scope: 'UID2',
    siteId: 123,
    privacyBits: PRIVACY_BITS_SERVER,
    expiresMs: now + 1_000,
    generatedMs: now,
    establishedMs: now,
    rawUid: randomBytes(32),
  };
  return encodeAdvertisingToken({ ...base, ...fields }, master, operatorKeys[1]);
}

/** GET (or POST) the webhook URL as the opt-out service does, answer and body. */
async function callWebhook(template: string, uid: string, method: 'GET' | 'POST' = 'GET', timestamp: string = String(nowS())) {
  const url = template.replace('{uid2}', encodeURIComponent(uid)).replace('{timestamp}', timestamp);
  const response = await request(url, { method });
  return { status: response.statusCode, json: await response.body.json() };
}

/**
 * One probe per DSP rule against a fresh DSP; the rules it broke.
 * - ACK: a raw UID2 it never saw, then the same again.
 * - BID-OPTOUT (webhook only, so no status check can mask it): a UID2 with `+` in its base64, opted out now;
 *   one without `+`, opted out a minute before its token was minted (an operator the opt-out had not reached);
 *   a token of a chain established 3 hours before the opt-out.
 * - ISOLATION: a clean user bid in one burst with a user the operator lists as opted out.
 * - STATUS-CHECK: a user bid on, then opted out at the operator only (no webhook), bid on again past the cache.
 */
async function brokenRules(fault?: string): Promise<string[]> {
  const { driver, webhook } = await dsp(fault);
  const broken = new Set<string>();
  const unknown = randomBytes(32).toString('base64');
  for (const _ of [1, 2]) if (!webhookAcknowledged(await webhook.call(unknown, nowS()))) broken.add('DSP-WEBHOOK-ACK');

  const [plus] = await users(1, withPlus);
  const [early] = await users(1, withoutPlus);
  await webhook.call(plus!.uid, nowS());
  await webhook.call(early!.uid, nowS() - 60);
  for (const u of [plus!, early!]) if (await driver.dspBid(u.token)) broken.add('DSP-BID-OPTOUT');
  if (await driver.dspBid(olderChain(plus!, HOURS_3))) broken.add('DSP-BID-OPTOUT');

  const [clean, listed] = (await users(2)) as [User, User];
  await leave(listed);
  const [cleanUsed] = await Promise.all([driver.dspBid(clean.token), driver.dspBid(listed.token)]);
  if (!cleanUsed) broken.add('DSP-BID-ISOLATION');

  const [late] = (await users(1)) as [User];
  await driver.dspBid(late.token);
  await leave(late);
  await sleep(STATUS_CACHE_MS + 50);
  if (await driver.dspBid(late.token)) broken.add('DSP-STATUS-CHECK');
  return [...broken].sort();
}

describe('the conformant DSP', () => {
  it('breaks none of the DSP rules', async () => {
    expect(await brokenRules()).toEqual([]);
  });

  it('plays the dsp role and uses fresh tokens, loading the bidstream keys once', async () => {
    const since = Date.now();
    const { driver } = await dsp();
    expect(await driver.roles()).toEqual(['dsp']);
    const [a, b] = (await users(2)) as [User, User];
    expect(await Promise.all([driver.dspBid(a.token), driver.dspBid(b.token)])).toEqual([true, true]);
    expect(await driver.dspBid(a.token)).toBe(true);
    expect(callsTo(op, 'keys-bidstream', since)).toHaveLength(1);
  });

  it('asks /v2/optout/status once for a burst of bids and reuses the answer only briefly', async () => {
    const { driver } = await dsp();
    const [a, b, c] = (await users(3)) as [User, User, User];
    const since = Date.now();
    expect(await Promise.all([a, a, a, b, c].map((u) => driver.dspBid(u.token)))).toEqual([true, true, true, true, true]);
    const burst = callsTo(op, 'optout-status', since);
    expect(burst).toHaveLength(1);
    expect([...burst[0]!.uids!].sort()).toEqual([a.uid, b.uid, c.uid].sort());
    expect(await driver.dspBid(a.token)).toBe(true);
    expect(callsTo(op, 'optout-status', since)).toHaveLength(1);
    await sleep(STATUS_CACHE_MS + 50);
    expect(await driver.dspBid(a.token)).toBe(true);
    expect(callsTo(op, 'optout-status', since)).toHaveLength(2);
  });

  it('DSP-WEBHOOK-ACK: answers 200 {} to GET and POST, unknown UID2s and repeats, without the operator', async () => {
    const { webhookTemplate } = await dsp();
    const uid = randomBytes(32).toString('base64');
    for (const method of ['GET', 'POST', 'GET'] as const) expect(await callWebhook(webhookTemplate, uid, method)).toEqual({ status: 200, json: {} });
    const down = await startTestOperator();
    await down.close();
    const orphan = await dsp(undefined, down);
    expect(await callWebhook(orphan.webhookTemplate, uid)).toEqual({ status: 200, json: {} });
  });

  it('DSP-BID-OPTOUT: a webhook opt-out refuses every token of that UID2, `+` in its base64 or not, whenever established', async () => {
    const { driver, webhook, url } = await dsp();
    const [plus] = (await users(1, withPlus)) as [User];
    const [plain, bystander] = (await users(2, withoutPlus)) as [User, User];
    expect(await driver.dspBid(plus.token)).toBe(true);
    await webhook.call(plus.uid, nowS());
    await webhook.call(plain.uid, nowS() - 60); // the opt-out predates the token
    expect(await postDriver(url, '/dsp/bid', { advertising_token: plus.token })).toEqual({ status: 200, json: { uses_uid2: false, reason: 'opted_out_webhook' } });
    expect(await driver.dspBid(plain.token)).toBe(false);
    expect(await driver.dspBid(await tokenFor(plus.email))).toBe(false); // a token minted after the opt-out
    for (const ageMs of [2_000, HOURS_3, 2 * 86_400_000]) expect(await driver.dspBid(olderChain(plain, ageMs)), `a chain ${ageMs} ms old`).toBe(false);
    expect(await driver.dspBid(bystander.token)).toBe(true);
  });

  it('DSP-STATUS-CHECK: a UID2 the operator lists is not used, without any webhook call', async () => {
    const { url } = await dsp();
    const [user] = (await users(1)) as [User];
    await leave(user);
    expect(await postDriver(url, '/dsp/bid', { advertising_token: user.token })).toEqual({ status: 200, json: { uses_uid2: false, reason: 'opted_out_status' } });
  });

  it('applies the decrypt checks: key, scope, expiry, lifetime, clock skew', async () => {
    const { url } = await dsp();
    const now = Date.now();
    const reasonOf = async (token: string) => (await postDriver(url, '/dsp/bid', { advertising_token: token })).json;
    expect(await reasonOf(forge())).toEqual({ uses_uid2: true });
    expect(await reasonOf(forge({ expiresMs: now - 1_000, generatedMs: now - 2_000 }))).toEqual({ uses_uid2: false, reason: 'expired' });
    // max_bidstream_lifetime_seconds is the identity lifetime (2 s) + 10 s
    expect(await reasonOf(forge({ expiresMs: now + 20_000 }))).toEqual({ uses_uid2: false, reason: 'lifetime_too_long' });
    expect(await reasonOf(forge({ generatedMs: now + 1_900_000, expiresMs: now + 1_901_000 }))).toEqual({ uses_uid2: false, reason: 'generated_in_future' });
    expect(await reasonOf(forge({ scope: 'EUID' }))).toEqual({ uses_uid2: false, reason: 'wrong_scope' });
    expect(await reasonOf(forge({}, { id: 4242, secret: randomBytes(32) }))).toEqual({ uses_uid2: false, reason: 'unknown_key' });
    expect(await reasonOf('AAAAAAAA')).toEqual({ uses_uid2: false, reason: 'invalid_token' });
  });

  it('answers 400 to bad driver input and 502 when the operator is down', async () => {
    const { url, webhookTemplate } = await dsp();
    expect((await postDriver(url, '/dsp/bid', {})).status).toBe(400);
    expect((await postDriver(url, '/dsp/bid', { advertising_token: 7 })).status).toBe(400);
    expect((await postDriver(url, '/dsp/nope', {})).status).toBe(404);
    const noUid = await request(webhookTemplate.replace(/\?.*/, '?timestamp=1'));
    await noUid.body.dump();
    expect(noUid.statusCode).toBe(400);
    expect((await callWebhook(webhookTemplate, 'AAAA', 'GET', 'yesterday')).status).toBe(400);
    const down = await startTestOperator();
    await down.close();
    const orphan = await dsp(undefined, down);
    const answer = await postDriver(orphan.url, '/dsp/bid', { advertising_token: forge() });
    expect(answer.status).toBe(502);
    expect((answer.json as { error: string }).error).toMatch(/bidstream keys.*unreachable/);
  });
});

describe('the DSP with its own clock and operator answers', () => {
  const ok = (body: unknown): Exchange => ({ path: '', requestPayload: undefined, http: 200, contentType: 'text/plain', body: { status: 'success', body }, rawBytes: 0, durationMs: 0 });
  const keyJson = (k: TokenKey) => ({ id: k.id, created: 0, activates: 0, expires: 4e9, secret: k.secret.toString('base64') });

  it('reloads the keys for a token naming an unknown key id, at most once a second', async () => {
    const master = { id: 1, secret: randomBytes(32) };
    const oldSite = { id: 2, secret: randomBytes(32) };
    const rotated = { id: 3, secret: randomBytes(32) };
    let keyCalls = 0;
    const client = {
      keysBidstream: async () => ok({ keys: [master, oldSite, ...(keyCalls++ > 0 ? [rotated] : [])].map(keyJson) }),
      optoutStatus: async () => ok({ opted_out: [] }),
    } as unknown as OperatorClient;
    let clock = Date.now();
    const context: ParticipantContext = { client, now: () => clock };
    const handler = createDsp(context);
    const t = clock;
    const token = encodeAdvertisingToken({ kind: 'email', scope: 'UID2', siteId: 1, privacyBits: 1, expiresMs: t + 60_000, generatedMs: t, establishedMs: t, rawUid: randomBytes(32) }, master, rotated);
    const bid = () => handler.handle({ action: 'bid', method: 'POST', body: { advertising_token: token }, query: new URLSearchParams() });
    expect(await bid()).toEqual({ uses_uid2: false, reason: 'unknown_key' });
    expect(keyCalls).toBe(1);
    clock += KEY_RELOAD_MIN_MS;
    expect(await bid()).toEqual({ uses_uid2: true });
    expect(keyCalls).toBe(2);
  });

  it('fails the bid with 502 when the status check cannot be made, and asks again next time', async () => {
    const master = { id: 1, secret: randomBytes(32) };
    const site = { id: 2, secret: randomBytes(32) };
    let statusCalls = 0;
    const client = {
      keysBidstream: async () => ok({ keys: [master, site].map(keyJson) }),
      optoutStatus: async () => {
        if (statusCalls++ === 0) throw new TransportError('unreachable', 'operator unreachable');
        return ok({ opted_out: [] });
      },
    } as unknown as OperatorClient;
    const handler = createDsp({ client, now: Date.now });
    const t = Date.now();
    const token = encodeAdvertisingToken({ kind: 'phone', scope: 'UID2', siteId: 1, privacyBits: 1, expiresMs: t + 60_000, generatedMs: t, establishedMs: t, rawUid: randomBytes(32) }, master, site);
    const bid = () => handler.handle({ action: 'bid', method: 'POST', body: { advertising_token: token }, query: new URLSearchParams() });
    await expect(bid()).rejects.toMatchObject({ constructor: DriverRequestError, status: 502 });
    expect(await bid()).toEqual({ uses_uid2: true });
    expect(statusCalls).toBe(2);
  });
});

describe('the named faults', () => {
  it('are declared once each, for the dsp, breaking DSP rules only, and cover every DSP rule', () => {
    const dspRules = RULES.filter((r) => r.role === 'dsp').map((r) => r.id);
    expect(new Set(DSP_FAULTS.map((f) => f.name)).size).toBe(DSP_FAULTS.length);
    for (const f of DSP_FAULTS) {
      expect(f.role).toBe('dsp');
      expect(f.breaks.length).toBeGreaterThan(0);
      for (const rule of f.breaks) expect(dspRules).toContain(rule);
    }
    expect(new Set(DSP_FAULTS.flatMap((f) => f.breaks))).toEqual(new Set(dspRules));
  });

  it.each(DSP_FAULTS.map((f) => [f.name, f.breaks] as const))('%s breaks exactly %j', async (name, breaks) => {
    expect(await brokenRules(name)).toEqual([...breaks].sort());
  });

  it('dsp-webhook-rejects-unknown: 404 for a UID2 never bid on, yet the opt-out is kept; 200 for one it has seen', async () => {
    const { driver, webhookTemplate } = await dsp('dsp-webhook-rejects-unknown');
    const [seen, unseen] = (await users(2)) as [User, User];
    expect(await driver.dspBid(seen.token)).toBe(true);
    expect((await callWebhook(webhookTemplate, seen.uid)).status).toBe(200);
    expect((await callWebhook(webhookTemplate, unseen.uid)).status).toBe(404);
    expect(await driver.dspBid(seen.token)).toBe(false);
    expect(await driver.dspBid(unseen.token)).toBe(false);
  });

  it('dsp-webhook-plus-decoding: only opt-outs of raw UID2s with `+` in their base64 are lost', async () => {
    const { driver, webhook } = await dsp('dsp-webhook-plus-decoding');
    const [plus] = (await users(1, withPlus)) as [User];
    const [plain] = (await users(1, withoutPlus)) as [User];
    for (const u of [plus, plain]) expect(webhookAcknowledged(await webhook.call(u.uid, nowS()))).toBe(true);
    expect(await driver.dspBid(plus.token)).toBe(true);
    expect(await driver.dspBid(plain.token)).toBe(false);
  });

  it('dsp-optout-established-only: refuses tokens established before the opt-out time, uses later ones', async () => {
    const { driver, webhook } = await dsp('dsp-optout-established-only');
    const [before, after] = (await users(2)) as [User, User];
    await webhook.call(before.uid, nowS() + 5);
    await webhook.call(after.uid, nowS() - 60);
    expect(await driver.dspBid(before.token)).toBe(false);
    expect(await driver.dspBid(after.token)).toBe(true);
  });

  it('dsp-optout-after-only and dsp-optout-seconds-vs-ms: refuse tokens established at or after the opt-out time, use older chains', async () => {
    for (const fault of ['dsp-optout-after-only', 'dsp-optout-seconds-vs-ms']) {
      const { driver, webhook } = await dsp(fault);
      const [user] = (await users(1)) as [User];
      await webhook.call(user.uid, nowS() - 60);
      expect(await driver.dspBid(user.token), fault).toBe(false);
      for (const ageMs of [2 * 60_000, HOURS_3, 2 * 86_400_000]) expect(await driver.dspBid(olderChain(user, ageMs)), `${fault}: a chain ${ageMs} ms old`).toBe(true);
    }
  });

  it('dsp-status-batch-any-optout: a clean UID2 is used alone, refused in a batch with an opted-out one', async () => {
    const { driver } = await dsp('dsp-status-batch-any-optout');
    const [clean, listed] = (await users(2)) as [User, User];
    await leave(listed);
    expect(await driver.dspBid(clean.token)).toBe(true);
    await sleep(STATUS_CACHE_MS + 50);
    expect(await Promise.all([driver.dspBid(clean.token), driver.dspBid(listed.token)])).toEqual([false, false]);
  });

  it('dsp-status-cache-stale: a UID2 first seen after its opt-out is refused; one seen before is not', async () => {
    const { driver } = await dsp('dsp-status-cache-stale');
    const [seen, unseen] = (await users(2)) as [User, User];
    expect(await driver.dspBid(seen.token)).toBe(true);
    await Promise.all([leave(seen), leave(unseen)]);
    await sleep(STATUS_CACHE_MS + 50);
    expect(await driver.dspBid(seen.token)).toBe(true);
    expect(await driver.dspBid(unseen.token)).toBe(false);
  });

  it('dsp-no-status-check never asks /v2/optout/status; dsp-ignores-all-uid2 never uses a fresh token', async () => {
    const silent = await dsp('dsp-no-status-check');
    const [user] = (await users(1)) as [User];
    await leave(user);
    const since = Date.now();
    expect(await silent.driver.dspBid(user.token)).toBe(true);
    expect(callsTo(op, 'optout-status', since)).toHaveLength(0);
    const blind = await dsp('dsp-ignores-all-uid2');
    const [fresh] = (await users(1)) as [User];
    expect(await postDriver(blind.url, '/dsp/bid', { advertising_token: fresh.token })).toEqual({ status: 200, json: { uses_uid2: false, reason: 'expired' } });
  });
});
