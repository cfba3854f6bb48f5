// The v2 request/response envelope (harness/wire/envelope.ts, harness/wire/gcm.ts) against UID2-SPEC §2.2–§2.4:
// layouts, both-side round trips, the operator's §2.3 error messages, and tamper properties with fixed seeds.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  ENVELOPE_VERSION,
  EnvelopeError,
  MIN_ENVELOPE_BYTES,
  NONCE_BYTES,
  openBareResponse,
  openRequest,
  openResponse,
  sealBareResponse,
  sealRequest,
  sealResponse,
  type OpenedRequest,
} from '../../harness/wire/envelope.ts';
import { decodeBase64Strict, gcmDecrypt, gcmEncrypt, GcmAuthError, IV_BYTES, TAG_BYTES } from '../../harness/wire/gcm.ts';

const key = (label: string): Buffer => createHash('sha256').update(label).digest();
const SECRET = key('client-secret');
const OTHER = key('other-secret');
const NOW = Date.UTC(2026, 7, 1, 12, 0, 0); // fixed server clock
const NONCE = Buffer.from('0102030405060708', 'hex');
const PAYLOAD = { email_hash: 'tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=', optout_check: 1 };

const asBase64Body = (bytes: Buffer): Buffer => Buffer.from(bytes.toString('base64'), 'latin1');
const open = (body: Buffer, octetStream = false, nowMs = NOW): OpenedRequest => openRequest(SECRET, body, { octetStream, nowMs });

function failMessage(result: OpenedRequest): string {
  expect(result.ok).toBe(false);
  return result.ok ? '' : result.message;
}

/** Returns the EnvelopeError `fn` throws (fails on anything else). */
function envelopeError(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EnvelopeError);
    return e as EnvelopeError;
  }
  throw new Error('expected an EnvelopeError, nothing was thrown');
}

function dataEnvelope(ts: number, nonce: Buffer, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigInt64BE(BigInt(ts));
  return Buffer.concat([head, nonce, body]);
}

// The exact §2.3 messages.
const MSG = {
  missing: 'Invalid body: Body is missing.',
  notBase64: 'Invalid body: Body is not valid base64.',
  unencryptedPrefix: 'Invalid body: The request body is unencrypted JSON.',
  tooShort: 'Invalid body: Body too short. Check encryption method.',
  version: (n: number) => `Invalid body: Invalid request envelope format version: received ${n}, must be 1.`,
  key: 'Invalid body: Check encryption key (ClientSecret).',
  timestamp: 'Invalid timestamp: Request too old or client time drift.',
  json: 'Invalid payload in body: Data is not valid json string.',
};

