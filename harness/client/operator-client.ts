// A typed client for a UID2 operator (the one under test, or the simulated one), speaking the v2 wire format.
// It never throws on an HTTP status: every answer comes back as an Exchange so checks can judge it;
// it throws TransportError only when there is no answer to judge (unreachable, timeout, oversized body).
import { request, type Dispatcher } from 'undici';
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { EnvelopeError, openBareResponse, openResponse, sealRequest } from '../wire/envelope.ts';
import { gcmEncrypt } from '../wire/gcm.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_RESPONSE_BYTES = 8 << 20;

export class TransportError extends Error {
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'too_large',
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

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Base64 of the 32-byte client secret. */
  clientSecret?: string;
  timeoutMs?: number;
  /** Send raw bytes with application/octet-stream instead of base64 text. */
  octetStream?: boolean;
  /** `Origin` of client-generate requests (a site's domain; the operator checks it, UID2-SPEC §1.6). */
  cstgOrigin?: string;
  /** The run's stop: aborts requests under way and refuses new ones, throwing the signal's reason. */
  signal?: AbortSignal;
}

export type DiiInput = { email: string } | { email_hash: string } | { phone: string } | { phone_hash: string };
export type MapRequest = Partial<Record<'email' | 'email_hash' | 'phone' | 'phone_hash', string[]>>;

interface RawAnswer {
  http: number;
  contentType: string;
  bytes: Buffer;
}

export class OperatorClient {
  private readonly secret: Buffer | undefined;
  /** Parsed once per path: a URL object goes to undici as it is. */
  private readonly urls = new Map<string, URL>();

  constructor(readonly options: ClientOptions) {
    this.secret = options.clientSecret === undefined ? undefined : Buffer.from(options.clientSecret, 'base64');
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
        result.body = open(octet ? answer.bytes : answer.bytes.toString('latin1'));
      } catch (e) {
        if (!(e instanceof EnvelopeError)) throw e;
        result.envelopeError = e;
        result.plainText = answer.bytes.subarray(0, 200).toString('utf8');
      }
      return result;
    }
    const text = answer.bytes.toString('utf8');
    try {
      result.body = JSON.parse(text);
    } catch {
      result.plainText = text.slice(0, 200);
    }
    return result;
  }

  /** What the body of an encrypted or refresh request is sent as. */
  private get envelopeType(): string {
    return this.options.octetStream ? 'application/octet-stream' : 'text/plain';
  }

  /** `headers` is complete (content type included): built once by the caller, never copied here. */
  private async post(path: string, body: Buffer, headers: Record<string, string>): Promise<RawAnswer> {
    let url = this.urls.get(path);
    if (!url) this.urls.set(path, (url = new URL(path, this.options.baseUrl)));
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    try {
      // undici's request rather than fetch: fetch refuses some ports outright ("bad port") and is slower.
      const response = await request(url, {
        method: 'POST',
        body,
        headers,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: this.options.signal,
      });
      const type = response.headers['content-type'];
      const length = Number(response.headers['content-length'] ?? 0);
      return { http: response.statusCode, contentType: (Array.isArray(type) ? type[0] : type) ?? '', bytes: await readCapped(response.body, url, length) };
    } catch (e) {
      if (e instanceof TransportError) throw e;
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      const error = e as Error & { code?: string };
      if (error.code === 'UND_ERR_HEADERS_TIMEOUT' || error.code === 'UND_ERR_BODY_TIMEOUT' || error.code === 'UND_ERR_CONNECT_TIMEOUT') {
        throw new TransportError('timeout', `${url.origin}${path} did not answer within ${timeoutMs} ms`);
      }
      throw new TransportError('unreachable', `${url.origin}${path} is unreachable (${error.code ?? error.message})`);
    }
  }
}

/** Reads an answer body, refusing one larger than MAX_RESPONSE_BYTES without reading it all. */
async function readCapped(body: Dispatcher.ResponseData['body'], url: URL, declaredLength: number): Promise<Buffer> {
  if (declaredLength > MAX_RESPONSE_BYTES) {
    body.destroy();
    throw new TransportError('too_large', `${url.href} declared a body of ${declaredLength} bytes (limit ${MAX_RESPONSE_BYTES})`);
  }
  // A declared length within the cap is read in one go: async iteration costs more than the crypto here.
  if (declaredLength > 0) return Buffer.from(await body.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy();
      throw new TransportError('too_large', `${url.href} answered more than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
