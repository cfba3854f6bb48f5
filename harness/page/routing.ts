// Every request of every browser context of a page run goes through one route handler:
// - to a UID2 operator host: forwarded to the kit's operator (method, path, query, headers with the Origin,
//   body) and its answer, CORS headers included, fulfilled back, so the page's real UID2 code talks to the kit
//   unchanged (Playwright answers the CORS preflight of a routed request itself; the answer's own CORS headers
//   are the operator's, which the browser still checks);
// - to the page's own hosts (loopback, the --page host): sent on; one carrying a UID2 EID is read as a bid request;
// - anywhere else: a bid request carrying a UID2 EID is read and answered no-bid (204); everything else is
//   refused. Nothing reaches a non-local host; refusals are counted by host, never by URL (it may carry a token).
import type { BrowserContext, Request, Route } from 'playwright-core';
import { request as send } from 'undici';
import { Budget, declaredLength, parseBoundedJson, readCapped } from '../client/bounded.ts';
import type { BrowserStats } from '../engine/result.ts';

/**
 * The documented UID2 operator hosts (integration, production and its regions: uid2docs
 * getting-started/gs-environments.md) and EUID's (the reference SDK is the EUID build: integ.euid.eu, prod.euid.eu).
 */
export const DEFAULT_OPERATOR_HOSTS: readonly string[] = [
  'operator-integ.uidapi.com',
  'global.prod.uidapi.com',
  'prod.uidapi.com',
  'usw.prod.uidapi.com',
  'au.prod.uidapi.com',
  'jp.prod.uidapi.com',
  'sg.prod.uidapi.com',
  'integ.euid.eu',
  'prod.euid.eu',
];

/** The EID sources of UID2 (Prebid's uid2IdSystem) and EUID (euidIdSystem). */
const UID2_EID_SOURCES = new Set(['uidapi.com', 'euid.eu']);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
/** Operator answers are small; a bid request body larger than this is not read for EIDs. */
const MAX_BODY = 1 << 20;
/** Headers the forwarding connection sets itself. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'proxy-connection']);

/** What the router tells the user a context belongs to, in order: that user's evidence. */
export interface RouteListener {
  operatorCall(call: { method: string; host: string; path: string; http: number; ms: number }): void;
  bidRequest(request: { host: string; tokens: string[]; http: number }): void;
}

export interface RouterOptions {
  /** The kit's operator, which answers for every operator host. */
  operatorUrl: string;
  /** Hostnames whose requests go to the kit's operator (--operator-host). */
  operatorHosts: readonly string[];
  /** Hostnames besides loopback whose requests are sent on (the --page URL's host). */
  pageHosts: readonly string[];
  /** Budget of one forwarded operator request. */
  timeoutMs: number;
}

/** `--operator-host` values and UID2_OPERATOR_HOSTS (comma-separated): hostnames, lower case (a base URL gives its host). */
export function operatorHostsOf(values: readonly string[]): string[] {
  const host = (text: string) => (text.includes('://') ? URL.parse(text)?.hostname ?? '' : text).toLowerCase();
  return [...new Set(values.flatMap((v) => v.split(',')).map((h) => host(h.trim())).filter(Boolean))];
}

export class PageRouter {
  readonly stats: BrowserStats = { operator_requests: 0, bidder_requests: 0, refused_requests: 0, refused_hosts: {} };
  private readonly operatorHosts: ReadonlySet<string>;
  private readonly pageHosts: ReadonlySet<string>;

  constructor(readonly options: RouterOptions) {
    this.operatorHosts = new Set(options.operatorHosts.map((h) => h.toLowerCase()));
    this.pageHosts = new Set([...LOOPBACK, ...options.pageHosts.map((h) => h.toLowerCase())]);
  }

  /** Routes every request of `context`; what its pages do is told to `listener`. */
  async attach(context: BrowserContext, listener: RouteListener): Promise<void> {
    await context.route('**/*', (route) => this.handle(route, listener));
    // WebSockets pass no route: one to the page's hosts goes on, any other is refused and counted.
    await context.routeWebSocket(/.*/, (ws) => {
      const host = URL.parse(ws.url())?.hostname.toLowerCase() ?? '';
      if (this.pageHosts.has(host)) return ws.connectToServer();
      this.refuse(host);
      return ws.close({ code: 1008, reason: 'refused by the conformance kit' });
    });
  }

  private refuse(host: string): void {
    this.stats.refused_requests += 1;
    this.stats.refused_hosts[host] = (this.stats.refused_hosts[host] ?? 0) + 1;
  }