// ------------------------------------------------------------------------------------------------
describe('layout (UID2-SPEC §2.2, §2.4)', () => {
  it('a request is 0x01 ‖ IV(12) ‖ GCM(ts(8, BE ms) ‖ nonce(8) ‖ JSON) ‖ tag(16)', () => {
    const { bytes, nonce } = sealRequest(SECRET, PAYLOAD, { nowMs: NOW, nonce: NONCE });
    const json = Buffer.from(JSON.stringify(PAYLOAD), 'utf8');
    expect(nonce.equals(NONCE)).toBe(true);
    expect(ENVELOPE_VERSION).toBe(1);
    expect(bytes[0]).toBe(0x01);
    expect(bytes.length).toBe(1 + 12 + 8 + 8 + json.length + 16);
    const plain = gcmDecrypt(SECRET, bytes.subarray(1));
    expect(plain.readBigInt64BE(0)).toBe(BigInt(NOW));
    expect(plain.subarray(8, 16).equals(NONCE)).toBe(true);
    expect(plain.subarray(16).equals(json)).toBe(true);
  });

  it('a fresh random 8-byte nonce and a fresh IV are used for every request', () => {
    const a = sealRequest(SECRET, PAYLOAD, { nowMs: NOW });
    const b = sealRequest(SECRET, PAYLOAD, { nowMs: NOW });
    expect(NONCE_BYTES).toBe(8);
    expect(a.nonce.length).toBe(8);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.bytes.subarray(1, 1 + IV_BYTES).equals(b.bytes.subarray(1, 1 + IV_BYTES))).toBe(false);
  });

  it('a response is IV(12) ‖ GCM(ts ‖ request nonce ‖ JSON) ‖ tag(16), with no version byte', () => {
    const bytes = sealResponse(SECRET, NONCE, { status: 'success', body: {} }, NOW + 5);
    const json = Buffer.from('{"status":"success","body":{}}', 'utf8');
    expect(bytes.length).toBe(12 + 8 + 8 + json.length + 16);
    const plain = gcmDecrypt(SECRET, bytes);
    expect(plain.readBigInt64BE(0)).toBe(BigInt(NOW + 5));
    expect(plain.subarray(8, 16).equals(NONCE)).toBe(true);
    expect(plain.subarray(16).equals(json)).toBe(true);
  });

  it('a refresh/CSTG response is IV(12) ‖ GCM(bare JSON) ‖ tag(16), no ts/nonce', () => {
    const bytes = sealBareResponse(SECRET, { status: 'optout' });
    expect(bytes.length).toBe(12 + '{"status":"optout"}'.length + 16);
    expect(gcmDecrypt(SECRET, bytes).toString('utf8')).toBe('{"status":"optout"}');
  });

  it('the minimum envelope is 45 bytes, and a request with no JSON is exactly that', () => {
    expect(MIN_ENVELOPE_BYTES).toBe(45);
    expect(IV_BYTES + TAG_BYTES).toBe(28);
    const { bytes } = sealRequest(SECRET, undefined, { nowMs: NOW, nonce: NONCE });
    expect(bytes.length).toBe(45);
  });
});

// ------------------------------------------------------------------------------------------------
describe('round trips', () => {
  it('sealRequest → openRequest gives back payload, nonce and timestamp (base64 body)', () => {
    const sealed = sealRequest(SECRET, PAYLOAD, { nowMs: NOW - 30_000, nonce: NONCE });
    const opened = open(asBase64Body(sealed.bytes));
    expect(opened).toEqual({ ok: true, payload: PAYLOAD, nonce: NONCE, timestampMs: NOW - 30_000 });
  });

  it('sealResponse → openResponse with the request nonce gives the payload (bytes and base64 text)', () => {
    const answer = { status: 'success', body: { advertising_token: 'A4AAAABl', identity_expires: NOW + 1 } };
    const bytes = sealResponse(SECRET, NONCE, answer, NOW);
    expect(openResponse(SECRET, bytes, NONCE)).toEqual(answer);
    expect(openResponse(SECRET, bytes.toString('base64'), NONCE)).toEqual(answer);
    expect(openResponse(SECRET, `${bytes.toString('base64')}\n`, NONCE)).toEqual(answer);
  });

  it('a full client ↔ operator exchange echoes the request nonce', () => {
    const req = sealRequest(SECRET, { phone: '+12345678901' }, { nowMs: NOW });
    const opened = open(asBase64Body(req.bytes));
    if (!opened.ok) throw new Error(opened.message);
    expect(opened.payload).toEqual({ phone: '+12345678901' });
    const res = sealResponse(SECRET, opened.nonce, { status: 'optout' }, NOW);
    expect(openResponse(SECRET, res.toString('base64'), req.nonce)).toEqual({ status: 'optout' });
  });

  it('a wrong nonce is nonce_mismatch', () => {
    const bytes = sealResponse(SECRET, NONCE, { status: 'success' }, NOW);
    const e = envelopeError(() => openResponse(SECRET, bytes, Buffer.from('0102030405060709', 'hex')));
    expect(e.reason).toBe('nonce_mismatch');
  });

  it('a wrong key is auth_failed', () => {
    const bytes = sealResponse(SECRET, NONCE, { status: 'success' }, NOW);
    expect(envelopeError(() => openResponse(OTHER, bytes, NONCE)).reason).toBe('auth_failed');
  });

  it('client-side response errors: not_base64, too_short, not_json', () => {
    expect(envelopeError(() => openResponse(SECRET, 'not base64!', NONCE)).reason).toBe('not_base64');
    expect(envelopeError(() => openResponse(SECRET, '{"status":"success"}', NONCE)).reason).toBe('not_base64');
    expect(envelopeError(() => openResponse(SECRET, Buffer.alloc(43), NONCE)).reason).toBe('too_short');
    expect(envelopeError(() => openResponse(SECRET, '', NONCE)).reason).toBe('too_short');
    const notJson = gcmEncrypt(SECRET, dataEnvelope(NOW, NONCE, Buffer.from('status=success')));
    expect(envelopeError(() => openResponse(SECRET, notJson, NONCE)).reason).toBe('not_json');
  });

  it('refresh/CSTG bare form: sealBareResponse → openBareResponse, bytes and base64', () => {
    const responseKey = key('refresh-response-key');
    const answer = { status: 'success', body: { refresh_token: 'x'.repeat(388), refresh_from: NOW } };
    const bytes = sealBareResponse(responseKey, answer);
    expect(openBareResponse(responseKey, bytes)).toEqual(answer);
    expect(openBareResponse(responseKey, bytes.toString('base64'))).toEqual(answer);
    expect(openBareResponse(responseKey, sealBareResponse(responseKey, { status: 'optout' }))).toEqual({ status: 'optout' });
    expect(envelopeError(() => openBareResponse(SECRET, bytes)).reason).toBe('auth_failed');
    expect(envelopeError(() => openBareResponse(responseKey, 'garbage!')).reason).toBe('not_base64');
    expect(envelopeError(() => openBareResponse(responseKey, Buffer.alloc(10))).reason).toBe('auth_failed');
    const notJson = gcmEncrypt(responseKey, Buffer.from('<html>'));
    expect(envelopeError(() => openBareResponse(responseKey, notJson)).reason).toBe('not_json');
  });

  it('a bare response is not accepted as a nonce-carrying response and vice versa', () => {
    // openResponse on a bare blob: bytes 8..15 of the JSON are not the nonce.
    const bare = sealBareResponse(SECRET, { status: 'optout', pad: '................' });
    expect(envelopeError(() => openResponse(SECRET, bare, NONCE)).reason).toBe('nonce_mismatch');
    // openBareResponse on a full response: the ts/nonce prefix is not JSON.
    const full = sealResponse(SECRET, NONCE, { status: 'optout' }, NOW);
    expect(envelopeError(() => openBareResponse(SECRET, full)).reason).toBe('not_json');
  });
});

