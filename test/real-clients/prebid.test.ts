// @vitest-environment jsdom
//
// Drives the kit's simulated operator with a real UID2 client nobody here wrote: Prebid.js's
// `uid2IdSystem` user-id module (prebid.js 11.36.0, loaded from the npm package's precompiled ESM in
// dist/src, i.e. `prebid.js`, `prebid.js/modules/userId`, `prebid.js/modules/uid2IdSystem`).
// If the operator's refresh wire format were wrong (388-char text body, AES-GCM answer under the
// token's refresh_response_key, `{"status":"optout"}`, CORS), Prebid would expose no id at all.
// UID2-SPEC §1.2 (refresh), §2.5 (wrapped refresh token), §7 (Prebid: `{uid2:{optout:true}}`).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { startOperator } from '../../harness/operator/index.ts';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { generateIdentity, optOut, type IdentityBody } from './operator-fixture.ts';

interface Eid {
  source: string;
  uids: { id: string; atype: number }[];
}

/** The part of the `pbjs` global these tests use (Prebid's own typings need its global declarations). */
interface PrebidApi {
  processQueue(): void;
  setConfig(config: object): void;
  getUserIdsAsync(): Promise<Record<string, unknown>>;
  getUserIds(): Record<string, unknown>;
  getUserIdsAsEids(): Eid[];
  registerBidAdapter(adapter: undefined, code: string, spec: object): void;
  requestBids(request: object): void;
}

interface BidderRequestSeen {
  ortb2?: { user?: { ext?: { eids?: Eid[] } } };
  bids: { userIdAsEids?: Eid[] }[];
}

const UID2_EID_SOURCE = 'uidapi.com'; // Prebid's eid source for uid2 (libraries/uid2Eids)
const PREBID_STORAGE_KEY = '__uid2_advertising_token'; // where uid2IdSystem keeps its tokens (localStorage)
const PUBLISHER_COOKIE = 'uid2_identity'; // a cookie the publisher's server would set (params.uid2Cookie)
const PREBID_TIMEOUT_MS = 4000;

let op: Awaited<ReturnType<typeof startOperator>>;
let client: OperatorClient;
let optoutClient: OperatorClient;
/** Requests the operator served (path with query, HTTP status), from its onRequest hook. */
const served: { path: string; status: number }[] = [];
/** Every request Prebid issued through fetch, and any that failed in the browser layer (CORS, network). */
const sent: { method: string; url: string; headers: Record<string, string> }[] = [];
const transportErrors: string[] = [];
const nodeFetch = globalThis.fetch;

/**
 * Prebid's ajax layer calls `window.fetch`, which under vitest's jsdom environment is Node's own fetch:
 * no Origin header, no CORS, no preflight. A page would send the refresh cross-origin, and with
 * Prebid's `X-UID2-Client-Version` header that needs a preflight. So Prebid's requests are carried by
 * jsdom's XMLHttpRequest, which enforces CORS like a browser (page origin http://localhost:3000).
 * Anything not aimed at the local operator is refused, so Prebid can never reach a production host.
 */
function fetchThroughJsdom(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  sent.push({ method: request.method, url: request.url, headers });
  if (!op || !request.url.startsWith(`${op.url}/`)) {
    transportErrors.push(`blocked non-local request ${request.method} ${request.url}`);
    return Promise.reject(new TypeError(`blocked non-local request ${request.url}`));
  }
  return request.text().then(
    (body) =>
      new Promise<Response>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open(request.method, request.url, true);
        request.headers.forEach((value, name) => xhr.setRequestHeader(name, value));
        xhr.onload = () => {
          const nullBody = xhr.status === 204 || xhr.status === 205 || xhr.status === 304;
          resolve(new Response(nullBody ? null : xhr.responseText, { status: xhr.status, headers: { 'Content-Type': xhr.getResponseHeader('Content-Type') ?? 'text/plain' } }));
        };
        xhr.onerror = () => {
          transportErrors.push(`network or CORS failure on ${request.method} ${request.url}`);
          reject(new TypeError(`network or CORS failure on ${request.url}`));
        };
        xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
        request.signal.addEventListener('abort', () => xhr.abort());
        xhr.send(request.method === 'GET' || request.method === 'HEAD' ? null : body);
      }),
  );
}

