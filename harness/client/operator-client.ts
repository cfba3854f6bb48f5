// A typed client for a UID2 operator (the one under test, or the simulated one), speaking the v2 wire format.
// It never throws on an HTTP status: every answer comes back as an Exchange so checks can judge it;
// it throws TransportError only when there is no answer to judge (unreachable, timeout, oversized body,
// stopped by the run, or throttling and 5xx that persisted through the retries).
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvelopeError, openBareResponse, openResponse, sealRequest } from '../wire/envelope.ts';
import { gcmEncrypt } from '../wire/gcm.ts';
import { undici } from '../lazy.ts';
import { Budget, declaredLength, endpointUrl, parseBoundedJson, readCapped, tooDeep, MAX_JSON_DEPTH } from './bounded.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_RESPONSE_BYTES = 8 << 20;
/** A lost connection is tried at most this many times (nothing listening is an outage, not a blip). */
const MAX_NETWORK_ATTEMPTS = 3;
/** The first retry waits about this long, each next one twice as long (with jitter) up to MAX_BACKOFF_MS. */
const RETRY_BASE_MS = 100;
const MAX_BACKOFF_MS = 1_000;
/** No wait between attempts is longer, whatever Retry-After asks. */
export const MAX_RETRY_WAIT_MS = 5_000;

export class TransportError extends Error {
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'too_large' | 'aborted' | 'throttled' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** One request and its answer, as checks see it: the decrypted JSON where there is one. */
export interface Exchange {
  path: string;
  /** The JSON payload before encryption (or the refresh token / CSTG plaintext). */
  requestPayload: unknown;
  http: number;
  contentType: string;
  /** Decrypted JSON for HTTP 200, parsed plain JSON otherwise; undefined when empty or unparsable. */
  body: unknown;
  /** Set when a 200 did not decrypt or did not echo the nonce. */
  envelopeError?: EnvelopeError;
  /** A non-200 body that is not JSON. */
  plainText?: string;
  rawBytes: number;
  durationMs: number;
}

/** What the clients of a run met on the wire (the report's `transport`). */
export interface TransportStats {
  /** Requests sent, retries included. */
  requests: number;
  /** Of those, retries. */
  retried: number;
  /** Answers HTTP 429. */
  throttled: number;
  /** Answers HTTP 5xx to calls that were retried (not to calls that judge the 5xx themselves). */
  server_errors: number;
  /** Connections lost or refused. */
  network_errors: number;
  /** Calls that still met throttling, 5xx or a lost connection after their retries (each an `error`). */
  gave_up: number;
}

export const newTransportStats = (): TransportStats => ({ requests: 0, retried: 0, throttled: 0, server_errors: 0, network_errors: 0, gave_up: 0 });

export interface ClientOptions {
  /** The operator's base URL; its path is kept (`https://host/uid2` → `https://host/uid2/v2/...`). */
  baseUrl: string;
  apiKey?: string;
  /** Base64 of the 32-byte client secret. */
  clientSecret?: string;
  /** Total budget of one request: connecting, the headers and the whole body. */
  timeoutMs?: number;
  /** Aborts requests in flight at once, and any wait between retries (the run's deadline, Ctrl-C). */
  signal?: AbortSignal;
  /** How long one call may go on retrying 429, 5xx and lost connections (default: timeoutMs); 0: never, every answer comes back as it is. */
  retryWindowMs?: number;
  /** Counters shared by the clients of a run. */
  transport?: TransportStats;
  /** Send raw bytes with application/octet-stream instead of base64 text. */
  octetStream?: boolean;
  /** `Origin` of client-generate requests (a site's domain; the operator checks it, UID2-SPEC §1.6). */
  cstgOrigin?: string;
}

export type DiiInput = { email: string } | { email_hash: string } | { phone: string } | { phone_hash: string };
export type MapRequest = Partial<Record<'email' | 'email_hash' | 'phone' | 'phone_hash', string[]>>;

/** An HTTP answer as read off the wire; `bytes` is undefined when the body was over the cap (not read). */
export interface HttpAnswer {
  http: number;
  contentType: string;
  bytes: Buffer | undefined;
  /** Retry-After of a 429 or 503, in ms from now. */
  retryAfterMs?: number;
}

type RawAnswer = HttpAnswer & { bytes: Buffer };

export class OperatorClient {
  private readonly secret: Buffer | undefined;
  /** Parsed once per path: a URL object goes to undici as it is. */
  private readonly urls = new Map<string, URL>();

  constructor(readonly options: ClientOptions) {
    this.secret = options.clientSecret === undefined ? undefined : Buffer.from(options.clientSecret, 'base64');
    // Every request in flight and every wait between retries listens to the run's one signal.
    if (options.signal) setMaxListeners(0, options.signal);
  }