// ------------------------------------------------------------------------------------------------
describe('operator-side request errors (UID2-SPEC §2.3)', () => {
  it('missing body', () => {
    expect(failMessage(open(Buffer.alloc(0)))).toBe(MSG.missing);
    expect(failMessage(open(Buffer.alloc(0), true))).toBe(MSG.missing);
  });

  it.each(['not base64!', 'AQ==AQ==', '-_-_-_-_', 'QUJD RA==', 'QUJDRA===', 'QUJDR'])('not base64: %j', (text) => {
    expect(failMessage(open(Buffer.from(text, 'latin1')))).toBe(MSG.notBase64);
  });

  it('raw envelope bytes without octet-stream are not valid base64', () => {
    const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: NOW });
    expect(failMessage(open(bytes, false))).toBe(MSG.notBase64);
  });

  it.each(['{"email":"user@example.com"}', '  {"email_hash":"x"}', '\n{}'])('unencrypted JSON: %j', (text) => {
    for (const octet of [false, true]) {
      const message = failMessage(open(Buffer.from(text), octet));
      // §2.3 gives only the prefix ("…"); the rest of the sentence is free (O's differs from the harness's).
      expect(message.startsWith(MSG.unencryptedPrefix)).toBe(true);
      expect(message).not.toBe(MSG.notBase64);
    }
  });

  it('too short: 44 bytes is rejected before anything else; 45 bytes reaches decryption', () => {
    const short = Buffer.concat([Buffer.from([1]), Buffer.alloc(43, 0xab)]);
    expect(failMessage(open(asBase64Body(short)))).toBe(MSG.tooShort);
    expect(failMessage(open(asBase64Body(Buffer.from([1]))))).toBe(MSG.tooShort);
    expect(failMessage(open(asBase64Body(Buffer.concat([Buffer.from([9]), Buffer.alloc(43)]))))).toBe(MSG.tooShort);
    const minimal = Buffer.concat([Buffer.from([1]), Buffer.alloc(44, 0xab)]);
    expect(failMessage(open(asBase64Body(minimal)))).toBe(MSG.key);
  });

  it.each([0, 2, 0x70, 0xff])('wrong version byte %i', (version) => {
    const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: NOW });
    bytes[0] = version;
    const message = failMessage(open(asBase64Body(bytes)));
    expect(message).toContain(`received ${version}, must be 1`);
    expect(message).toBe(MSG.version(version));
  });

  it('wrong secret', () => {
    const { bytes } = sealRequest(OTHER, PAYLOAD, { nowMs: NOW });
    expect(failMessage(open(asBase64Body(bytes)))).toBe(MSG.key);
    expect(failMessage(open(bytes, true))).toBe(MSG.key);
  });

  it.each([0, 1_000, 59_999, 60_000, 90_000, 119_000, 119_999])('drift of %i ms (past and future) is accepted', (drift) => {
    for (const ts of [NOW - drift, NOW + drift]) {
      const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: ts, nonce: NONCE });
      expect(open(asBase64Body(bytes))).toEqual({ ok: true, payload: PAYLOAD, nonce: NONCE, timestampMs: ts });
    }
  });

  it.each([120_000, 121_000, 180_000, 3_600_000, NOW])('drift of %i ms (past and future) is rejected', (drift) => {
    for (const ts of [NOW - drift, NOW + drift]) {
      const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: ts });
      expect(failMessage(open(asBase64Body(bytes)))).toBe(MSG.timestamp);
    }
  });

  it('drift boundary holds for any drift (property): < 120 s accepted, ≥ 120 s rejected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600_000 }), fc.boolean(), (drift, future) => {
        const ts = future ? NOW + drift : NOW - drift;
        const result = open(asBase64Body(sealRequest(SECRET, {}, { nowMs: ts }).bytes));
        if (drift < 120_000) expect(result).toMatchObject({ ok: true, timestampMs: ts });
        else expect(failMessage(result)).toBe(MSG.timestamp);
      }),
      { seed: 2026, numRuns: 200 },
    );
  });

  it.each(['not json', '{"email":', "{'email':'x'}", '\u0000'])('not-JSON payload %j', (text) => {
    const envelope = Buffer.concat([Buffer.from([1]), gcmEncrypt(SECRET, dataEnvelope(NOW, NONCE, Buffer.from(text)))]);
    expect(failMessage(open(asBase64Body(envelope)))).toBe(MSG.json);
  });

  it('a 16-byte data envelope (no JSON) gives payload null', () => {
    const { bytes } = sealRequest(SECRET, undefined, { nowMs: NOW, nonce: NONCE });
    expect(open(asBase64Body(bytes))).toEqual({ ok: true, payload: null, nonce: NONCE, timestampMs: NOW });
    expect(open(bytes, true)).toEqual({ ok: true, payload: null, nonce: NONCE, timestampMs: NOW });
  });

  it('octet-stream: raw bytes are accepted, and base64 text is the fallback', () => {
    const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: NOW, nonce: NONCE });
    const expected = { ok: true, payload: PAYLOAD, nonce: NONCE, timestampMs: NOW };
    expect(open(bytes, true)).toEqual(expected);
    expect(open(asBase64Body(bytes), true)).toEqual(expected);
  });

  // UID2-SPEC §2.2 says raw bytes are accepted with base64 as the *fallback*, and O (V2RequestUtil.parseRequest at
  // ac64c26b) keeps the binary parse error when the fallback is not base64. harness/wire/envelope.ts instead picks
  // raw-vs-base64 by the first byte, so a raw envelope with a wrong version byte is reported as "not valid base64".
  it('octet-stream: a raw envelope with a wrong version byte reports the version, not base64', () => {
    const { bytes } = sealRequest(SECRET, PAYLOAD, { nowMs: NOW });
    bytes[0] = 2;
    expect(failMessage(open(bytes, true))).toBe(MSG.version(2));
  });

  it('octet-stream: the errors after decoding are the same as for base64', () => {
    const short = Buffer.concat([Buffer.from([1]), Buffer.alloc(20)]);
    expect(failMessage(open(short, true))).toBe(MSG.tooShort);
    const notJson = Buffer.concat([Buffer.from([1]), gcmEncrypt(SECRET, dataEnvelope(NOW, NONCE, Buffer.from('x')))]);
    expect(failMessage(open(notJson, true))).toBe(MSG.json);
    const old = sealRequest(SECRET, PAYLOAD, { nowMs: NOW - 600_000 }).bytes;
    expect(failMessage(open(old, true))).toBe(MSG.timestamp);
  });
});

