// @vitest-environment jsdom
//
// Drives the kit's simulated operator with a real client nobody here wrote: the UID2/EUID web SDK
// (@unified-id/euid-sdk 4.0.66, the EUID build of the uid2-web-integrations codebase; the UID2 build is not
// installable here). Its XMLHttpRequest is jsdom's, which enforces CORS like a browser (page origin
// http://localhost:3000, operator http://127.0.0.1:PORT), so the operator's CORS headers are exercised too.
// UID2-SPEC §1.2 (refresh), §1.6 (CSTG), §2.5 (wrapped refresh token), §7 (JS SDK opt-out behaviour).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { EUID, EventType, type CallbackPayload, type Identity } from '@unified-id/euid-sdk';
import { startOperator } from '../../harness/operator/index.ts';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { generateIdentity, optOut, type IdentityBody } from './operator-fixture.ts';

// SdkBase.IdentityStatus values as passed to the init callback (the enum itself is not exported).
const ESTABLISHED = 0;
const REFRESHED = 1;
const NO_IDENTITY = -1;
const OPTOUT = -4;

const STORAGE_KEY = 'EUID-sdk-identity'; // where the EUID build keeps its identity (localStorage by default)
const SDK_CLIENT_PARAM = `client=euid-sdk-${EUID.VERSION}`; // the SDK's version query parameter (UID2-SPEC §0)
const OPTOUT_MARKER_MS = 72 * 3600 * 1000; // the SDK's opt-out marker lifetime (UID2-SPEC §8)
const WAIT_MS = 3000;

let op: Awaited<ReturnType<typeof startOperator>>;
let client: OperatorClient;
let optoutClient: OperatorClient;
/** Requests the operator served (path with query, HTTP status), from its onRequest hook. */
const served: { path: string; status: number }[] = [];
/** Every URL the SDK opened with XMLHttpRequest, and any it tried outside the local operator. */
const opened: string[] = [];
const offLimits: string[] = [];
const xhrOpen = XMLHttpRequest.prototype.open;
let sdk: EUID | undefined;

/** What one SDK instance reported: callback events with their identity, and init-callback statuses. */
interface Recorder {
  events: { event: EventType; token: string | undefined }[];
  statuses: number[];
  count(event: EventType): number;
}

/** A fresh SDK instance per test (storage is cleared before each), with its events recorded. */
function newSdk(): { sdk: EUID; rec: Recorder } {
  const instance = new EUID();
  const rec: Recorder = {
    events: [],
    statuses: [],
    count: (event) => rec.events.filter((e) => e.event === event).length,
  };
  instance.callbacks.push((event: EventType, payload: CallbackPayload) => {
    const identity = 'identity' in payload ? payload.identity : null;
    rec.events.push({ event, token: identity?.advertising_token });
  });
  sdk = instance;
  return { sdk: instance, rec };
}

function initOptions(rec: Recorder, identity?: IdentityBody) {
  return {
    baseUrl: op.url, // always the local operator, never the SDK's production default
    ...(identity ? { identity: identity as Identity } : {}),
    callback: (payload: { status: number }) => rec.statuses.push(payload.status),
  };
}

