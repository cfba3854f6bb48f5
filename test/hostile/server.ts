// A deliberately misbehaving target on 127.0.0.1, one mode per server: what a broken host, an error page, a
// gateway or an attacker could answer. Modes that need a real operator behind them proxy to `upstream`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { sealResponse } from '../../harness/wire/envelope.ts';

export type HostileMode =
  /** Accepts the request and never answers. */
  | 'hang'
  /** A 200 whose body comes one byte a second, for minutes. */
  | 'drip'
  /** The first request goes through to upstream (the preflight); every later connection is reset. */
  | 'reset-after-first'
  /** A 20 MB body (no Content-Length: streamed) to every request. */
  | 'huge'
  /** Well-formed requests go through; every non-200 answer of upstream is replaced by a 20 MB body. */
  | 'huge-errors'
  /** A JSON body nested 100,000 levels deep: HTTP 400 to a POST (an operator's error), 200 to a GET (a driver's roles). */
  | 'deep'
  /** An nginx-style HTML error page with HTTP 500. */
  | 'html-500'
  /** HTTP 302 to another host. */
  | 'redirect'
  /** HTTP 200 with a body that is not base64. */
  | 'not-base64'
  /** HTTP 200 sealed with the right secret but a nonce of its own (needs `secret`). */
  | 'wrong-nonce'
  /** Every other request answers 503 (a flaky gateway); the rest go through to upstream. */
  | 'flaky-503'
  /** Every other request answers 429 with Retry-After: 1; the rest go through to upstream. */
  | 'flaky-429'
  /** Every request answers 503. */
  | 'down-503'
  /** Everything under /uid2/ goes through to upstream without the prefix; anything else is 404. */
  | 'prefix';

export interface HostileServer {
  url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** 20 MB bodies sent to the end (a client that caps what it reads hangs up long before). */
  readonly hugeSentInFull: number;
  close(): Promise<void>;
}

export const HUGE_BYTES = 20 << 20;
export const DEEP_LEVELS = 100_000;
const deepJson = () => '['.repeat(DEEP_LEVELS) + ']'.repeat(DEEP_LEVELS);

/** Starts hostile servers in front of one upstream operator and closes them all at the end. */
export function hostilePool(upstream: () => { url: string; clientSecret: string }) {
  const servers: HostileServer[] = [];
  return {
    async start(mode: HostileMode): Promise<HostileServer> {
      const { url, clientSecret } = upstream();
      const server = await startHostile(mode, { upstream: url, secret: clientSecret });
      servers.push(server);
      return server;
    },
    closeAll: () => Promise.all(servers.map((s) => s.close())),
  };
}

export async function startHostile(mode: HostileMode, options: { upstream?: string; secret?: string } = {}): Promise<HostileServer> {
  let requests = 0;
  const huge = { sentInFull: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    requests += 1;
    void answer(mode, requests, req, res, options, timers, huge).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get hugeSentInFull() {
      return huge.sentInFull;
    },
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(mode: HostileMode, n: number, req: IncomingMessage, res: ServerResponse, options: { upstream?: string; secret?: string }, timers: Set<NodeJS.Timeout>, huge: { sentInFull: number }): Promise<void> {
  const body = await readAll(req);
  switch (mode) {
    case 'hang':
      return;
    case 'drip': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('A'), 1000);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'reset-after-first':
      if (n === 1) return proxy(req, body, res, options.upstream!);
      req.socket.destroy();
      return;
    case 'huge':
      return streamHuge(res, 200, huge);
    case 'huge-errors': {
      const upstream = await forward(req, body, options.upstream!);
      if (upstream.status === 200) return send(res, upstream);
      return streamHuge(res, upstream.status, huge);
    }
    case 'deep':
      return reply(res, req.method === 'GET' ? 200 : 400, { 'content-type': 'application/json' }, deepJson());
    case 'html-500':
      return reply(res, 500, HTML, '<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center></body></html>');
    case 'redirect':
      return reply(res, 302, { location: 'http://127.0.0.1:9/elsewhere' });
    case 'not-base64':
      return reply(res, 200, TEXT, '<<< this is not base64 >>>');
    case 'wrong-nonce':
      return reply(res, 200, TEXT, sealResponse(Buffer.from(options.secret!, 'base64'), randomBytes(8), { status: 'success', body: {} }).toString('base64'));
    case 'flaky-503':
    case 'flaky-429':
      if (n % 2 === 1) return proxy(req, body, res, options.upstream!);
      return mode === 'flaky-503' ? reply(res, 503, HTML, UNAVAILABLE) : reply(res, 429, { 'retry-after': '1' });
    case 'down-503':
      return reply(res, 503, HTML, UNAVAILABLE);
    case 'prefix':
      if (!req.url?.startsWith('/uid2/')) return reply(res, 404, TEXT, 'not here');
      return proxy(req, body, res, options.upstream!, req.url.slice('/uid2'.length));
  }
}

const HTML = { 'content-type': 'text/html' };
const TEXT = { 'content-type': 'text/plain' };
const UNAVAILABLE = '<html><body>503 Service Temporarily Unavailable</body></html>';

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body?: string): void {
  res.writeHead(status, headers);
  res.end(body);
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** 20 MB in 64 KiB chunks, honouring backpressure; stops when the client goes away. */
async function streamHuge(res: ServerResponse, status: number, huge: { sentInFull: number }): Promise<void> {
  res.writeHead(status, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 << 10, 0x20);
  for (let sent = 0; sent < HUGE_BYTES; sent += chunk.length) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
  }
  res.end(() => (huge.sentInFull += 1));
}

interface Upstream {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

async function forward(req: IncomingMessage, body: Buffer, upstream: string, path = req.url ?? '/'): Promise<Upstream> {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'authorization', 'origin']) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const answer = await request(`${upstream}${path}`, { method: req.method as 'POST', headers, body: req.method === 'GET' ? undefined : body });
  const type = answer.headers['content-type'];
  return { status: answer.statusCode, headers: typeof type === 'string' ? { 'content-type': type } : {}, body: Buffer.from(await answer.body.arrayBuffer()) };
}

function send(res: ServerResponse, answer: Upstream): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

async function proxy(req: IncomingMessage, body: Buffer, res: ServerResponse, upstream: string, path?: string): Promise<void> {
  send(res, await forward(req, body, upstream, path));
}
