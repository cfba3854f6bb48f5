// What a publisher writes once to let the kit drive its staging page (issue 10): how a synthetic user logs in,
// opts out of the site, logs out and makes the page ask its bidders for an ad. The page driver
// (harness/page/) calls these in a fresh browser context per synthetic user and reads what the page's real UID2
// code did: its operator calls (routed to the kit's operator) and the token it would put in a bid request.
// A journey is an ES module whose default export is a Journey (a .mjs file with JSDoc types, or compiled TS).
import type { Page } from 'playwright-core';

/** A synthetic user, as the kit writes it (exactly one of the two; the spelling may differ between calls). */
export type JourneyUser = { email: string; phone?: undefined } | { phone: string; email?: undefined };

/** Where the page driver reads the advertising token the page would send to its bidders. */
export type AdRequestObserver =
  /** Prebid.js: the `uidapi.com` EIDs of the bid requests `pbjs.requestBids` makes (intercepted, never sent). */
  | 'prebid'
  /** The UID2/EUID JavaScript SDK: `getAdvertisingToken()` of `window.__uid2` (or `window.__euid`). */
  | 'uid2-sdk'
  /** The journey's own reading: the token the page would send now, or null. */
  | ((page: Page) => Promise<string | null>);

export interface Journey {
  /** How the page's ad requests are read (see AdRequestObserver). */
  observer: AdRequestObserver;
  /** Logs the user in on the open page (already at the --page URL); resolves when the login is submitted. */
  login(page: Page, user: JourneyUser): Promise<void>;
  /** The user opts out of this publisher's site (a preference the page's own code must honour). */
  siteOptOut(page: Page, user: JourneyUser): Promise<void>;
  /** Logs the current user out (the next login of the same user starts from here, storage kept). */
  logout(page: Page): Promise<void>;
  /** Optional: make the page ask its bidders for an ad (default: the observer's own reading). */
  adRequest?(page: Page): Promise<void>;
}
