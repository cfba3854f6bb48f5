// HTTP plumbing of the simulated operator on node:http: routes and roles (UID2-SPEC §0), the 1 MiB body cap,
// the v2 envelope (§2), CORS for browser clients, a gateway's rate limit when asked (behaviour `throttle`),
// and a guarantee that no request ends in a crash.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { openRequest, sealBareResponse, sealResponse } from '../wire/envelope.ts';
import type { Caller, Reply, Role, SimulatedOperator } from './operator.ts';
import { clientError, replyStatus } from './operator.ts';
import { ENDPOINT_OF_PATH, personsOf } from './call-log.ts';

export const MAX_BODY_BYTES = 1 << 20;

type EncryptedHandler = (op: SimulatedOperator, payload: unknown, caller: Caller) => Reply;

/** Encrypted routes and the roles that may call them (Verticle `setUpEncryptedRoutes`, §0). */
const ENCRYPTED_ROUTES: Record<string, { roles: readonly Role[]; handle: EncryptedHandler }> = {
  '/v2/token/generate': { roles: ['GENERATOR'], handle: (op, p, c) => op.generate(p, c) },
  '/v2/token/validate': { roles: ['GENERATOR'], handle: (op, p, c) => op.validate(p, c) },
  '/v2/identity/map': { roles: ['MAPPER'], handle: (op, p) => op.mapV2(p) },
  '/v3/identity/map': { roles: ['MAPPER'], handle: (op, p) => op.mapV3(p) },
  '/v2/optout/status': { roles: ['MAPPER', 'SHARER', 'ID_READER'], handle: (op, p) => op.optoutStatus(p) },
  '/v2/token/logout': { roles: ['OPTOUT'], handle: (op, p) => op.logout(p) },
  '/v2/key/bidstream': { roles: ['ID_READER'], handle: (op) => op.keysBidstream() },
  '/v2/key/sharing': { roles: ['SHARER', 'ID_READER'], handle: (op, _p, c) => op.keysSharing(c) },
};
const REFRESH = '/v2/token/refresh';
const CLIENT_GENERATE = '/v2/token/client-generate';
const HEALTHCHECK = '/ops/healthcheck';

const UNAUTHORIZED: Reply = { kind: 'plain', http: 401, payload: { status: 'unauthorized' } };

export interface HttpOptions {
  operator: SimulatedOperator;
  /** Fleet mode: the instances behind this port, one per request in turn (as a round-robin load balancer). */
  instances?: readonly SimulatedOperator[];
  callers: ReadonlyMap<string, Caller>;
  /** Site of CSTG tokens (the publisher owning the key pair). */
  cstgSiteId: number;
  /** Called once per request served, with the path and HTTP status (progress, recording). */
  onRequest?: (path: string, status: number) => void;
}

/** `Authorization: Bearer <key>`; the prefix is matched case-insensitively after trimming (§0). */
function callerOf(req: IncomingMessage, callers: ReadonlyMap<string, Caller>): Caller | undefined {
  const header = req.headers.authorization?.trim();
  if (!header || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return callers.get(header.slice(7).trim());
}

type BodyResult = { ok: true; body: Buffer } | { ok: false };

/** Reads at most MAX_BODY_BYTES; a declared or streamed larger body is refused without reading the rest. */
function readBody(req: IncomingMessage): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.resolve({ ok: false });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        resolve({ ok: false });
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve({ ok: true, body: Buffer.concat(chunks) }));
    req.on('error', () => resolve({ ok: false }));
  });
}

/** Browser clients (the web SDK, Prebid.js) need CORS; other callers send no Origin and get no CORS headers. */
function setCors(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers.origin === undefined && req.method !== 'OPTIONS') return;
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
  res.setHeader('Vary', 'Origin');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Authorization, Content-Type, X-UID2-Client-Version');
  res.setHeader('Access-Control-Max-Age', '600');
}

function send(res: ServerResponse, reply: Reply, nonce: Buffer | undefined, secret: Buffer | undefined, octetStream: boolean): number {
  if (reply.kind === 'plain') {
    if (reply.payload === undefined) {
      res.writeHead(reply.http).end();
    } else {
      const json = JSON.stringify(reply.payload);
      res.writeHead(reply.http, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) }).end(json);
    }
    return reply.http;
  }
  const bytes = reply.kind === 'bare' ? sealBareResponse(reply.key, reply.payload) : sealResponse(secret!, nonce!, reply.payload);
  // Base64 goes out as a string: node:http then writes head and body in one go instead of a writev.
  const body = octetStream ? bytes : bytes.toString('base64');
  res.writeHead(200, { 'Content-Type': octetStream ? 'application/octet-stream' : 'text/plain', 'Content-Length': body.length }).end(body);
  return 200;
}

/**
 * A gateway's fixed-window rate limit: how many ms until the caller may come back, or 0 to serve the request
 * now. Counts every request, as a gateway in front of the operator does.
 */
function rateLimit(limit: { requests: number; windowMs: number }, now: () => number): () => number {
  let windowStart = -Infinity;
  let served = 0;
  return () => {
    const t = now();
    if (t - windowStart >= limit.windowMs) {
      windowStart = t;
      served = 0;
    }
    served += 1;
    return served > limit.requests ? windowStart + limit.windowMs - t : 0;
  };
}

