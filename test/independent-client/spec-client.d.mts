// Type declarations for spec-client.mjs (plain JavaScript, so the strict TypeScript test can use it).

export interface Conn {
  baseUrl: string;
  apiKey?: string;
  clientSecret?: string;
}

export interface Result {
  httpStatus: number;
  contentType: string | null;
  /** true when the answer was an encrypted 200 that this client decrypted */
  encrypted: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text?: string;
  parseError?: string;
  serverTimestamp?: number;
}

export interface EncryptedOptions {
  octet?: boolean;
  apiKey?: string;
  clientSecret?: string;
  timestamp?: number;
  nonce?: Buffer;
  noAuth?: boolean;
}

export type Identity =
  | { email: string }
  | { email_hash: string }
  | { phone: string }
  | { phone_hash: string }
  | Record<string, unknown>;

export interface CstgOptions {
  serverPublicKey: string;
  subscriptionId: string;
  timestamp?: number;
  appName?: string;
  origin?: string;
  /** a request `timestamp` different from the one bound into the AAD (negative tests) */
  requestTimestamp?: number;
}

export function gcmSeal(key: Buffer, plain: Buffer, opts?: { iv?: Buffer; aad?: Buffer }): { iv: Buffer; ct: Buffer; tag: Buffer };
export function gcmOpen(key: Buffer, bytes: Buffer, opts?: { aad?: Buffer }): Buffer;
export function sealRequest(
  clientSecretB64: string,
  payload: unknown,
  opts?: { timestamp?: number; nonce?: Buffer; iv?: Buffer },
): { envelope: Buffer; body: string; nonce: Buffer; timestamp: number };
export function openResponse(
  clientSecretB64: string,
  bytes: Buffer,
  expectedNonce?: Buffer,
): { serverTimestamp: number; nonce: Buffer; json: unknown };
export function openBareResponse(key: Buffer, bytes: Buffer): unknown;

export function normalizeEmail(input: string): string | null;
export function isValidPhone(input: string): boolean;
export function sha256(text: string): Buffer;
export function sha256Base64(text: string): string;
export function sha256Hex(text: string): string;
export function emailHashBase64(email: string): string;
export function emailHashHex(email: string): string;
export function phoneHashBase64(phone: string): string;

export function postEncrypted(conn: Conn, path: string, payload: unknown, opts?: EncryptedOptions): Promise<Result>;
export function postRaw(conn: Conn, path: string, body: string | Buffer, headers?: Record<string, string>): Promise<Result>;

export function generate(conn: Conn, identity: Identity, opts?: EncryptedOptions): Promise<Result>;
export function refresh(
  conn: Conn,
  refreshToken: string,
  refreshResponseKeyB64: string,
  opts?: { octet?: boolean; apiKey?: string },
): Promise<Result>;
export function identityMapV2(conn: Conn, request: Record<string, unknown>, opts?: EncryptedOptions): Promise<Result>;
export function identityMapV3(conn: Conn, request: Record<string, unknown>, opts?: EncryptedOptions): Promise<Result>;
export function optoutStatus(conn: Conn, advertisingIds: string[], opts?: EncryptedOptions): Promise<Result>;
export function logout(conn: Conn, identity: Identity, opts?: EncryptedOptions): Promise<Result>;
export function validate(conn: Conn, token: string, identity: Identity, opts?: EncryptedOptions): Promise<Result>;
export function clientGenerate(
  conn: Conn,
  hashed: { email_hash: string } | { phone_hash: string },
  cstg: CstgOptions,
): Promise<Result>;
