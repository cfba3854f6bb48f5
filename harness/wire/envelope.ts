// The UID2 v2 request/response envelope (UID2-SPEC §2.2–§2.4), both sides:
// the client seals requests and opens responses; the simulated operator does the reverse.
import { readInt64BE, writeInt64BE } from './bytes.ts';
import { decodeBase64Strict, gcmDecrypt, gcmEncrypt, gcmEncryptAfter, GcmAuthError, IV_BYTES, secureRandom, TAG_BYTES } from './gcm.ts';

export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 8;
const TS_BYTES = 8;
/** version(1) + IV(12) + ts(8) + nonce(8) + tag(16): the shortest envelope that can hold a data envelope. */
export const MIN_ENVELOPE_BYTES = 1 + IV_BYTES + TS_BYTES + NONCE_BYTES + TAG_BYTES;

/** Raised by the client side when a response cannot be trusted; `reason` is stable for reports. */
export class EnvelopeError extends Error {
  constructor(
    readonly reason: 'not_base64' | 'too_short' | 'auth_failed' | 'nonce_mismatch' | 'not_json',
    message: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** ts(8) ‖ nonce(8) ‖ JSON, written into one buffer. */
function dataEnvelope(timestampMs: number, nonce: Buffer, payload: unknown): Buffer {
  const json = payload === undefined ? '' : JSON.stringify(payload);
  const plain = Buffer.allocUnsafe(TS_BYTES + NONCE_BYTES + Buffer.byteLength(json, 'utf8'));
  writeInt64BE(plain, timestampMs, 0);
  nonce.copy(plain, TS_BYTES);
  plain.write(json, TS_BYTES + NONCE_BYTES, 'utf8');
  return plain;
}

const VERSION_HEAD = Buffer.from([ENVELOPE_VERSION]);

// ---------------------------------------------------------------- client side

export interface SealedRequest {
  /** The envelope bytes; send them base64-encoded, or raw with application/octet-stream. */
  bytes: Buffer;
  nonce: Buffer;
}

/** Seals a request payload; `undefined` sends no JSON at all (the 16-byte data envelope the key endpoints use). */
export function sealRequest(
  secret: Buffer,
  payload: unknown,
  options: { nowMs?: number; nonce?: Buffer } = {},
): SealedRequest {
  const nonce = options.nonce ?? secureRandom(NONCE_BYTES);
  const plain = dataEnvelope(options.nowMs ?? Date.now(), nonce, payload);
  return { bytes: gcmEncryptAfter(VERSION_HEAD, secret, plain), nonce };
}

/** Accepts the body as base64 text or raw bytes (for octet-stream answers). */
function responseBytes(body: Buffer | string): Buffer {
  if (typeof body !== 'string') return body;
  const bytes = decodeBase64Strict(body.trim());
  if (!bytes) throw new EnvelopeError('not_base64', 'response body is not valid base64');
  return bytes;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new EnvelopeError('not_json', 'decrypted response is not JSON');
  }
}

/** Opens an HTTP 200 answer: decrypts, checks that bytes 8..15 echo the request nonce, parses the JSON. */
export function openResponse(secret: Buffer, body: Buffer | string, nonce: Buffer): unknown {
  const bytes = responseBytes(body);
  if (bytes.length < IV_BYTES + TS_BYTES + NONCE_BYTES + TAG_BYTES) {
    throw new EnvelopeError('too_short', `response envelope is ${bytes.length} bytes, too short`);
  }
  let plain: Buffer;
  try {
    plain = gcmDecrypt(secret, bytes);
  } catch (e) {
    if (e instanceof GcmAuthError) throw new EnvelopeError('auth_failed', 'response does not decrypt with the client secret');
    throw e;
  }
  if (!plain.subarray(TS_BYTES, TS_BYTES + NONCE_BYTES).equals(nonce)) {
    throw new EnvelopeError('nonce_mismatch', 'response nonce does not match the request nonce');
  }
  return parseJson(plain.subarray(TS_BYTES + NONCE_BYTES));
}

/** Opens a refresh or CSTG answer: IV ‖ ct ‖ tag of the bare JSON, no ts/nonce (UID2-SPEC §1.2, §1.6). */
export function openBareResponse(key: Buffer, body: Buffer | string): unknown {
  const bytes = responseBytes(body);
  try {
    return parseJson(gcmDecrypt(key, bytes));
  } catch (e) {
    if (e instanceof GcmAuthError) throw new EnvelopeError('auth_failed', 'response does not decrypt with the expected key');
    throw e;
  }
}

// ---------------------------------------------------------------- operator side

export type OpenedRequest =
  | { ok: true; payload: unknown; nonce: Buffer; timestampMs: number }
  | { ok: false; message: string };

/**
 * Decodes and opens a request body exactly as the operator does (UID2-SPEC §2.2, §2.3).
 * `payload` is null when the data envelope holds no JSON (exactly 16 bytes).
 */
export function openRequest(
  secret: Buffer,
  body: Buffer,
  options: { octetStream: boolean; nowMs?: number; maxDriftMinutes?: number },
): OpenedRequest {
  if (body.length === 0) return { ok: false, message: 'Invalid body: Body is missing.' };
  const text = body.toString('latin1');
  const unencrypted: OpenedRequest = { ok: false, message: 'Invalid body: The request body is unencrypted JSON. Encrypt the request with the client secret.' };
  if (options.octetStream) {
    // Raw bytes first; base64 only as a fallback, keeping the raw error when that fails too (§2.2).
    const raw = openEnvelope(secret, body, options);
    if (raw.ok) return raw;
    const decoded = decodeBase64Strict(text);
    if (decoded) return openEnvelope(secret, decoded, options);
    return text.trimStart().startsWith('{') ? unencrypted : raw;
  }
  if (text.trimStart().startsWith('{')) return unencrypted;
  const bytes = decodeBase64Strict(text.trim());
  if (!bytes) return { ok: false, message: 'Invalid body: Body is not valid base64.' };
  return openEnvelope(secret, bytes, options);
}

function openEnvelope(secret: Buffer, bytes: Buffer, options: { nowMs?: number; maxDriftMinutes?: number }): OpenedRequest {
  if (bytes.length < MIN_ENVELOPE_BYTES) return { ok: false, message: 'Invalid body: Body too short. Check encryption method.' };
  if (bytes[0] !== ENVELOPE_VERSION) {
    return { ok: false, message: `Invalid body: Invalid request envelope format version: received ${bytes[0]}, must be 1.` };
  }
  let plain: Buffer;
  try {
    plain = gcmDecrypt(secret, bytes.subarray(1));
  } catch {
    return { ok: false, message: 'Invalid body: Check encryption key (ClientSecret).' };
  }
  const timestampMs = readInt64BE(plain, 0);
  // The operator truncates the drift to whole minutes and rejects above one (UID2-SPEC §2.3).
  const driftMinutes = Math.trunc(Math.abs((options.nowMs ?? Date.now()) - timestampMs) / 60_000);
  if (driftMinutes > (options.maxDriftMinutes ?? 1)) {
    return { ok: false, message: 'Invalid timestamp: Request too old or client time drift.' };
  }
  const nonce = Buffer.from(plain.subarray(TS_BYTES, TS_BYTES + NONCE_BYTES));
  const json = plain.subarray(TS_BYTES + NONCE_BYTES);
  if (json.length === 0) return { ok: true, payload: null, nonce, timestampMs };
  try {
    return { ok: true, payload: JSON.parse(json.toString('utf8')), nonce, timestampMs };
  } catch {
    return { ok: false, message: 'Invalid payload in body: Data is not valid json string.' };
  }
}

/** Seals an HTTP 200 answer under the client secret, echoing the request nonce. */
export function sealResponse(secret: Buffer, nonce: Buffer, payload: unknown, nowMs: number = Date.now()): Buffer {
  return gcmEncrypt(secret, dataEnvelope(nowMs, nonce, payload));
}

/** Seals a refresh or CSTG answer: the bare JSON under the given key. */
export function sealBareResponse(key: Buffer, payload: unknown): Buffer {
  return gcmEncrypt(key, Buffer.from(payload === undefined ? '' : JSON.stringify(payload), 'utf8'));
}