/** A fresh Prebid instance per test: its user-id state is module-level, so modules are re-evaluated. */
async function loadPrebid(): Promise<PrebidApi> {
  vi.resetModules();
  const w = window as unknown as Record<string, unknown>;
  delete w.pbjs;
  delete w._pbjsGlobals;
  // Prebid binds window.fetch when its ajax module is evaluated, so the bridge is installed only for the import;
  // the kit's own OperatorClient keeps Node's fetch.
  globalThis.fetch = fetchThroughJsdom;
  try {
    await import('prebid.js');
    await import('prebid.js/modules/userId');
    await import('prebid.js/modules/uid2IdSystem');
  } finally {
    globalThis.fetch = nodeFetch;
  }
  const { default: pbjs } = await import('prebid.js');
  const api = pbjs as unknown as PrebidApi;
  api.processQueue();
  return api;
}

/** Configures the uid2 module against the local operator; uid2ApiBase is always set (never production). */
function configureUid2(pbjs: PrebidApi, params: Record<string, unknown>): void {
  pbjs.setConfig({
    // auctionDelay > 0 makes the user-id callbacks (the refresh) run at once, before auctions.
    userSync: { auctionDelay: 1000, syncDelay: 0, userIds: [{ name: 'uid2', params: { uid2ApiBase: op.url, ...params } }] },
  });
}

function withTimeout<T>(promise: Promise<T>, what: string, ms = PREBID_TIMEOUT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const context = `operator served ${JSON.stringify(served)}; transport errors ${JSON.stringify(transportErrors)}`;
      reject(new Error(`${what} did not settle within ${ms} ms (${context})`));
    }, ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

/** Runs one auction with a capturing bidder and returns the bidder request Prebid built (what a bidder is sent). */
async function auctionBidderRequest(pbjs: PrebidApi): Promise<BidderRequestSeen> {
  const captured: BidderRequestSeen[] = [];
  pbjs.registerBidAdapter(undefined, 'capture', {
    code: 'capture',
    supportedMediaTypes: ['banner'],
    isBidRequestValid: () => true,
    buildRequests: (_bids: unknown, bidderRequest: BidderRequestSeen) => {
      captured.push(bidderRequest);
      return [];
    },
    interpretResponse: () => [],
  });
  await withTimeout(
    new Promise<void>((resolve) =>
      pbjs.requestBids({
        adUnits: [{ code: 'slot-1', mediaTypes: { banner: { sizes: [[300, 250]] } }, bids: [{ bidder: 'capture', params: {} }] }],
        timeout: 500,
        bidsBackHandler: () => resolve(),
      }),
    ),
    'the auction',
  );
  expect(captured).toHaveLength(1);
  return captured[0]!;
}

const uid2Eids = (eids: Eid[] | undefined) => (eids ?? []).filter((e) => e.source === UID2_EID_SOURCE);

/** A stored identity whose advertising token has expired but whose refresh token is live: Prebid must refresh first. */
function expired(identity: IdentityBody): IdentityBody {
  const now = Date.now();
  return { ...identity, refresh_from: now - 120_000, identity_expires: now - 60_000 };
}

const syntheticEmail = () => `user-${randomUUID()}@example.com`;
const emailHash = (email: string) => createHash('sha256').update(email).digest('base64');
/** Refresh POSTs the operator answered (a CORS preflight OPTIONS on the same path answers 204 and is left out). */
const refreshesServed = () => served.filter((r) => r.path.startsWith('/v2/token/refresh') && r.status !== 204);
const preflightsServed = () => served.filter((r) => r.path.startsWith('/v2/token/refresh') && r.status === 204);

