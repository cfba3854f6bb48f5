// An independent UID2 v2 client, written from /work/shared/UID2-SPEC.md alone (§0–§4).
// It deliberately shares no code with the kit (harness/): it is a second implementation of the
// wire format, used to show that the kit's simulated operator speaks the documented protocol.
// Only node:crypto and the global fetch are used.

import crypto from 'node:crypto';

const GCM_IV_BYTES = 12; // §2, §8
const GCM_TAG_BYTES = 16;
const NONCE_BYTES = 8;
const TS_BYTES = 8;
const ENVELOPE_VERSION = 0x01; // §2.2
const STD_B64 = /^[A-Za-z0-9+/]*={0,2}$/;

// ---------------------------------------------------------------------------------------------
// AES-256-GCM primitives (§2)

/** Encrypt `plain` under a 32-byte key; returns {iv, ct, tag}. */
export function gcmSeal(key, plain, { iv = crypto.randomBytes(GCM_IV_BYTES), aad } = {}) {
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  if (aad) cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, ct, tag: cipher.getAuthTag() };
}

/** Decrypt the `IV(12) ‖ ct ‖ tag(16)` form. Throws if the tag does not verify. */
export function gcmOpen(key, bytes, { aad } = {}) {
  if (bytes.length < GCM_IV_BYTES + GCM_TAG_BYTES) {
    throw new Error(`encrypted response too short (${bytes.length} bytes)`);
  }
  const iv = bytes.subarray(0, GCM_IV_BYTES);
  const tag = bytes.subarray(bytes.length - GCM_TAG_BYTES);
  const ct = bytes.subarray(GCM_IV_BYTES, bytes.length - GCM_TAG_BYTES);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

function keyFromB64(b64, what) {
  if (typeof b64 !== 'string' || !STD_B64.test(b64)) throw new Error(`${what} is not standard base64`);
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 32) throw new Error(`${what} must decode to 32 bytes, got ${key.length}`);
  return key;
}

// ---------------------------------------------------------------------------------------------
// v2 request envelope (§2.2) and response envelope (§2.4)

/**
 * Seal a request payload: 0x01 ‖ IV ‖ AES-GCM(secret, ts(int64 BE ms) ‖ nonce(8) ‖ JSON) ‖ tag.
 * `payload` may be an object (JSON-encoded) or a string (sent verbatim as the JSON part).
 */
export function sealRequest(clientSecretB64, payload, opts = {}) {
  const key = keyFromB64(clientSecretB64, 'client secret');
  const timestamp = opts.timestamp ?? Date.now();
  const nonce = opts.nonce ?? crypto.randomBytes(NONCE_BYTES);
  const ts = Buffer.alloc(TS_BYTES);
  ts.writeBigInt64BE(BigInt(timestamp));
  const json = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  const { iv, ct, tag } = gcmSeal(key, Buffer.concat([ts, nonce, json]), { iv: opts.iv });
  const envelope = Buffer.concat([Buffer.from([ENVELOPE_VERSION]), iv, ct, tag]);
  return { envelope, body: envelope.toString('base64'), nonce, timestamp };
}

/**
 * Open a v2 response: IV ‖ AES-GCM(secret, ts(8) ‖ nonce(8) ‖ JSON) ‖ tag (no version byte).
 * Checks that the nonce echoes the one sent (as the Java SDK does).
 */
export function openResponse(clientSecretB64, bytes, expectedNonce) {
  const key = keyFromB64(clientSecretB64, 'client secret');
  const plain = gcmOpen(key, bytes);
  if (plain.length < TS_BYTES + NONCE_BYTES) throw new Error('decrypted response shorter than ts+nonce');
  const serverTimestamp = Number(plain.readBigInt64BE(0));
  const nonce = plain.subarray(TS_BYTES, TS_BYTES + NONCE_BYTES);
  if (expectedNonce && !nonce.equals(expectedNonce)) {
    throw new Error('Nonce in request does not match nonce in response');
  }
  const text = plain.subarray(TS_BYTES + NONCE_BYTES).toString('utf8');
  return { serverTimestamp, nonce: Buffer.from(nonce), json: JSON.parse(text) };
}

