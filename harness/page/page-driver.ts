// The page driver: the publisher's staging page, driven in a real browser, as the driver of PROTOCOL.md §3
// (ParticipantDriver). Each synthetic user (every spelling of one DII is one user) gets a fresh browser context,
// kept across that user's logins so the page's storage persists, and closed when the check that made it ends.
// The publisher's journey (journey.ts) does what a person does on the page; the observer reads the token the
// page would send to its bidders. Every request of the page goes through routing.ts: the UID2 operator hosts
// answer from the kit's operator, so the checks judge from the kit's call log as with any driver.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DriverError, type DriverIdentity } from '../client/driver-client.ts';
import { UsageError } from '../config.ts';
import { identityPerson, type CheckDriver, type CheckScope, type ScopedDriver } from '../engine/participant-session.ts';
import { EvidenceLog } from '../engine/recording.ts';
import { Redactor } from '../engine/redact.ts';
import type { BrowserStats, Evidence, Screenshot, Status } from '../engine/result.ts';
import { ENDPOINT_OF_PATH } from '../operator/call-log.ts';
import type { ParticipantRole } from '../participants/role.ts';
import { launchChromium } from './browser.ts';
import { keepHeapTight } from './heap.ts';
import type { Journey, JourneyUser } from './journey.ts';
import { Activity, DEFAULT_OPERATOR_HOSTS, PageRouter } from './routing.ts';

export interface PageDriverOptions {
  /** The publisher's page (--page): every login starts there. */
  pageUrl: string;
  journey: Journey;
  /** The run's one browser (launchChromium); the driver does not close it. */
  browser: Browser;
  /** The kit's operator, which answers the page's operator requests. */
  operatorUrl: string;
  /** Hostnames routed to the kit's operator (default: the documented UID2 and EUID hosts). */
  operatorHosts?: readonly string[];
  /** The kit operator's clock: a page's clock starts there and never runs ahead of it (default Date.now). */
  now?: () => number;
  /** Budget of one journey step, one navigation and one forwarded operator request (ms). */
  timeoutMs?: number;
  /** A page's UID2 work settled when no request of its context was in flight for this long (ms)... */
  quietMs?: number;
  /** ...or this long passed (ms). */
  settleMaxMs?: number;
  /** Open tabs over every check (each a renderer process); beyond it the least recently used idle tab closes, its storage kept. */
  maxOpenPages?: number;
  /** A short name of the page (e.g. `prebid-server`), for screenshot files and captions when one run drives several pages. */
  name?: string;
}

/**
 * A page run's defaults where --runs, --concurrency and --refresh-expires-after are not given: every generated
 * case drives real browser pages (a page load costs about 50 ms of CPU, a new user's context 0.15 s: bench/pages.ts);
 * two checks at once keep two cores busy without starving either; and a session must outlive a check's many page
 * views (a second or so each), or the publisher could not refresh it and the check could not judge.
 */
export const PAGE_RUN_DEFAULTS = { runs: 2, concurrency: 2, refreshExpiresAfterMs: 60_000, openPages: 8 } as const;

// maxOpenPages: each open tab is a context with its own renderer (about 55 MB PSS, bench/pages.ts); fewer tabs
// cost less memory and more time, and change what a check sees: a closed tab's user reopens with its storage in
// a new context, and that new page view runs the page's UID2 code again (a refresh, say) before the next step.
// Eight hold the users of two checks at once but the largest.
const DEFAULTS = { timeoutMs: 15_000, quietMs: 100, settleMaxMs: 5_000, maxOpenPages: PAGE_RUN_DEFAULTS.openPages };

/** Budget of one screenshot of a failed check's page. */
const SCREENSHOT_MS = 5_000;

