// Advertising token v4 (harness/wire/advertising-token.ts) against UID2-TOKEN-FORMAT §1:
// outer layout §1.1, prefix §1.2, master payload §1.3, site payload §1.4, sizes §1.7; decode failures as in §2.2.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  decodeAdvertisingToken,
  encodeAdvertisingToken,
  PRIVACY_BITS_CSTG,
  PRIVACY_BITS_SERVER,
  TOKEN_VERSION_V4,
  type AdvertisingTokenFields,
  type DecodedToken,
  type TokenKey,
} from '../../harness/wire/advertising-token.ts';
import { gcmDecrypt } from '../../harness/wire/gcm.ts';

const secret = (label: string): Buffer => createHash('sha256').update(label).digest();
const MASTER: TokenKey = { id: 101, secret: secret('master') };
const SITE: TokenKey = { id: 2001, secret: secret('site') };
const keyring = (...keys: TokenKey[]) => (id: number): Buffer | undefined => keys.find((k) => k.id === id)?.secret;
const BOTH = keyring(MASTER, SITE);

const NOW = Date.UTC(2026, 7, 1, 12, 0, 0);
const RAW32 = createHash('sha256').update('user@example.com').digest();
const RAW33 = Buffer.concat([Buffer.from([0x05]), createHash('sha256').update('+12345678901').digest()]);

function fields(overrides: Partial<AdvertisingTokenFields> = {}): AdvertisingTokenFields {
  return {
    kind: 'email',
    scope: 'UID2',
    siteId: 123,
    privacyBits: PRIVACY_BITS_SERVER,
    expiresMs: NOW + 259_200_000,
    generatedMs: NOW,
    establishedMs: NOW - 86_400_000,
    rawUid: RAW32,
    ...overrides,
  };
}

function decodedOk(result: DecodedToken): Extract<DecodedToken, { ok: true }> {
  if (!result.ok) throw new Error(`decode failed: ${result.failure}`);
  return result;
}

const toStandardBase64 = (token: string, padded = true): string => {
  const std = Buffer.from(token, 'base64url').toString('base64');
  return padded ? std : std.replace(/=+$/, '');
};

// ------------------------------------------------------------------------------------------------
describe('round trip', () => {
  it.each([
    ['email', 'UID2', RAW32, PRIVACY_BITS_SERVER],
    ['email', 'UID2', RAW33, PRIVACY_BITS_CSTG],
    ['phone', 'UID2', RAW32, PRIVACY_BITS_CSTG],
    ['phone', 'UID2', RAW33, PRIVACY_BITS_SERVER],
    ['email', 'EUID', RAW33, PRIVACY_BITS_SERVER],
    ['phone', 'EUID', RAW32, PRIVACY_BITS_CSTG],
  ] as const)('%s / %s, %#: all fields survive', (kind, scope, rawUid, privacyBits) => {
    const input = fields({ kind, scope, rawUid, privacyBits });
    const decoded = decodedOk(decodeAdvertisingToken(encodeAdvertisingToken(input, MASTER, SITE), BOTH));
    expect(decoded.masterKeyId).toBe(101);
    expect(decoded.siteKeyId).toBe(2001);
    expect(decoded.fields).toEqual(input);
    expect(decoded.fields.rawUid.equals(rawUid)).toBe(true);
  });

  it('privacy bit constants are 1 (server side) and 3 (CSTG) per §1.4', () => {
    expect(PRIVACY_BITS_SERVER).toBe(1);
    expect(PRIVACY_BITS_CSTG).toBe(3);
    expect(TOKEN_VERSION_V4).toBe(0x80);
  });

  it('decoding accepts the standard base64 alphabet, padded or not', () => {
    // Find a token whose base64url text really uses '-' or '_' so the alphabets differ.
    let token = '';
    let input = fields();
    for (let i = 0; i < 50 && !/[-_]/.test(token); i++) {
      input = fields({ siteId: 1000 + i });
      token = encodeAdvertisingToken(input, MASTER, SITE);
    }
    expect(token).toMatch(/[-_]/);
    const standard = toStandardBase64(token);
    expect(standard).toMatch(/[+/]/);
    expect(standard.endsWith('=')).toBe(true); // 163 bytes → 1 pad char
    expect(decodedOk(decodeAdvertisingToken(standard, BOTH)).fields).toEqual(input);
    expect(decodedOk(decodeAdvertisingToken(toStandardBase64(token, false), BOTH)).fields).toEqual(input);
    expect(decodedOk(decodeAdvertisingToken(token, BOTH)).fields).toEqual(input);
  });
});

