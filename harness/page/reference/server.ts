// The reference publishers' sites (issue 10): one node:http server on 127.0.0.1 serving the four pages of
// pages.ts, each a separate publisher with its own users. A page is rendered per view with the user's session;
// its forms post to the page's server (login, site opt-out, logout) and redirect back, as a server-rendered
// site does. The server is the publisher's backend: a server-side page's login generates with
// `optout_check: 1` through the kit's client (UID2-SPEC §1.1) and hands the identity to the page once;
// a CSTG page's login only records the user. Site opt-outs are kept per person (every spelling of the DII is
// one user) and honoured by the page's code; an optout the operator (or the library, reported back by the
// page) answered is remembered for 72 h, so later logins do not generate again (PUB-OPTOUT-REMEMBERED).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperatorClient, TransportError } from '../../client/operator-client.ts';
import { hashDii, InvalidDiiError, personKey } from '../../wire/dii.ts';
import type { IdentityBody } from '../../wire/identity.ts';
import { BUNDLES, bundleFile, referenceFile, requireBundles } from './files.ts';
import { findPage, findPageFault, REFERENCE_PAGES, type PageName, type ReferencePage } from './pages.ts';

/** The documented UID2 integration environment: what the pages' JS talks to (the page driver routes it to the kit). */
export const DEFAULT_OPERATOR_BASE = 'https://operator-integ.uidapi.com';

/** How long an optout answer is remembered (UID2-SPEC §7, §8: the JS SDK keeps its marker 72 h). */
const OPTOUT_MEMORY_MS = 72 * 3_600_000;
const MAX_FORM = 16 * 1024;

export interface ReferencePagesOptions {
  /** The kit's operator: the server-side pages' backend generates there; CSTG pages use its public key. */
  operator: { url: string; apiKey: string; clientSecret: string; cstgPublicKey: string; cstgSubscriptionId: string };
  /** The operator base URL the pages' JavaScript uses (default the UID2 integration host; tests before routing give the kit's URL). */
  operatorBase?: string;
  /** Serve only these pages (default all four). */
  pages?: readonly PageName[];
  /** A page fault (pages.ts PAGE_FAULTS): its page runs with that mistake, the others are conformant. */
  fault?: string;
  host?: string;
  port?: number;
  now?: () => number;
}

export interface ServedPage {
  name: PageName;
  title: string;
  url: string;
  /** The journey module's file. */
  journey: string;
}

export interface RunningPages {
  url: string;
  pages: ServedPage[];
  close(): Promise<void>;
}

type User = { email: string } | { phone: string };

/** What a view may do with UID2 for its session: nothing, generate client-side, or use the server's identity. */
type Uid2State = 'none' | 'site-optout' | 'optout' | 'cstg' | 'identity';

interface Session {
  user: User;
  person: string;
  uid2: Uid2State;
  /** The identity the login generated, handed to the page at its next view only (server-side pages). */
  handover?: IdentityBody;
  /** The login's identity, kept (fault page-rehands-login-identity hands it over on every view). */
  loginIdentity?: IdentityBody;
  /** Why the view may not use UID2 after an optout: the login's own generate answered it, a remembered one, or the library's. */
  optoutBy?: 'generate' | 'memory' | 'library';
  /** The next view is the one right after the login (a CSTG page generates there). */
  loginView: boolean;
}

/** One publisher site: its page, its fault, its users. */
interface Site {
  page: ReferencePage;
  fault?: string;
  sessions: Map<string, Session>;
  siteOptouts: Set<string>;
  /** Persons the operator answered optout for, until when. */
  optouts: Map<string, number>;
}

class FormError extends Error {}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_FORM) {
        req.destroy();
        reject(new FormError('form over 16 KiB'));
      }
    });
    req.on('end', () => resolve(new URLSearchParams(text)));
    req.on('error', reject);
  });
}

/** The user a form names (email or phone, as typed), with its person key; a FormError when it names none. */
function userOf(form: URLSearchParams): { user: User; person: string } {
  const email = form.get('email')?.trim() ? form.get('email')! : undefined;
  const phone = form.get('phone')?.trim() ? form.get('phone')! : undefined;
  if ((email === undefined) === (phone === undefined)) throw new FormError('give an email or a phone number');
  const [field, value] = email !== undefined ? (['email', email] as const) : (['phone', phone!] as const);
  try {
    return { user: field === 'email' ? { email: value } : { phone: value }, person: personKey(hashDii(field, value)) };
  } catch (e) {
    if (e instanceof InvalidDiiError) throw new FormError(`not a valid ${field}`);
    throw e;
  }
}