/** A journey module (--journey FILE): its default export, checked; anything missing is a usage error (exit 2). */
export async function loadJourney(file: string): Promise<Journey> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'no such module' : firstLine(e);
    throw new UsageError(`--journey ${file}: cannot load it (${reason})`);
  }
  const journey = module.default as Partial<Journey> | undefined;
  if (journey === null || typeof journey !== 'object') throw new UsageError(`--journey ${file}: its default export must be a Journey object (observer, login, siteOptOut, logout)`);
  const missing: string[] = (['login', 'siteOptOut', 'logout'] as const).filter((name) => typeof journey[name] !== 'function');
  if (journey.adRequest !== undefined && typeof journey.adRequest !== 'function') missing.push('adRequest');
  if (missing.length > 0) throw new UsageError(`--journey ${file}: the default export has no ${missing.join(', ')} function`);
  if (journey.observer !== 'prebid' && journey.observer !== 'uid2-sdk' && typeof journey.observer !== 'function') {
    throw new UsageError(`--journey ${file}: observer must be 'prebid', 'uid2-sdk' or a function (page) => token | null`);
  }
  return journey as Journey;
}

/** A user's open tab: its browser context (the user's storage), its one page, the requests in flight. */
interface Tab {
  context: BrowserContext;
  page: Page;
  activity: Activity;
  /** The page was navigated (to the --page URL, then wherever the journey went). */
  opened: boolean;
}

/** One synthetic user: an open tab, or the storage its closed tab left; the bid requests its pages made. */
interface UserBrowser {
  label: string;
  tab?: Tab;
  /** Cookies, localStorage and IndexedDB of a closed tab, restored into the next one. */
  saved?: Awaited<ReturnType<BrowserContext['storageState']>>;
  /** UID2 tokens of the page's bid requests, in order, each with the page view (document) that made it. */
  bids: Array<{ view: number; tokens: string[] }>;
  /** Page views so far: documents loaded in the user's tabs (a navigation, a reload, a reopened tab). */
  views: number;
  loggedIn: boolean;
  /** Calls under way (a busy tab is never closed), and when it was last used (the least recent closes first). */
  busy: number;
  usedAt: number;
  /** The user's check, for notes in its evidence. */
  log: EvidenceLog;
  /** The person key of the kit operator's call log. */
  person: string;
  /** Operator requests of the user's pages not yet in the evidence (they go in in call-log order). */
  routed: Array<{ endpoint: string | undefined; entry: Evidence }>;
}

export class PageDriver implements ScopedDriver {
  readonly router: PageRouter;
  private readonly unscoped: PageUsers;
  readonly settings: Required<Omit<PageDriverOptions, 'operatorHosts' | 'name'>> & Pick<PageDriverOptions, 'name'>;
  /** Users whose tab is open, over every check. */
  private readonly open = new Set<UserBrowser>();
  private uses = 0;
  /** What the run cost the browser (report.json `browser`). */
  private readonly cost = { contexts_opened: 0, page_loads: 0 };
  /** The kit's heap is kept near its live size while the driver is open (heap.ts). */
  private readonly releaseHeap: () => void;

  constructor(options: PageDriverOptions) {
    this.settings = { ...DEFAULTS, now: Date.now, ...options };
    this.router = new PageRouter({
      operatorUrl: options.operatorUrl,
      operatorHosts: options.operatorHosts ?? DEFAULT_OPERATOR_HOSTS,
      pageHosts: [new URL(options.pageUrl).hostname],
      timeoutMs: this.settings.timeoutMs,
    });
    // Calls outside any check (none in a run but `tick` at start): their own users and evidence.
    this.unscoped = new PageUsers(this, { check: 'session', signal: new AbortController().signal, log: new EvidenceLog(), redactor: new Redactor() });
    this.releaseHeap = keepHeapTight();
  }

  /** What the browser asked for beyond the page and the operator (report.json `browser`). */
  get stats(): BrowserStats {
    return { ...this.router.stats, refused_hosts: { ...this.router.stats.refused_hosts }, ...this.cost };
  }

  async roles(): Promise<ParticipantRole[]> {
    return ['publisher'];
  }

  forCheck(scope: CheckScope): CheckDriver {
    return new PageUsers(this, scope);
  }

  publisherLogin = (identity: DriverIdentity) => this.unscoped.publisherLogin(identity);
  publisherSiteOptout = (identity: DriverIdentity) => this.unscoped.publisherSiteOptout(identity);
  publisherAdRequest = (identity: DriverIdentity) => this.unscoped.publisherAdRequest(identity);
  publisherTick = () => this.unscoped.publisherTick();
  dspBid = () => notPlayed('dsp');
  advertiserSync = () => notPlayed('advertiser');
  advertiserSiteOptout = () => notPlayed('advertiser');
  sharerShare = () => notPlayed('sharer');

