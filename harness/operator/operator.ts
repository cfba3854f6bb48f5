// The simulated operator's endpoint logic (UID2-SPEC §1, §4, §5), free of HTTP plumbing (see http.ts).
// It is an implementation, written apart from the checks' oracle: the suites judge it, never reuse it.
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { PRIVACY_BITS_CSTG, PRIVACY_BITS_SERVER } from '../wire/advertising-token.ts';
import { DII_FIELDS, hashDii, InvalidDiiError, normalizeEmail, personKey, sha256, type DiiField, type HashedDii } from '../wire/dii.ts';
import { decodeBase64Strict, gcmDecrypt } from '../wire/gcm.ts';
import { CallLog, personsOf } from './call-log.ts';
import type { OperatorFaultName } from './faults.ts';
import { IdentityService } from './identities.ts';
import { OptOutStore } from './optout-store.ts';
import { TokenService, WRAPPED_REFRESH_TOKEN_LENGTH, type IssuedIdentity, type TokenLifetimes } from './tokens.ts';

export type Role = 'GENERATOR' | 'MAPPER' | 'SHARER' | 'ID_READER' | 'OPTOUT';

export interface Caller {
  apiKey: string;
  secret: Buffer;
  roles: ReadonlySet<Role>;
  siteId: number;
}

/** What an endpoint answers; http.ts turns it into bytes. */
export type Reply =
  | { kind: 'sealed'; payload: unknown } // HTTP 200 under the caller's secret, echoing the nonce
  | { kind: 'bare'; key: Buffer; payload: unknown } // HTTP 200 under a given key (refresh, CSTG)
  | { kind: 'plain'; http: number; payload?: unknown }; // any status as plain JSON (no body when payload is undefined)

export const MAX_BATCH = 5000;
const EXACTLY_ONE = 'Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified';
const ONE_OR_MORE = 'Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified';
const INVALID_TOKEN = { status: 'invalid_token', message: 'Invalid Token presented' };
/** A token established before this instant always answers optout on refresh (§1.2 step 2). */
const REFRESH_CUTOFF_MS = Date.UTC(2021, 2, 8, 17, 0, 0);
/** Placeholder identities of the legacy policy (§1.1), only minted by the `gen-legacy-policy` fault. */
const LEGACY_PLACEHOLDER = { email: sha256('optout@unifiedid.com'), phone: sha256('+00000000001') };

export const clientError = (message: string): Reply => ({ kind: 'plain', http: 400, payload: { status: 'client_error', message } });
const optoutReply: Reply = { kind: 'sealed', payload: { status: 'optout' } };
const success = (body: unknown): Reply => ({ kind: 'sealed', payload: { status: 'success', body } });

export interface CstgKeyPair {
  /** `UID2-X-L-<b64 SPKI>` as a publisher configures it in the SDK. */
  publicKey: string;
  privateKey: KeyObject;
  subscriptionId: string;
}

/** Conformant behaviours real operators show; the named variants (variants.ts) switch them on. */
export interface OperatorBehaviour {
  /** Repeated opt-outs of one UTC day report the latest time (the reference operator's day partitions, §1.4). */
  sameDayLatest?: boolean;
  /** A gateway's rate limit: past `requests` within `windowMs`, HTTP 429 with `Retry-After` and no body (§1.3, §8). */
  throttle?: { requests: number; windowMs: number };
  /** HTTP 500 answers carry `"message": ""`, as the reference operator's internal errors do. */
  emptyServerErrorMessage?: boolean;
}

export interface OperatorConfig {
  propagationDelayMs: number;
  behaviour?: OperatorBehaviour;
  lifetimes: TokenLifetimes;
  fault?: OperatorFaultName;
  cstg: CstgKeyPair;
  /** Origins allowed for CSTG; empty allows every origin. */
  cstgOrigins: readonly string[];
  now: () => number;
  /** Keep the call log (participant sessions judge from it). */
  recordCalls?: boolean;
  /**
   * Fleet mode: when this instance last synced its snapshot of the opt-out service, for a request at `nowMs`.
   * Each instance of a real operator refreshes its snapshot on its own timer (UID2-SPEC §1.4, §5.2), so it
   * answers from the opt-outs as they were then. Without it the instance reads the service live.
   */
  syncedAt?: (nowMs: number) => number;
}

