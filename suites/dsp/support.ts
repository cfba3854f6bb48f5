// What the DSP checks share: synthetic users picked by the shape of their raw UID2 (with or without `+`),
// advertising tokens issued the way a publisher gets them (generate, refresh through the kit's operator) or the
// way an operator the opt-out has not reached yet would issue them, bids alone or in bursts, the opt-out
// service's webhook calls, and the "the DSP used nothing at all" precondition.
//
// Pitfalls (keep each check to its own rule):
// - DSP-BID-OPTOUT judges only users opted out through the webhook, never registered at the kit's operator (so
//   a status check cannot mask a lost webhook opt-out); DSP-STATUS-CHECK judges only users opted out at the
//   operator, never through the webhook; DSP-BID-ISOLATION judges only bids for users who had not opted out at
//   the time of the bid. Users of the other kinds may share the same bursts (that is the point of bursts),
//   but are not judged by the other rule's checks.
// - DSP-WEBHOOK-ACK judges the webhook's answers only. The other checks judge bids whatever the webhook
//   answered (the DSP received the opt-out either way); they stop as undecided only when there was no answer.
// - A DSP that uses no UID2 at all breaks DSP-BID-ISOLATION, not the others: their judgments ("not used") hold
//   vacuously for it, so they end not_applicable with a pointer to DSP-BID-ISOLATION, never a pass.
// - The webhook's timestamp is Unix seconds, a token's established time milliseconds: an opt-out time in the
//   second a chain was established lands at or before its established time. In production most tokens belong
//   to chains established hours or days before the opt-out, so the model gives chains every relation (same
//   second, whole seconds, hours and days before, seconds after): a DSP that compares the two times in any
//   way other than "any record refuses" is caught by one of them.
// - Tokens of the kit's operator expire within seconds: a token is only judged "should be used" while it has
//   life left, and the checks take fresh tokens each round.
// - Messages and notes name users by index, kind and raw UID2 shape, never by DII, token or raw UID2.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DriverIdentity } from '../../harness/client/driver-client.ts';
import { OperatorClient, type Exchange } from '../../harness/client/operator-client.ts';
import { notApplicable, undecided } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { webhookAcknowledged, type WebhookCall } from '../../harness/engine/webhook.ts';
import type { AdvertisingTokenFields } from '../../harness/wire/advertising-token.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

export type Kind = 'email' | 'phone';

export interface User {
  /** 1-based, as messages name it. */
  n: number;
  kind: Kind;
  /** Whether its raw UID2 (standard base64) contains `+` (URL-decoding pitfalls). */
  plus: boolean;
  identity: DriverIdentity;
  /** The raw UID2 the kit's operator maps the identity to (never printed). */
  uid: string;
}

/** A fresh synthetic user whose raw UID2 does (or does not) contain `+`; about half of them do. */
export function newUser(ctx: ParticipantCheckContext, n: number, kind: Kind, plus?: boolean): User {
  for (let attempt = 0; attempt < 256; attempt++) {
    const identity: DriverIdentity = kind === 'phone' ? { phone: ctx.identities.phone() } : { email: ctx.identities.email() };
    const uid = ctx.rawUid(identity);
    if (plus === undefined || uid.includes('+') === plus) return { n, kind, plus: uid.includes('+'), identity, uid };
  }
  throw new Error(`no synthetic ${kind} with a raw UID2 ${plus ? 'with' : 'without'} '+' in 256 tries`);
}

export const shape = (plus: boolean): string => `raw UID2 ${plus ? "with '+'" : "without '+'"}`;
export const label = (user: User): string => `user ${user.n} (${user.kind}, ${shape(user.plus)})`;

/** `user 2 (…)`, `users 1 (…) and 3 (…)`. */
export function listUsers(users: readonly User[]): string {
  const parts = users.map((u) => label(u).slice('user '.length));
  if (parts.length === 1) return `user ${parts[0]}`;
  return `users ${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** A span for messages: seconds, hours or days. */
export function duration(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)} days`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return seconds(ms);
}

