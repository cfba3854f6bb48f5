// The reference DSP (PROTOCOL.md §3 `/dsp/bid` and the opt-out webhook `/dsp/optout`; RULES.md DSP-*).
// At bid time it decrypts the advertising token itself with the keys of POST /v2/key/bidstream and applies
// the SDKs' decrypt checks (UID2-TOKEN-FORMAT §2.2, §2.3; UID2-SPEC §6.2); it does not use a raw UID2 the
// opt-out webhook delivered (stored indefinitely, keyed by raw UID2: a DSP never sees DII, §6.1), nor one
// /v2/optout/status lists. Status answers are asked in short batches and cached briefly, so a bid burst
// costs one status call.
import { decodeAdvertisingToken, type DecodedToken } from '../wire/advertising-token.ts';
import { decodeBase64Strict, KEY_BYTES } from '../wire/gcm.ts';
import { malformed, STATUS_BATCH, successBody } from './operator-answer.ts';
import { DriverRequestError, type DriverCall, type ParticipantContext, type ParticipantFault, type RoleHandler } from './role.ts';

export const DSP_FAULTS: readonly ParticipantFault[] = [
  {
    name: 'dsp-webhook-rejects-unknown',
    role: 'dsp',
    breaks: ['DSP-WEBHOOK-ACK'],
    description:
      'stores every opt-out but answers 404 "unknown user" for a raw UID2 it has never bid on (a REST habit); the opt-out service treats 404 as a permanent failure. UID2s it has seen are acknowledged',
  },
  {
    name: 'dsp-webhook-repeat-conflict',
    role: 'dsp',
    breaks: ['DSP-WEBHOOK-ACK'],
    description: 'stores the opt-out with a unique key and surfaces the duplicate on a repeat call as HTTP 409; first calls are acknowledged',
  },
  {
    name: 'dsp-webhook-plus-decoding',
    role: 'dsp',
    breaks: ['DSP-BID-OPTOUT'],
    description:
      'URL-decodes the uid2 parameter a second time with form rules (`+` becomes a space), so the opt-out of a raw UID2 whose base64 contains `+` (about half of them) is stored under another key and lost',
  },
  {
    name: 'dsp-optout-established-only',
    role: 'dsp',
    breaks: ['DSP-BID-OPTOUT'],
    description:
      'applies only the removed §6.2 rule to webhook opt-outs (opted out when established < opt-out time): a token established at or after the opt-out time (the same second, or minted by an operator the opt-out had not reached yet) is still used',
  },
  {
    name: 'dsp-optout-after-only',
    role: 'dsp',
    breaks: ['DSP-BID-OPTOUT'],
    description:
      'applies a webhook opt-out only to tokens established at or after the opt-out time (a user who logs in again after opting out) and reads the rest as issued before it and vetted: tokens of chains established seconds, hours or days before the opt-out are still used',
  },
  {
    name: 'dsp-optout-seconds-vs-ms',
    role: 'dsp',
    breaks: ['DSP-BID-OPTOUT'],
    description:
      "applies both §6.2 comparisons to webhook opt-outs (established before the opt-out time: the removed rule; at or after it: a re-login), but the first compares the token's established milliseconds with the webhook's Unix seconds and never holds: tokens of chains established before the opt-out are still used",
  },
  {
    name: 'dsp-ignores-all-uid2',
    role: 'dsp',
    breaks: ['DSP-BID-ISOLATION'],
    description: 'its expiry check multiplies the clock (already in ms) by 1000 as if it were seconds, so every token looks expired and no UID2 is ever used',
  },
  {
    name: 'dsp-status-batch-any-optout',
    role: 'dsp',
    breaks: ['DSP-BID-ISOLATION'],
    description:
      'reads an opt-out status answer as "opted out" for the whole batch when it lists any ID (code written for one-ID calls, then batched): in a bid burst, one opted-out UID2 costs every other UID2 of the same batch its targeting',
  },
  {
    name: 'dsp-no-status-check',
    role: 'dsp',
    breaks: ['DSP-STATUS-CHECK'],
    description: 'relies on the webhook alone and never asks /v2/optout/status: an opt-out whose webhook call is late or lost is not honored',
  },
  {
    name: 'dsp-status-cache-stale',
    role: 'dsp',
    breaks: ['DSP-STATUS-CHECK'],
    description:
      'memoizes every "not opted out" status answer for the life of the process: a UID2 it bid on before its opt-out keeps being used; UIDs first seen after the opt-out are refused',
  },
];

