// UID2 advertising token v4 (UID2-TOKEN-FORMAT §1): what the official server SDKs decrypt.
// Layout: prefix(1) ‖ version 0x80 ‖ master key id(int32) ‖ GCM(master key, master payload);
// master payload: expiry ms ‖ generated ms ‖ operator fields ‖ site key id ‖ GCM(site key, site payload).
import { readInt64BE, writeInt64BE, zeroed } from './bytes.ts';
import { gcmDecrypt, gcmEncrypt, gcmEncryptAfter, GcmAuthError } from './gcm.ts';
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
  const sitePayload = zeroed(36 + fields.rawUid.length);
  sitePayload.writeInt32BE(fields.siteId, 0);
  // publisher id (8) and client key id (4) stay 0
  sitePayload.writeInt32BE(fields.privacyBits, 16);
  writeInt64BE(sitePayload, fields.establishedMs, 20);
  writeInt64BE(sitePayload, fields.generatedMs, 28);
  fields.rawUid.copy(sitePayload, 36);
  const siteBlob = gcmEncrypt(site.secret, sitePayload);

  const masterPayload = zeroed(33 + siteBlob.length);
  writeInt64BE(masterPayload, fields.expiresMs, 0);
  writeInt64BE(masterPayload, fields.generatedMs, 8);
  // operator site id 0, operator type 1 (Service), operator version 0, operator key id 0
  masterPayload.writeUInt8(1, 20);
  masterPayload.writeInt32BE(site.id, 29);
  siteBlob.copy(masterPayload, 33);

  const header = Buffer.allocUnsafe(6);
  header.writeUInt8(prefixByte(fields.scope, fields.kind), 0);
  header.writeUInt8(TOKEN_VERSION_V4, 1);
  header.writeInt32BE(master.id, 2);
  return gcmEncryptAfter(header, master.secret, masterPayload).toString('base64url');
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
        expiresMs: readInt64BE(master, 0),
        generatedMs: readInt64BE(master, 8),
        siteId: site.readInt32BE(0),
        privacyBits: site.readInt32BE(16),
        establishedMs: readInt64BE(site, 20),
        rawUid: Buffer.from(site.subarray(36)),
      },
    };
  } catch (e) {
    if (e instanceof GcmAuthError) return { ok: false, failure: 'invalid_payload' };
    throw e;
  }
}
