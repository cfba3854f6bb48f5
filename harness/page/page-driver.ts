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
import type { BrowserStats, Screenshot, Status } from '../engine/result.ts';
import type { ParticipantRole } from '../participants/role.ts';
import { launchChromium } from './browser.ts';
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
}

const DEFAULTS = { timeoutMs: 15_000, quietMs: 150, settleMaxMs: 5_000 };
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

/** One synthetic user's browser: its context, its one page, the requests in flight, the bid requests it made. */
interface UserBrowser {
  label: string;
  context: BrowserContext;
  page: Page;
  activity: Activity;
  /** UID2 tokens of the page's bid requests, in order. */
  bids: string[][];
  opened: boolean;
  loggedIn: boolean;
}

export class PageDriver implements ScopedDriver {
  readonly router: PageRouter;
  private readonly unscoped: PageUsers;
  readonly settings: Required<Omit<PageDriverOptions, 'operatorHosts'>>;

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
  }

  /** What the browser asked for beyond the page and the operator (report.json `browser`). */
  get stats(): BrowserStats {
    return this.router.stats;
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
    await this.unscoped.end('pass');
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
  async publisherLogin(identity: DriverIdentity): Promise<string | null> {
    const user = await this.userOf(identity);
    const bidsBefore = user.bids.length;
    if (user.loggedIn) await this.step(user, 'logout', () => this.journey.logout(user.page));
    await this.step(user, 'login', async () => {
      await user.page.goto(this.driver.settings.pageUrl);
      user.opened = true;
      await this.journey.login(user.page, journeyUser(identity));
      user.loggedIn = true;
    });
    return this.observe(user, bidsBefore);
  }

  async publisherSiteOptout(identity: DriverIdentity): Promise<void> {
    const user = await this.userOf(identity);
    await this.step(user, 'siteOptOut', async () => {
      await this.open(user);
      await this.journey.siteOptOut(user.page, journeyUser(identity));
    });
  }

  async publisherAdRequest(identity: DriverIdentity): Promise<string | null> {
    const user = await this.userOf(identity);
    const bidsBefore = user.bids.length;
    await this.step(user, 'adRequest', async () => {
      await this.open(user);
      await this.journey.adRequest?.(user.page);
    });
    return this.observe(user, bidsBefore);
  }

  /**
   * Due background work now: each page's clock catches up with the kit operator's clock (Playwright's clock
   * API runs every timer due by then, e.g. the SDK's refresh timer), never past it; then its work settles.
   */
  async publisherTick(): Promise<boolean> {
    for (const user of this.users.values()) {
      if (!user.opened) continue;
      await this.step(user, 'tick', async () => {
        // The kit's time is read first: whatever the reading costs, the page ends behind it, never ahead.
        const kitNow = this.driver.settings.now();
        const pageNow = await user.page.evaluate(() => Date.now());
        if (kitNow > pageNow) await user.context.clock.runFor(kitNow - pageNow);
      });
    }
    return true;
  }

  /** The check ended: a screenshot of each user's page when it failed, then every context of the check closes. */
  async end(status: Status): Promise<Screenshot[]> {
    const shots: Screenshot[] = [];
    const users = [...this.users.values()];
    this.users.clear();
    if (status === 'fail') {
      for (const [i, user] of users.entries()) {
        if (!user.opened) continue;
        const png = await user.page.screenshot({ type: 'png', timeout: SCREENSHOT_MS }).catch(() => undefined);
        if (png) shots.push({ file: `screenshots/${this.scope.check.replace(/[^A-Za-z0-9_-]+/g, '-')}-${i + 1}.png`, caption: `the page of ${user.label} when the check ended`, png });
      }
    }
    await Promise.all(users.map((u) => u.context.close().catch(() => undefined)));
    return shots;
  }

  /** The user's browser: every spelling of one DII is one person, so one context with its storage. */
  private async userOf(identity: DriverIdentity): Promise<UserBrowser> {
    const key = personOrText(identity);
    const known = this.users.get(key);
    if (known) return known;
    const { browser, now, timeoutMs } = this.driver.settings;
    const [field, value] = Object.entries(identity)[0] as ['email' | 'phone', string];
    const label = this.scope.redactor.dii(field, value);
    const context = await browser.newContext();
    context.setDefaultTimeout(timeoutMs);
    // Before any page: the page's clock starts at the kit operator's time and runs on from there.
    await context.clock.install({ time: now() });
    const user: UserBrowser = { label, context, page: undefined as unknown as Page, activity: new Activity(context), bids: [], opened: false, loggedIn: false };
    await this.driver.router.attach(context, {
      operatorCall: (call) => this.scope.log.push({ path: call.path, http: call.http, ms: call.ms, note: `${label}'s page: ${call.method} to ${call.host}, answered by the kit's operator` }),
      bidRequest: (request) => {
        user.bids.push(request.tokens);
        this.scope.log.push({
          path: 'bid request',
          http: request.http,
          request: { host: request.host, uid2: request.tokens.map((t) => this.scope.redactor.token('token', t)) },
          note: `${label}'s page${request.http === 204 ? ' (answered no-bid, never sent on)' : ''}`,
        });
      },
    });
    user.page = await context.newPage();
    this.users.set(key, user);
    return user;
  }

  private async open(user: UserBrowser): Promise<void> {
    if (user.opened) return;
    await user.page.goto(this.driver.settings.pageUrl);
    user.opened = true;
  }

  /** One journey step, then the page's UID2 work settles; a step that throws is a driver error with its message, scrubbed. */
  private async step(user: UserBrowser, what: string, run: () => Promise<void>): Promise<void> {
    this.scope.signal.throwIfAborted();
    try {
      await run();
    } catch (e) {
      if (this.scope.signal.aborted) throw this.scope.signal.reason;
      throw new DriverError('journey', `the journey's ${what} failed on the page of ${user.label}: ${this.scope.redactor.scrubber.scrub(firstLine(e))}`);
    }
    const { quietMs, settleMaxMs } = this.driver.settings;
    if (!(await user.activity.settled(quietMs, settleMaxMs, this.scope.signal))) {
      this.scope.log.note(`${user.label}'s page still had requests in flight ${settleMaxMs} ms after ${what}; read as it was`);
    }
  }

  /** The token the page would send to its bidders now. */
  private async observe(user: UserBrowser, bidsBefore: number): Promise<string | null> {
    const observer = this.journey.observer;
    let token: unknown;
    try {
      token = typeof observer === 'function' ? await observer(user.page) : observer === 'prebid' ? await this.prebidToken(user, bidsBefore) : await this.sdkToken(user);
    } catch (e) {
      if (e instanceof DriverError) throw e;
      throw new DriverError('journey', `the ${typeof observer === 'function' ? "journey's observer" : `${observer} observer`} failed on the page of ${user.label}: ${this.scope.redactor.scrubber.scrub(firstLine(e))}`);
    }
    if (token !== null && (typeof token !== 'string' || token === '')) throw new DriverError('garbage', `the observer read something that is not a token or null on the page of ${user.label}`);
    return token;
  }

  /**
   * Prebid.js: the UID2 EIDs of the bid requests the page made during the call (read by the router); when it
   * made none carrying one, what Prebid would put in the next (`pbjs.getUserIdsAsEids()`).
   */
  private async prebidToken(user: UserBrowser, bidsBefore: number): Promise<string | null> {
    const sent = new Set(user.bids.slice(bidsBefore).flat());
    if (sent.size > 1) throw new DriverError('garbage', `the bid requests of one call on the page of ${user.label} carried ${sent.size} different UID2 tokens`);
    if (sent.size === 1) return [...sent][0]!;
    const eids = await user.page.evaluate(() => {
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
  private async sdkToken(user: UserBrowser): Promise<string | null> {
    const read = await user.page.evaluate(() => {
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
  const browser = await launchChromium(options.chromium);
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