// ------------------------------------------------------------------------------------------------
describe('byte layout (§1.1, §1.3, §1.4)', () => {
  it('outer header, master payload and site payload carry the documented values at the documented offsets', () => {
    const input = fields({ siteId: 777, privacyBits: PRIVACY_BITS_CSTG });
    const bytes = Buffer.from(encodeAdvertisingToken(input, MASTER, SITE), 'base64url');
    expect(bytes[0]).toBe(0x03);
    expect(bytes[1]).toBe(0x80);
    expect(bytes.readInt32BE(2)).toBe(101);

    const master = gcmDecrypt(MASTER.secret, bytes.subarray(6));
    expect(master.length).toBe(129);
    expect(Number(master.readBigInt64BE(0))).toBe(input.expiresMs);
    expect(Number(master.readBigInt64BE(8))).toBe(input.generatedMs);
    expect(master.readInt32BE(16)).toBe(0); // operator site id
    expect(master[20]).toBe(1); // operator type Service
    expect(master.readInt32BE(21)).toBe(0); // operator version
    expect(master.readInt32BE(25)).toBe(0); // operator key id
    expect(master.readInt32BE(29)).toBe(2001); // site key id

    const site = gcmDecrypt(SITE.secret, master.subarray(33));
    expect(site.length).toBe(68);
    expect(site.readInt32BE(0)).toBe(777);
    expect(site.subarray(4, 16).equals(Buffer.alloc(12))).toBe(true); // publisher id, client key id
    expect(site.readInt32BE(16)).toBe(3);
    expect(Number(site.readBigInt64BE(20))).toBe(input.establishedMs);
    expect(Number(site.readBigInt64BE(28))).toBe(input.generatedMs); // refreshed = generated
    expect(site.subarray(36).equals(RAW32)).toBe(true);
  });

  it.each([
    [RAW32, 163, 218, 129, 68],
    [RAW33, 164, 219, 130, 69],
  ])('sizes §1.7: raw UID %#: %i bytes, %i base64url chars', (rawUid, bytesLen, chars, masterLen, siteLen) => {
    const token = encodeAdvertisingToken(fields({ rawUid }), MASTER, SITE);
    expect(token).toHaveLength(chars);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
    const bytes = Buffer.from(token, 'base64url');
    expect(bytes.length).toBe(bytesLen);
    expect(bytes.length - 6).toBe(masterLen + 28); // outer GCM blob 157 / 158
    const master = gcmDecrypt(MASTER.secret, bytes.subarray(6));
    expect(master.length).toBe(masterLen);
    expect(master.length - 33).toBe(siteLen + 28); // inner GCM blob 96 / 97
    expect(gcmDecrypt(SITE.secret, master.subarray(33)).length).toBe(siteLen);
  });
});