// ------------------------------------------------------------------------------------------------
describe('decodeBase64Strict', () => {
  it.each([
    ['Zm9v', 'foo'],
    ['Zm8=', 'fo'],
    ['Zm8', 'fo'], // padding is optional
    ['Zg==', 'f'],
    ['Zg', 'f'],
    ['', ''],
    ['+/+/', '\u00fb\u00ff\u00bf'],
  ])('accepts %j', (text, latin1) => {
    expect(decodeBase64Strict(text)?.toString('latin1')).toBe(latin1);
  });

  it.each([
    'Zm9v!', // junk character
    'Zm 9v', // inner space
    'Zm9v\n', // trailing newline (callers trim first)
    'Zm9v===', // too much padding
    'Zm=9v', // padding in the middle
    'Zm9-', // base64url
    'Zm_v',
    'Zm9vY', // length ≡ 1 (mod 4)
    'Zm8==', // padded to a non-multiple of 4
    'Zg=', // padded to a non-multiple of 4
    '=',
    '====',
    'Zm9v.Zm9v',
    '{"a":1}',
  ])('rejects %j, which Buffer.from would decode to something', (text) => {
    expect(decodeBase64Strict(text)).toBeUndefined();
    if (text !== '=' && text !== '====') expect(Buffer.from(text, 'base64').length).toBeGreaterThan(0);
  });

  it('decodes every canonical base64 string (padded or not) back to its bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (raw) => {
        const bytes = Buffer.from(raw);
        const padded = bytes.toString('base64');
        expect(decodeBase64Strict(padded)?.equals(bytes)).toBe(true);
        expect(decodeBase64Strict(padded.replace(/=+$/, ''))?.equals(bytes)).toBe(true);
      }),
      { seed: 64, numRuns: 200 },
    );
  });

  it('agrees with the plain strict-alphabet rule on any text (the canonical fast path changes nothing)', () => {
    const byRule = (text: string) =>
      /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 !== 1 && !(text.includes('=') && text.length % 4 !== 0)
        ? Buffer.from(text, 'base64')
        : undefined;
    const nearBase64 = fc.string({ unit: fc.constantFrom(...'ABCQgw+/=-_ \n!'.split('')), maxLength: 12 });
    const canonical = fc.uint8Array({ maxLength: 40 }).map((raw) => Buffer.from(raw).toString('base64'));
    fc.assert(
      fc.property(fc.oneof(nearBase64, canonical, fc.string()), (text) => {
        const expected = byRule(text);
        const actual = decodeBase64Strict(text);
        expect(actual === undefined).toBe(expected === undefined);
        if (expected) expect(actual?.equals(expected)).toBe(true);
      }),
      { seed: 65, numRuns: 2000 },
    );
  });

  it('rejects base64 with any foreign character inserted anywhere', () => {
    const foreign = fc
      .integer({ min: 0, max: 0xff })
      .map((c) => String.fromCharCode(c))
      .filter((c) => !/[A-Za-z0-9+/=]/.test(c));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), foreign, fc.nat(), (raw, ch, posSeed) => {
        const text = Buffer.from(raw).toString('base64');
        const pos = posSeed % (text.length + 1);
        expect(decodeBase64Strict(text.slice(0, pos) + ch + text.slice(pos))).toBeUndefined();
      }),
      { seed: 65, numRuns: 200 },
    );
  });
});