/** An advertising token as the kit holds it: its fields (decoded with the kit operator's keys) and refresh data. */
export interface Issued {
  token: string;
  fields: AdvertisingTokenFields;
  refreshToken?: string;
  refreshKey?: string;
}

/** The kit's tokens: from its operator through the client API (as a publisher would get them), or minted. */
export class Tokens {
  private readonly client: OperatorClient;

  constructor(private readonly ctx: ParticipantCheckContext) {
    const { apiKey, clientSecret } = ctx.operator.credentials;
    this.client = new OperatorClient({ baseUrl: ctx.operator.url, apiKey, clientSecret, timeoutMs: 10_000 });
  }

  private issued(exchange: Exchange, what: string): Issued {
    const answer = exchange.body as { status?: unknown; body?: { advertising_token?: unknown; refresh_token?: unknown; refresh_response_key?: unknown } } | undefined;
    const token = answer?.body?.advertising_token;
    if (exchange.http !== 200 || answer?.status !== 'success' || typeof token !== 'string') {
      undecided(`the kit's own operator did not issue a token for ${what} (HTTP ${exchange.http}, status ${quoteTarget(answer?.status)})`);
    }
    const decoded = this.ctx.tokens.decode(token);
    if (!decoded.ok) undecided(`the kit's own operator issued a token for ${what} that its keys do not decrypt`);
    return {
      token,
      fields: decoded.fields,
      refreshToken: typeof answer.body?.refresh_token === 'string' ? answer.body.refresh_token : undefined,
      refreshKey: typeof answer.body?.refresh_response_key === 'string' ? answer.body.refresh_response_key : undefined,
    };
  }

  /** POST /v2/token/generate for the user, as its publisher would. */
  async generate(user: User): Promise<Issued> {
    return this.issued(await this.client.generate({ ...user.identity, optout_check: 1 }), label(user));
  }

  /** POST /v2/token/refresh of an issued token: a new token, same raw UID2 and established time. */
  async refresh(user: User, issued: Issued): Promise<Issued> {
    if (!issued.refreshToken || !issued.refreshKey) undecided(`the kit holds no refresh token for ${label(user)}`);
    return this.issued(await this.client.refresh(issued.refreshToken, issued.refreshKey), `a refresh for ${label(user)}`);
  }

  /**
   * A token issued now by an operator an opt-out has not reached yet (private operators sync opt-outs with a
   * delay; tokens issued before an opt-out circulate until they expire): the template's raw UID2 (or `rawUid`),
   * under the kit operator's keys and usual lifetime, with the given established time.
   */
  mint(template: Issued, options: { establishedMs?: number; rawUid?: Buffer } = {}): Issued {
    const now = Date.now();
    const fields: AdvertisingTokenFields = {
      ...template.fields,
      generatedMs: now,
      expiresMs: now + this.ctx.tokens.identityLifetimeMs,
      establishedMs: options.establishedMs ?? template.fields.establishedMs,
      rawUid: options.rawUid ?? template.fields.rawUid,
    };
    return { token: this.ctx.tokens.mint(fields), fields };
  }
}

/** Whether a token still has enough life for a bid to count as "should be used" (the DSP checks expiry). */
export const hasLife = (issued: Issued, atMs = Date.now(), marginMs = 400): boolean => issued.fields.expiresMs - atMs > marginMs;

/** A raw UID2 of `bytes` random bytes (33: with an email-type prefix byte; 32: the legacy form, `=`-padded). */
export function randomRawUid(bytes: 32 | 33, want?: (uid: string) => boolean): Buffer {
  for (let attempt = 0; attempt < 256; attempt++) {
    const raw = bytes === 33 ? Buffer.concat([Buffer.from([0x00]), randomBytes(32)]) : randomBytes(32);
    if (!want || want(raw.toString('base64'))) return raw;
  }
  throw new Error('no random raw UID2 of the wanted shape in 256 tries');
}