  generate(input: DiiInput & { optout_check?: number }): Promise<Exchange> {
    return this.encrypted('/v2/token/generate', input);
  }
  validate(token: string, dii: DiiInput): Promise<Exchange> {
    return this.encrypted('/v2/token/validate', { token, ...dii });
  }
  logout(dii: DiiInput): Promise<Exchange> {
    return this.encrypted('/v2/token/logout', dii);
  }
  mapV2(request: MapRequest): Promise<Exchange> {
    return this.encrypted('/v2/identity/map', request);
  }
  mapV3(request: MapRequest): Promise<Exchange> {
    return this.encrypted('/v3/identity/map', request);
  }
  optoutStatus(advertisingIds: string[]): Promise<Exchange> {
    return this.encrypted('/v2/optout/status', { advertising_ids: advertisingIds });
  }
  keysBidstream(): Promise<Exchange> {
    return this.encrypted('/v2/key/bidstream', undefined);
  }
  keysSharing(): Promise<Exchange> {
    return this.encrypted('/v2/key/sharing', undefined);
  }

  /** Any encrypted endpoint: seals the payload, opens a 200 answer, checks the nonce echo. */
  async encrypted(path: string, payload: unknown): Promise<Exchange> {
    if (!this.secret || this.options.apiKey === undefined) throw new Error(`${path} needs an API key and a client secret`);
    const sealed = sealRequest(this.secret, payload);
    const started = performance.now();
    const answer = await this.post(path, this.encodeBody(sealed.bytes), { 'content-type': this.envelopeType, authorization: `Bearer ${this.options.apiKey}` });
    return this.exchange(path, payload, answer, started, (bytes) => openResponse(this.secret!, bytes, sealed.nonce));
  }

  /** POST /v2/token/refresh: the token as text, no API key unless asked; the answer opens with refresh_response_key. */
  async refresh(refreshToken: string, refreshResponseKey: string, options: { authenticated?: boolean } = {}): Promise<Exchange> {
    const headers: Record<string, string> = { 'content-type': this.envelopeType };
    if (options.authenticated && this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const started = performance.now();
    const answer = await this.post('/v2/token/refresh', Buffer.from(refreshToken, 'utf8'), headers);
    const key = Buffer.from(refreshResponseKey, 'base64');
    return this.exchange('/v2/token/refresh', refreshToken, answer, started, (bytes) => openBareResponse(key, bytes));
  }

  /** POST /v2/token/client-generate (UID2-SPEC §1.6) as the web SDK does it. */
  async clientGenerate(input: {
    serverPublicKey: string;
    subscriptionId: string;
    dii: { email_hash: string } | { phone_hash: string };
    origin?: string;
    timestampMs?: number;
  }): Promise<Exchange> {
    const serverKey = createPublicKey({ key: Buffer.from(input.serverPublicKey.slice(9), 'base64'), format: 'der', type: 'spki' });
    const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: serverKey });
    const timestamp = input.timestampMs ?? Date.now();
    const iv = randomBytes(12);
    const sealed = gcmEncrypt(shared, Buffer.from(JSON.stringify(input.dii), 'utf8'), Buffer.from(JSON.stringify([timestamp]), 'utf8'), iv);
    const request = {
      payload: sealed.subarray(12).toString('base64'),
      iv: iv.toString('base64'),
      public_key: ephemeral.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      timestamp,
      subscription_id: input.subscriptionId,
    };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const origin = input.origin ?? this.options.cstgOrigin;
    if (origin) headers.origin = origin;
    const started = performance.now();
    const answer = await this.post('/v2/token/client-generate', Buffer.from(JSON.stringify(request)), headers);
    return this.exchange('/v2/token/client-generate', input.dii, answer, started, (bytes) => openBareResponse(shared, bytes));
  }

  private encodeBody(bytes: Buffer): Buffer {
    return this.options.octetStream ? bytes : Buffer.from(bytes.toString('base64'), 'latin1');
  }