// ------------------------------------------------------------------------------------------------
describe('properties (fixed seeds)', () => {
  // Request payloads are JSON objects (O parses them with `new JsonObject(...)`); responses may carry any JSON.
  it('any JSON object round-trips through a request; any JSON value through both response forms', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (value, object, nonceRaw) => {
        const expected = JSON.parse(JSON.stringify(value)) as unknown; // -0 becomes 0 on the wire
        const expectedObject = JSON.parse(JSON.stringify(object)) as unknown;
        const nonce = Buffer.from(nonceRaw);
        const sealed = sealRequest(SECRET, object, { nowMs: NOW, nonce });
        const opened = open(asBase64Body(sealed.bytes));
        expect(opened).toEqual({ ok: true, payload: expectedObject, nonce, timestampMs: NOW });
        expect(open(sealed.bytes, true)).toEqual({ ok: true, payload: expectedObject, nonce, timestampMs: NOW });
        expect(openResponse(SECRET, sealResponse(SECRET, nonce, value, NOW).toString('base64'), nonce)).toEqual(expected);
        expect(openBareResponse(SECRET, sealBareResponse(SECRET, value))).toEqual(expected);
      }),
      { seed: 1001, numRuns: 200 },
    );
  });

  it('flipping any single byte of a sealed request makes openRequest fail (never ok)', () => {
    const sealed = sealRequest(SECRET, PAYLOAD, { nowMs: NOW, nonce: NONCE }).bytes;
    fc.assert(
      fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (pos, mask, octet) => {
        const bytes = Buffer.from(sealed);
        bytes[pos] = bytes[pos]! ^ mask;
        const result = open(octet ? bytes : asBase64Body(bytes), octet);
        expect(result.ok).toBe(false);
        if (pos > 0) expect(failMessage(result)).toBe(MSG.key);
        else if (!octet) expect(failMessage(result)).toBe(MSG.version(bytes[0]!));
      }),
      { seed: 4242, numRuns: 300 },
    );
  });

  it('every position of a sealed request is covered: exhaustive sweep with mask 0x01 and 0x80', () => {
    const sealed = sealRequest(SECRET, PAYLOAD, { nowMs: NOW, nonce: NONCE }).bytes;
    for (let pos = 0; pos < sealed.length; pos++) {
      for (const mask of [0x01, 0x80]) {
        const bytes = Buffer.from(sealed);
        bytes[pos] = bytes[pos]! ^ mask;
        expect(failMessage(open(asBase64Body(bytes)))).toBe(pos === 0 ? MSG.version(bytes[0]!) : MSG.key);
      }
    }
  });

  it('flipping any single byte of a sealed response makes openResponse throw EnvelopeError auth_failed', () => {
    const sealed = sealResponse(SECRET, NONCE, { status: 'success', body: { mapped: [] } }, NOW);
    fc.assert(
      fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const bytes = Buffer.from(sealed);
        bytes[pos] = bytes[pos]! ^ mask;
        expect(envelopeError(() => openResponse(SECRET, bytes, NONCE)).reason).toBe('auth_failed');
        expect(envelopeError(() => openResponse(SECRET, bytes.toString('base64'), NONCE)).reason).toBe('auth_failed');
      }),
      { seed: 4343, numRuns: 300 },
    );
  });

  it('flipping any single byte of a bare response makes openBareResponse throw auth_failed', () => {
    const sealed = sealBareResponse(SECRET, { status: 'optout' });
    fc.assert(
      fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const bytes = Buffer.from(sealed);
        bytes[pos] = bytes[pos]! ^ mask;
        expect(envelopeError(() => openBareResponse(SECRET, bytes)).reason).toBe('auth_failed');
      }),
      { seed: 4444, numRuns: 150 },
    );
  });

  it('gcmDecrypt rejects truncation at any length', () => {
    const blob = gcmEncrypt(SECRET, Buffer.from('{"status":"optout"}'));
    for (let len = 0; len < blob.length; len++) {
      expect(() => gcmDecrypt(SECRET, blob.subarray(0, len))).toThrow(GcmAuthError);
    }
    expect(gcmDecrypt(SECRET, blob).toString()).toBe('{"status":"optout"}');
  });
});