  /** Closes the contexts of calls made outside any check (the browser is the caller's). */
  async close(): Promise<void> {
    this.releaseHeap();
    await this.unscoped.end('pass');
  }

  /** Marks a use of the user's tab (the least recently used idle tab is the first to close). */
  touch(user: UserBrowser): void {
    user.usedAt = ++this.uses;
  }

  /**
   * Opens the user's tab: a fresh context with the storage its last tab left, its clock at the kit operator's
   * time. Each open tab costs a renderer process (about 50 MB), so at most `maxOpenPages` stay open: the least
   * recently used idle one closes first, as when a person closes a tab, its storage kept for its next call.
   */
  async openTab(user: UserBrowser, listen: (context: BrowserContext) => Promise<void>): Promise<Tab> {
    while (this.open.size >= this.settings.maxOpenPages) {
      const idle = [...this.open].filter((u) => u.busy === 0 && u !== user).sort((a, b) => a.usedAt - b.usedAt)[0];
      if (!idle) break;
      await this.closeTab(idle, true);
      idle.log.note(`${idle.label}'s page closed (the kit keeps ${this.settings.maxOpenPages} pages open); its storage is kept for its next call`);
    }
    // Service workers blocked: their requests would not pass the route handler.
    const context = await this.settings.browser.newContext({ serviceWorkers: 'block', ...(user.saved ? { storageState: user.saved } : {}) });
    context.setDefaultTimeout(this.settings.timeoutMs);
    // Before any page: the page's clock starts at the kit operator's time and runs on from there.
    await context.clock.install({ time: this.settings.now() });
    const activity = new Activity(context);
    await listen(context);
    const tab: Tab = { context, page: await context.newPage(), activity, opened: false };
    this.cost.contexts_opened += 1;
    tab.page.on('load', () => (this.cost.page_loads += 1));
    user.tab = tab;
    this.open.add(user);
    return tab;
  }

  /** Closes the user's tab; `keep`: its storage first, for the next one. */
  async closeTab(user: UserBrowser, keep: boolean): Promise<void> {
    const tab = user.tab;
    if (!tab) return;
    user.tab = undefined;
    this.open.delete(user);
    if (keep) user.saved = (await tab.context.storageState({ indexedDB: true }).catch(() => undefined)) ?? user.saved;
    await tab.context.close().catch(() => undefined);
  }
}

/** The page driver plays the publisher alone: `roles()` says so, so no check of another role calls these. */
function notPlayed(role: ParticipantRole): never {
  throw new DriverError('http', `the page driver does not play the ${role} role`);
}

/** The users of one check: their browsers, their evidence, their screenshots when the check failed. */
class PageUsers implements CheckDriver {
  private readonly users = new Map<string, UserBrowser>();

  constructor(
    private readonly driver: PageDriver,
    private readonly scope: CheckScope,
  ) {}

  private get journey(): Journey {
    return this.driver.settings.journey;
  }

  roles = () => this.driver.roles();
  dspBid = () => notPlayed('dsp');
  advertiserSync = () => notPlayed('advertiser');
  advertiserSiteOptout = () => notPlayed('advertiser');
  sharerShare = () => notPlayed('sharer');

  /** The user logs in on a fresh view of the page (after logging out of an earlier login); the token the observer reads. */
  publisherLogin(identity: DriverIdentity): Promise<string | null> {
    return this.as(identity, async (user, tab) => {
      const bidsBefore = user.bids.length;
      if (user.loggedIn) {
        await this.step(user, tab, 'logout', async () => {
          await this.navigated(tab);
          await this.journey.logout(tab.page);
        });
      }
      await this.step(user, tab, 'login', async () => {
        // A logout that landed on the --page URL left a fresh view of it: loading it again would only cost time.
        if (!(user.loggedIn && tab.page.url() === this.driver.settings.pageUrl)) await tab.page.goto(this.driver.settings.pageUrl);
        tab.opened = true;
        await this.journey.login(tab.page, journeyUser(identity));
        user.loggedIn = true;
      });
      return this.observe(user, tab, bidsBefore);
    });
  }