// ---- bids ------------------------------------------------------------------------------------------------

/** One bid the kit makes: whose token, which kind of token. */
export interface BidItem<V extends string = string> {
  member: number;
  variant: V;
  issued: Issued;
}

export interface BidRecord<V extends string = string> extends BidItem<V> {
  round: number;
  sentMs: number;
  used: boolean;
}

/** Bids every item, all at once (a burst: Promise.all) or one after the other. */
export async function fire<V extends string>(ctx: ParticipantCheckContext, items: readonly BidItem<V>[], round: number, burst: boolean): Promise<BidRecord<V>[]> {
  const one = async (item: BidItem<V>): Promise<BidRecord<V>> => {
    const sentMs = Date.now();
    const used = await ctx.driver.bid(item.issued.token);
    return { ...item, round, sentMs, used };
  };
  if (burst) return Promise.all(items.map(one));
  const records: BidRecord<V>[] = [];
  for (const item of items) records.push(await one(item));
  return records;
}

/** A deterministic shuffle (the order of a generated case's bids and opt-outs). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const pause = (ms: number): Promise<unknown> => sleep(ms);

// ---- the webhook -----------------------------------------------------------------------------------------

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** One webhook call as the opt-out service makes it; no HTTP answer at all (unreachable, timeout) is undecided. */
export async function callWebhook(ctx: ParticipantCheckContext, uid: string, epochSeconds: number, what: string): Promise<WebhookCall> {
  const webhook = ctx.webhook;
  if (!webhook) undecided("the DSP gave no opt-out webhook (--webhook)");
  const call = await webhook.call(uid, epochSeconds, `${what}, timestamp ${relation(epochSeconds * 1000, Date.now())} now`);
  if (call.http === 0) undecided(`the DSP's webhook gave no answer to the opt-out of ${what} (${call.failure ?? 'no HTTP answer'}): the opt-out was not delivered`);
  return call;
}

/**
 * Delivers an opt-out as the opt-out service does (UID2-SPEC §6.1): 429 and 5xx are retried a few times.
 * Whatever the final answer, the DSP received the opt-out; the bid rules judge from then on (DSP-WEBHOOK-ACK
 * judges the answers). Resolves with when the last call was answered.
 */
export async function deliver(ctx: ParticipantCheckContext, uid: string, epochSeconds: number, what: string): Promise<{ http: number; ackMs: number }> {
  let call = await callWebhook(ctx, uid, epochSeconds, what);
  for (let retry = 0; retry < 3 && !webhookAcknowledged(call) && [429, 500, 502, 503, 504].includes(call.http); retry++) {
    await sleep(100 * (retry + 1));
    call = await callWebhook(ctx, uid, epochSeconds, `${what} (retry)`);
  }
  return { http: call.http, ackMs: Date.now() };
}

// ---- judging ---------------------------------------------------------------------------------------------

/**
 * The rule's judgments hold vacuously for this DSP (it used no UID2 at all, not even of users who never opted
 * out): not a pass. DSP-BID-ISOLATION fails such a DSP; here the result is not_applicable.
 */
/** Ends the check as not judgeable when the DSP used no token of a user who had not opted out. */
export function requireSomeUse(uses: number, rule: string): void {
  if (uses === 0) {
    notApplicable(`the DSP used no UID2 in this check, not even of users who never opted out: ${rule} cannot be judged on a DSP that targets nobody (DSP-BID-ISOLATION fails it)`);
  }
}

/** "1.2 s after" / "0.4 s before" / "at": `at` relative to `reference`. */
export function relation(atMs: number, referenceMs: number): string {
  const d = atMs - referenceMs;
  if (Math.abs(d) < 50) return 'at';
  return `${duration(Math.abs(d))} ${d > 0 ? 'after' : 'before'}`;
}