  private exchange(path: string, requestPayload: unknown, answer: RawAnswer, started: number, open: (bytes: Buffer | string) => unknown): Exchange {
    const result: Exchange = {
      path,
      requestPayload,
      http: answer.http,
      contentType: answer.contentType,
      body: undefined,
      rawBytes: answer.bytes.length,
      durationMs: performance.now() - started,
    };
    if (answer.bytes.length === 0) return result;
    if (answer.http === 200) {
      const octet = answer.contentType.startsWith('application/octet-stream');
      try {
        const body = open(octet ? answer.bytes : answer.bytes.toString('latin1'));
        if (tooDeep(body)) throw new EnvelopeError('not_json', `the decrypted answer nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
        result.body = body;
      } catch (e) {
        if (!(e instanceof EnvelopeError)) throw e;
        result.envelopeError = e;
        result.plainText = answer.bytes.subarray(0, 200).toString('utf8');
      }
      return result;
    }
    const text = answer.bytes.toString('utf8');
    result.body = parseBoundedJson(text);
    if (result.body === undefined) result.plainText = text.slice(0, 200);
    return result;
  }

  /** What the body of an encrypted or refresh request is sent as. */
  private get envelopeType(): string {
    return this.options.octetStream ? 'application/octet-stream' : 'text/plain';
  }

  /** `headers` is complete (content type included): built once by the caller, never copied here. */
  private async post(path: string, body: Buffer, headers: Record<string, string>): Promise<RawAnswer> {
    const answer = await this.send(path, body, headers);
    if (answer.bytes === undefined) throw new TransportError('too_large', `${this.url(path).href} answered more than ${MAX_RESPONSE_BYTES} bytes`);
    return answer as RawAnswer;
  }

  /**
   * POSTs a body as it is. 429, 5xx and lost connections are retried with backoff within the retry window;
   * when they persist it throws (throttled, unavailable, unreachable). With `judge5xx` (rules that forbid a
   * 5xx) a 5xx comes back as the answer instead: a 500 at once, since it is the implementation's own failure
   * (gateways and outages answer 502-504), the others once they persist. An answer over `maxBytes` comes back
   * with `bytes` undefined.
   */
  async send(path: string, body: Buffer, headers: Record<string, string>, options: { maxBytes?: number; judge5xx?: boolean } = {}): Promise<HttpAnswer> {
    const windowMs = this.options.retryWindowMs ?? this.timeoutMs;
    const started = performance.now();
    const stats = this.options.transport;
    for (let attempt = 1; ; attempt += 1) {
      let answer: HttpAnswer | undefined;
      let lost: TransportError | undefined;
      try {
        answer = await this.attempt(path, body, headers, options.maxBytes ?? MAX_RESPONSE_BYTES);
      } catch (e) {
        if (!(e instanceof TransportError) || e.reason !== 'unreachable') throw e;
        lost = e;
      }
      if (answer && answer.http !== 429 && (answer.http < 500 || (answer.http === 500 && options.judge5xx))) return answer;
      if (answer && windowMs === 0) return answer; // no retries asked: the caller judges whatever came
      if (stats) {
        if (!answer) stats.network_errors += 1;
        else if (answer.http === 429) stats.throttled += 1;
        else stats.server_errors += 1;
      }
      const wait = retryWait(attempt, answer?.retryAfterMs);
      if ((lost && attempt >= MAX_NETWORK_ATTEMPTS) || performance.now() - started + wait > windowMs) {
        if (answer && answer.http >= 500 && options.judge5xx) return answer;
        if (stats) stats.gave_up += 1;
        throw persisting(this.url(path).href, attempt, Math.round(performance.now() - started), answer, lost);
      }
      if (stats) stats.retried += 1;
      try {
        await sleep(wait, undefined, { signal: this.options.signal });
      } catch {
        throw new TransportError('aborted', `${this.url(path).href}: the run stopped it while waiting to retry`);
      }
    }
  }

  /** One request: the budget and the signal hold, the body is read up to the cap. */
  private async attempt(path: string, body: Buffer, headers: Record<string, string>, maxBytes: number): Promise<HttpAnswer> {
    const url = this.url(path);
    // undici loads on the first request: before the budget starts, so loading it never counts as the target's time.
    const { request } = undici();
    const budget = new Budget(this.timeoutMs, this.options.signal);
    if (this.options.transport) this.options.transport.requests += 1;
    try {
      // undici's request rather than fetch: fetch refuses some ports outright ("bad port") and is slower.
      // It follows no redirect: a 3xx is an answer to judge.
      const response = await request(url, { method: 'POST', body, headers, signal: budget });
      const type = response.headers['content-type'];
      const answer: HttpAnswer = { http: response.statusCode, contentType: (Array.isArray(type) ? type[0] : type) ?? '', bytes: await readCapped(response.body, maxBytes, declaredLength(response.headers)) };
      const retryAfter = response.headers['retry-after'];
      const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
      return retryAfterMs === undefined ? answer : { ...answer, retryAfterMs };
    } catch (e) {
      const { reason, detail } = budget.failure(e);
      if (reason === 'timeout') throw new TransportError('timeout', `${url.href} did not answer in full within ${this.timeoutMs} ms`);
      if (reason === 'aborted') throw new TransportError('aborted', `${url.href}: ${detail}`);
      throw new TransportError('unreachable', `${url.href} is unreachable (${detail})`);
    } finally {
      budget.done();
    }
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Parsed once per path: a URL object goes to undici as it is. */
  private url(path: string): URL {
    let url = this.urls.get(path);
    if (!url) this.urls.set(path, (url = endpointUrl(this.options.baseUrl, path)));
    return url;
  }
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Exponential backoff with jitter (half to all of it), at least what Retry-After asks; capped. */
export function retryWait(attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(MAX_BACKOFF_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return Math.min(MAX_RETRY_WAIT_MS, Math.max(retryAfterMs ?? 0, backoff / 2 + (Math.random() * backoff) / 2));
}

/** Throttling, 5xx or lost connections that outlasted the retries: the kit could not decide. */
function persisting(where: string, attempts: number, ms: number, answer: HttpAnswer | undefined, lost: TransportError | undefined): TransportError {
  const tries = `after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${ms} ms`;
  if (!answer) return new TransportError('unreachable', `${lost!.message}, ${tries}`);
  if (answer.http === 429) return new TransportError('throttled', `${where} kept throttling (HTTP 429) ${tries}`);
  return new TransportError('unavailable', `${where} kept answering HTTP ${answer.http}${answer.contentType ? ` (${answer.contentType.split(';')[0]})` : ''} ${tries}: an outage, not a verdict`);
}
