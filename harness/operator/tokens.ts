// Token issuing for the simulated operator: v4 advertising tokens under a master and a site key
// (UID2-TOKEN-FORMAT §1, §5) and the 388-character wrapped refresh token (UID2-SPEC §2.5).
import { encodeAdvertisingToken, decodeAdvertisingToken, type TokenKey } from '../wire/advertising-token.ts';
import { readInt64BE, writeInt64BE, zeroed } from '../wire/bytes.ts';
import { decodeBase64Strict, gcmDecrypt, gcmEncryptAfter, randomKey, secureRandom } from '../wire/gcm.ts';
import type { DiiKind } from '../wire/dii.ts';
import type { IdentityBody } from '../wire/identity.ts';

export const WRAPPED_REFRESH_TOKEN_LENGTH = 388;
/** The inner token length that makes the wrapped token exactly 388 base64 chars (291 bytes). */
const INNER_TOKEN_BYTES = 126;
const INNER_VERSION = 1;

export interface TokenLifetimes {
  refreshAfterMs: number;
  identityExpiresAfterMs: number;
  refreshExpiresAfterMs: number;
}

/** What a refresh token carries: enough to re-check opt-out and issue the next identity. */
export interface RefreshClaims {
  kind: DiiKind;
  privacyBits: number;
  siteId: number;
  establishedMs: number;
  refreshExpiresMs: number;
  firstLevel: Buffer;
  /** Identifies the token itself (for the replay-cache fault) */
  tokenId: string;
}

/** What a generate or refresh issues: the identity body of the success answer. */
export type IssuedIdentity = IdentityBody;

export interface KeyInfo extends TokenKey {
  createdS: number;
  activatesS: number;
  expiresS: number;
}

export type UnwrapResult = { ok: true; claims: RefreshClaims; responseKey: Buffer } | { ok: false; message: string };

export class TokenService {
  readonly masterKey: KeyInfo;
  readonly siteKey: KeyInfo;
  private readonly refreshKey: TokenKey;
  /** Told every identity issued (the kit's operator in participant runs: its run scrubber learns the tokens). */
  onIssued?: (identity: IssuedIdentity) => void;

  constructor(
    readonly lifetimes: TokenLifetimes,
    nowMs: number,
  ) {
    const nowS = Math.floor(nowMs / 1000);
    const key = (id: number): KeyInfo => ({ id, secret: randomKey(), createdS: nowS, activatesS: nowS, expiresS: nowS + 30 * 86400 });
    this.masterKey = key(1001);
    this.siteKey = key(2001);
    this.refreshKey = { id: 3001, secret: randomKey() };
  }

  keySecret(id: number): Buffer | undefined {
    return [this.masterKey, this.siteKey].find((k) => k.id === id)?.secret;
  }

  issue(input: { kind: DiiKind; siteId: number; privacyBits: number; establishedMs: number; firstLevel: Buffer; rawUid: Buffer }, nowMs: number): IssuedIdentity {
    const identityExpires = nowMs + this.lifetimes.identityExpiresAfterMs;
    const refreshExpires = nowMs + this.lifetimes.refreshExpiresAfterMs;
    const advertising = encodeAdvertisingToken(
      {
        kind: input.kind,
        scope: 'UID2',
        siteId: input.siteId,
        privacyBits: input.privacyBits,
        expiresMs: identityExpires,
        generatedMs: nowMs,
        establishedMs: input.establishedMs,
        rawUid: input.rawUid,
      },
      this.masterKey,
      this.siteKey,
    );
    const responseKey = randomKey();
    const claims: RefreshClaims = {
      kind: input.kind,
      privacyBits: input.privacyBits,
      siteId: input.siteId,
      establishedMs: input.establishedMs,
      refreshExpiresMs: refreshExpires,
      firstLevel: input.firstLevel,
      tokenId: secureRandom(8).toString('hex'),
    };
    const issued: IssuedIdentity = {
      advertising_token: advertising,
      refresh_token: this.wrap(claims, responseKey),
      identity_expires: identityExpires,
      refresh_from: nowMs + this.lifetimes.refreshAfterMs,
      refresh_expires: refreshExpires,
      refresh_response_key: responseKey.toString('base64'),
    };
    this.onIssued?.(issued);
    return issued;
  }

  decodeAdvertising(token: string): ReturnType<typeof decodeAdvertisingToken> {
    return decodeAdvertisingToken(token, (id) => this.keySecret(id));
  }

  /** scope(0x00) ‖ key id ‖ GCM(refresh key, {"refresh_response_key","refresh_token"}) as base64 (§2.5). */
  private wrap(claims: RefreshClaims, responseKey: Buffer): string {
    const inner = zeroed(INNER_TOKEN_BYTES);
    let at = inner.writeUInt8(INNER_VERSION, 0);
    at = inner.writeUInt8(claims.kind === 'phone' ? 1 : 0, at);
    at = inner.writeInt32BE(claims.privacyBits, at);
    at = inner.writeInt32BE(claims.siteId, at);
    at = writeInt64BE(inner, claims.establishedMs, at);
    at = writeInt64BE(inner, claims.refreshExpiresMs, at);
    at += claims.firstLevel.copy(inner, at);
    inner.write(claims.tokenId, at, 'hex'); // the rest stays zero padding
    const json = JSON.stringify({ refresh_response_key: responseKey.toString('base64'), refresh_token: inner.toString('base64') });
    const head = Buffer.allocUnsafe(5);
    head.writeUInt8(0x00, 0);
    head.writeInt32BE(this.refreshKey.id, 1);
    return gcmEncryptAfter(head, this.refreshKey.secret, Buffer.from(json, 'utf8')).toString('base64');
  }

  /** Parses a 388-char wrapped refresh token, with the operator's error messages (UID2-SPEC §1.2). */
  unwrap(text: string): UnwrapResult {
    const bytes = decodeBase64Strict(text);
    if (!bytes) return { ok: false, message: 'Invalid body: Body is not valid base64.' };
    const keyId = bytes.readInt32BE(1);
    if (keyId !== this.refreshKey.id) return { ok: false, message: `Invalid key: Generator of this token (Key ID: ${keyId}) does not exist.` };
    let wrapped: { refresh_response_key?: unknown; refresh_token?: unknown };
    try {
      wrapped = JSON.parse(gcmDecrypt(this.refreshKey.secret, bytes.subarray(5)).toString('utf8'));
    } catch {
      return { ok: false, message: 'Invalid data: the refresh token does not decrypt.' };
    }
    const responseKey = typeof wrapped.refresh_response_key === 'string' ? decodeBase64Strict(wrapped.refresh_response_key) : undefined;
    const inner = typeof wrapped.refresh_token === 'string' ? decodeBase64Strict(wrapped.refresh_token) : undefined;
    if (!responseKey || responseKey.length !== 32 || !inner || inner.length !== INNER_TOKEN_BYTES || inner[0] !== INNER_VERSION) {
      return { ok: false, message: 'Invalid format: the refresh token payload is malformed.' };
    }
    return {
      ok: true,
      responseKey,
      claims: {
        kind: inner[1] === 1 ? 'phone' : 'email',
        privacyBits: inner.readInt32BE(2),
        siteId: inner.readInt32BE(6),
        establishedMs: readInt64BE(inner, 10),
        refreshExpiresMs: readInt64BE(inner, 18),
        firstLevel: Buffer.from(inner.subarray(26, 58)),
        tokenId: inner.subarray(58, 66).toString('hex'),
      },
    };
  }
}
