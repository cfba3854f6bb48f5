// OP-ENVELOPE: every HTTP 200 is encrypted and echoes the request nonce; every non-200 is plain JSON with a
// `status`; a malformed or wrongly keyed envelope answers 400 client_error, never 5xx (RULES.md; UID2-SPEC
// §2, §9). The operator client cannot send a broken envelope, so the malformed cases go through undici
// directly; their evidence is a note per case (path, HTTP status, answer status), never body bytes.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { parseBoundedJson } from '../../harness/client/bounded.ts';
import { OperatorClient, type Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { RecordingApi } from '../../harness/engine/recording.ts';
import { base64Hash } from '../../harness/engine/synthetic.ts';
import { ENVELOPE_VERSION, NONCE_BYTES, sealRequest } from '../../harness/wire/envelope.ts';
import { gcmEncrypt } from '../../harness/wire/gcm.ts';
import { bodyOf, keptIn, statusOf, type Json } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

/** An answer read off the wire: only what a verdict or a note may mention comes out of it. */
interface RawAnswer {
  http: number;
  contentType: string;
  bytes: Buffer;
  /** `status` of a plain JSON object body, when there is one. */
  status?: string;
  /** The body is a JSON object. */
  json: boolean;
}

/** Answers larger than this are not read: no envelope error message is anywhere near it. */
const MAX_ANSWER_BYTES = 1 << 20;

/**
 * POSTs a body as it is, with the client's API key, and reads the answer. A 5xx that persists through the
 * client's retries is judged (this rule forbids it); a body over the cap is judged as no JSON body.
 */
async function postRaw(ctx: CheckContext, path: string, body: Buffer, contentType: string): Promise<RawAnswer> {
  const { apiKey } = ctx.api.options;
  const answer = await ctx.api.client.send(path, body, { authorization: `Bearer ${apiKey ?? ''}`, 'content-type': contentType }, { maxBytes: MAX_ANSWER_BYTES, judge5xx: true });
  const { http, contentType: type } = answer;
  const bytes = answer.bytes ?? Buffer.alloc(0);
  const parsed = http === 200 ? undefined : parseBoundedJson(bytes.toString('utf8'));
  const json = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  const status = json ? (parsed as Json).status : undefined;
  return { http, contentType: type, bytes, json, ...(typeof status === 'string' ? { status } : {}) };
}

const shown = (a: RawAnswer) => `HTTP ${a.http}${a.status !== undefined ? ` ${quoteTarget(a.status)}` : a.http === 200 ? '' : a.json ? ' without a status' : ' without a JSON body'}`;
const isClientError = (a: RawAnswer) => a.http === 400 && a.status === 'client_error';

function secretOf(ctx: CheckContext): Buffer {
  const { apiKey, clientSecret } = ctx.api.options;
  if (apiKey === undefined || clientSecret === undefined) undecided('the client has no API key or client secret to seal envelopes with');
  return Buffer.from(clientSecret, 'base64');
}

/**
 * Endpoints the malformed envelopes go to, each with a payload it would accept (HTTP 200) in a
 * well-formed envelope, so a 400 can only come from the envelope. No opted-out DII is sent.
 */
function targets(ctx: CheckContext): Array<{ path: string; payload: unknown }> {
  const kept = keptIn(ctx)[0]!;
  return [
    { path: '/v2/token/generate', payload: { [kept.kind]: kept.dii, optout_check: 1 } },
    { path: '/v2/identity/map', payload: { email: [] } },
    { path: '/v3/identity/map', payload: { email: [] } },
    { path: '/v2/optout/status', payload: { advertising_ids: [] } },
    { path: '/v2/key/bidstream', payload: undefined },
    { path: '/v2/key/sharing', payload: undefined },
  ];
}

/** The data envelope ts ‖ nonce ‖ bytes, sealed with version 1: for a payload that is not JSON. */
function sealBytes(secret: Buffer, plain: Buffer): Buffer {
  const head = Buffer.alloc(8 + NONCE_BYTES);
  head.writeBigInt64BE(BigInt(Date.now()));
  randomBytes(NONCE_BYTES).copy(head, 8);
  return Buffer.concat([Buffer.from([ENVELOPE_VERSION]), gcmEncrypt(secret, Buffer.concat([head, plain]))]);
}

const text = (bytes: Buffer) => Buffer.from(bytes.toString('base64'), 'latin1');

interface Malformed {
  name: string;
  body(secret: Buffer, payload: unknown): Buffer;
  contentType: string;
}

const MALFORMED: Malformed[] = [
  { name: 'an empty body', contentType: 'text/plain', body: () => Buffer.alloc(0) },
  { name: 'a body that is not base64', contentType: 'text/plain', body: () => Buffer.from('%%% not base64 %%%', 'latin1') },
  { name: 'unencrypted JSON', contentType: 'text/plain', body: (_s, payload) => Buffer.from(JSON.stringify(payload ?? {}), 'utf8') },
  { name: 'a too short envelope', contentType: 'text/plain', body: (secret, payload) => text(sealRequest(secret, payload).bytes.subarray(0, 30)) },
  {
    name: 'a wrong version byte',
    contentType: 'text/plain',
    body: (secret, payload) => {
      const bytes = Buffer.from(sealRequest(secret, payload).bytes);
      bytes[0] = ENVELOPE_VERSION + 1;
      return text(bytes);
    },
  },
  { name: 'a wrong client secret', contentType: 'text/plain', body: (_s, payload) => text(sealRequest(randomBytes(32), payload).bytes) },
  { name: 'a timestamp 10 minutes old', contentType: 'text/plain', body: (secret, payload) => text(sealRequest(secret, payload, { nowMs: Date.now() - 10 * 60_000 }).bytes) },
  { name: 'a payload that is not JSON', contentType: 'text/plain', body: (secret) => text(sealBytes(secret, Buffer.from('{not json', 'utf8'))) },
  {
    name: 'a wrong version byte as octet-stream',
    contentType: 'application/octet-stream',
    body: (secret, payload) => {
      const bytes = Buffer.from(sealRequest(secret, payload).bytes);
      bytes[0] = ENVELOPE_VERSION + 1;
      return bytes;
    },
  },
  { name: 'a wrong client secret as octet-stream', contentType: 'application/octet-stream', body: (_s, payload) => sealRequest(randomBytes(32), payload).bytes },
];

/** An HTTP 200 must open with the right key and echo the nonce (the client says when not). */
function encrypted200(x: Exchange, what: string): void {
  if (x.http !== 200) undecided(`${what}: expected an HTTP 200 to judge, got HTTP ${x.http}${typeof statusOf(x) === 'string' ? ` ${quoteTarget(statusOf(x))}` : ''}`);
  if (x.envelopeError) fail(`${what}: the HTTP 200 answer is not a proper encrypted answer (${x.envelopeError.reason}: ${x.envelopeError.message})`);
}

/** A non-200 must be plain JSON with a string `status`. */
function plainError(x: Exchange, what: string): void {
  if (x.http === 200) undecided(`${what}: expected an error answer to judge, got HTTP 200`);
  if (typeof x.body !== 'object' || x.body === null || Array.isArray(x.body)) fail(`${what}: the HTTP ${x.http} answer is not plain JSON`);
  if (typeof statusOf(x) !== 'string') fail(`${what}: the HTTP ${x.http} answer has no "status"`);
}

export const envelopeChecks: Check[] = [
  {
    id: 'envelope.encrypted-200',
    rule: 'OP-ENVELOPE',
    kind: 'scenario',
    needs: [],
    title: 'every HTTP 200 (generate, validate, map v2/v3, status, keys, refresh, CSTG) opens with the right key and echoes the nonce',
    async run(ctx) {
      const kept = keptIn(ctx)[0]!;
      const generated = await ctx.api.generate({ [kept.kind]: kept.dii, optout_check: 1 } as never);
      encrypted200(generated, `generate for ${kept.label}`);
      const identity = bodyOf(generated) as { advertising_token?: string; refresh_token?: string; refresh_response_key?: string };
      if (typeof identity.refresh_token !== 'string' || typeof identity.refresh_response_key !== 'string' || typeof identity.advertising_token !== 'string') {
        undecided(`generate for ${kept.label} answered no identity to go on with`);
      }
      const answers: Array<[string, () => Promise<Exchange>]> = [
        [`validate of ${kept.label}'s token`, () => ctx.api.validate(identity.advertising_token!, { [kept.kind]: kept.dii } as never)],
        ['v2 map', () => ctx.api.mapV2({ [kept.kind]: [kept.dii] })],
        ['v3 map', () => ctx.api.mapV3({ [kept.kind]: [kept.dii] })],
        ['optout/status', () => ctx.api.optoutStatus([randomBytes(32).toString('base64')])],
        ['key/bidstream', () => ctx.api.encrypted('/v2/key/bidstream', undefined)],
        ['key/sharing', () => ctx.api.encrypted('/v2/key/sharing', undefined)],
        [`refresh of ${kept.label}'s fresh token`, () => ctx.api.refresh(identity.refresh_token!, identity.refresh_response_key!, { authenticated: true })],
      ];
      if (ctx.cstg) {
        const { publicKey, subscriptionId } = ctx.cstg;
        const hash = kept.kind === 'email' ? { email_hash: base64Hash(kept.dii) } : { phone_hash: base64Hash(kept.dii) };
        answers.push([`client-generate for ${kept.label}`, () => ctx.api.clientGenerate({ serverPublicKey: publicKey, subscriptionId, dii: hash })]);
      }
      for (const [what, send] of answers) encrypted200(await send(), what);
      return `${answers.length + 1} HTTP 200 answers opened with the expected key, the enveloped ones echoing the request nonce`;
    },
  },
  {
    id: 'envelope.octet-stream',
    rule: 'OP-ENVELOPE',
    kind: 'scenario',
    needs: [],
    title: 'requests sent as raw octet-stream bytes get raw octet-stream answers that open and echo the nonce',
    async run(ctx) {
      secretOf(ctx);
      const raw = new RecordingApi(new OperatorClient({ ...ctx.api.options, octetStream: true }), ctx.api.redactor);
      const kept = keptIn(ctx)[0]!;
      const answers: Array<[string, () => Promise<Exchange>]> = [
        [`generate for ${kept.label}`, () => raw.generate({ [kept.kind]: kept.dii, optout_check: 1 } as never)],
        ['v3 map', () => raw.mapV3({ [kept.kind]: [kept.dii] })],
        ['optout/status', () => raw.optoutStatus([randomBytes(32).toString('base64')])],
        ['key/bidstream', () => raw.encrypted('/v2/key/bidstream', undefined)],
      ];
      let identity: Json | undefined;
      for (const [what, send] of answers) {
        const x = await send();
        ctx.note(`octet-stream ${x.path}: HTTP ${x.http}${typeof statusOf(x) === 'string' ? ` ${quoteTarget(statusOf(x))}` : ''}, answered as ${x.contentType || 'no content type'}`);
        encrypted200(x, `${what} as octet-stream`);
        if (!x.contentType.toLowerCase().startsWith('application/octet-stream')) fail(`${what} as octet-stream: the HTTP 200 answer came as ${x.contentType || 'no content type'}, not raw application/octet-stream bytes`);
        if (x.path === '/v2/token/generate') identity = bodyOf(x);
      }
      // Refresh: the request is still the token text; only the answer becomes raw bytes (UID2-SPEC §9).
      if (typeof identity?.refresh_token !== 'string' || typeof identity.refresh_response_key !== 'string') undecided(`generate for ${kept.label} answered no identity to refresh`);
      const refreshed = await raw.refresh(identity.refresh_token, identity.refresh_response_key, { authenticated: true });
      ctx.note(`octet-stream ${refreshed.path}: HTTP ${refreshed.http}, answered as ${refreshed.contentType || 'no content type'}`);
      encrypted200(refreshed, 'refresh as octet-stream');
      if (!refreshed.contentType.toLowerCase().startsWith('application/octet-stream')) fail(`refresh as octet-stream: the HTTP 200 answer came as ${refreshed.contentType || 'no content type'}, not raw bytes`);
      return `${answers.length + 1} octet-stream requests got raw answers that opened`;
    },
  },
  {
    id: 'envelope.errors-plain',
    rule: 'OP-ENVELOPE',
    kind: 'scenario',
    needs: [],
    title: 'error answers (400s of each endpoint, refresh errors, 401) are plain JSON with a status',
    async run(ctx) {
      const kept = keptIn(ctx)[0]!;
      const anyKey = randomBytes(32).toString('base64');
      const errors: Array<[string, () => Promise<Exchange>]> = [
        ['generate with no DII field', () => ctx.api.encrypted('/v2/token/generate', { optout_check: 1 })],
        ['generate with an invalid email', () => ctx.api.generate({ email: 'no-at-sign.example.com', optout_check: 1 })],
        ['validate of a string that is no token', () => ctx.api.validate('not-a-token', { [kept.kind]: kept.dii } as never)],
        ['v2 map with no DII array', () => ctx.api.mapV2({})],
        ['v3 map with no DII array', () => ctx.api.mapV3({})],
        ['status without advertising_ids', () => ctx.api.encrypted('/v2/optout/status', {})],
        ['refresh of a body that is no refresh token, with an API key', () => ctx.api.refresh('not-a-refresh-token', anyKey, { authenticated: true })],
        ['refresh of a body that is no refresh token, without an API key', () => ctx.api.refresh('not-a-refresh-token', anyKey)],
        ['logout with a key without the OPTOUT role', () => ctx.api.encrypted('/v2/token/logout', {})],
      ];
      if (ctx.cstg) {
        const { publicKey, subscriptionId } = ctx.cstg;
        errors.push(['client-generate with an unknown subscription_id', () => ctx.api.clientGenerate({ serverPublicKey: publicKey, subscriptionId: `${subscriptionId}-unknown`, dii: { email_hash: base64Hash(kept.dii) } })]);
      }
      for (const [what, send] of errors) plainError(await send(), what);
      return `${errors.length} error answers are plain JSON with a status`;
    },
  },
  {
    id: 'envelope.malformed',
    rule: 'OP-ENVELOPE',
    kind: 'scenario',
    needs: [],
    title: 'malformed or wrongly keyed envelopes (empty, not base64, unencrypted, short, wrong version, secret or time, not JSON) answer 400 client_error',
    async run(ctx) {
      const secret = secretOf(ctx);
      const endpoints = targets(ctx);
      // The same payloads in proper envelopes are accepted: a 400 below can only be the envelope's.
      const baseline = await Promise.all(endpoints.map(({ path, payload }) => postRaw(ctx, path, text(sealRequest(secret, payload).bytes), 'text/plain')));
      ctx.note(`well-formed: ${endpoints.map((t, i) => `${t.path} ${shown(baseline[i]!)}`).join(', ')}`);
      const refused = endpoints.filter((_, i) => baseline[i]!.http !== 200);
      if (refused.length > 0) undecided(`well-formed envelopes were not accepted (${refused.map((t) => `${t.path} ${shown(baseline[endpoints.indexOf(t)]!)}`).join(', ')}), so envelope errors cannot be told apart`);
      const wrong: string[] = [];
      for (const malformed of MALFORMED) {
        const answers = await Promise.all(endpoints.map(({ path, payload }) => postRaw(ctx, path, malformed.body(secret, payload), malformed.contentType)));
        ctx.note(`${malformed.name}: ${endpoints.map((t, i) => `${t.path} ${shown(answers[i]!)}`).join(', ')}`);
        answers.forEach((a, i) => {
          if (!isClientError(a)) wrong.push(`${malformed.name} to ${endpoints[i]!.path}: ${shown(a)}`);
        });
      }
      if (wrong.length > 0) fail(`expected 400 "client_error" for every malformed envelope: ${wrong.slice(0, 6).join('; ')}${wrong.length > 6 ? `; … ${wrong.length - 6} more` : ''}`);
      return `${MALFORMED.length} kinds of malformed envelope to ${endpoints.length} endpoints each answered 400 client_error`;
    },
  },
  {
    id: 'envelope.garbage.property',
    rule: 'OP-ENVELOPE',
    kind: 'property',
    needs: [],
    title: 'random bytes as the body of generate, map or status never get a 5xx, always 400 client_error in plain JSON',
    async run(ctx) {
      secretOf(ctx);
      const paths = ['/v2/token/generate', '/v2/identity/map', '/v3/identity/map', '/v2/optout/status'] as const;
      // Short random bytes; bytes long enough to be an envelope (their first byte a version); and such
      // bytes with the right version byte, which reach decryption.
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 44 }),
        fc.uint8Array({ minLength: 45, maxLength: 160 }),
        fc.uint8Array({ minLength: 45, maxLength: 160 }).map((b) => Uint8Array.from([ENVELOPE_VERSION, ...b.subarray(1)])),
      );
      const arbitrary = fc.record({ path: fc.constantFrom(...paths), octet: fc.boolean(), base64: fc.boolean(), bytes });
      let answered = 0;
      const verdict = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async ({ path, octet, base64, bytes }) => {
          const raw = Buffer.from(bytes);
          const a = await postRaw(ctx, path, base64 ? text(raw) : raw, octet ? 'application/octet-stream' : 'text/plain');
          answered += 1;
          if (!isClientError(a)) fail(`${path} answered ${shown(a)} to a body of random bytes, expected 400 "client_error"`);
        },
        ({ path, octet, base64, bytes }) => `${bytes.length} random bytes${bytes[0] === ENVELOPE_VERSION ? ' starting with the version byte' : ''}${base64 ? ' in base64' : ''} as ${octet ? 'octet-stream' : 'text/plain'} to ${path}`,
      );
      ctx.note(`${answered} random bodies answered 400 client_error`);
      return verdict;
    },
  },
  {
    id: 'envelope.tampered.property',
    rule: 'OP-ENVELOPE',
    kind: 'property',
    needs: [],
    title: 'a proper envelope with any one byte changed, or cut short, answers 400 client_error, never a 5xx',
    async run(ctx) {
      const secret = secretOf(ctx);
      const endpoints = targets(ctx);
      const mutation = fc.oneof(
        // The version byte (offset 0) gets its share: it is checked before decryption.
        fc.record({ kind: fc.constant('flip' as const), at: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.nat(), weight: 3 }), xor: fc.integer({ min: 1, max: 255 }) }),
        fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      );
      const arbitrary = fc.record({ target: fc.nat({ max: endpoints.length - 1 }), octet: fc.boolean(), mutation });
      let answered = 0;
      const verdict = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async ({ target, octet, mutation }) => {
          const { path, payload } = endpoints[target]!;
          const bytes = Buffer.from(sealRequest(secret, payload).bytes);
          const at = mutation.at % bytes.length;
          const tampered = mutation.kind === 'flip' ? (bytes.writeUInt8(bytes[at]! ^ mutation.xor, at), bytes) : bytes.subarray(0, at);
          const a = await postRaw(ctx, path, octet ? tampered : text(tampered), octet ? 'application/octet-stream' : 'text/plain');
          answered += 1;
          if (!isClientError(a)) fail(`${path} answered ${shown(a)} to a tampered envelope, expected 400 "client_error"`);
        },
        ({ target, octet, mutation }) => `${endpoints[target]!.path} envelope ${mutation.kind === 'flip' ? `with byte ${mutation.at} (mod length) changed` : `cut to ${mutation.at} (mod length) bytes`} as ${octet ? 'octet-stream' : 'base64 text'}`,
      );
      ctx.note(`${answered} tampered envelopes answered 400 client_error`);
      return verdict;
    },
  },
];