// ------------------------------------------------------------------------------------------------
describe('prefix (§1.2)', () => {
  it.each([
    ['UID2', 'email', 0x03, 'A4A'],
    ['UID2', 'phone', 0x07, 'B4'],
    ['EUID', 'email', 0x13, 'E4'],
    ['EUID', 'phone', 0x17, 'F4'],
  ] as const)('%s %s → prefix byte %i, text starts %s', (scope, kind, byte, start) => {
    for (const rawUid of [RAW32, RAW33]) {
      const token = encodeAdvertisingToken(fields({ scope, kind, rawUid }), MASTER, SITE);
      expect(token.startsWith(start)).toBe(true);
      expect(Buffer.from(token, 'base64url')[0]).toBe(byte);
    }
  });

  it('the documented example header `A4AAAABl` is prefix 0x03, version 0x80, master key id 101', () => {
    const token = encodeAdvertisingToken(fields(), MASTER, SITE);
    expect(token.startsWith('A4AAAABl')).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
describe('decode failures', () => {
  const token = encodeAdvertisingToken(fields(), MASTER, SITE);

  it('a master key id nobody knows → unknown_master_key', () => {
    const other = encodeAdvertisingToken(fields(), { id: 9999, secret: MASTER.secret }, SITE);
    expect(decodeAdvertisingToken(other, BOTH)).toEqual({ ok: false, failure: 'unknown_master_key' });
    expect(decodeAdvertisingToken(token, keyring(SITE))).toEqual({ ok: false, failure: 'unknown_master_key' });
  });

  it('a site key id nobody knows → unknown_site_key', () => {
    expect(decodeAdvertisingToken(token, keyring(MASTER))).toEqual({ ok: false, failure: 'unknown_site_key' });
  });

  it('a known id with the wrong secret → invalid_payload', () => {
    const wrongMaster = keyring({ id: 101, secret: secret('x') }, SITE);
    expect(decodeAdvertisingToken(token, wrongMaster)).toEqual({ ok: false, failure: 'invalid_payload' });
    const wrongSite = keyring(MASTER, { id: 2001, secret: secret('y') });
    expect(decodeAdvertisingToken(token, wrongSite)).toEqual({ ok: false, failure: 'invalid_payload' });
  });

  it('a tampered byte in the encrypted part → invalid_payload', () => {
    for (const pos of [6, 17, 40, 100, 162]) {
      const bytes = Buffer.from(token, 'base64url');
      bytes[pos] = bytes[pos]! ^ 0x01;
      expect(decodeAdvertisingToken(bytes.toString('base64url'), BOTH)).toEqual({ ok: false, failure: 'invalid_payload' });
    }
  });

  it('a v3 version byte (0x70) and other version bytes → version_not_supported', () => {
    for (const version of [0x70, 0x02, 0x00, 0x81]) {
      const bytes = Buffer.from(token, 'base64url');
      bytes[1] = version;
      const expected = { ok: false, failure: 'version_not_supported' };
      expect(decodeAdvertisingToken(bytes.toString('base64'), BOTH)).toEqual(expected); // v3 uses standard base64
      expect(decodeAdvertisingToken(bytes.toString('base64url'), BOTH)).toEqual(expected);
    }
  });

  it('truncated or empty tokens → invalid_payload', () => {
    const bytes = Buffer.from(token, 'base64url');
    for (const len of [0, 6, 33, 34, 100, 162]) {
      expect(decodeAdvertisingToken(bytes.subarray(0, len).toString('base64url'), BOTH)).toEqual({
        ok: false,
        failure: 'invalid_payload',
      });
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('properties (fixed seeds)', () => {
  const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
  const ms = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const fieldsArb = fc.record({
    kind: fc.constantFrom('email' as const, 'phone' as const),
    scope: fc.constantFrom('UID2' as const, 'EUID' as const),
    siteId: int32,
    privacyBits: fc.oneof(fc.constantFrom(PRIVACY_BITS_SERVER, PRIVACY_BITS_CSTG), int32),
    expiresMs: ms,
    generatedMs: ms,
    establishedMs: ms,
    rawUid: fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 33, maxLength: 33 }),
    ).map((a) => Buffer.from(a)),
  });
  const keysArb = fc
    .tuple(int32, int32, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }))
    .filter(([m, s]) => m !== s)
    .map(([m, s, ms_, ss]) => [{ id: m, secret: Buffer.from(ms_) }, { id: s, secret: Buffer.from(ss) }] as const);

  const START = { 'UID2/email': 'A4', 'UID2/phone': 'B4', 'EUID/email': 'E4', 'EUID/phone': 'F4' } as const;

  it('random field values and keys round-trip, with the documented size and prefix', () => {
    fc.assert(
      fc.property(fieldsArb, keysArb, (input, [master, site]) => {
        const token = encodeAdvertisingToken(input, master, site);
        expect(token).toHaveLength(input.rawUid.length === 32 ? 218 : 219);
        expect(token.startsWith(START[`${input.scope}/${input.kind}`])).toBe(true);
        const decoded = decodedOk(decodeAdvertisingToken(token, keyring(master, site)));
        expect(decoded.masterKeyId).toBe(master.id);
        expect(decoded.siteKeyId).toBe(site.id);
        expect(decoded.fields).toEqual(input);
        expect(decodedOk(decodeAdvertisingToken(toStandardBase64(token), keyring(master, site))).fields).toEqual(input);
      }),
      { seed: 16300, numRuns: 150 },
    );
  });

  it('flipping any byte at or after offset 6 → invalid_payload; of the master key id → unknown_master_key', () => {
    const input = fields({ rawUid: RAW33 });
    const bytes0 = Buffer.from(encodeAdvertisingToken(input, MASTER, SITE), 'base64url');
    fc.assert(
      fc.property(fc.integer({ min: 2, max: bytes0.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const bytes = Buffer.from(bytes0);
        bytes[pos] = bytes[pos]! ^ mask;
        const expected = pos < 6 ? 'unknown_master_key' : 'invalid_payload';
        expect(decodeAdvertisingToken(bytes.toString('base64url'), BOTH)).toEqual({ ok: false, failure: expected });
      }),
      { seed: 16400, numRuns: 250 },
    );
  });
});