async function waitFor(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; operator served ${JSON.stringify(served)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Past refresh_from, still valid: the SDK starts a refresh as soon as it is initialised with it. */
const dueForRefresh = (identity: IdentityBody): IdentityBody => ({ ...identity, refresh_from: Date.now() - 1000 });
const emailHash = (email: string) => createHash('sha256').update(email).digest('base64');
const syntheticEmail = () => `user-${randomUUID()}@example.com`;
const storedIdentity = () => JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Record<string, unknown> | null;
const servedOn = (path: string) => served.filter((r) => r.path.split('?')[0] === path);

/** CSTG options for the EUID build: it only accepts an `EUID-X-…` key and strips the same 9-char prefix as UID2. */
function cstgOptions() {
  const { cstgPublicKey, cstgSubscriptionId } = op.credentials;
  expect(cstgPublicKey).toMatch(/^UID2-X-[A-Z]-/);
  return { serverPublicKey: `EUID-X-L-${cstgPublicKey.slice('UID2-X-L-'.length)}`, subscriptionId: cstgSubscriptionId };
}

function clearBrowserStorage(): void {
  localStorage.clear();
  for (const cookie of document.cookie.split(';')) {
    const name = cookie.split('=')[0]?.trim();
    if (name) document.cookie = `${name}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  }
}

beforeAll(async () => {
  op = await startOperator({ propagationDelayMs: 0, onRequest: (path, status) => served.push({ path, status }) });
  client = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret });
  optoutClient = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.optoutApiKey, clientSecret: op.credentials.optoutClientSecret });
  // Record what the SDK opens and refuse anything but the local operator.
  XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, method: string, url: string | URL, ...rest: unknown[]) {
    const href = String(url);
    opened.push(href);
    if (!href.startsWith(`${op.url}/`)) {
      offLimits.push(href);
      throw new Error(`blocked non-local request ${href}`);
    }
    return (xhrOpen as (...a: unknown[]) => void).call(this, method, url, ...rest);
  } as typeof xhrOpen;
});

afterAll(async () => {
  XMLHttpRequest.prototype.open = xhrOpen;
  await op?.close();
});

beforeEach(() => {
  clearBrowserStorage();
  served.length = 0;
  opened.length = 0;
  offLimits.length = 0;
});

afterEach(() => {
  sdk?.disconnect(); // stops the SDK's refresh timer
  sdk = undefined;
  expect(offLimits).toEqual([]);
});

describe('EUID web SDK against the simulated operator: refresh', () => {
  it('refreshes an identity past refresh_from and keeps refreshing with each new refresh_response_key', async () => {
    const original = await generateIdentity(client, syntheticEmail());
    const { sdk, rec } = newSdk();
    sdk.init(initOptions(rec, dueForRefresh(original)));

    await waitFor('the REFRESHED init status', () => rec.statuses.includes(REFRESHED));

    expect(rec.statuses).toEqual([ESTABLISHED, REFRESHED]);
    const refreshed = sdk.getIdentity() as IdentityBody | null;
    expect(refreshed?.advertising_token).toEqual(expect.any(String));
    expect(refreshed?.advertising_token).not.toBe(original.advertising_token);
    expect(refreshed?.refresh_token).toHaveLength(388);
    expect(refreshed?.refresh_token).not.toBe(original.refresh_token);
    expect(refreshed?.refresh_response_key).not.toBe(original.refresh_response_key); // new key each time (§1.2)
    expect(refreshed!.refresh_from).toBeGreaterThan(Date.now());
    expect(refreshed!.identity_expires).toBeGreaterThanOrEqual(refreshed!.refresh_from);
    expect(refreshed!.refresh_expires).toBeGreaterThanOrEqual(refreshed!.identity_expires);
    expect(sdk.getAdvertisingToken()).toBe(refreshed?.advertising_token);
    expect(sdk.hasOptedOut()).toBe(false);
    expect(sdk.isLoginRequired()).toBe(false);
    expect(rec.count(EventType.OptoutReceived)).toBe(0);
    expect(rec.events.some((e) => e.event === EventType.IdentityUpdated && e.token === refreshed?.advertising_token)).toBe(true);
    expect(storedIdentity()?.advertising_token).toBe(refreshed?.advertising_token);
    // The SDK posted the token as text/plain to /v2/token/refresh?client=euid-sdk-<ver>, and the operator answered 200.
    expect(opened).toEqual([`${op.url}/v2/token/refresh?${SDK_CLIENT_PARAM}`]);
    expect(servedOn('/v2/token/refresh').map((r) => r.status)).toEqual([200]);

    // A second hop: the refreshed identity's own refresh token and response key work as well.
    sdk.disconnect();
    const second = newSdk();
    second.sdk.init(initOptions(second.rec, dueForRefresh(refreshed!)));
    await waitFor('the second REFRESHED init status', () => second.rec.statuses.includes(REFRESHED));
    const again = second.sdk.getIdentity();
    expect(again?.advertising_token).toEqual(expect.any(String));
    expect(again?.advertising_token).not.toBe(refreshed?.advertising_token);
    expect(servedOn('/v2/token/refresh').map((r) => r.status)).toEqual([200, 200]);
  });

  async function expectRefreshOptout(original: IdentityBody): Promise<void> {
    const { sdk, rec } = newSdk();
    sdk.init(initOptions(rec, dueForRefresh(original)));

    await waitFor('the OptoutReceived event', () => rec.count(EventType.OptoutReceived) > 0);

    expect(sdk.hasOptedOut()).toBe(true);
    expect(rec.count(EventType.OptoutReceived)).toBe(1);
    expect(rec.statuses).toEqual([ESTABLISHED, OPTOUT]);
    expect(sdk.getAdvertisingToken()).toBeUndefined();
    expect(sdk.getIdentity()).toBeNull();
    expect(sdk.isLoginRequired()).toBe(false); // opted out, so no login prompt (UID2-SPEC §7)
    await expect(sdk.getAdvertisingTokenAsync()).rejects.toThrow();
    // The SDK replaced the identity with its opt-out marker (UID2-SPEC §7).
    const stored = storedIdentity();
    expect(stored?.status).toBe('optout');
    expect(stored).not.toHaveProperty('advertising_token');
    expect(Number(stored?.identity_expires) - Date.now()).toBeGreaterThan(OPTOUT_MARKER_MS - 60_000);
    expect(servedOn('/v2/token/refresh').map((r) => r.status)).toEqual([200]); // optout is an encrypted 200
  }

  it('reports the opt-out when every refresh answers optout (refresh-optout@example.com)', async () => {
    // Documented test identity: generate succeeds, every refresh answers optout (UID2-SPEC §4).
    await expectRefreshOptout(await generateIdentity(client, 'refresh-optout@example.com'));
  });

  it('reports the opt-out when the user opted out (logout) after the identity was issued', async () => {
    const email = syntheticEmail();
    const original = await generateIdentity(client, email);
    await optOut(optoutClient, email);
    await expectRefreshOptout(original);
  });
});

describe('EUID web SDK against the simulated operator: client-side token generation (CSTG)', () => {
  it('generates an identity for a not-opted-out email hash, and that identity refreshes', async () => {
    const { sdk, rec } = newSdk();
    sdk.init(initOptions(rec));
    expect(rec.statuses).toEqual([NO_IDENTITY]);

    await sdk.setIdentityFromEmailHash(emailHash(syntheticEmail()), cstgOptions());

    const identity = sdk.getIdentity() as IdentityBody | null;
    expect(identity?.advertising_token).toEqual(expect.any(String));
    expect(identity?.refresh_token).toHaveLength(388);
    expect(Buffer.from(identity?.refresh_response_key ?? '', 'base64')).toHaveLength(32);
    expect(sdk.getAdvertisingToken()).toBe(identity?.advertising_token);
    expect(sdk.hasOptedOut()).toBe(false);
    expect(sdk.isLoginRequired()).toBe(false);
    expect(rec.count(EventType.OptoutReceived)).toBe(0);
    expect(rec.events.some((e) => e.event === EventType.IdentityUpdated && e.token === identity?.advertising_token)).toBe(true);
    expect(storedIdentity()?.advertising_token).toBe(identity?.advertising_token);
    expect(opened).toEqual([`${op.url}/v2/token/client-generate?${SDK_CLIENT_PARAM}`]);
    expect(servedOn('/v2/token/client-generate').map((r) => r.status)).toEqual([200]);

    // The CSTG-issued refresh token and response key work with the SDK's refresh too.
    sdk.disconnect();
    const next = newSdk();
    next.sdk.init(initOptions(next.rec, dueForRefresh(identity!)));
    await waitFor('the REFRESHED init status', () => next.rec.statuses.includes(REFRESHED));
    expect(next.sdk.getAdvertisingToken()).toEqual(expect.any(String));
    expect(next.sdk.getAdvertisingToken()).not.toBe(identity?.advertising_token);
    expect(next.sdk.hasOptedOut()).toBe(false);
  });

  async function expectCstgOptout(hash: string): Promise<void> {
    const { sdk, rec } = newSdk();
    sdk.init(initOptions(rec));

    await sdk.setIdentityFromEmailHash(hash, cstgOptions());

    expect(sdk.hasOptedOut()).toBe(true);
    expect(rec.count(EventType.OptoutReceived)).toBe(1);
    expect(rec.statuses).toEqual([NO_IDENTITY, OPTOUT]);
    expect(sdk.getAdvertisingToken()).toBeUndefined();
    expect(sdk.getIdentity()).toBeNull();
    expect(sdk.isLoginRequired()).toBe(false);
    expect(storedIdentity()?.status).toBe('optout');
    expect(servedOn('/v2/token/client-generate').map((r) => r.status)).toEqual([200]); // optout is an encrypted 200 (§1.6)
  }

  it('reports the opt-out for the always-opted-out test hash (optout@example.com)', async () => {
    const hash = emailHash('optout@example.com');
    expect(hash).toBe('DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50='); // UID2-SPEC §4
    await expectCstgOptout(hash);
  });

  it('reports the opt-out for an email hash whose user opted out (logout)', async () => {
    const email = syntheticEmail();
    await optOut(optoutClient, email);
    await expectCstgOptout(emailHash(email));
  });
});