  publisherSiteOptout(identity: DriverIdentity): Promise<void> {
    return this.as(identity, (user, tab) =>
      this.step(user, tab, 'siteOptOut', async () => {
        await this.navigated(tab);
        await this.journey.siteOptOut(tab.page, journeyUser(identity));
      }),
    );
  }

  publisherAdRequest(identity: DriverIdentity): Promise<string | null> {
    return this.as(identity, async (user, tab) => {
      const bidsBefore = user.bids.length;
      await this.step(user, tab, 'adRequest', async () => {
        await this.navigated(tab);
        await this.journey.adRequest?.(tab.page);
      });
      return this.observe(user, tab, bidsBefore);
    });
  }

  /**
   * Due background work now: each open page's clock catches up with the kit operator's clock (Playwright's
   * clock API runs every timer due by then, e.g. the SDK's refresh timer), never past it; then its work settles.
   */
  async publisherTick(): Promise<boolean> {
    for (const user of this.users.values()) {
      const tab = user.tab;
      if (!tab?.opened) continue;
      user.busy += 1;
      try {
        await this.step(user, tab, 'tick', async () => {
          // The kit's time is read first: whatever the reading costs, the page ends behind it, never ahead.
          const kitNow = this.driver.settings.now();
          const pageNow = await tab.page.evaluate(() => Date.now());
          if (kitNow > pageNow) await tab.context.clock.runFor(kitNow - pageNow);
        });
      } finally {
        user.busy -= 1;
      }
    }
    return true;
  }

  /** The check ended: a screenshot of each user's open page when it failed, then every tab of the check closes. */
  async end(status: Status): Promise<Screenshot[]> {
    const shots: Screenshot[] = [];
    const users = [...this.users.values()];
    this.users.clear();
    if (status === 'fail') {
      for (const [i, user] of users.entries()) {
        const png = await this.screenshot(user).catch(() => undefined);
        const { name } = this.driver.settings;
        const caption = `the page${name ? ` ${name}` : ''} of ${user.label} when the check ended${png?.reopened ? ' (its tab had closed: reopened with its storage)' : ''}`;
        const file = `screenshots/${`${name ? `${name}-` : ''}${this.scope.check}`.replace(/[^A-Za-z0-9_-]+/g, '-')}-${i + 1}.png`;
        if (png) shots.push({ file, caption, png: png.bytes });
      }
    }
    await Promise.all(users.map((u) => this.driver.closeTab(u, false)));
    // What the pages asked the operator after their last call (a refresh timer) is evidence too.
    for (const user of users) for (const { entry } of user.routed.splice(0)) this.scope.log.push(entry);
    return shots;
  }

  /** The user's page as it is; a tab closed for the open-page budget is reopened at the --page URL with the user's storage. */
  private async screenshot(user: UserBrowser): Promise<{ bytes: Buffer; reopened: boolean } | undefined> {
    const reopened = !user.tab?.opened;
    if (reopened && !user.saved) return undefined;
    const tab = user.tab ?? (await this.driver.openTab(user, (context) => this.listen(user, context)));
    await this.navigated(tab);
    return { bytes: await tab.page.screenshot({ type: 'png', timeout: SCREENSHOT_MS }), reopened };
  }

  /** Runs a call as the user (every spelling of one DII is one person: one user, one storage) in its open tab. */
  private async as<T>(identity: DriverIdentity, act: (user: UserBrowser, tab: Tab) => Promise<T>): Promise<T> {
    const user = this.userOf(identity);
    user.busy += 1;
    try {
      this.driver.touch(user);
      return await act(user, user.tab ?? (await this.driver.openTab(user, (context) => this.listen(user, context))));
    } finally {
      user.busy -= 1;
      this.driver.touch(user);
    }
  }

  private userOf(identity: DriverIdentity): UserBrowser {
    const key = personOrText(identity);
    let user = this.users.get(key);
    if (!user) {
      const [field, value] = Object.entries(identity)[0] as ['email' | 'phone', string];
      user = { label: this.scope.redactor.dii(field, value), bids: [], views: 0, loggedIn: false, busy: 0, usedAt: 0, log: this.scope.log, person: key, routed: [] };
      this.users.set(key, user);
    }
    return user;
  }