/** The answer to a bug in the simulator: the spec's 500 shape, with the empty message real operators send when asked. */
const internalError = (operator: SimulatedOperator): Reply => ({
  kind: 'plain',
  http: 500,
  payload: { status: 'unknown', message: operator.config.behaviour?.emptyServerErrorMessage ? '' : 'Internal error' },
});

async function serve(req: IncomingMessage, res: ServerResponse, options: HttpOptions, operator: SimulatedOperator, throttled?: () => number): Promise<number> {
  const { callers } = options;
  setCors(req, res);
  if (req.method === 'OPTIONS') {
    res.writeHead(204).end();
    return 204;
  }
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (path === HEALTHCHECK && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
    return 200;
  }
  const waitMs = throttled?.() ?? 0;
  if (waitMs > 0) {
    // No body, like the documented identity map 429 (§1.3); Retry-After in whole seconds, at least one.
    res.writeHead(429, { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) }).end();
    return 429;
  }
  const route = ENCRYPTED_ROUTES[path];
  if (!route && path !== REFRESH && path !== CLIENT_GENERATE) {
    return send(res, { kind: 'plain', http: 404, payload: { status: 'client_error', message: `Unknown endpoint ${path}` } }, undefined, undefined, false);
  }
  if (req.method !== 'POST') {
    return send(res, { kind: 'plain', http: 405, payload: { status: 'client_error', message: 'Use POST' } }, undefined, undefined, false);
  }
  const octetStream = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/octet-stream');
  const caller = callerOf(req, callers);
  // Key and role are checked before the body is opened (§9). A known key without the role is still logged
  // with what it asked: a publisher relaying a site opt-out as a logout is exactly what the suites look for.
  if (route && !(caller && route.roles.some((r) => caller.roles.has(r)))) {
    if (caller) {
      const read = await readBody(req);
      const opened = read.ok ? openRequest(caller.secret, read.body, { octetStream, nowMs: operator.config.now() }) : undefined;
      record(operator, path, opened?.ok ? opened.payload : undefined, UNAUTHORIZED);
    }
    return send(res, UNAUTHORIZED, undefined, undefined, false);
  }

  const read = await readBody(req);
  if (!read.ok) {
    res.setHeader('Connection', 'close');
    const status = send(res, { kind: 'plain', http: 413, payload: { status: 'client_error', message: 'Request body is larger than 1 MiB' } }, undefined, undefined, false);
    res.on('finish', () => req.destroy());
    return status;
  }
  const body = read.body;
  if (path === REFRESH) return send(res, operator.refresh(body.toString('utf8').trim(), caller), undefined, undefined, octetStream);
  if (path === CLIENT_GENERATE) {
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return send(res, clientError('required parameters: payload, iv, public_key'), undefined, undefined, false);
    }
    return send(res, operator.clientGenerate(payload, req.headers.origin, options.cstgSiteId), undefined, undefined, false);
  }
  const opened = openRequest(caller!.secret, body, { octetStream, nowMs: operator.config.now() });
  if (!opened.ok) {
    const wrongVersion = opened.message.includes('envelope format version') && operator.config.fault === 'envelope-version-500';
    const reply: Reply = wrongVersion ? { kind: 'plain', http: 500, payload: { status: 'unknown', message: 'Unexpected error' } } : clientError(opened.message);
    return send(res, reply, undefined, undefined, false);
  }
  const reply = route!.handle(operator, opened.payload, caller!);
  record(operator, path, opened.payload, reply);
  return send(res, reply, opened.nonce, caller!.secret, octetStream);
}

/** Logs a call with the persons its payload concerns (refresh and CSTG log themselves: only they can see whom). */
function record(operator: SimulatedOperator, path: string, payload: unknown, reply: Reply): void {
  const endpoint = ENDPOINT_OF_PATH[path];
  if (!operator.calls.enabled || !endpoint || endpoint === 'refresh' || endpoint === 'client-generate') return;
  const fields = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  operator.calls.add({
    at: operator.config.now(),
    endpoint,
    persons: personsOf(payload),
    ...(endpoint === 'generate' ? { optoutCheck: fields.optout_check } : {}),
    ...(endpoint === 'optout-status' && Array.isArray(fields.advertising_ids) ? { uids: fields.advertising_ids.filter((u): u is string => typeof u === 'string') } : {}),
    status: replyStatus(reply),
  });
}

export function createOperatorServer(options: HttpOptions): Server {
  const instances = options.instances ?? [options.operator];
  let turn = 0;
  const limit = options.operator.config.behaviour?.throttle;
  const throttled = limit && rateLimit(limit, options.operator.config.now);
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const operator = instances[turn++ % instances.length]!;
    serve(req, res, options, operator, throttled)
      .then((status) => options.onRequest?.(path, status))
      .catch(() => {
        // A bug in the simulator must still answer the spec's 500 shape, never drop the connection.
        if (!res.headersSent) send(res, internalError(options.operator), undefined, undefined, false);
        else res.destroy();
      });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