/** Open a bare response (refresh, CSTG): IV ‖ AES-GCM(key, JSON) ‖ tag, no ts/nonce (§1.2, §1.6, §2.4). */
export function openBareResponse(key, bytes) {
  return JSON.parse(gcmOpen(key, bytes).toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// Normalization and hashing (§3)

/** Normalize an email per §3.1/§3.2; returns null when the address is invalid. */
export function normalizeEmail(input) {
  if (typeof input !== 'string') return null;
  const trimmed = input.replace(/^ +/, '').replace(/ +$/, '');
  const lowered = trimmed.replace(/[A-Z]/g, (c) => c.toLowerCase()); // ASCII only
  const parts = lowered.split('@');
  if (parts.length !== 2) return null;
  let [local, domain] = parts;
  if (!domain) return null;
  if (domain === 'gmail.com') {
    const plus = local.indexOf('+');
    if (plus >= 0) local = local.slice(0, plus);
    local = local.replaceAll('.', '');
  }
  if (!local) return null;
  return `${local}@${domain}`;
}

/** Validate a phone: E.164, '+' then 10–15 ASCII digits; the operator does not normalize (§3.3). */
export function isValidPhone(input) {
  return typeof input === 'string' && /^\+[0-9]{10,15}$/.test(input);
}

export function sha256(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest();
}
export function sha256Base64(text) {
  return sha256(text).toString('base64');
}
export function sha256Hex(text) {
  return sha256(text).toString('hex');
}
export function emailHashBase64(email) {
  const n = normalizeEmail(email);
  if (n === null) throw new Error('invalid email');
  return sha256Base64(n);
}
export function emailHashHex(email) {
  const n = normalizeEmail(email);
  if (n === null) throw new Error('invalid email');
  return sha256Hex(n);
}
export function phoneHashBase64(phone) {
  if (!isValidPhone(phone)) throw new Error('invalid phone');
  return sha256Base64(phone);
}

// ---------------------------------------------------------------------------------------------
// HTTP

function url(conn, path) {
  return new URL(path, conn.baseUrl).toString();
}

async function httpPost(target, headers, body) {
  const res = await fetch(target, { method: 'POST', headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { httpStatus: res.status, contentType: res.headers.get('content-type'), bytes };
}

/** Interpret a non-encrypted answer (every non-200, §0): plain JSON or an empty body. */
function plainResult(raw) {
  const text = raw.bytes.toString('utf8');
  let json = null;
  let parseError;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch (e) {
      parseError = String(e);
    }
  }
  return { ...raw, encrypted: false, text, json, parseError };
}

function describe(raw) {
  return `HTTP ${raw.httpStatus} ${raw.contentType ?? ''} ${raw.bytes.toString('utf8').slice(0, 200)}`;
}

/** The bytes of an encrypted 200 answer: base64 text, or raw bytes when we asked with octet-stream. */
function encryptedBytes(raw, octet) {
  if (octet) return raw.bytes;
  const text = raw.bytes.toString('utf8').trim();
  if (!STD_B64.test(text)) throw new Error(`200 answer is not base64 text: ${describe(raw)}`);
  return Buffer.from(text, 'base64');
}

/**
 * POST a v2 encrypted request. Options:
 *   octet: send raw envelope bytes with Content-Type application/octet-stream (reply is raw bytes)
 *   apiKey / clientSecret: override the connection's credentials (e.g. a wrong secret)
 *   timestamp, nonce: override the envelope's ts / nonce
 *   noAuth: send no Authorization header
 * Returns {httpStatus, contentType, encrypted, json, serverTimestamp?, nonce?}.
 * An HTTP 200 answer that cannot be decrypted, or whose nonce does not match, throws.
 */
export async function postEncrypted(conn, path, payload, opts = {}) {
  const apiKey = opts.apiKey ?? conn.apiKey;
  const secret = opts.clientSecret ?? conn.clientSecret;
  const sealed = sealRequest(secret, payload, { timestamp: opts.timestamp, nonce: opts.nonce });
  const headers = {
    'Content-Type': opts.octet ? 'application/octet-stream' : 'text/plain',
  };
  if (!opts.noAuth) headers.Authorization = `Bearer ${apiKey}`;
  const raw = await httpPost(url(conn, path), headers, opts.octet ? sealed.envelope : sealed.body);
  if (raw.httpStatus !== 200) return plainResult(raw);
  // A 200 answer is decrypted with the secret the request was sealed with (§2.4).
  let opened;
  try {
    opened = openResponse(secret, encryptedBytes(raw, opts.octet), sealed.nonce);
  } catch (e) {
    throw new Error(`cannot open encrypted 200 answer from ${path}: ${e.message}; ${describe(raw)}`);
  }
  return {
    httpStatus: raw.httpStatus,
    contentType: raw.contentType,
    encrypted: true,
    json: opened.json,
    serverTimestamp: opened.serverTimestamp,
  };
}

/** POST an arbitrary body (garbage, unencrypted JSON, …) and read the answer as plain JSON. */
export async function postRaw(conn, path, body, headers = {}) {
  return plainResult(await httpPost(url(conn, path), headers, body));
}

// ---------------------------------------------------------------------------------------------
// Endpoints (§1)

/** POST /v2/token/generate with exactly one of {email|email_hash|phone|phone_hash} (§1.1). */
export function generate(conn, identity, opts) {
  return postEncrypted(conn, '/v2/token/generate', identity, opts);
}

/**
 * POST /v2/token/refresh (§1.2): the refresh token as the body, unencrypted, no API key by default.
 * A 200 answer is bare JSON encrypted under the refresh_response_key issued with this token.
 * opts.octet: Content-Type application/octet-stream (body still the 388-char text; reply raw bytes).
 * opts.apiKey: also send an API key.
 */
export async function refresh(conn, refreshToken, refreshResponseKeyB64, opts = {}) {
  const headers = { 'Content-Type': opts.octet ? 'application/octet-stream' : 'text/plain' };
  if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
  const raw = await httpPost(url(conn, '/v2/token/refresh'), headers, refreshToken);
  if (raw.httpStatus !== 200) return plainResult(raw);
  const key = keyFromB64(refreshResponseKeyB64, 'refresh_response_key');
  let json;
  try {
    json = openBareResponse(key, encryptedBytes(raw, opts.octet));
  } catch (e) {
    throw new Error(`cannot open encrypted refresh answer: ${e.message}; ${describe(raw)}`);
  }
  return { httpStatus: raw.httpStatus, contentType: raw.contentType, encrypted: true, json };
}

/** POST /v2/identity/map (v2): exactly one of the four arrays (§1.3). */
export function identityMapV2(conn, request, opts) {
  return postEncrypted(conn, '/v2/identity/map', request, opts);
}

/** POST /v3/identity/map: one or more of the four arrays (§1.3). */
export function identityMapV3(conn, request, opts) {
  return postEncrypted(conn, '/v3/identity/map', request, opts);
}

/** POST /v2/optout/status with raw UID2s (§1.4). */
export function optoutStatus(conn, advertisingIds, opts) {
  return postEncrypted(conn, '/v2/optout/status', { advertising_ids: advertisingIds }, opts);
}

/** POST /v2/token/logout with OPTOUT-role credentials and exactly one DII field (§5.2). */
export function logout(conn, identity, opts) {
  return postEncrypted(conn, '/v2/token/logout', identity, opts);
}

/** POST /v2/token/validate (§1.5). */
export function validate(conn, token, identity, opts) {
  return postEncrypted(conn, '/v2/token/validate', { token, ...identity }, opts);
}

/**
 * POST /v2/token/client-generate (CSTG, §1.6).
 * hashed: {email_hash} or {phone_hash}. cstg: {serverPublicKey:'UID2-X-?-<b64 SPKI>', subscriptionId,
 * timestamp?, appName?, origin?, requestTimestamp?}. The reply (200) is b64(IV ‖ AES-GCM(shared secret, JSON) ‖ tag).
 */
export async function clientGenerate(conn, hashed, cstg) {
  const { serverPublicKey, subscriptionId } = cstg;
  if (typeof serverPublicKey !== 'string' || !/^UID2-X-[A-Z]-/.test(serverPublicKey)) {
    throw new Error('server public key must look like UID2-X-<letter>-<b64 SPKI>');
  }
  const serverKey = crypto.createPublicKey({
    key: Buffer.from(serverPublicKey.slice(9), 'base64'),
    format: 'der',
    type: 'spki',
  });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const sharedSecret = crypto.diffieHellman({ privateKey, publicKey: serverKey }); // 32 bytes (x coord)
  const timestamp = cstg.timestamp ?? Date.now();
  const aadArray = cstg.appName === undefined ? [timestamp] : [timestamp, cstg.appName];
  const aad = Buffer.from(JSON.stringify(aadArray), 'utf8');
  const plain = Buffer.from(JSON.stringify(hashed), 'utf8');
  const { iv, ct, tag } = gcmSeal(sharedSecret, plain, { aad });
  const request = {
    payload: Buffer.concat([ct, tag]).toString('base64'),
    iv: iv.toString('base64'),
    public_key: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    // requestTimestamp lets a test send a timestamp that differs from the one bound into the AAD.
    timestamp: cstg.requestTimestamp ?? timestamp,
    subscription_id: subscriptionId,
  };
  if (cstg.appName !== undefined) request.app_name = cstg.appName;
  const headers = { 'Content-Type': 'application/json' };
  if (cstg.origin) headers.Origin = cstg.origin;
  const raw = await httpPost(url(conn, '/v2/token/client-generate'), headers, JSON.stringify(request));
  if (raw.httpStatus !== 200) return plainResult(raw);
  let json;
  try {
    json = openBareResponse(sharedSecret, encryptedBytes(raw, false));
  } catch (e) {
    throw new Error(`cannot open encrypted CSTG answer: ${e.message}; ${describe(raw)}`);
  }
  return { httpStatus: raw.httpStatus, contentType: raw.contentType, encrypted: true, json };
}