  private async handle(route: Route, listener: RouteListener): Promise<void> {
    const request = route.request();
    let url: URL;
    try {
      url = new URL(request.url());
    } catch {
      return route.abort('blockedbyclient');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return route.continue();
    const host = url.hostname.toLowerCase();
    try {
      if (this.operatorHosts.has(host)) return await this.forward(route, request, url, listener);
      const tokens = uid2Eids(url, request);
      if (this.pageHosts.has(host)) {
        if (tokens) {
          this.stats.bidder_requests += 1;
          listener.bidRequest({ host, tokens, http: 0 });
        }
        return await route.continue();
      }
      if (tokens) {
        this.stats.bidder_requests += 1;
        listener.bidRequest({ host, tokens, http: 204 });
        return await route.fulfill({ status: 204, headers: { 'access-control-allow-origin': request.headers()['origin'] ?? '*', 'access-control-allow-credentials': 'true' } });
      }
      this.refuse(host);
      return await route.abort('blockedbyclient');
    } catch {
      // The page or its context went away while the request was handled (a check ended): nothing to answer.
    }
  }

  /** The request as the page made it, to the kit's operator; its answer back as the operator gave it. */
  private async forward(route: Route, request: Request, url: URL, listener: RouteListener): Promise<void> {
    this.stats.operator_requests += 1;
    const started = performance.now();
    const headers = Object.fromEntries(Object.entries(await request.allHeaders()).filter(([name]) => !HOP_HEADERS.has(name) && !name.startsWith(':')));
    const budget = new Budget(this.options.timeoutMs);
    const call = { method: request.method(), host: url.hostname, path: url.pathname };
    try {
      const answer = await send(new URL(`${url.pathname}${url.search}`, this.options.operatorUrl), {
        method: request.method() as 'GET',
        headers,
        body: request.postDataBuffer() ?? undefined,
        signal: budget,
      });
      const body = await readCapped(answer.body, MAX_BODY, declaredLength(answer.headers));
      const answered = Object.entries(answer.headers).filter(([name]) => !HOP_HEADERS.has(name));
      listener.operatorCall({ ...call, http: body === undefined ? 502 : answer.statusCode, ms: Math.round(performance.now() - started) });
      if (body === undefined) return await route.fulfill({ status: 502, body: '' });
      await route.fulfill({ status: answer.statusCode, headers: Object.fromEntries(answered.map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])), body });
    } catch (e) {
      // The kit's own operator did not answer: the page sees a failed request, as it would see an outage.
      listener.operatorCall({ ...call, http: 0, ms: Math.round(performance.now() - started) });
      if (!budget.aborted && (e as Error).name !== 'AbortError') await route.abort('connectionfailed').catch(() => undefined);
      else await route.abort('timedout').catch(() => undefined);
    } finally {
      budget.done();
    }
  }
}

/** The UID2 (or EUID) advertising tokens in a request's EIDs (query values and JSON body); undefined when it has none. */
export function uid2Eids(url: URL, request: Pick<Request, 'postDataBuffer'>): string[] | undefined {
  const found: string[] = [];
  const texts = [...url.searchParams.values()];
  const body = request.postDataBuffer();
  if (body && body.length <= MAX_BODY) texts.push(body.toString('utf8'));
  for (const text of texts) {
    if (!text.includes('uidapi.com') && !text.includes('euid.eu')) continue;
    collectEids(parseBoundedJson(text), found);
  }
  return found.length > 0 ? [...new Set(found)] : undefined;
}

/** Every `{ source: 'uidapi.com', uids: [{ id }] }` anywhere in a JSON value (OpenRTB user.ext.eids, Prebid's userIdAsEids). */
function collectEids(value: unknown, found: string[]): void {
  const stack = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (node !== null && typeof node === 'object') {
      const { source, uids } = node as { source?: unknown; uids?: unknown };
      if (typeof source === 'string' && UID2_EID_SOURCES.has(source) && Array.isArray(uids)) {
        for (const uid of uids) if (typeof (uid as { id?: unknown })?.id === 'string') found.push((uid as { id: string }).id);
      } else stack.push(...Object.values(node));
    }
  }
}

/**
 * The requests of one context in flight, to wait until the page's work settled: nothing in flight for
 * `quietMs`, or `maxMs` passed (a page that never stops polling is not waited for forever).
 */
export class Activity {
  private inFlight = new Set<Request>();
  private lastChange = performance.now();

  constructor(context: BrowserContext) {
    context.on('request', (r) => this.change(() => this.inFlight.add(r)));
    context.on('requestfinished', (r) => this.change(() => this.inFlight.delete(r)));
    context.on('requestfailed', (r) => this.change(() => this.inFlight.delete(r)));
  }

  private change(apply: () => void): void {
    apply();
    this.lastChange = performance.now();
  }

  /**
   * True when it settled, false when `maxMs` passed first. Quiet is counted from the call at the earliest: a
   * request the page just started may not have been reported yet.
   */
  async settled(quietMs: number, maxMs: number, signal?: AbortSignal): Promise<boolean> {
    const from = performance.now();
    const until = from + maxMs;
    for (;;) {
      const now = performance.now();
      const quietFor = now - Math.max(from, this.lastChange);
      if (this.inFlight.size === 0 && quietFor >= quietMs) return true;
      if (now >= until || signal?.aborted) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, Math.min(quietMs - quietFor, until - now))));
    }
  }
}