const cookieOf = (req: IncomingMessage, name: string): string | undefined =>
  (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === name)?.[1];

/** JSON inside a <script>: nothing in it can close the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

export async function startReferencePages(options: ReferencePagesOptions): Promise<RunningPages> {
  const fault = options.fault === undefined ? undefined : findPageFault(options.fault);
  if (options.fault !== undefined && !fault) throw new Error(`unknown page fault ${options.fault}`);
  const pages = (options.pages ?? REFERENCE_PAGES.map((p) => p.name)).map((name) => findPage(name)!);
  requireBundles(pages.map((p) => p.library));
  const script = readFileSync(referenceFile('publisher.js'));
  const bundles = new Map<string, Buffer>(Object.values(BUNDLES).map((file) => [file, readFileSync(bundleFile(file))]));
  const now = options.now ?? Date.now;
  const operatorBase = (options.operatorBase ?? DEFAULT_OPERATOR_BASE).replace(/\/$/, '');
  const client = new OperatorClient({ baseUrl: options.operator.url, apiKey: options.operator.apiKey, clientSecret: options.operator.clientSecret, timeoutMs: 10_000 });
  const sites = new Map<string, Site>(
    pages.map((page) => [page.name, { page, fault: fault?.page === page.name ? fault.name : undefined, sessions: new Map(), siteOptouts: new Set(), optouts: new Map() }]),
  );
  const remembersOptout = (site: Site, person: string) => (site.optouts.get(person) ?? -Infinity) > now();

  /** The server-side login: generate with optout_check 1, or no generate at all for a remembered optout. */
  async function generate(site: Site, session: Session): Promise<void> {
    if (remembersOptout(site, session.person)) return void Object.assign(session, { uid2: 'optout', optoutBy: 'memory' });
    const withoutCheck = site.fault === 'page-server-phone-without-optout-check' && 'phone' in session.user;
    const answer = await client.generate({ ...session.user, ...(withoutCheck ? {} : { optout_check: 1 }) });
    const body = answer.body as { status?: string; body?: IdentityBody } | undefined;
    if (answer.http === 200 && body?.status === 'optout') {
      site.optouts.set(session.person, now() + OPTOUT_MEMORY_MS);
      Object.assign(session, { uid2: 'optout', optoutBy: 'generate' });
    } else if (answer.http === 200 && body?.status === 'success' && body.body) {
      session.uid2 = 'identity';
      session.handover = session.loginIdentity = body.body;
    } else {
      throw new Error(`the operator's generate answered HTTP ${answer.http}${body?.status ? ` ${body.status}` : ''}`);
    }
  }

  async function siteOptout(site: Site, form: URLSearchParams, session: Session | undefined): Promise<void> {
    const { user, person } = userOf(form);
    site.siteOptouts.add(person);
    if (session?.person === person) {
      session.uid2 = 'site-optout';
      session.handover = session.loginIdentity = undefined;
    }
    // PUB-SITE-NOT-RELAYED: a site opt-out stays with the site. The fault relays it; the answer is ignored.
    if (site.fault === 'page-server-relays-site-optout') await client.logout(user).catch(() => undefined);
  }

  /** The page asks what this view may do: the page's config, the session, the one-time handover. */
  function render(site: Site, session: Session | undefined): string {
    const { page } = site;
    const handover = session?.handover;
    const view = {
      page: page.name,
      library: page.library,
      integration: page.integration,
      fault: site.fault ?? null,
      operatorBase,
      // The SDK here is the EUID build, which takes its key with the EUID prefix (the UID2 build takes UID2-X-).
      cstg: { serverPublicKey: page.library === 'sdk' ? options.operator.cstgPublicKey.replace(/^UID2-/, 'EUID-') : options.operator.cstgPublicKey, subscriptionId: options.operator.cstgSubscriptionId },
      session: session ? { user: session.user, uid2: session.uid2, optoutBy: session.optoutBy ?? null, handover: handover ?? null, loginView: session.loginView, loginIdentity: site.fault === 'page-rehands-login-identity' ? (session.loginIdentity ?? null) : null } : null,
    };
    if (session) {
      session.handover = undefined;
      session.loginView = false;
    }
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${page.title}</title>
<script>window.PAGE = ${scriptJson(view)};</script>
<script src="/bundles/${BUNDLES[page.library]}"></script>
<script src="/publisher.js" defer></script></head>
<body><h1>${page.title}</h1>
<p id="who">${session ? 'logged in' : 'not logged in'}</p>
<form id="login" method="post" action="/${page.name}/login"><input id="login-email" name="email" placeholder="email"> or <input id="login-phone" name="phone" placeholder="+phone"> <button id="login-submit">Log in</button></form>
<form id="site-optout" method="post" action="/${page.name}/site-optout"><input id="optout-email" name="email" placeholder="email"> or <input id="optout-phone" name="phone" placeholder="+phone"> <button id="site-optout-submit">Do not create a UID2 for me on this site</button></form>
<form id="logout" method="post" action="/${page.name}/logout"><button id="logout-submit">Log out</button></form>
<div id="ad-slot"></div>
</body></html>`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://pages');
    const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers }).end(body);
    if (req.method === 'GET' && url.pathname === '/') {
      return send(200, 'text/html; charset=utf-8', `<!doctype html><ul>${[...sites.values()].map((s) => `<li><a href="/${s.page.name}/">${s.page.title}</a></li>`).join('')}</ul>`);
    }
    if (req.method === 'GET' && url.pathname === '/publisher.js') return send(200, 'text/javascript', script);
    const bundle = url.pathname.startsWith('/bundles/') ? bundles.get(url.pathname.slice('/bundles/'.length)) : undefined;
    if (req.method === 'GET' && bundle) return send(200, 'text/javascript', bundle, { 'Cache-Control': 'max-age=3600' });
    const [, name, action = '', ...rest] = url.pathname.split('/');
    const site = sites.get(name ?? '');
    if (!site || rest.length > 0) return send(404, 'text/plain', 'not found');
    const cookie = `sid-${site.page.name}`;
    const sid = cookieOf(req, cookie);
    const session = sid === undefined ? undefined : site.sessions.get(sid);
    const back = (headers: Record<string, string> = {}) => res.writeHead(303, { Location: `/${site.page.name}/`, 'Cache-Control': 'no-store', ...headers }).end();
    if (req.method === 'GET' && action === '') return send(200, 'text/html; charset=utf-8', render(site, session));
    if (req.method !== 'POST') return send(405, 'text/plain', 'use POST');
    if (action === 'bid') return send(204, 'text/plain', ''); // the page's house bidder: no bid, ever
    const form = await readForm(req);
    switch (action) {
      case 'login': {
        const { user, person } = userOf(form);
        const next: Session = { user, person, uid2: site.siteOptouts.has(person) ? 'site-optout' : site.page.integration === 'cstg' ? 'cstg' : 'none', loginView: true };
        if (next.uid2 === 'none') await generate(site, next);
        const id = randomBytes(16).toString('base64url');
        if (sid !== undefined) site.sessions.delete(sid);
        site.sessions.set(id, next);
        return back({ 'Set-Cookie': `${cookie}=${id}; Path=/${site.page.name}/; HttpOnly; SameSite=Lax` });
      }
      case 'site-optout':
        await siteOptout(site, form, session);
        return back();
      case 'logout':
        if (sid !== undefined) site.sessions.delete(sid);
        return back({ 'Set-Cookie': `${cookie}=; Path=/${site.page.name}/; Max-Age=0` });
      case 'optout-seen':
        // The library told the page of an optout answer (to refresh, or to CSTG): the server remembers it.
        if (session) {
          site.optouts.set(session.person, now() + OPTOUT_MEMORY_MS);
          if (site.fault !== 'page-rehands-login-identity') Object.assign(session, { uid2: 'optout', optoutBy: 'library' });
        }
        return send(204, 'text/plain', '');
      default:
        return send(404, 'text/plain', 'not found');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof FormError ? 400 : e instanceof TransportError ? 502 : 500;
      if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`the publisher's server: ${(e as Error).message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.address}:${address.port}`;
  return {
    url,
    pages: pages.map((p) => ({ name: p.name, title: p.title, url: `${url}/${p.name}/`, journey: referenceFile(p.journey) })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