function clearBrowserStorage(): void {
  localStorage.clear();
  for (const cookie of document.cookie.split(';')) {
    const name = cookie.split('=')[0]?.trim();
    if (name) document.cookie = `${name}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  }
}

beforeAll(async () => {
  // Warm the module transform cache (Prebid is ~100 modules) so that no single test pays for it.
  await loadPrebid();
  op = await startOperator({ propagationDelayMs: 0, onRequest: (path, status) => served.push({ path, status }) });
  client = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret });
  optoutClient = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.optoutApiKey, clientSecret: op.credentials.optoutClientSecret });
}, 30_000);

afterAll(async () => {
  await op?.close();
});

beforeEach(() => {
  clearBrowserStorage();
  served.length = 0;
  sent.length = 0;
  transportErrors.length = 0;
});

afterEach(() => {
  // Every request Prebid made went to the local operator and passed the browser's CORS checks.
  expect(transportErrors).toEqual([]);
  expect(sent.every((r) => r.url.startsWith(`${op.url}/`))).toBe(true);
});

// Above PREBID_TIMEOUT_MS plus an auction, so a hang reports withTimeout's diagnostics, not vitest's bare timeout.
describe('Prebid.js uid2IdSystem against the simulated operator', { timeout: 10_000 }, () => {
  it('refreshes an expired token given as params.uid2Token and exposes the new uid2 id and eids, also to bidders', async () => {
    const original = await generateIdentity(client, syntheticEmail());
    const pbjs = await loadPrebid();
    configureUid2(pbjs, { uid2Token: expired(original) });

    const ids = await withTimeout(pbjs.getUserIdsAsync(), 'getUserIdsAsync');

    const uid2 = ids.uid2 as { id?: unknown; optout?: unknown } | undefined;
    expect(typeof uid2?.id).toBe('string');
    expect(uid2?.id).not.toBe(original.advertising_token); // only a successful refresh can supply it
    expect(uid2?.optout).toBeUndefined();
    // Prebid sent the 388-char refresh token as the body, with its client-version header; the operator answered 200.
    const refreshCalls = sent.filter((r) => r.url === `${op.url}/v2/token/refresh`);
    expect(refreshCalls).toHaveLength(1);
    expect(refreshCalls[0]!.headers['x-uid2-client-version']).toMatch(/^PrebidJS-/);
    expect(refreshesServed().map((r) => r.status)).toEqual([200]);
    // The custom header made it a preflighted CORS request, and the preflight was accepted.
    expect(preflightsServed()).toHaveLength(1);

    const stored = JSON.parse(localStorage.getItem(PREBID_STORAGE_KEY) ?? 'null') as { latestToken?: IdentityBody } | null;
    expect(stored?.latestToken?.advertising_token).toBe(uid2?.id);
    expect(stored?.latestToken?.refresh_token).toHaveLength(388);
    expect(stored?.latestToken?.refresh_token).not.toBe(original.refresh_token);
    expect(stored?.latestToken?.refresh_response_key).not.toBe(original.refresh_response_key);

    expect(uid2Eids(pbjs.getUserIdsAsEids())).toEqual([{ source: UID2_EID_SOURCE, uids: [{ id: uid2?.id, atype: 3 }] }]);
    const bidderRequest = await auctionBidderRequest(pbjs);
    expect(uid2Eids(bidderRequest.ortb2?.user?.ext?.eids)).toEqual([{ source: UID2_EID_SOURCE, uids: [{ id: uid2?.id, atype: 3 }] }]);
    expect(uid2Eids(bidderRequest.bids[0]?.userIdAsEids)).toHaveLength(1);
  });

  it('refreshes in the background a token from the publisher cookie (params.uid2Cookie) that is due for refresh', async () => {
    const original = await generateIdentity(client, syntheticEmail());
    // Still valid but past refresh_from: Prebid uses it at once and refreshes in the background (UID2-SPEC §7).
    const due = { ...original, refresh_from: Date.now() - 1000 };
    document.cookie = `${PUBLISHER_COOKIE}=${encodeURIComponent(JSON.stringify(due))}; path=/`;
    const pbjs = await loadPrebid();
    configureUid2(pbjs, { uid2Cookie: PUBLISHER_COOKIE });

    const ids = await withTimeout(pbjs.getUserIdsAsync(), 'getUserIdsAsync');

    const uid2 = ids.uid2 as { id?: unknown } | undefined;
    expect(refreshesServed().map((r) => r.status)).toEqual([200]);
    expect(typeof uid2?.id).toBe('string');
    expect(uid2?.id).not.toBe(original.advertising_token);
    expect(uid2Eids(pbjs.getUserIdsAsEids())[0]?.uids[0]?.id).toBe(uid2?.id);
  });

  async function expectOptoutReported(pbjs: PrebidApi, original: IdentityBody): Promise<void> {
    const ids = await withTimeout(pbjs.getUserIdsAsync(), 'getUserIdsAsync');

    expect(refreshesServed().map((r) => r.status)).toEqual([200]); // optout is an encrypted 200 (UID2-SPEC §1.2)
    expect(ids.uid2).toEqual({ optout: true });
    expect(JSON.stringify(pbjs.getUserIds())).not.toContain(original.advertising_token);
    const stored = JSON.parse(localStorage.getItem(PREBID_STORAGE_KEY) ?? 'null') as { latestToken?: unknown } | null;
    expect(stored?.latestToken).toBe('optout');
    expect(uid2Eids(pbjs.getUserIdsAsEids())).toEqual([]);
    const bidderRequest = await auctionBidderRequest(pbjs);
    expect(uid2Eids(bidderRequest.ortb2?.user?.ext?.eids)).toEqual([]);
    expect(uid2Eids(bidderRequest.bids[0]?.userIdAsEids)).toEqual([]);
    expect(JSON.stringify(bidderRequest)).not.toContain(original.advertising_token);
  }

  it('reports {uid2:{optout:true}} and sends no uid2 eids when the refresh answers optout (refresh-optout@example.com)', async () => {
    // The documented test identity: generate succeeds, every refresh answers optout (UID2-SPEC §4).
    const original = await generateIdentity(client, 'refresh-optout@example.com');
    const pbjs = await loadPrebid();
    configureUid2(pbjs, { uid2Token: expired(original) });
    await expectOptoutReported(pbjs, original);
  });

  // Beyond refresh: Prebid's CSTG accepts the operator's `UID2-X-L-` key as issued (the EUID SDK needs `EUID-X-`).
  it('generates a uid2 id client-side (CSTG) from an email hash with the operator UID2-X- public key', async () => {
    const pbjs = await loadPrebid();
    const { cstgPublicKey, cstgSubscriptionId } = op.credentials;
    configureUid2(pbjs, { serverPublicKey: cstgPublicKey, subscriptionId: cstgSubscriptionId, emailHash: emailHash(syntheticEmail()) });

    const ids = await withTimeout(pbjs.getUserIdsAsync(), 'getUserIdsAsync');

    expect(served.filter((r) => r.path.startsWith('/v2/token/client-generate')).map((r) => r.status)).toEqual([200]);
    const uid2 = ids.uid2 as { id?: unknown } | undefined;
    expect(typeof uid2?.id).toBe('string');
    const stored = JSON.parse(localStorage.getItem(PREBID_STORAGE_KEY) ?? 'null') as { latestToken?: IdentityBody } | null;
    expect(stored?.latestToken?.advertising_token).toBe(uid2?.id);
    expect(stored?.latestToken?.refresh_token).toHaveLength(388);
    expect(uid2Eids(pbjs.getUserIdsAsEids())[0]?.uids[0]?.id).toBe(uid2?.id);
  });

  it('reports {uid2:{optout:true}} when CSTG answers optout (optout@example.com)', async () => {
    const pbjs = await loadPrebid();
    const { cstgPublicKey, cstgSubscriptionId } = op.credentials;
    configureUid2(pbjs, { serverPublicKey: cstgPublicKey, subscriptionId: cstgSubscriptionId, emailHash: emailHash('optout@example.com') });

    const ids = await withTimeout(pbjs.getUserIdsAsync(), 'getUserIdsAsync');

    expect(served.filter((r) => r.path.startsWith('/v2/token/client-generate')).map((r) => r.status)).toEqual([200]);
    expect(ids.uid2).toEqual({ optout: true });
    expect(uid2Eids(pbjs.getUserIdsAsEids())).toEqual([]);
  });

  it('reports {uid2:{optout:true}} when the user opted out (logout) after the token was issued', async () => {
    const email = syntheticEmail();
    const original = await generateIdentity(client, email);
    await optOut(optoutClient, email);
    const pbjs = await loadPrebid();
    configureUid2(pbjs, { uid2Token: expired(original) });
    await expectOptoutReported(pbjs, original);
  });
});