  /** What the router sees of the user's pages goes into the check's evidence, in order. */
  private listen(user: UserBrowser, context: BrowserContext): Promise<void> {
    const { log, redactor } = this.scope;
    context.on('page', (page) => page.on('framenavigated', (frame) => frame === page.mainFrame() && (user.views += 1)));
    return this.driver.router.attach(context, {
      operatorCall: (call) =>
        user.routed.push({ endpoint: ENDPOINT_OF_PATH[call.path], entry: { path: call.path, http: call.http, ms: call.ms, note: `${user.label}'s page: ${call.method} to ${call.host}, answered by the kit's operator` } }),
      bidRequest: (request) => {
        user.bids.push({ view: user.views, tokens: request.tokens });
        log.push({
          path: 'bid request',
          http: request.http,
          request: { host: request.host, uid2: request.tokens.map((t) => redactor.token('token', t)) },
          note: `${user.label}'s page${request.http === 204 ? ' (answered no-bid, never sent on)' : ' (sent on to the page’s own server)'}`,
        });
      },
    });
  }

  /** A tab that shows nothing yet (new, or reopened with the user's storage) goes to the --page URL first. */
  private async navigated(tab: Tab): Promise<void> {
    if (tab.opened) return;
    await tab.page.goto(this.driver.settings.pageUrl);
    tab.opened = true;
  }

  /** One journey step, then the page's UID2 work settles; a step that throws is a driver error with its message, scrubbed. */
  private async step(user: UserBrowser, tab: Tab, what: string, run: () => Promise<void>): Promise<void> {
    this.scope.signal.throwIfAborted();
    const since = this.scope.calls?.lastSeq ?? 0;
    try {
      await run();
    } catch (e) {
      if (this.scope.signal.aborted) throw this.scope.signal.reason;
      throw new DriverError('journey', `the journey's ${what} failed on the page of ${user.label}: ${this.scope.redactor.scrubber.scrub(firstLine(e))}`);
    } finally {
      const { quietMs, settleMaxMs } = this.driver.settings;
      if (!(await tab.activity.settled(quietMs, settleMaxMs, this.scope.signal)) && !this.scope.signal.aborted) {
        this.scope.log.note(`${user.label}'s page still had requests in flight ${settleMaxMs} ms after ${what}; read as it was`);
      }
      this.recordCalls(user, since);
    }
  }

  /**
   * The user's operator calls since a call-log position, in the log's order, into the check's evidence: those
   * of its pages (routed, with their HTTP status) and those of the publisher's servers (e.g. the generate of a
   * login); then the page's requests the log does not attribute to the user.
   */
  private recordCalls(user: UserBrowser, since: number): void {
    for (const call of this.scope.calls?.list().filter((c) => c.seq > since && c.persons.includes(user.person)) ?? []) {
      const routed = user.routed.findIndex((r) => r.endpoint === call.endpoint);
      if (routed >= 0) this.scope.log.push({ ...user.routed.splice(routed, 1)[0]!.entry, status: call.status });
      // The kit saw the call arrive, not the HTTP exchange of the publisher's server: a note with the answer's status.
      else this.scope.log.note(`${user.label}: ${pathOf(call.endpoint)} by the publisher's server${call.endpoint === 'generate' ? ` with optout_check ${JSON.stringify(call.optoutCheck ?? null)}` : ''}, answer status ${call.status}`);
    }
    for (const { entry } of user.routed.splice(0)) this.scope.log.push(entry);
  }

  /** The token the page would send to its bidders now. */
  private async observe(user: UserBrowser, tab: Tab, bidsBefore: number): Promise<string | null> {
    const observer = this.journey.observer;
    let token: unknown;
    try {
      token = typeof observer === 'function' ? await observer(tab.page) : observer === 'prebid' ? await this.prebidToken(user, tab, bidsBefore) : await this.sdkToken(user, tab);
    } catch (e) {
      if (e instanceof DriverError) throw e;
      throw new DriverError('journey', `the ${typeof observer === 'function' ? "journey's observer" : `${observer} observer`} failed on the page of ${user.label}: ${this.scope.redactor.scrubber.scrub(firstLine(e))}`);
    }
    if (token !== null && (typeof token !== 'string' || token === '')) throw new DriverError('garbage', `the observer read something that is not a token or null on the page of ${user.label}`);
    return token;
  }

