// The page driver against a minimal fixture page of its own (test/page/fixture.ts) and the kit's operator, in
// Debian's Chromium: routing of the operator host, refusal counting, journey errors, observers, screenshots
// and tick. Every request of the browser stays on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { DriverError, type DriverIdentity } from '../../harness/client/driver-client.ts';
import type { CheckScope } from '../../harness/engine/participant-session.ts';
import { EvidenceLog } from '../../harness/engine/recording.ts';
import { Redactor } from '../../harness/engine/redact.ts';
import { launchChromium } from '../../harness/page/browser.ts';
import type { Journey } from '../../harness/page/journey.ts';
import { PageDriver } from '../../harness/page/page-driver.ts';
import { fixtureJourney, startFixture, type Fixture } from './fixture.ts';

let browser: Browser;
let fixture: Fixture;
let n = 0;

beforeAll(async () => {
  [browser, fixture] = await Promise.all([launchChromium(), startFixture()]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await fixture?.close();
});

const user = (): DriverIdentity => ({ email: `page-user-${process.pid}-${++n}@example.com` });

function driverOf(journey: Partial<Journey> = {}, now?: () => number, maxOpenPages?: number) {
  const driver = new PageDriver({ pageUrl: fixture.pageUrl, journey: { ...fixtureJourney, ...journey }, browser, operatorUrl: fixture.operator.url, ...(now ? { now } : {}), ...(maxOpenPages ? { maxOpenPages } : {}) });
  const scope: CheckScope = { check: 'PUB-TEST-check', signal: new AbortController().signal, log: new EvidenceLog(), redactor: new Redactor(), calls: fixture.operator.operator.calls };
  return { driver, scope, check: driver.forCheck(scope) };
}

/** The open page of a check's first user. */
const pageOf = async (check: unknown) => [...((check as { users: Map<string, { tab: { page: import('playwright-core').Page } }> }).users.values())][0]!.tab.page;

describe('page driver', () => {
  it('logs a user in through the page and answers the token the page holds, issued by the kit operator', async () => {
    const { driver, check } = driverOf();
    const identity = user();
    const first = performance.now();
    const token = await check.publisherLogin(identity);
    const firstMs = performance.now() - first;
    const again = performance.now();
    const second = await check.publisherLogin(identity);
    const againMs = performance.now() - again;
    console.info(`page driver login: first ${Math.round(firstMs)} ms (new context), again ${Math.round(againMs)} ms (logout + login)`);
    expect(token).toEqual(expect.any(String));
    expect(fixture.operator.operator.tokens.decodeAdvertising(token!).ok).toBe(true);
    expect(second).not.toBe(token);
    expect(driver.stats).toMatchObject({ refused_requests: 0, operator_requests: 0 });
    await check.end('pass');
  }, 60_000);

  it('routes the page operator requests to the kit operator, with its CORS answer, and keeps them as evidence', async () => {
    const { driver, scope, check } = driverOf();
    const since = Date.now();
    await check.publisherLogin(user());
    const page = await pageOf(check);
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/v2/token/refresh')), page.evaluate(() => (window as unknown as { refresh(): Promise<void> }).refresh())]);
    // The page read the answer at all: the kit operator's CORS headers, for the page's own origin, came back with it.
    expect(await page.evaluate(() => (window as unknown as { refreshes: Array<{ status: number }> }).refreshes.map((r) => r.status))).toEqual([200]);
    expect(answer.headers()['access-control-allow-origin']).toBe(new URL(fixture.pageUrl).origin);
    expect(fixture.operator.operator.calls.list(since).filter((c) => c.endpoint === 'refresh').map((c) => c.status)).toEqual(['success']);
    expect(driver.stats).toMatchObject({ operator_requests: 1, refused_requests: 0, refused_hosts: {} });
    await check.end('pass');
    // The evidence, in the call log's order: the login's generate by the page's server, then the page's refresh.
    expect(scope.log.entries.filter((e) => e.path.startsWith('/v2/') || e.note?.includes('/v2/'))).toEqual([
      { path: '', http: 0, note: "<email dii#1>: /v2/token/generate by the publisher's server with optout_check 1, answer status success" },
      { path: '/v2/token/refresh', http: 200, ms: expect.any(Number), note: "<email dii#1>'s page: POST to operator-integ.uidapi.com, answered by the kit's operator" },
    ]);
  }, 60_000);

  it('refuses every request to another host, WebSockets too, and counts it by host, never sending it', async () => {
    const { driver, check } = driverOf({
      async adRequest(page) {
        await page.evaluate(() => {
          (window as unknown as { pixel(): void }).pixel();
          new WebSocket('wss://socket.example/live?token=x');
        });
      },
    });
    const identity = user();
    await check.publisherLogin(identity);
    const started = performance.now();
    await check.publisherAdRequest(identity);
    console.info(`ad request with a refused pixel: ${Math.round(performance.now() - started)} ms`);
    await expect.poll(() => driver.stats.refused_requests).toBe(2);
    expect(driver.stats).toMatchObject({ refused_hosts: { 'tracker.example': 1, 'socket.example': 1 }, bidder_requests: 0 });
    expect(JSON.stringify(driver.stats)).not.toContain('p.gif');
    await check.end('pass');
  }, 60_000);

  it("a journey that throws is a driver error with the journey's message, the user's DII scrubbed", async () => {
    const { check } = driverOf({
      async login(_page, u) {
        throw new Error(`no login button for ${u.email}\n    at somewhere`);
      },
    });
    const identity = user();
    const failure = await check.publisherLogin(identity).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DriverError);
    expect((failure as DriverError).reason).toBe('journey');
    expect((failure as DriverError).message).toMatch(/^the journey's login failed on the page of <email dii#1>: no login button for <email dii#1>$/);
    expect((failure as DriverError).message).not.toContain((identity as { email: string }).email);
    await check.end('error');
  }, 60_000);

  it("reads Prebid's bid requests (answered no-bid, never sent on), else pbjs.getUserIdsAsEids()", async () => {
    const { driver, scope, check } = driverOf({
      observer: 'prebid',
      async adRequest(page) {
        await page.evaluate(() => (window as unknown as { bid(): Promise<Response> }).bid());
      },
    });
    const identity = user();
    const login = await check.publisherLogin(identity);
    expect(login).toEqual(expect.any(String));
    expect(driver.stats.bidder_requests).toBe(0);
    expect(await check.publisherAdRequest(identity)).toBe(login);
    expect(driver.stats).toMatchObject({ bidder_requests: 1, refused_requests: 0 });
    expect(scope.log.entries).toContainEqual(expect.objectContaining({ path: 'bid request', http: 204, request: { host: 'bidder.example', uid2: ['<token#1>'] } }));
    await check.end('pass');
  }, 60_000);

  it("answers what the call's last page view sent to the bidders (a call can load the page several times); earlier views stay evidence", async () => {
    type FixtureWindow = { bid(): Promise<Response> };
    /** The page's stored identity now carries another advertising token (as after a refresh or a new generate). */
    const storeToken = (page: import('playwright-core').Page, token: string) =>
      page.evaluate((t) => localStorage.setItem('identity', JSON.stringify({ ...JSON.parse(localStorage.getItem('identity')!), advertising_token: t })), token);
    let script: (page: import('playwright-core').Page) => Promise<void> = async () => undefined;
    const { scope, check } = driverOf({ observer: 'prebid', adRequest: (page) => script(page) });
    const identity = user();
    const login = await check.publisherLogin(identity);
    expect(login).toEqual(expect.any(String));
    // Two views: the first bids with the login's token, the second with another one: the call answers the second.
    script = async (page) => {
      await page.evaluate(() => (window as unknown as FixtureWindow).bid());
      await storeToken(page, 'token-of-the-second-view');
      await page.reload();
      await page.evaluate(() => (window as unknown as FixtureWindow).bid());
    };
    expect(await check.publisherAdRequest(identity)).toBe('token-of-the-second-view');
    const bids = scope.log.entries.filter((e) => e.path === 'bid request').map((e) => (e.request as { uid2: string[] }).uid2);
    expect(bids).toEqual([['<token#1>'], ['<token#2>']]);
    // The last view sent nothing: what Prebid would put in its next bid request there (here none).
    script = async (page) => {
      await page.evaluate(() => (window as unknown as FixtureWindow).bid());
      await page.evaluate(() => localStorage.removeItem('identity'));
      await page.reload();
    };
    expect(await check.publisherAdRequest(identity)).toBeNull();
    // One view whose bid requests carry two different tokens is no answer the kit can give.
    await storeToken(await pageOf(check), login!);
    script = async (page) => {
      await page.evaluate(() => (window as unknown as FixtureWindow).bid());
      await storeToken(page, 'another-token-in-the-same-view');
      await page.evaluate(() => (window as unknown as FixtureWindow).bid());
    };
    const failure = await check.publisherAdRequest(identity).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DriverError);
    expect((failure as DriverError).message).toMatch(/^the bid requests of one page view on the page of <email dii#\d+> carried 2 different UID2 tokens$/);
    await check.end('pass');
  }, 60_000);

  it("reads the SDK's getAdvertisingToken(), a journey's own observer, and null where the page has no SDK", async () => {
    const own = driverOf({ observer: async (page) => page.evaluate(() => 'own-reading-of-the-page') });
    expect(await own.check.publisherLogin(user())).toBe('own-reading-of-the-page');
    await own.check.end('pass');
    const sdk = driverOf();
    const identity = user();
    expect(await sdk.check.publisherLogin(identity)).toEqual(expect.any(String));
    await sdk.check.publisherSiteOptout(identity);
    expect(await sdk.check.publisherAdRequest(identity)).toBeNull();
    await (await pageOf(sdk.check)).evaluate(() => delete (window as unknown as { __uid2?: unknown }).__uid2);
    expect(await sdk.check.publisherAdRequest(identity)).toBeNull();
    expect(sdk.scope.log.entries.at(-1)?.note).toMatch(/has no window.__uid2 or window.__euid/);
    await sdk.check.end('pass');
  }, 60_000);

  it('a failed check ends with a PNG of each of its users\' pages; a passed one with none; both close their contexts', async () => {
    const failed = driverOf();
    await failed.check.publisherLogin(user());
    await failed.check.publisherLogin(user());
    const shots = await failed.check.end('fail');
    expect(shots.map((s) => s.file)).toEqual(['screenshots/PUB-TEST-check-1.png', 'screenshots/PUB-TEST-check-2.png']);
    expect(shots.map((s) => s.caption)).toEqual(["the page of <email dii#1> when the check ended", "the page of <email dii#2> when the check ended"]);
    for (const s of shots) expect(Buffer.from(s.png!).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const passed = driverOf();
    await passed.check.publisherLogin(user());
    const contexts = browser.contexts().length;
    expect(await passed.check.end('pass')).toEqual([]);
    expect(browser.contexts().length).toBe(contexts - 1);
  }, 60_000);

  it("tick runs the page's due refresh timer now, and never puts the page's clock ahead of the kit operator's", async () => {
    let ahead = 0;
    const kitNow = () => Date.now() + ahead;
    const { check } = driverOf({}, kitNow);
    await check.publisherLogin(user());
    const page = await pageOf(check);
    const refreshes = () => page.evaluate(() => (window as unknown as { refreshes: unknown[] }).refreshes.length);
    expect(await check.publisherTick()).toBe(true);
    expect(await refreshes()).toBe(0); // refresh_from is a minute away on both clocks
    ahead = 61_000; // the kit operator's clock is past refresh_from
    await check.publisherTick();
    expect(await refreshes()).toBe(1);
    const before = kitNow();
    const pageTime = await page.evaluate(() => Date.now());
    expect(pageTime).toBeLessThanOrEqual(kitNow());
    expect(pageTime).toBeGreaterThan(before - 1000);
    await check.end('pass');
  }, 60_000);

  it("keeps at most maxOpenPages tabs open: the least recently used idle one closes, and reopens with the user's storage", async () => {
    const { scope, check } = driverOf({}, undefined, 1);
    const contexts = browser.contexts().length;
    const first = user();
    const token = await check.publisherLogin(first);
    await check.publisherLogin(user());
    expect(browser.contexts().length).toBe(contexts + 1);
    expect(scope.log.entries.map((e) => e.note)).toContain("<email dii#1>'s page closed (the kit keeps 1 pages open); its storage is kept for its next call");
    expect(await check.publisherAdRequest(first)).toBe(token);
    expect(browser.contexts().length).toBe(contexts + 1);
    // A failed check's screenshots show every user's page, a closed tab reopened with its storage.
    const shots = await check.end('fail');
    expect(shots.map((s) => s.caption)).toEqual(["the page of <email dii#1> when the check ended", "the page of <email dii#2> when the check ended (its tab had closed: reopened with its storage)"]);
    expect(browser.contexts().length).toBe(contexts);
  }, 60_000);
});
