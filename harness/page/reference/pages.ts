// The kit's reference publisher pages (issue 10): four real UID2 integrations, served on 127.0.0.1 by
// server.ts, each with its journey, for the embedded default, calibration and tests. Their UID2 code is the
// real libraries' (Prebid.js 11.36 uid2IdSystem, the UID2/EUID web SDK), bundled by bin/build-pages.mjs;
// what is the publisher's own is publisher.js (the page) and server.ts (its server). Page faults are single
// mistakes in that own code, each breaking exactly one PUB rule through the browser.
import type { ParticipantFault } from '../../participants/role.ts';

export type PageName = 'prebid-server' | 'prebid-cstg' | 'sdk-server' | 'sdk-cstg';

export interface ReferencePage {
  name: PageName;
  /** Which real library runs the page's UID2 (and which browser bundle it loads). */
  library: 'prebid' | 'sdk';
  /** server: the page's server generates at login (optout_check 1) and hands the identity over; cstg: the page generates client-side. */
  integration: 'server' | 'cstg';
  /** The journey module that drives it (in this folder). */
  journey: string;
  title: string;
  /**
   * A known finding about the real library the page runs as its documentation says (README, "Known findings"):
   * the rules it breaks there. Reported as failures like any other, never accepted; calibration expects them.
   */
  finding?: { breaks: readonly string[]; summary: string };
}

export const REFERENCE_PAGES: readonly ReferencePage[] = [
  { name: 'prebid-server', library: 'prebid', integration: 'server', journey: 'prebid.journey.mjs', title: 'Prebid.js uid2IdSystem fed by a server-side generate' },
  {
    name: 'prebid-cstg',
    library: 'prebid',
    integration: 'cstg',
    journey: 'prebid.journey.mjs',
    title: 'Prebid.js uid2IdSystem with client-side token generation',
    finding: {
      breaks: ['PUB-OPTOUT-RESPONSE', 'PUB-OPTOUT-REMEMBERED'],
      summary: 'Prebid.js 11.36 uid2IdSystem with CSTG, given the DII on each page load as documented, asks client-generate again at every page view after an optout answer',
    },
  },
  { name: 'sdk-server', library: 'sdk', integration: 'server', journey: 'sdk.journey.mjs', title: 'UID2/EUID SDK refreshing a server-generated identity' },
  { name: 'sdk-cstg', library: 'sdk', integration: 'cstg', journey: 'sdk.journey.mjs', title: 'UID2/EUID SDK with client-side token generation' },
];

/** A page fault: the page it lives in, and (like a participant fault) the rules it breaks. */
export interface PageFault extends ParticipantFault {
  page: PageName;
}

export const PAGE_FAULTS: readonly PageFault[] = [
  {
    name: 'page-cstg-ignores-site-optout',
    role: 'publisher',
    page: 'sdk-cstg',
    breaks: ['PUB-SITE-OPTOUT'],
    description: "the page's login code calls the SDK's setIdentityFromEmail/Phone without looking at the user's site opt-out",
  },
  {
    name: 'page-server-relays-site-optout',
    role: 'publisher',
    page: 'prebid-server',
    breaks: ['PUB-SITE-NOT-RELAYED'],
    description: "the page's server forwards each site opt-out to UID2 as a logout of the hashed DII (the operator refuses the publisher's key, but the call is made)",
  },
  {
    name: 'page-server-phone-without-optout-check',
    role: 'publisher',
    page: 'sdk-server',
    breaks: ['PUB-OPTOUT-CHECK'],
    description: "the page's server builds the generate request of a phone login without optout_check; email logins carry optout_check 1",
  },
  {
    name: 'page-keeps-cached-token-after-optout',
    role: 'publisher',
    page: 'prebid-server',
    breaks: ['PUB-OPTOUT-RESPONSE'],
    description:
      "the page keeps the user's last UID2 token in its own storage for its ad code, and after the optout answer to a login's generate still puts it into its bid requests (as first-party EIDs)",
  },
  {
    name: 'page-cstg-ignores-login-required',
    role: 'publisher',
    page: 'sdk-cstg',
    // PUB-OPTOUT-RESPONSE through the EUID SDK's known finding (README): the later logins' CSTG, in another
    // spelling of the address, is asked for the hash of the text as typed and answered with a token.
    breaks: ['PUB-OPTOUT-REMEMBERED', 'PUB-OPTOUT-RESPONSE'],
    description:
      "the page's login code calls setIdentityFromEmail/Phone at every login without asking isLoginRequired(): after an optout answer, each later login asks CSTG again (and, as the EUID SDK hashes the address as typed, a login in other capitals gets a token)",
  },
  {
    name: 'page-stretches-refresh-from',
    role: 'publisher',
    page: 'sdk-server',
    breaks: ['PUB-REFRESH'],
    description: "the page hands the SDK its server's identity with refresh_from moved to identity_expires (to save refresh calls): the SDK serves the token past its refresh_from",
  },
  {
    name: 'page-rehands-login-identity',
    role: 'publisher',
    page: 'sdk-server',
    breaks: ['PUB-REFRESH-OPTOUT'],
    description:
      "the page hands the SDK the login's identity from its server on every page view: after an optout answer to refresh, the next view refreshes that ended chain again (the server remembers the opt-out for later logins)",
  },
];

export const findPageFault = (name: string): PageFault | undefined => PAGE_FAULTS.find((f) => f.name === name);
export const findPage = (name: string): ReferencePage | undefined => REFERENCE_PAGES.find((p) => p.name === name);
