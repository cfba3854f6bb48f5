// The reference publisher's own page code (plain browser JavaScript, served as is): what a publisher writes
// around Prebid.js's uid2IdSystem or the UID2/EUID web SDK, as their documentation shows. Every view does its
// UID2 work, runs its ad request, and marks <html data-uid2="settled">. window.PAGE is rendered by the page's
// server (server.ts): the page, its operator base URL and CSTG key, its fault (one deliberate mistake, for
// calibration), and the session: the user, what this view may do with UID2 (`uid2`), and the identity the
// server's login generated (handed over once).
(() => {
  const P = window.PAGE;
  const session = P.session;
  const fault = P.fault;
  const uid2 = session ? session.uid2 : 'none';
  const PREBID_STORAGE = '__uid2_advertising_token';
  const SDK_STORAGE = 'EUID-sdk-identity';
  /** Fault page-keeps-cached-token-after-optout only: the token the page keeps for its own ad code. */
  const PAGE_CACHE = 'publisher-uid2-token';

  const settled = () => (document.documentElement.dataset.uid2 = 'settled');
  /** The library learned of an optout: a server-side page tells its server, which remembers it for later logins. */
  const reportOptout = () => (P.integration === 'server' ? fetch(`/${P.page}/optout-seen`, { method: 'POST', keepalive: true }) : Promise.resolve());

  /** A stored value that is only the library's opt-out marker (kept when a user leaves: it holds no token). */
  function holdsOptoutOnly(key) {
    try {
      const stored = JSON.parse(localStorage.getItem(key) ?? 'null');
      return stored !== null && (stored.status === 'optout' || stored.latestToken === 'optout');
    } catch {
      return false;
    }
  }

  /**
   * A refresh the previous view had in flight when the user navigated can land in storage after this view
   * cleared it (Chromium applies the old document's write late, without a storage event here): a view with no
   * UID2 clears again whenever it finds one, for as long as it is open: often while such a write can still land
   * (its first seconds), then seldom (a page polling at 40 Hz for as long as it is open costs a core's CPU).
   */
  function lateWrites(forget) {
    const often = setInterval(forget, 25);
    setTimeout(() => {
      clearInterval(often);
      setInterval(forget, 1000);
    }, 3000);
  }

  async function prebidView() {
    const pbjs = window.pbjs;
    let params;
    if (uid2 === 'identity') params = P.session.handover ? { uid2Token: P.session.handover } : {};
    // CSTG: the user's DII at every view of the login, as the UID2 client-side guide for Prebid.js recommends
    // ("on each page load"); after an optout answer Prebid.js 11.36 then asks again at each view (README, known findings).
    else if (uid2 === 'cstg') params = { serverPublicKey: P.cstg.serverPublicKey, subscriptionId: P.cstg.subscriptionId, ...P.session.user };
    if (params) {
      // auctionDelay: the first auction waits for the module's refresh or CSTG (Prebid's userSync docs).
      pbjs.setConfig({ userSync: { auctionDelay: 1000, syncDelay: 0, userIds: [{ name: 'uid2', params: { uid2ApiBase: P.operatorBase, ...params } }] } });
      const ids = await pbjs.getUserIdsAsync();
      if (ids.uid2 && ids.uid2.optout) await reportOptout();
      if (fault === 'page-keeps-cached-token-after-optout' && ids.uid2 && ids.uid2.id) localStorage.setItem(PAGE_CACHE, ids.uid2.id);
    } else {
      // No UID2 for this view: nothing the module stored for an earlier session may reach a bid request (also
      // what the previous view's refresh writes late, see lateWrites).
      const forget = () => holdsOptoutOnly(PREBID_STORAGE) || localStorage.removeItem(PREBID_STORAGE);
      forget();
      lateWrites(forget);
    }
    const cached = localStorage.getItem(PAGE_CACHE);
    if (fault === 'page-keeps-cached-token-after-optout' && uid2 === 'optout' && P.session.optoutBy === 'generate' && cached) {
      // The fault: the token the page cached for its own ad code still goes to the bidders as first-party data.
      pbjs.setConfig({ ortb2: { user: { ext: { eids: [{ source: 'uidapi.com', uids: [{ id: cached, atype: 3 }] }] } } } });
    }
    // The ad request: one auction with the page's house bidder (its bid request goes to the page's own server).
    pbjs.registerBidAdapter(undefined, 'house', {
      code: 'house',
      supportedMediaTypes: ['banner'],
      isBidRequestValid: () => true,
      buildRequests: (bids, bidderRequest) => [{ method: 'POST', url: `${location.origin}/${P.page}/bid`, data: JSON.stringify({ eids: bidderRequest.ortb2?.user?.ext?.eids ?? [] }), options: { contentType: 'text/plain', withCredentials: false } }],
      interpretResponse: () => [],
    });
    await new Promise((resolve) =>
      pbjs.requestBids({ adUnits: [{ code: 'ad-slot', mediaTypes: { banner: { sizes: [[300, 250]] } }, bids: [{ bidder: 'house', params: {} }] }], timeout: 1000, bidsBackHandler: resolve }),
    );
  }

  async function sdkView() {
    const sdk = window.__euid;
    const options = { baseUrl: P.operatorBase };
    sdk.callbacks.push((event) => {
      if (event === 'OptoutReceived') reportOptout();
    });
    const siteOptoutIgnored = uid2 === 'site-optout' && fault === 'page-cstg-ignores-site-optout';
    if (uid2 !== 'identity' && uid2 !== 'cstg' && !siteOptoutIgnored) {
      // No UID2 for this view: the SDK must not keep (or refresh) an earlier session's identity.
      const forget = () => localStorage.getItem(SDK_STORAGE) === null || holdsOptoutOnly(SDK_STORAGE) || sdk.disconnect();
      forget();
      lateWrites(forget);
    }
    if (uid2 === 'identity') {
      let identity = P.session.handover ?? P.session.loginIdentity;
      if (identity && fault === 'page-stretches-refresh-from') identity = { ...identity, refresh_from: identity.identity_expires };
      if (identity) options.identity = identity;
    }
    sdk.init(options);
    const cstg = uid2 === 'cstg' || siteOptoutIgnored;
    if (cstg && P.session.loginView && (sdk.isLoginRequired() || fault === 'page-cstg-ignores-login-required')) {
      const keys = { serverPublicKey: P.cstg.serverPublicKey, subscriptionId: P.cstg.subscriptionId };
      const user = P.session.user;
      await ('email' in user ? sdk.setIdentityFromEmail(user.email, keys) : sdk.setIdentityFromPhone(user.phone, keys));
    }
    // The ad request: the token the SDK gives the page now (a refresh under way is waited for).
    const token = await sdk.getAdvertisingTokenAsync().catch(() => null);
    document.getElementById('ad-slot').dataset.token = token ? 'present' : 'none';
  }

  (P.library === 'prebid' ? prebidView() : sdkView()).then(settled, (e) => {
    document.documentElement.dataset.uid2Error = String(e && e.message ? e.message : e);
    settled();
  });
})();