/** Fault `flapping`: a redelivered opt-out is lost for every other half second. */
const FLAP_MS = 500;

export function generateCstgKeyPair(subscriptionId = `sub-${randomBytes(4).toString('hex')}`): CstgKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicKey: `UID2-X-L-${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`, privateKey, subscriptionId };
}

/** Rebuilds a CSTG key pair from a PKCS#8 private key (base64 DER) so that a fixed public key can be configured. */
export function cstgKeyPairFromPrivate(privateKeyBase64: string, subscriptionId: string): CstgKeyPair {
  const privateKey = createPrivateKey({ key: Buffer.from(privateKeyBase64, 'base64'), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return { publicKey: `UID2-X-L-${spki.toString('base64')}`, privateKey, subscriptionId };
}

/** The order of P-256's base point: a private key is an integer in [1, n - 1]. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * The kit operator's CSTG key pair and subscription id, derived from its client secret (HKDF-SHA256, a label per
 * value): a page server given the run's credentials (serve-pages) knows the public key without any secret
 * being printed, and the public values reveal nothing of the secret.
 */
export function cstgKeyPairFromSecret(clientSecret: string): CstgKeyPair {
  const derive = (label: string, bytes: number) => Buffer.from(hkdfSync('sha256', Buffer.from(clientSecret, 'utf8'), 'uid2-conformance', `cstg ${label}`, bytes));
  // 48 bytes reduced mod n - 1: every scalar about equally likely (bias below 2^-128), never 0.
  const scalar = (BigInt(`0x${derive('private key', 48).toString('hex')}`) % (P256_ORDER - 1n)) + 1n;
  const d = Buffer.from(scalar.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey(); // 04 ‖ x ‖ y
  const jwk = { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return { publicKey: `UID2-X-L-${spki.toString('base64')}`, privateKey, subscriptionId: `sub-${derive('subscription id', 4).toString('hex')}` };
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: Reply };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class SimulatedOperator {
  readonly identities: IdentityService;
  readonly store: OptOutStore;
  readonly tokens: TokenService;
  /** Fault `refresh-replay-cache`: first success answer per refresh token. */
  private readonly replayCache: Map<string, unknown>;
  /** Every call a participant made, attributed to the persons it concerns (participant suites judge it). */
  readonly calls: CallLog;
  /** The person behind each first-level hash the operator issued tokens for (refresh tokens carry only that). */
  private readonly personOfFirstLevel: Map<string, string>;

  /**
   * `peer`: another instance of the same fleet. The instances share what a real fleet shares: the salts, the
   * token keys (a token minted by one refreshes on another), the opt-out service that logouts write to, and
   * the logs; each keeps its own snapshot of the opt-outs (`config.syncedAt`).
   */
  constructor(
    readonly config: OperatorConfig,
    peer?: SimulatedOperator,
  ) {
    const fault = config.fault;
    this.identities = peer?.identities ?? new IdentityService({ docsTableTestPhones: fault === 'test-identities-docs-table' });
    this.store =
      peer?.store ??
      new OptOutStore({
        propagationDelayMs: config.propagationDelayMs,
        sameDayLatest: config.behaviour?.sameDayLatest,
        repeatResetsVisibility: fault === 'propagation-repeat-resets',
      });
    this.tokens = peer?.tokens ?? new TokenService(config.lifetimes, config.now());
    this.calls = peer?.calls ?? new CallLog(config.recordCalls ?? false);
    this.replayCache = peer?.replayCache ?? new Map();
    this.personOfFirstLevel = peer?.personOfFirstLevel ?? new Map();
  }

  /** The time this instance's snapshot of the opt-out service reflects. */
  private snapshotTime(nowMs: number): number {
    return this.config.syncedAt?.(nowMs) ?? nowMs;
  }

  /** Whether the snapshot holds an opt-out record for this first-level hash (§5.1: any record means opted out). */
  private inSnapshot(firstLevel: Buffer, nowMs: number): boolean {
    if (!this.store.isOptedOut(firstLevel, this.snapshotTime(nowMs))) return false;
    // A reload that merges the two deliveries of a redelivered opt-out drops both, on every other reload.
    return !(this.has('flapping') && this.store.isRedelivered(firstLevel) && Math.floor(nowMs / FLAP_MS) % 2 === 1);
  }

  private has(fault: OperatorFaultName): boolean {
    return this.config.fault === fault;
  }

  // ------------------------------------------------------------ DII handling

  /** Hashes one request value; three faults swap in a wrong email rule or a wrong hash decoding. */
  private hash(field: DiiField, value: unknown): HashedDii {
    if (field === 'email' && typeof value === 'string') {
      const wrong = this.has('forms-gmail-plus-kept') ? gmailWithTagKept(value) : this.has('forms-inner-spaces-kept') ? innerSpacesKept(value) : undefined;
      if (wrong) return { kind: 'email', hash: sha256(wrong) };
    }
    const dii = hashDii(field, value);
    if (this.has('isolation-hash-first-32-bytes') && dii.hash.length > 32) return { kind: dii.kind, hash: dii.hash.subarray(0, 32) };
    return dii;
  }

  /** The one DII of a generate, validate or logout payload; a JSON null counts as absent (§9). */
  private singleDii(payload: unknown, missing: Reply, invalid: Reply): Parsed<{ field: DiiField; dii: HashedDii }> {
    if (!isObject(payload)) return { ok: false, reply: missing };
    const present = DII_FIELDS.filter((f) => payload[f] !== undefined && payload[f] !== null);
    if (present.length !== 1) return { ok: false, reply: missing };
    const field = present[0]!;
    try {
      return { ok: true, value: { field, dii: this.hash(field, payload[field]) } };
    } catch (e) {
      if (e instanceof InvalidDiiError) return { ok: false, reply: invalid };
      throw e;
    }
  }

  /** Generate, CSTG and map: test identities first, then the store (§5.1). Refresh decides on its own. */
  private isOptedOut(dii: HashedDii, firstLevel: Buffer, nowMs: number): boolean {
    const test = this.identities.testBehavior(dii);
    if (test) return test === 'always-optout';
    return this.inSnapshot(firstLevel, nowMs);
  }

  private issue(dii: HashedDii, firstLevel: Buffer, siteId: number, privacyBits: number, establishedMs: number, nowMs: number): IssuedIdentity {
    if (this.calls.enabled) this.personOfFirstLevel.set(firstLevel.toString('base64'), personKey(dii));
    const rawUid = this.identities.rawUid(dii.kind, firstLevel);
    return this.tokens.issue({ kind: dii.kind, siteId, privacyBits, establishedMs, firstLevel, rawUid }, nowMs);
  }

  private rawUidOf(dii: HashedDii, firstLevel = this.identities.firstLevelHash(dii)): string {
    return this.identities.rawUid(dii.kind, firstLevel).toString('base64');
  }

  // ------------------------------------------------------------ endpoints

  /** POST /v2/token/generate (§1.1): optout_check is accepted and ignored; opt-out is always enforced. */
  generate(payload: unknown, caller: Caller): Reply {
    const now = this.config.now();
    const parsed = this.singleDii(payload, clientError(EXACTLY_ONE), clientError('Invalid Identifier'));
    if (!parsed.ok) return parsed.reply;
    const { field, dii } = parsed.value;
    const firstLevel = this.identities.firstLevelHash(dii);
    const skipCheck = field === 'email_hash' && this.has('gen-email-hash-skips-optout');
    if (!skipCheck && this.isOptedOut(dii, firstLevel, now)) {
      if (this.has('gen-legacy-policy') && isObject(payload) && payload.optout_check !== 1) {
        const placeholder: HashedDii = { kind: dii.kind, hash: LEGACY_PLACEHOLDER[dii.kind] };
        return success(this.issue(placeholder, this.identities.firstLevelHash(placeholder), caller.siteId, PRIVACY_BITS_SERVER, now, now));
      }
      if (this.has('gen-optout-leaks-uid')) return { kind: 'sealed', payload: { status: 'optout', body: { advertising_id: this.rawUidOf(dii, firstLevel) } } };
      return optoutReply;
    }
    return success(this.issue(dii, firstLevel, caller.siteId, PRIVACY_BITS_SERVER, now, now));
  }

  /** POST /v2/token/refresh (§1.2): the body is the refresh token as text; the caller is optional. */
  refresh(body: string, caller: Caller | undefined): Reply {
    const reply = this.refreshReply(body, caller);
    const unwrapped = body.length === WRAPPED_REFRESH_TOKEN_LENGTH ? this.tokens.unwrap(body) : undefined;
    const claims = unwrapped?.ok ? unwrapped.claims : undefined;
    const person = claims && this.personOfFirstLevel.get(claims.firstLevel.toString('base64'));
    if (this.calls.enabled) this.calls.add({
      at: this.config.now(),
      endpoint: 'refresh',
      persons: person ? [person] : [],
      ...(person ? { chain: `${person}@${claims!.establishedMs}` } : {}),
      status: replyStatus(reply),
    });
    return reply;
  }

  private refreshReply(body: string, caller: Caller | undefined): Reply {
    const now = this.config.now();
    const failure = (authenticated: object): Reply => ({
      kind: 'plain',
      http: 400,
      payload: caller ? authenticated : { status: 'error', message: 'Error refreshing token' },
    });
    if (body.length !== WRAPPED_REFRESH_TOKEN_LENGTH) return failure(INVALID_TOKEN);
    const unwrapped = this.tokens.unwrap(body);
    if (!unwrapped.ok) return clientError(unwrapped.message);
    const { claims, responseKey } = unwrapped;
    const cached = this.has('refresh-replay-cache') ? this.replayCache.get(claims.tokenId) : undefined;
    if (cached) return { kind: 'bare', key: responseKey, payload: cached };
    if (claims.establishedMs < REFRESH_CUTOFF_MS) return { kind: 'bare', key: responseKey, payload: { status: 'optout' } };
    if (claims.refreshExpiresMs < now) return failure({ status: 'expired_token', message: 'Expired Token presented' });
    // The token carries only the first-level hash, so test identities are recognised by theirs.
    const test = this.identities.testBehaviorByFirstLevel(claims.kind, claims.firstLevel);
    const skipStore = caller === undefined && this.has('refresh-unauthenticated-skips-optout');
    const optedOut = test ? test !== 'never-optout' : !skipStore && this.inSnapshot(claims.firstLevel, now);
    if (optedOut) return { kind: 'bare', key: responseKey, payload: { status: 'optout' } };
    const rawUid = this.identities.rawUid(claims.kind, claims.firstLevel);
    const next = this.tokens.issue(
      { kind: claims.kind, siteId: claims.siteId, privacyBits: claims.privacyBits, establishedMs: claims.establishedMs, firstLevel: claims.firstLevel, rawUid },
      now,
    );
    const answer = { status: 'success', body: next };
    if (this.has('refresh-replay-cache')) this.replayCache.set(claims.tokenId, answer);
    return { kind: 'bare', key: responseKey, payload: answer };
  }

  /** POST /v2/token/validate (§1.5): opt-out is not checked. */
  validate(payload: unknown, caller: Caller): Reply {
    if (!isObject(payload) || typeof payload.token !== 'string') return clientError('Invalid token');
    const parsed = this.singleDii(payload, clientError(EXACTLY_ONE), clientError('Invalid Identifier'));
    if (!parsed.ok) return parsed.reply;
    const decoded = this.tokens.decodeAdvertising(payload.token);
    if (!decoded.ok) return clientError('Invalid token');
    if (decoded.fields.siteId !== caller.siteId) return clientError('Unauthorised to validate token');
    return success(decoded.fields.rawUid.toString('base64') === this.rawUidOf(parsed.value.dii));
  }

  /** POST /v2/token/logout (§5.2): the OPTOUT role registers a global opt-out. */
  logout(payload: unknown): Reply {
    const now = this.config.now();
    const invalid: Reply = { kind: 'plain', http: 400, payload: INVALID_TOKEN };
    const parsed = this.singleDii(payload, invalid, invalid);
    if (!parsed.ok) return parsed.reply;
    const { field, dii } = parsed.value;
    const firstLevel = this.identities.firstLevelHash(dii);
    if (this.has('logout-not-idempotent') && this.store.isRecorded(firstLevel)) return invalid;
    this.store.record(firstLevel, this.identities.rawUid(dii.kind, firstLevel).toString('base64'), now);
    if (field === 'email' && this.has('isolation-lenient-optout-key') && isObject(payload)) {
      const lenient = lenientEmailKey(payload.email as string);
      if (lenient) {
        const other = this.identities.firstLevelHash({ kind: 'email', hash: sha256(lenient) });
        this.store.record(other, this.identities.rawUid('email', other).toString('base64'), now);
      }
    }
    return success({ optout: 'OK' });
  }

  /** POST /v2/identity/map (§1.3 v2): exactly one DII array. */
  mapV2(payload: unknown): Reply {
    if (!isObject(payload)) return clientError(EXACTLY_ONE);
    const given = DII_FIELDS.filter((f) => payload[f] !== undefined && payload[f] !== null);
    if (given.some((f) => !Array.isArray(payload[f]))) return clientError('Incorrect request format');
    const nonEmpty = given.filter((f) => (payload[f] as unknown[]).length > 0);
    if (given.length === 0 || nonEmpty.length > 1) return clientError(EXACTLY_ONE);
    const field = nonEmpty[0] ?? given[0]!;
    const items = payload[field] as unknown[];
    if (items.length > MAX_BATCH) return { kind: 'plain', http: 429 };
    if (!items.every((v): v is string => typeof v === 'string')) return clientError('Incorrect request format');
    const now = this.config.now();
    const mapped: object[] = [];
    const unmapped: object[] = [];
    items.forEach((identifier, index) => {
      const outcome = this.mapOne(field, identifier, now, this.has('map-v2-last-entry-unchecked') && items.length > 1 && index === items.length - 1);
      if ('reason' in outcome) unmapped.push({ identifier, reason: outcome.reason });
      else mapped.push({ identifier, advertising_id: outcome.rawUid, bucket_id: outcome.bucketId });
    });
    return success(unmapped.length > 0 ? { mapped, unmapped } : { mapped });
  }

  /** POST /v3/identity/map (§1.3 v3): all four arrays, index-aligned. */
  mapV3(payload: unknown): Reply {
    if (!isObject(payload)) return clientError('Incorrect request format');
    const given = DII_FIELDS.filter((f) => payload[f] !== undefined);
    if (given.length === 0) return clientError(ONE_OR_MORE);
    if (given.some((f) => !Array.isArray(payload[f]) || (payload[f] as unknown[]).some((v) => typeof v !== 'string'))) {
      return clientError('Incorrect request format');
    }
    if (given.reduce((n, f) => n + (payload[f] as unknown[]).length, 0) > MAX_BATCH) return { kind: 'plain', http: 429 };
    const now = this.config.now();
    const refreshAt = Math.floor(now / 86_400_000 + 1) * 86_400; // next UTC midnight, in seconds
    const body = Object.fromEntries(
      DII_FIELDS.map((field) => {
        const entries = ((payload[field] as string[] | undefined) ?? []).map((value) => {
          const outcome = this.mapOne(field, value, now, false);
          if ('reason' in outcome) return { e: outcome.reason };
          return this.has('schema-v3-drops-null-previous') ? { u: outcome.rawUid, r: refreshAt } : { u: outcome.rawUid, p: null, r: refreshAt };
        });
        if (this.has('map-v3-optouts-appended')) entries.sort((a, b) => Number(a.e === 'optout') - Number(b.e === 'optout'));
        return [field, entries];
      }),
    );
    return success(body);
  }

  private mapOne(field: DiiField, value: string, nowMs: number, skipCheck: boolean): { reason: string } | { rawUid: string; bucketId: string } {
    let dii: HashedDii;
    try {
      dii = this.hash(field, value);
    } catch (e) {
      if (e instanceof InvalidDiiError) return { reason: 'invalid identifier' };
      throw e;
    }
    const firstLevel = this.identities.firstLevelHash(dii);
    if (!skipCheck && this.isOptedOut(dii, firstLevel, nowMs)) return { reason: 'optout' };
    return { rawUid: this.identities.rawUid(dii.kind, firstLevel).toString('base64'), bucketId: this.identities.bucketId(firstLevel) };
  }

  /** POST /v2/optout/status (§1.4): only opted-out IDs, in input order, the recorded time in ms. */
  optoutStatus(payload: unknown): Reply {
    if (payload === null) return clientError('Invalid request body');
    if (!isObject(payload) || !Array.isArray(payload.advertising_ids)) return clientError('Required Parameter Missing: advertising_ids');
    const ids = payload.advertising_ids as unknown[];
    if (ids.length > MAX_BATCH + (this.has('status-limit-off-by-one') ? 1 : 0)) return clientError('Request payload is too large');
    if (ids.some((id) => typeof id !== 'string')) return clientError('Invalid request body');
    const now = this.config.now();
    const optedOut: object[] = [];
    for (const id of ids as string[]) {
      const since = this.store.optedOutSince(id, this.snapshotTime(now));
      if (since !== undefined) optedOut.push({ advertising_id: id, opted_out_since: this.has('status-seconds') ? since / 1000 : since });
    }
    return success({ opted_out: optedOut });
  }

  /** POST /v2/key/bidstream (UID2-TOKEN-FORMAT §3.2): the keys a DSP decrypts tokens with. */
  keysBidstream(): Reply {
    return success({
      // Whole seconds, as the operator configures lifetimes; sub-second test lifetimes round up.
      max_bidstream_lifetime_seconds: Math.ceil(this.config.lifetimes.identityExpiresAfterMs / 1000) + 10,
      identity_scope: 'UID2',
      allow_clock_skew_seconds: 1800,
      keys: [this.tokens.masterKey, this.tokens.siteKey].map(keyJson),
    });
  }

  /** POST /v2/key/sharing (UID2-TOKEN-FORMAT §3.3). */
  keysSharing(caller: Caller): Reply {
    const MASTER_KEYSET = 9999999;
    const SITE_KEYSET = 99;
    return success({
      caller_site_id: caller.siteId,
      master_keyset_id: MASTER_KEYSET,
      default_keyset_id: SITE_KEYSET,
      token_expiry_seconds: '2592000',
      ...(caller.roles.has('SHARER') ? { max_sharing_lifetime_seconds: 2592010 } : {}),
      identity_scope: 'UID2',
      allow_clock_skew_seconds: 1800,
      keys: [
        { ...keyJson(this.tokens.masterKey), keyset_id: MASTER_KEYSET },
        { ...keyJson(this.tokens.siteKey), keyset_id: SITE_KEYSET },
      ],
    });
  }

  /** POST /v2/token/client-generate (§1.6): plain JSON request, ECDH P-256 + AES-GCM, hashes only. */
  clientGenerate(payload: unknown, origin: string | undefined, siteId: number): Reply {
    let plaintext: unknown;
    const reply = this.clientGenerateReply(payload, origin, siteId, (inner) => (plaintext = inner));
    if (this.calls.enabled) this.calls.add({ at: this.config.now(), endpoint: 'client-generate', persons: personsOf(plaintext), status: replyStatus(reply) });
    return reply;
  }

  private clientGenerateReply(payload: unknown, origin: string | undefined, siteId: number, decrypted: (inner: unknown) => void): Reply {
    if (!isObject(payload)) return clientError('required parameters: payload, iv, public_key');
    const { cstg, cstgOrigins } = this.config;
    if (payload.subscription_id !== cstg.subscriptionId) return clientError('bad subscription_id');
    if (typeof payload.payload !== 'string' || typeof payload.iv !== 'string' || typeof payload.public_key !== 'string') {
      return clientError('required parameters: payload, iv, public_key');
    }
    if (cstgOrigins.length > 0 && !cstgOrigins.includes(origin ?? '')) {
      return { kind: 'plain', http: 403, payload: { status: 'invalid_http_origin', message: `unexpected http origin ${origin ?? ''}` } };
    }
    let clientKey: KeyObject;
    try {
      const der = decodeBase64Strict(payload.public_key);
      if (!der) throw new Error('not base64');
      clientKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
      if (clientKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not P-256');
    } catch {
      return clientError('bad public key');
    }
    const iv = decodeBase64Strict(payload.iv);
    if (!iv || iv.length !== 12) return clientError('bad iv');
    const sealed = decodeBase64Strict(payload.payload);
    const sharedSecret = diffieHellman({ privateKey: cstg.privateKey, publicKey: clientKey });
    const aad = Buffer.from(JSON.stringify(typeof payload.app_name === 'string' ? [payload.timestamp, payload.app_name] : [payload.timestamp]), 'utf8');
    let inner: unknown;
    try {
      if (!sealed) throw new Error('not base64');
      inner = JSON.parse(gcmDecrypt(sharedSecret, Buffer.concat([iv, sealed]), aad).toString('utf8'));
    } catch {
      return clientError('payload decryption failed');
    }
    decrypted(inner);
    const fields = isObject(inner) ? (['email_hash', 'phone_hash'] as const).filter((f) => inner[f] !== undefined && inner[f] !== null) : [];
    if (fields.length !== 1) return clientError('please provide exactly one of: email_hash, phone_hash');
    const field = fields[0]!;
    let dii: HashedDii;
    try {
      dii = hashDii(field, (inner as Record<string, unknown>)[field]);
    } catch {
      return clientError('Invalid Identifier');
    }
    const now = this.config.now();
    const firstLevel = this.identities.firstLevelHash(dii);
    const skipCheck = field === 'phone_hash' && this.has('cstg-phone-skips-optout');
    const answer = !skipCheck && this.isOptedOut(dii, firstLevel, now)
      ? { status: 'optout' }
      : { status: 'success', body: this.issue(dii, firstLevel, siteId, PRIVACY_BITS_CSTG, now, now) };
    return { kind: 'bare', key: sharedSecret, payload: answer };
  }
}

/** The status string an answer carries, for the call log. */
export function replyStatus(reply: Reply): string {
  const status = (reply.payload as { status?: unknown } | undefined)?.status;
  return typeof status === 'string' ? status : String(reply.kind === 'plain' ? reply.http : 200);
}

function keyJson(key: TokenService['masterKey']) {
  return { id: key.id, created: key.createdS, activates: key.activatesS, expires: key.expiresS, secret: key.secret.toString('base64') };
}

/** Fault `forms-gmail-plus-kept`: a gmail.com address with its dots removed but its +tag kept; the rest as normalizeEmail. */
function gmailWithTagKept(email: string): string | undefined {
  try {
    if (!normalizeEmail(email).endsWith('@gmail.com')) return undefined;
    // The local part as any other domain keeps it (case and spaces handled, dots and +tag kept).
    const local = normalizeEmail(`${email.slice(0, email.indexOf('@'))}@x`).slice(0, -2);
    return `${local.replaceAll('.', '')}@gmail.com`;
  } catch {
    return undefined;
  }
}

/** Fault `forms-inner-spaces-kept`: spaces inside the local part survive (leading ones go); the rest as normalizeEmail. */
function innerSpacesKept(email: string): string | undefined {
  const at = email.indexOf('@');
  const local = email.slice(0, at).replace(/^ +/, '');
  if (at < 0 || !local.includes(' ')) return undefined;
  try {
    // A placeholder carries the spaces through the correct normalization.
    return normalizeEmail(`${local.replaceAll(' ', '\u0000')}${email.slice(at)}`).replaceAll('\u0000', ' ');
  } catch {
    return undefined;
  }
}

/** Fault `isolation-lenient-optout-key`: gmail's dot and +tag rules applied to every domain. */
function lenientEmailKey(email: string): string | undefined {
  try {
    const normalized = normalizeEmail(email);
    const [local = '', domain = ''] = normalized.split('@');
    const lenient = `${local.split('+')[0]!.replaceAll('.', '')}@${domain}`;
    return lenient !== normalized && lenient.length > domain.length + 1 ? lenient : undefined;
  } catch {
    return undefined;
  }
}