/** How long a "not opted out" status answer is reused: a burst of bids for one user costs one call. */
export const STATUS_CACHE_MS = 200;
/** How long bids wait to share one status request (a burst of different users costs one call too). */
export const STATUS_BATCH_WINDOW_MS = 10;
/** A token naming an unknown key id reloads the keys, but at most this often (garbage tokens must not flood the operator). */
export const KEY_RELOAD_MIN_MS = 1_000;
/** UID2-TOKEN-FORMAT §3.2: the operator's default when `allow_clock_skew_seconds` is absent. */
const DEFAULT_CLOCK_SKEW_S = 1800;

/** Why a bid does not use the token's UID2 (an extra field of the answer, for evidence). */
export type NotUsedReason =
  | 'invalid_token'
  | 'unknown_key'
  | 'wrong_scope'
  | 'expired'
  | 'lifetime_too_long'
  | 'generated_in_future'
  | 'opted_out_webhook'
  | 'opted_out_status';

interface BidstreamKeys {
  secrets: Map<number, Buffer>;
  scope: string;
  /** Absent: no lifetime limit (both SDKs, §5). */
  maxLifetimeMs: number | undefined;
  skewMs: number;
  loadedAt: number;
}

/** The `/v2/key/bidstream` body (UID2-TOKEN-FORMAT §3.2, parsed as the SDKs do in §3.5). */
function parseKeys(body: unknown, loadedAt: number): BidstreamKeys {
  const what = 'bidstream keys';
  const b = (body ?? {}) as { keys?: unknown; identity_scope?: unknown; max_bidstream_lifetime_seconds?: unknown; allow_clock_skew_seconds?: unknown };
  if (!Array.isArray(b.keys)) throw malformed(what, 'no keys list');
  const secrets = new Map<number, Buffer>();
  for (const key of b.keys as Array<{ id?: unknown; secret?: unknown } | null>) {
    const secret = typeof key?.secret === 'string' ? decodeBase64Strict(key.secret) : undefined;
    if (typeof key?.id !== 'number' || secret?.length !== KEY_BYTES) throw malformed(what, 'a key without a numeric id and a 32-byte base64 secret');
    secrets.set(key.id, secret);
  }
  const seconds = (value: unknown) => (typeof value === 'number' && value >= 0 ? value * 1000 : undefined);
  return {
    secrets,
    scope: typeof b.identity_scope === 'string' ? b.identity_scope : 'UID2',
    maxLifetimeMs: seconds(b.max_bidstream_lifetime_seconds),
    skewMs: seconds(b.allow_clock_skew_seconds) ?? DEFAULT_CLOCK_SKEW_S * 1000,
    loadedAt,
  };
}

const isUnknownKey = (decoded: DecodedToken) => !decoded.ok && (decoded.failure === 'unknown_master_key' || decoded.failure === 'unknown_site_key');

function tokenOf(body: unknown): string {
  const token = (body as { advertising_token?: unknown } | undefined)?.advertising_token;
  if (typeof token !== 'string' || token === '') throw new DriverRequestError(400, 'expected {"advertising_token": string}');
  return token;
}

/** The webhook's opt-out time (UID2-SPEC §6.1: Unix seconds, "for information only"); the receipt time when absent. */
function optoutTimeMs(query: URLSearchParams, nowMs: number): number {
  const timestamp = query.get('timestamp');
  if (timestamp === null) return nowMs;
  if (!/^[0-9]{1,12}$/.test(timestamp)) throw new DriverRequestError(400, 'timestamp must be Unix seconds');
  return Number(timestamp) * 1000;
}

