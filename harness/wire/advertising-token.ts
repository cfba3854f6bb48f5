// UID2 advertising token v4 (UID2-TOKEN-FORMAT §1): what the official server SDKs decrypt.
// Layout: prefix(1) ‖ version 0x80 ‖ master key id(int32) ‖ GCM(master key, master payload);
// master payload: expiry ms ‖ generated ms ‖ operator fields ‖ site key id ‖ GCM(site key, site payload).
import { gcmDecrypt, gcmEncrypt, GcmAuthError } from './gcm.ts';
import type { DiiKind } from './dii.ts';

export const TOKEN_VERSION_V4 = 0x80;
export const PRIVACY_BITS_SERVER = 1;
export const PRIVACY_BITS_CSTG = 3;

export interface TokenKey {
  id: number;
  secret: Buffer;
}

export interface AdvertisingTokenFields {
  kind: DiiKind;
  scope: 'UID2' | 'EUID';
  siteId: number;
  privacyBits: number;
  expiresMs: number;
  generatedMs: number;
  establishedMs: number;
  /** Raw UID bytes (32 or 33). */
  rawUid: Buffer;
}

function prefixByte(scope: 'UID2' | 'EUID', kind: DiiKind): number {
  return ((scope === 'EUID' ? 1 : 0) << 4) | ((kind === 'phone' ? 1 : 0) << 2) | 3;
}

/** Encodes a v4 token as base64url without padding, as the operator emits it (§1.1). */
export function encodeAdvertisingToken(fields: AdvertisingTokenFields, master: TokenKey, site: TokenKey): string {
  const sitePayload = Buffer.alloc(36);
  sitePayload.writeInt32BE(fields.siteId, 0);
  // publisher id (8) and client key id (4) stay 0
  sitePayload.writeInt32BE(fields.privacyBits, 16);
  sitePayload.writeBigInt64BE(BigInt(fields.establishedMs), 20);
  sitePayload.writeBigInt64BE(BigInt(fields.generatedMs), 28);
  const siteBlob = gcmEncrypt(site.secret, Buffer.concat([sitePayload, fields.rawUid]));

  const masterPayload = Buffer.alloc(33);
  masterPayload.writeBigInt64BE(BigInt(fields.expiresMs), 0);
  masterPayload.writeBigInt64BE(BigInt(fields.generatedMs), 8);
  // operator site id 0, operator type 1 (Service), operator version 0, operator key id 0
  masterPayload.writeUInt8(1, 20);
  masterPayload.writeInt32BE(site.id, 29);
  const masterBlob = gcmEncrypt(master.secret, Buffer.concat([masterPayload, siteBlob]));

  const header = Buffer.alloc(6);
  header.writeUInt8(prefixByte(fields.scope, fields.kind), 0);
  header.writeUInt8(TOKEN_VERSION_V4, 1);
  header.writeInt32BE(master.id, 2);
  return Buffer.concat([header, masterBlob]).toString('base64url');
}

export type TokenDecodeFailure = 'invalid_payload' | 'version_not_supported' | 'unknown_master_key' | 'unknown_site_key';

export type DecodedToken =
  | { ok: true; fields: AdvertisingTokenFields; masterKeyId: number; siteKeyId: number }
  | { ok: false; failure: TokenDecodeFailure };

/** Decodes a v4 token (either base64 alphabet) with keys looked up by id only, as the SDKs do (§2.2). */
export function decodeAdvertisingToken(token: string, keyById: (id: number) => Buffer | undefined): DecodedToken {
  const bytes = Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length < 6 + 12 + 16) return { ok: false, failure: 'invalid_payload' };
  if (bytes[1] !== TOKEN_VERSION_V4) return { ok: false, failure: 'version_not_supported' };
  const prefix = bytes[0]!;
  const masterKeyId = bytes.readInt32BE(2);
  const masterSecret = keyById(masterKeyId);
  if (!masterSecret) return { ok: false, failure: 'unknown_master_key' };
  try {
    const master = gcmDecrypt(masterSecret, bytes.subarray(6));
    if (master.length < 33) return { ok: false, failure: 'invalid_payload' };
    const siteKeyId = master.readInt32BE(29);
    const siteSecret = keyById(siteKeyId);
    if (!siteSecret) return { ok: false, failure: 'unknown_site_key' };
    const site = gcmDecrypt(siteSecret, master.subarray(33));
    if (site.length < 36 + 32) return { ok: false, failure: 'invalid_payload' };
    return {
      ok: true,
      masterKeyId,
      siteKeyId,
      fields: {
        scope: (prefix >> 4) & 1 ? 'EUID' : 'UID2',
        kind: (prefix & 0x0f) >> 2 === 1 ? 'phone' : 'email',
        expiresMs: Number(master.readBigInt64BE(0)),
        generatedMs: Number(master.readBigInt64BE(8)),
        siteId: site.readInt32BE(0),
        privacyBits: site.readInt32BE(16),
        establishedMs: Number(site.readBigInt64BE(20)),
        rawUid: Buffer.from(site.subarray(36)),
      },
    };
  } catch (e) {
    if (e instanceof GcmAuthError) return { ok: false, failure: 'invalid_payload' };
    throw e;
  }
}
