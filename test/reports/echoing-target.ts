// A hostile operator for the leak tests: a proxy in front of the simulated operator that reflects each request
// back into its answer, as a careless or malicious target would. The Authorization header and the decrypted
// payload go into the `message` (and the `status`) of error answers and into extra fields of encrypted 200
// answers, re-sealed with the client secret; the echo carries terminal control bytes. It also notes every
// sensitive value it sees pass (credentials, DII, tokens, raw UID2s), which are the canaries the tests look for.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { RunningOperator } from '../../harness/operator/index.ts';
import { hashDii, normalizeEmail, type DiiField } from '../../harness/wire/dii.ts';
import { openBareResponse, openRequest, openResponse, sealBareResponse, sealResponse } from '../../harness/wire/envelope.ts';

/** ESC (a colour sequence), BEL and a carriage return that would overwrite a CI log line. */
export const CONTROL_BYTES = '\x1b[31m\x07\r';
const DII_FIELDS = new Set(['email', 'email_hash', 'phone', 'phone_hash']);
const SENSITIVE_FIELDS = new Set(['advertising_token', 'refresh_token', 'refresh_response_key', 'token', 'advertising_id', 'advertising_ids', 'u', 'p']);

export interface EchoingTarget {
  url: string;
  /** Every sensitive value seen, with every form of each DII (as sent, normalized, hash in base64 and hex). */
  canaries: Set<string>;
  /** Answers the echo went into. */
  echoed: number;
  close(): Promise<void>;
}

const readAll = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** `echo: false` makes it a plain recording proxy (the same canaries, nothing reflected). */
export async function startEchoingTarget(upstream: RunningOperator, options: { echo: boolean }): Promise<EchoingTarget> {
  const c = upstream.credentials;
  const secrets = new Map([
    [`Bearer ${c.apiKey}`, Buffer.from(c.clientSecret, 'base64')],
    [`Bearer ${c.optoutApiKey}`, Buffer.from(c.optoutClientSecret, 'base64')],
  ]);
  const canaries = new Set<string>([c.apiKey, c.clientSecret, c.optoutApiKey, c.optoutClientSecret]);
  /** refresh token → the key its refresh answer is sealed with, learned from earlier answers. */
  const refreshKeys = new Map<string, Buffer>();

  /**
   * Canaries: every valid DII in every form (an invalid one such as `no-at-sign.example.com` identifies nobody),
   * and in answers every token, key and raw UID2 the operator issued (what the kit sends back came from there).
   */
  const note = (value: unknown, from: 'request' | 'answer', key?: string): void => {
    if (Array.isArray(value)) return value.forEach((v) => note(v, from, key));
    if (value !== null && typeof value === 'object') return Object.entries(value).forEach(([k, v]) => note(v, from, k));
    if (typeof value !== 'string' || key === undefined) return;
    if (DII_FIELDS.has(key)) {
      try {
        const { hash } = hashDii(key as DiiField, value);
        canaries.add(value).add(hash.toString('base64')).add(hash.toString('hex'));
        if (key === 'email') canaries.add(normalizeEmail(value));
      } catch {
        // not a DII
      }
    } else if (from === 'answer' && SENSITIVE_FIELDS.has(key)) canaries.add(value);
  };
  const learnRefreshKey = (answer: unknown) => {
    const body = (answer as { body?: { refresh_token?: unknown; refresh_response_key?: unknown } } | undefined)?.body;
    if (typeof body?.refresh_token === 'string' && typeof body.refresh_response_key === 'string') {
      refreshKeys.set(body.refresh_token, Buffer.from(body.refresh_response_key, 'base64'));
    }
  };

  const target: EchoingTarget = { url: '', canaries, echoed: 0, close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    const body = await readAll(req);
    const authorization = req.headers.authorization ?? '';
    const octetStream = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
    const secret = secrets.get(authorization);
    let payload: unknown = body.toString('utf8');
    let nonce: Buffer | undefined;
    if (path !== '/v2/token/refresh' && path !== '/v2/token/client-generate' && secret) {
      const opened = openRequest(secret, body, { octetStream });
      if (opened.ok) ({ payload, nonce } = opened);
    }
    note(payload, 'request');
    const echo = `${authorization} ${typeof payload === 'string' ? payload : JSON.stringify(payload)} ${CONTROL_BYTES}`;

    const headers: Record<string, string> = { 'content-type': req.headers['content-type'] ?? 'text/plain' };
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    if (req.headers.origin) headers.origin = req.headers.origin;
    const answer = await request(new URL(path, upstream.url), { method: 'POST', body, headers });
    let bytes: Buffer = Buffer.from(await answer.body.arrayBuffer());
    const type = String(answer.headers['content-type'] ?? '');

    if (answer.statusCode === 200 && bytes.length > 0) {
      const key = path === '/v2/token/refresh' ? refreshKeys.get(body.toString('utf8').trim()) : undefined;
      const open = nonce && secret ? (b: Buffer | string) => openResponse(secret, b, nonce!) : key ? (b: Buffer | string) => openBareResponse(key, b) : undefined;
      if (open) {
        const octet = type.startsWith('application/octet-stream');
        const opened = open(octet ? bytes : bytes.toString('latin1')) as Record<string, unknown>;
        note(opened, 'answer');
        learnRefreshKey(opened);
        if (options.echo) {
          const inner = opened.body;
          const reflected = { ...opened, echo: echo, message: echo, ...(inner && typeof inner === 'object' && !Array.isArray(inner) ? { body: { ...inner, echo } } : {}) };
          const sealed = nonce ? sealResponse(secret!, nonce, reflected) : sealBareResponse(key!, reflected);
          bytes = octet ? sealed : Buffer.from(sealed.toString('base64'), 'latin1');
          target.echoed += 1;
        }
      }
    } else if (options.echo && type.includes('json')) {
      const error = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      // The API key as a short status, which checks quote in their messages; the whole echo as the message.
      bytes = Buffer.from(JSON.stringify({ ...error, status: `${String(error.status)} ${authorization.slice(7)}`, message: echo }));
      target.echoed += 1;
    }
    res.writeHead(answer.statusCode, { 'content-type': type }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  target.close = () => new Promise((resolve) => server.close(() => resolve()));
  return target;
}