export function createDsp(context: ParticipantContext): RoleHandler {
  const { client, fault, now } = context;
  /** Opt-outs the webhook delivered: raw UID2 → earliest opt-out time (ms). Kept indefinitely (§6.1 FAQ). */
  const webhookOptouts = new Map<string, number>();
  /** Raw UID2s /v2/optout/status listed: an opt-out is never undone, so they are not asked about again. */
  const statusOptouts = new Set<string>();
  /** Raw UID2s this DSP has bid with (its user table). */
  const bidOn = new Set<string>();
  /** Status answers per raw UID2 (true: opted out), reused for `statusTtlMs`. */
  const statusAnswers = new Map<string, { at: number; optedOut: Promise<boolean> }>();
  const statusTtlMs = fault === 'dsp-status-cache-stale' ? Infinity : STATUS_CACHE_MS;
  let batch: { ids: string[]; listed: Promise<Set<string>> } | undefined;
  /** The latest key load, in flight or done. */
  let keys: Promise<BidstreamKeys> | undefined;

  function loadKeys(): Promise<BidstreamKeys> {
    const load = successBody('bidstream keys', () => client.keysBidstream()).then((body) => parseKeys(body, now()));
    keys = load;
    load.catch(() => {
      if (keys === load) keys = undefined; // a failed load is retried on the next bid
    });
    return load;
  }

  /** Decodes with the current keys; a token naming an unknown key id reloads them once (UID2-TOKEN-FORMAT §3.5). */
  async function decode(token: string): Promise<{ decoded: DecodedToken; keys: BidstreamKeys }> {
    const first = keys ?? loadKeys();
    let current = await first;
    let decoded = decodeAdvertisingToken(token, (id) => current.secrets.get(id));
    if (isUnknownKey(decoded) && now() - current.loadedAt >= KEY_RELOAD_MIN_MS) {
      current = await (keys === first || keys === undefined ? loadKeys() : keys);
      decoded = decodeAdvertisingToken(token, (id) => current.secrets.get(id));
    }
    return { decoded, keys: current };
  }

  /** One POST /v2/optout/status for a batch; the IDs it lists (UID2-SPEC §1.4). */
  async function askStatus(ids: string[]): Promise<Set<string>> {
    const body = await successBody('opt-out status', () => client.optoutStatus(ids));
    const entries = (body as { opted_out?: unknown } | undefined)?.opted_out;
    if (!Array.isArray(entries)) throw malformed('opt-out status', 'no opted_out list');
    let listed = new Set<string>();
    for (const entry of entries) {
      const id = (entry as { advertising_id?: unknown } | null)?.advertising_id;
      if (typeof id === 'string') listed.add(id);
    }
    if (fault === 'dsp-status-batch-any-optout' && listed.size > 0) listed = new Set(ids);
    for (const id of listed) statusOptouts.add(id);
    return listed;
  }

  /** Whether the operator lists this raw UID2; bids within the batch window share one request. */
  function statusOptedOut(uid: string): Promise<boolean> {
    const t = now();
    const cached = statusAnswers.get(uid);
    if (cached && t - cached.at < statusTtlMs) return cached.optedOut;
    if (!batch || batch.ids.length >= STATUS_BATCH) {
      const ids: string[] = [];
      const listed = new Promise((resolve) => setTimeout(resolve, STATUS_BATCH_WINDOW_MS)).then(() => {
        if (batch?.ids === ids) batch = undefined;
        for (const [id, answer] of statusAnswers) if (now() - answer.at >= statusTtlMs) statusAnswers.delete(id);
        return askStatus(ids);
      });
      batch = { ids, listed };
    }
    batch.ids.push(uid);
    const optedOut = batch.listed.then((listed) => listed.has(uid));
    statusAnswers.set(uid, { at: t, optedOut });
    optedOut.catch(() => {
      if (statusAnswers.get(uid)?.optedOut === optedOut) statusAnswers.delete(uid); // failures are not cached
    });
    return optedOut;
  }

  /** Whether a webhook opt-out at `optedOutAtMs` refuses a token established at `establishedMs`: always, but for three faults. */
  function optoutCovers(establishedMs: number, optedOutAtMs: number): boolean {
    switch (fault) {
      case 'dsp-optout-established-only':
        return establishedMs < optedOutAtMs;
      case 'dsp-optout-after-only':
        return establishedMs >= optedOutAtMs;
      case 'dsp-optout-seconds-vs-ms':
        return establishedMs < optedOutAtMs / 1000 || establishedMs >= optedOutAtMs;
      default:
        return true;
    }
  }

  async function bid(body: unknown): Promise<{ uses_uid2: boolean; reason?: NotUsedReason }> {
    const notUsed = (reason: NotUsedReason) => ({ uses_uid2: false, reason });
    const { decoded, keys: current } = await decode(tokenOf(body));
    if (!decoded.ok) return notUsed(isUnknownKey(decoded) ? 'unknown_key' : 'invalid_token');
    const token = decoded.fields;
    // The decrypt checks of UID2-TOKEN-FORMAT §2.2–§2.3 (UID2-SPEC §6.2). The CSTG domain check needs the bid's
    // domain or app, which the driver protocol does not carry; like the Python SDK, it is not applied.
    const nowMs = fault === 'dsp-ignores-all-uid2' ? now() * 1000 : now();
    if (token.scope !== current.scope) return notUsed('wrong_scope');
    if (token.expiresMs < nowMs) return notUsed('expired');
    if (current.maxLifetimeMs !== undefined && token.expiresMs - token.generatedMs > current.maxLifetimeMs) return notUsed('lifetime_too_long');
    if (token.generatedMs - nowMs > current.skewMs) return notUsed('generated_in_future');
    const uid = token.rawUid.toString('base64');
    bidOn.add(uid);
    // DSP-BID-OPTOUT: any webhook opt-out of this UID2 refuses every token carrying it. This covers §6.2's
    // SHOULD (established < opt-out time) and, as the kit's MUST requires, tokens established later too.
    const optedOutAt = webhookOptouts.get(uid);
    if (optedOutAt !== undefined && optoutCovers(token.establishedMs, optedOutAt)) return notUsed('opted_out_webhook');
    // DSP-STATUS-CHECK: the operator's status list too, for opt-outs whose webhook call is late or lost.
    if (statusOptouts.has(uid)) return notUsed('opted_out_status');
    if (fault !== 'dsp-no-status-check' && (await statusOptedOut(uid))) return notUsed('opted_out_status');
    return { uses_uid2: true };
  }

  /** The opt-out webhook (UID2-SPEC §6.1): every signal is stored and acknowledged, known UID2 or not, repeat or not. */
  function optout(query: URLSearchParams): Record<string, never> {
    const given = query.get('uid2'); // URLSearchParams has already URL-decoded it once, as §6.1 sends it
    if (!given) throw new DriverRequestError(400, 'the opt-out webhook needs ?uid2=<raw UID2>');
    const uid = fault === 'dsp-webhook-plus-decoding' ? given.replaceAll('+', ' ') : given;
    const atMs = optoutTimeMs(query, now());
    const earlier = webhookOptouts.get(uid);
    if (earlier === undefined || atMs < earlier) webhookOptouts.set(uid, atMs);
    if (fault === 'dsp-webhook-rejects-unknown' && !bidOn.has(uid)) throw new DriverRequestError(404, 'unknown user');
    if (fault === 'dsp-webhook-repeat-conflict' && earlier !== undefined) throw new DriverRequestError(409, 'opt-out already recorded');
    return {};
  }

  return {
    role: 'dsp',
    async handle(call: DriverCall): Promise<unknown> {
      if (call.action === 'bid') return bid(call.body);
      if (call.action === 'optout') return optout(call.query);
      throw new DriverRequestError(404, `no dsp action ${call.action}`);
    },
  };
}
