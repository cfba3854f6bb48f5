// A minimal publisher page of the page driver's own tests (plain JS, no UID2 library): its server generates an
// identity through the kit's operator at login (as a publisher's server does) and hands it to the page; the page
// refreshes it against the documented operator host when refresh_from comes (a timer on the page's clock), shows
// the token through a `window.__uid2`-like object, and can make a bid request or load a foreign pixel on demand.
// Enough for routing, refusal counting, journey errors, observers, screenshots and tick; real library pages are
// harness/page/reference/.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import type { Journey } from '../../harness/page/journey.ts';

const PAGE = `<!doctype html><html><head><title>fixture publisher</title></head><body><h1>fixture publisher</h1><p id="state">logged out</p>
<script>
  const stored = () => JSON.parse(localStorage.getItem('identity') ?? 'null');
  window.refreshes = [];
  window.__uid2 = { getAdvertisingToken: () => (localStorage.getItem('siteOptout') ? undefined : stored()?.advertising_token) };
  window.pbjs = { getUserIdsAsEids: () => (stored() ? [{ source: 'uidapi.com', uids: [{ id: stored().advertising_token, atype: 3 }] }] : []) };
  async function refresh() {
    const answer = await fetch('https://operator-integ.uidapi.com/v2/token/refresh', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: stored().refresh_token });
    window.refreshes.push({ status: answer.status, cors: answer.headers.get('access-control-allow-origin') });
  }
  window.schedule = () => { const identity = stored(); if (identity) setTimeout(refresh, identity.refresh_from - Date.now()); };
  window.bid = () => fetch('https://bidder.example/openrtb2/auction', { method: 'POST', body: JSON.stringify({ user: { ext: { eids: window.pbjs.getUserIdsAsEids() } } }) });
  window.pixel = () => { const img = new Image(); img.src = 'https://tracker.example/p.gif?token=' + (stored()?.advertising_token ?? ''); document.body.append(img); };
  if (stored()) { document.getElementById('state').textContent = 'logged in'; window.schedule(); }
</script></body></html>`;

export interface Fixture {
  operator: RunningOperator;
  pageUrl: string;
  close(): Promise<void>;
}

/** The fixture page's server on 127.0.0.1; its server-side generate goes to `operator` (the kit's, at its --operator-listen). */
export async function startFixturePage(operator: { url: string; apiKey: string; clientSecret: string }): Promise<{ pageUrl: string; close(): Promise<void> }> {
  const client = new OperatorClient({ baseUrl: operator.url, apiKey: operator.apiKey, clientSecret: operator.clientSecret, timeoutMs: 10_000 });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (req.method === 'POST' && req.url === '/login') {
        const user = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { email: string };
        const answer = await client.generate({ email: user.email, optout_check: 1 });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify((answer.body as { body?: unknown }).body ?? null));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    pageUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The kit's operator (refresh_from `refreshAfterMs` after issue) and the fixture page generating through it. */
export async function startFixture(refreshAfterMs = 60_000): Promise<Fixture> {
  const operator = await startOperator({ recordCalls: true, lifetimes: { refreshAfterMs, identityExpiresAfterMs: refreshAfterMs * 2, refreshExpiresAfterMs: refreshAfterMs * 4 } });
  const page = await startFixturePage({ url: operator.url, ...operator.credentials });
  return {
    operator,
    pageUrl: page.pageUrl,
    close: async () => {
      await page.close();
      await operator.close();
    },
  };
}

/** The fixture page's journey: the page's own functions, as a publisher's journey drives its page. */
export const fixtureJourney: Journey = {
  observer: 'uid2-sdk',
  async login(page, user) {
    await page.evaluate(async (u) => {
      const identity = await (await fetch('/login', { method: 'POST', body: JSON.stringify(u) })).json();
      localStorage.setItem('identity', JSON.stringify(identity));
      (window as unknown as { schedule(): void }).schedule();
    }, user);
  },
  async siteOptOut(page) {
    await page.evaluate(() => localStorage.setItem('siteOptout', '1'));
  },
  async logout(page) {
    await page.evaluate(() => localStorage.removeItem('identity'));
  },
};