  /**
   * Prebid.js: the UID2 EIDs of the bid requests the page's last view made during the call (read by the
   * router): a call can load the page several times (the --page URL, then the view after a login form), and
   * what the user has after the call is what its last view sends. When that view sent none carrying one, what
   * Prebid would put in the next (`pbjs.getUserIdsAsEids()`). Earlier views' bid requests stay in the evidence.
   */
  private async prebidToken(user: UserBrowser, tab: Tab, bidsBefore: number): Promise<string | null> {
    const sent = new Set(user.bids.slice(bidsBefore).filter((b) => b.view === user.views).flatMap((b) => b.tokens));
    if (sent.size > 1) throw new DriverError('garbage', `the bid requests of one page view on the page of ${user.label} carried ${sent.size} different UID2 tokens`);
    if (sent.size === 1) return [...sent][0]!;
    const eids = await tab.page.evaluate(() => {
      const pbjs = (window as unknown as { pbjs?: { getUserIdsAsEids?: () => unknown } }).pbjs;
      return typeof pbjs?.getUserIdsAsEids === 'function' ? pbjs.getUserIdsAsEids() : undefined;
    });
    if (eids === undefined) {
      this.scope.log.note(`${user.label}'s page has no pbjs.getUserIdsAsEids() and made no bid request with a UID2: no token`);
      return null;
    }
    const tokens = new Set<string>();
    for (const eid of Array.isArray(eids) ? (eids as Array<{ source?: unknown; uids?: Array<{ id?: unknown }> }>) : []) {
      if (eid?.source === 'uidapi.com' || eid?.source === 'euid.eu') for (const uid of eid.uids ?? []) if (typeof uid?.id === 'string') tokens.add(uid.id);
    }
    if (tokens.size > 1) throw new DriverError('garbage', `pbjs.getUserIdsAsEids() on the page of ${user.label} holds ${tokens.size} different UID2 tokens`);
    return [...tokens][0] ?? null;
  }

  /** The UID2/EUID SDK: `getAdvertisingToken()` of `window.__uid2`, or else `window.__euid`. */
  private async sdkToken(user: UserBrowser, tab: Tab): Promise<string | null> {
    const read = await tab.page.evaluate(() => {
      type Sdk = { getAdvertisingToken?: () => unknown };
      const w = window as unknown as { __uid2?: Sdk; __euid?: Sdk };
      const sdk = [w.__uid2, w.__euid].find((s) => typeof s?.getAdvertisingToken === 'function');
      if (!sdk) return { loaded: false as const };
      const token = sdk.getAdvertisingToken!();
      return { loaded: true as const, token: typeof token === 'string' && token !== '' ? token : null };
    });
    if (!read.loaded) {
      this.scope.log.note(`${user.label}'s page has no window.__uid2 or window.__euid with getAdvertisingToken(): no token`);
      return null;
    }
    return read.token;
  }
}

const pathOf = (endpoint: string): string => Object.entries(ENDPOINT_OF_PATH).find(([, e]) => e === endpoint)?.[0] ?? endpoint;

const journeyUser = (identity: DriverIdentity): JourneyUser => ('email' in identity ? { email: identity.email } : { phone: identity.phone });

/** The person of an identity; an identity that is no valid DII is its own user. */
function personOrText(identity: DriverIdentity): string {
  try {
    return identityPerson(identity);
  } catch {
    return JSON.stringify(identity);
  }
}

function firstLine(e: unknown): string {
  const text = (e as Error)?.message ?? String(e);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? 'no message';
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/** Starts a page run's driver: the journey checked first (exit 2 naming what is missing), then the browser. */
export async function startPageDriver(options: Omit<PageDriverOptions, 'journey' | 'browser'> & { journeyFile: string; chromium?: string }): Promise<{ driver: PageDriver; browser: Browser; close(): Promise<void> }> {
  const journey = await loadJourney(options.journeyFile);
  const browser = await launchChromium(options.chromium, [new URL(options.pageUrl).hostname]);
  const driver = new PageDriver({ ...options, journey, browser });
  return {
    driver,
    browser,
    close: async () => {
      await driver.close();
      await browser.close();
    },
  };
}
