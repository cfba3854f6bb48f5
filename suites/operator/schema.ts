// OP-SCHEMA: every answer matches its endpoint's JSON Schema in schemas/ (RULES.md; UID2-SPEC §0, §1, §5.2,
// §9; UID2-TOKEN-FORMAT §3). Each check drives one endpoint through its success, opt-out and error answers
// and validates every answer it gets: an HTTP 200 against `answer.<endpoint>`, any other status against
// `answer.error`. Which answer comes is other rules' business: a check that cannot obtain the answer it
// means to validate is undecided, never a pass. Batches hold only never-opted-out and invalid entries
// (the map faults misplace opted-out entries of batches); opted-out inputs go one per request.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { OperatorClient, type DiiInput, type Exchange, type MapRequest } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { RecordingApi } from '../../harness/engine/recording.ts';
import { ANSWER_SCHEMA_OF_PATH, validateAnswer } from '../../harness/engine/schemas.ts';
import { base64Hash, hexHash, SyntheticIdentities } from '../../harness/engine/synthetic.ts';
import type { DiiField } from '../../harness/wire/dii.ts';
import { bodyOf, endpointOf, keptIn, optedOut, statusOf, whilePending, type Json } from './support.ts';

/** Invalid identifiers per request field: each fails normalization or hash decoding (UID2-SPEC §3). */
const INVALID: Record<DiiField, string> = {
  email: 'no-at-sign.example.com',
  email_hash: 'not-a-hash',
  phone: '12345',
  phone_hash: 'abcd',
};

/** How an answer looked, safe to print. */
function seen(x: Exchange): string {
  if (x.envelopeError) return `HTTP ${x.http} that did not open (${x.envelopeError.reason})`;
  const status = statusOf(x);
  return `HTTP ${x.http}${typeof status === 'string' ? ` "${status}"` : x.body === undefined ? ' without a JSON body' : ''}`;
}

/**
 * Validates one answer: an HTTP 200 against its endpoint's schema, any other status with a JSON body
 * against the error schema. A 200 that does not open, or a non-200 that is not JSON, is OP-ENVELOPE's.
 */
function judge(x: Exchange, what: string): void {
  if (x.http === 200) {
    if (x.envelopeError) undecided(`${what}: the HTTP 200 answer did not open (${x.envelopeError.reason}), so its shape cannot be checked (see OP-ENVELOPE)`);
    const name = ANSWER_SCHEMA_OF_PATH[x.path];
    if (!name) throw new Error(`no answer schema for ${x.path}`);
    const problems = validateAnswer(name, x.body);
    if (problems.length > 0) fail(`${what}: the answer does not match schemas/answer.${name}.schema.json: ${problems.join('; ')}`);
  } else if (x.body !== undefined) {
    const problems = validateAnswer('error', x.body);
    if (problems.length > 0) fail(`${what}: the HTTP ${x.http} answer does not match schemas/answer.error.schema.json: ${problems.join('; ')}`);
  }
}

/** What a request is sent to obtain: the answer whose shape the check means to validate. */
type Want = { http: 200; status: 'success' | 'optout' } | { http: 400 | 401; status?: string };

const matches = (x: Exchange, want: Want): boolean => x.http === want.http && !x.envelopeError && (want.status === undefined || statusOf(x) === want.status);
const wanted = (want: Want) => `HTTP ${want.http}${want.status ? ` "${want.status}"` : ''}`;

/** Sends once, validates the answer, and makes sure it is the kind of answer the check meant to validate. */
async function exercise(what: string, send: () => Promise<Exchange>, want: Want): Promise<Exchange> {
  const x = await send();
  judge(x, what);
  if (!matches(x, want)) undecided(`${what}: expected ${wanted(want)} to validate, got ${seen(x)}`);
  return x;
}

/**
 * For an opted-out subject: polls (while the opt-out is pending) until the answer is the opt-out one,
 * validating every answer on the way.
 */
async function exerciseOptedOut(ctx: CheckContext, subject: Subject, what: string, send: () => Promise<Exchange>, isOptout: (x: Exchange) => boolean): Promise<Exchange> {
  const probe = async () => {
    const x = await send();
    judge(x, what);
    return x;
  };
  const polled = await whilePending(ctx, subject, probe, isOptout, endpointOf);
  if (!polled.reported) undecided(`${what}: never answered the opt-out form to validate (last ${seen(polled.last)})`);
  return polled.last;
}

const email = (subjects: readonly Subject[]) => subjects.find((s) => s.kind === 'email');
const phone = (subjects: readonly Subject[]) => subjects.find((s) => s.kind === 'phone');
const dii = (s: Subject): DiiInput => ({ [s.kind]: s.dii }) as DiiInput;
/** The documented test phones are OP-TEST-IDENTITIES's alone (a fault swaps them). */
const notTestPhone = (s: Subject): boolean => !(s.test && s.kind === 'phone');

/** A v2 answer's unmapped entry with this reason (for a one-entry request). */
const v2Unmapped = (reason: string) => (x: Exchange) => x.http === 200 && !x.envelopeError && ((bodyOf(x).unmapped ?? []) as Json[]).some((u) => u?.reason === reason);
/** The first entry of a v3 answer's array for this field. */
const v3Entry = (x: Exchange, field: DiiField): Json | undefined => ((bodyOf(x)[field] ?? []) as Json[])[0];

export const schemaChecks: Check[] = [
  {
    id: 'schema.generate',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'generate answers match answer.token-generate (success in all four fields, optout) and answer.error (400s)',
    async run(ctx) {
      const kept = keptIn(ctx);
      const e = email(kept)!;
      const p = phone(kept);
      let n = 0;
      const forms: Array<[string, DiiInput]> = [
        [`${e.label} as email`, { email: e.dii }],
        [`${e.label} as email_hash`, { email_hash: base64Hash(e.dii) }],
        ...(p
          ? ([
              [`${p.label} as phone`, { phone: p.dii }],
              [`${p.label} as phone_hash (hex)`, { phone_hash: hexHash(p.dii) }],
            ] as Array<[string, DiiInput]>)
          : []),
      ];
      for (const [label, input] of forms) {
        await exercise(`generate for ${label}`, () => ctx.api.generate({ ...input, optout_check: 1 }), { http: 200, status: 'success' });
        n += 1;
      }
      const out = email(optedOut(ctx, 'optedOut', 'generate', ['email']))!;
      await exerciseOptedOut(ctx, out, `generate for ${out.label} as email`, () => ctx.api.generate({ email: out.dii, optout_check: 1 }), (x) => matches(x, { http: 200, status: 'optout' }));
      await exercise('generate with no DII field', () => ctx.api.encrypted('/v2/token/generate', { optout_check: 1 }), { http: 400, status: 'client_error' });
      await exercise('generate with an invalid email', () => ctx.api.generate({ email: INVALID.email, optout_check: 1 }), { http: 400, status: 'client_error' });
      return `${n} success answers, an optout answer and 2 client_error answers match their schemas`;
    },
  },
  {
    id: 'schema.refresh',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'refresh answers match answer.token-refresh (success, optout) and answer.error (invalid_token, error)',
    async run(ctx) {
      const e = email(keptIn(ctx))!;
      const issued = await exercise(`generate for ${e.label}`, () => ctx.api.generate({ email: e.dii, optout_check: 1 }), { http: 200, status: 'success' });
      const identity = bodyOf(issued) as { refresh_token: string; refresh_response_key: string };
      await exercise(`refresh of a fresh token of ${e.label}`, () => ctx.api.refresh(identity.refresh_token, identity.refresh_response_key, { authenticated: true }), { http: 200, status: 'success' });

      // A fresh token of a refresh-optout test identity answers optout to every refresh; otherwise a token issued
      // before an opt-out, while it lasts (past refresh_expires it answers expired_token: UID2-SPEC §1.2).
      const tested = ctx.population.get('refreshTest').find((s) => s.kind === 'email');
      const fresh = tested && (await ctx.api.generate({ email: tested.dii, optout_check: 1 }));
      const live = (s: Subject) => s.issued !== undefined && Date.now() < s.issued.refresh_expires && ctx.oracle.expect(s.person, 'refresh', Date.now()) !== 'in';
      const before = fresh && statusOf(fresh) === 'success' ? { ...tested!, issued: bodyOf(fresh) as unknown as NonNullable<Subject['issued']> } : ctx.population.get('optedOut').find(live);
      if (!before?.issued) undecided('no live token issued before an opt-out (nor of a refresh-optout test identity) to refresh');
      const { refresh_token: token, refresh_response_key: key } = before.issued;
      await exerciseOptedOut(ctx, before, `refresh of ${before.label}'s token`, () => ctx.api.refresh(token, key, { authenticated: true }), (x) => matches(x, { http: 200, status: 'optout' }));

      const anyKey = randomBytes(32).toString('base64');
      await exercise('refresh of a body that is no refresh token, with an API key', () => ctx.api.refresh('not-a-refresh-token', anyKey, { authenticated: true }), { http: 400 });
      await exercise('refresh of a body that is no refresh token, without an API key', () => ctx.api.refresh('not-a-refresh-token', anyKey), { http: 400 });
      return 'a success answer, an optout answer and 2 refresh errors match their schemas';
    },
  },
  {
    id: 'schema.validate',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'validate answers match answer.token-validate (true, false) and answer.error (invalid token)',
    async run(ctx) {
      const kept = keptIn(ctx);
      const e = email(kept)!;
      const other = kept.find((s) => s !== e);
      const issued = await exercise(`generate for ${e.label}`, () => ctx.api.generate({ email: e.dii, optout_check: 1 }), { http: 200, status: 'success' });
      const token = bodyOf(issued).advertising_token as string;
      await exercise(`validate ${e.label}'s token with its own DII`, () => ctx.api.validate(token, dii(e)), { http: 200, status: 'success' });
      if (other) await exercise(`validate ${e.label}'s token with ${other.label}`, () => ctx.api.validate(token, dii(other)), { http: 200, status: 'success' });
      await exercise('validate of a string that is no token', () => ctx.api.validate('not-a-token', dii(e)), { http: 400, status: 'client_error' });
      return `${other ? 'true and false validate answers' : 'a validate answer'} and a client_error answer match their schemas`;
    },
  },
  {
    id: 'schema.map-v2',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'v2 identity map answers match answer.identity-map-v2 (mapped, unmapped optout and invalid) and answer.error',
    async run(ctx) {
      const kept = keptIn(ctx);
      const requests: Array<[string, MapRequest]> = [];
      for (const kind of ['email', 'phone'] as const) {
        const ofKind = kept.filter((s) => s.kind === kind);
        if (ofKind.length === 0) continue;
        const hashField = kind === 'email' ? 'email_hash' : 'phone_hash';
        requests.push([`a batch of ${ofKind.length} ${kind}s and an invalid one`, { [kind]: [...ofKind.map((s) => s.dii), INVALID[kind]] }]);
        requests.push([`a batch of ${hashField}es and an invalid one`, { [hashField]: [base64Hash(ofKind[0]!.dii), hexHash(ofKind[0]!.dii), INVALID[hashField]] }]);
      }
      let invalidSeen = false;
      for (const [label, request] of requests) {
        const x = await exercise(`v2 map of ${label}`, () => ctx.api.mapV2(request), { http: 200, status: 'success' });
        invalidSeen ||= v2Unmapped('invalid identifier')(x);
      }
      if (!invalidSeen) undecided('no v2 map answer listed an unmapped invalid identifier to validate');
      const subjects = optedOut(ctx, 'optedOut', 'map').filter(notTestPhone);
      for (const s of [email(subjects), phone(subjects)].filter((s): s is Subject => s !== undefined)) {
        await exerciseOptedOut(ctx, s, `v2 map of ${s.label} alone`, () => ctx.api.mapV2({ [s.kind]: [s.dii] }), v2Unmapped('optout'));
      }
      await exercise('v2 map with two DII arrays', () => ctx.api.mapV2({ email: [email(kept)!.dii], email_hash: [base64Hash(email(kept)!.dii)] }), { http: 400, status: 'client_error' });
      return `${requests.length} batch answers, the opt-out answers and a client_error answer match their schemas`;
    },
  },
  {
    id: 'schema.map-v3',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'v3 identity map answers match answer.identity-map-v3 (u/p/r entries, e entries, all four arrays) and answer.error',
    async run(ctx) {
      const kept = keptIn(ctx);
      const e = email(kept)!;
      const p = phone(kept);
      const batch: MapRequest = {
        email: [...kept.filter((s) => s.kind === 'email').map((s) => s.dii), INVALID.email],
        email_hash: [base64Hash(e.dii), INVALID.email_hash],
        ...(p ? { phone: [p.dii, INVALID.phone], phone_hash: [hexHash(p.dii)] } : {}),
      };
      const x = await exercise('v3 map of a mixed batch of never-opted-out and invalid entries', () => ctx.api.mapV3(batch), { http: 200, status: 'success' });
      if (!((bodyOf(x).email ?? []) as Json[]).some((entry) => entry?.e === 'invalid identifier')) undecided('the v3 map answer listed no invalid identifier to validate');
      await exercise('v3 map of an email alone (the other three arrays empty)', () => ctx.api.mapV3({ email: [e.dii] }), { http: 200, status: 'success' });
      const subjects = optedOut(ctx, 'optedOut', 'map').filter(notTestPhone);
      for (const s of [email(subjects), phone(subjects)].filter((s): s is Subject => s !== undefined)) {
        await exerciseOptedOut(ctx, s, `v3 map of ${s.label} alone`, () => ctx.api.mapV3({ [s.kind]: [s.dii] }), (a) => v3Entry(a, s.kind)?.e === 'optout');
      }
      await exercise('v3 map with no DII array', () => ctx.api.mapV3({}), { http: 400, status: 'client_error' });
      return 'v3 answers with mapped, invalid and opted-out entries and a client_error answer match their schemas';
    },
  },
  {
    id: 'schema.optout-status',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'optout/status answers match answer.optout-status (nothing listed) and answer.error (missing advertising_ids)',
    async run(ctx) {
      const unknownIds = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
      await exercise('status of raw UID2s nobody opted out', () => ctx.api.optoutStatus(unknownIds), { http: 200, status: 'success' });
      await exercise('status of no raw UID2 at all', () => ctx.api.optoutStatus([]), { http: 200, status: 'success' });
      await exercise('status without advertising_ids', () => ctx.api.encrypted('/v2/optout/status', {}), { http: 400, status: 'client_error' });
      return 'two empty listings and a client_error answer match their schemas';
    },
  },
  {
    id: 'schema.optout-status.listed',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: ['optout'],
    title: 'an optout/status answer listing opted-out raw UID2s matches answer.optout-status',
    async run(ctx) {
      const subjects = optedOut(ctx, 'optedOut', 'status').filter((s) => s.rawUid);
      if (subjects.length === 0) undecided('no opted-out subject has a raw UID2 to ask about');
      const others = keptIn(ctx).flatMap((s) => (s.rawUid ? [s.rawUid] : []));
      const ids = [...subjects.map((s) => s.rawUid!), ...others];
      await exerciseOptedOut(ctx, subjects[0]!, `status of ${subjects.length} opted-out and ${others.length} other raw UID2s`, () => ctx.api.optoutStatus(ids), (x) => x.http === 200 && ((bodyOf(x).opted_out ?? []) as unknown[]).length > 0);
      return `a listing of opted-out raw UID2s (${subjects.length} asked) matches its schema`;
    },
  },
  {
    id: 'schema.logout',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: ['optout'],
    title: 'logout answers match answer.token-logout (acknowledgement) and answer.error (invalid_token, unauthorized)',
    async run(ctx) {
      const optoutApi = ctx.optoutApi!;
      // A fresh identity nobody else uses, logged out once (OP-LOGOUT judges repeats).
      const fresh = new SyntheticIdentities().email();
      await exercise('logout of a fresh synthetic email', () => optoutApi.logout({ email: fresh }), { http: 200, status: 'success' });
      await exercise('logout with no DII field', () => optoutApi.encrypted('/v2/token/logout', {}), { http: 400 });
      await exercise('logout with a key without the OPTOUT role', () => ctx.api.encrypted('/v2/token/logout', {}), { http: 401, status: 'unauthorized' });
      return 'an acknowledgement, a 400 and a 401 answer match their schemas';
    },
  },
  {
    id: 'schema.cstg',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: ['cstg'],
    title: 'client-generate answers match answer.token-client-generate (success, optout) and answer.error (bad subscription)',
    async run(ctx) {
      const cstg = ctx.cstg!;
      const send = (hash: { email_hash: string } | { phone_hash: string }, subscriptionId = cstg.subscriptionId) =>
        ctx.api.clientGenerate({ serverPublicKey: cstg.publicKey, subscriptionId, dii: hash });
      const kept = keptIn(ctx);
      const e = email(kept)!;
      const p = phone(kept);
      await exercise(`client-generate for ${e.label} as email_hash`, () => send({ email_hash: base64Hash(e.dii) }), { http: 200, status: 'success' });
      if (p) await exercise(`client-generate for ${p.label} as phone_hash`, () => send({ phone_hash: base64Hash(p.dii) }), { http: 200, status: 'success' });
      // Opted out through an email hash: OP-CSTG-OPTOUT alone relies on CSTG for phone hashes.
      const out = email(optedOut(ctx, 'optedOut', 'cstg', ['email']))!;
      await exerciseOptedOut(ctx, out, `client-generate for ${out.label} as email_hash`, () => send({ email_hash: base64Hash(out.dii) }), (x) => matches(x, { http: 200, status: 'optout' }));
      await exercise('client-generate with an unknown subscription_id', () => send({ email_hash: base64Hash(e.dii) }, `${cstg.subscriptionId}-unknown`), { http: 400, status: 'client_error' });
      return 'success, optout and client_error answers of client-generate match their schemas';
    },
  },
  {
    id: 'schema.keys',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'key/bidstream and key/sharing answers match answer.key-bidstream and answer.key-sharing',
    async run(ctx) {
      await exercise('key/bidstream', () => ctx.api.encrypted('/v2/key/bidstream', undefined), { http: 200, status: 'success' });
      await exercise('key/sharing', () => ctx.api.encrypted('/v2/key/sharing', undefined), { http: 200, status: 'success' });
      return 'both key answers match their schemas';
    },
  },
  {
    id: 'schema.unauthorized',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    title: 'a 401 for an unknown API key matches answer.error',
    async run(ctx) {
      const stranger = new RecordingApi(new OperatorClient({ ...ctx.api.options, apiKey: `UID2-C-L-unknown-${randomBytes(6).toString('hex')}` }), ctx.api.redactor);
      for (const path of ['/v2/token/generate', '/v3/identity/map', '/v2/optout/status', '/v2/key/sharing']) {
        const x = await exercise(`${path} with an unknown API key`, () => stranger.encrypted(path, {}), { http: 401, status: 'unauthorized' });
        ctx.note(`${path} with an unknown API key: ${seen(x)}`);
      }
      return '4 answers to an unknown API key match answer.error';
    },
  },
  {
    id: 'schema.map.property',
    rule: 'OP-SCHEMA',
    kind: 'property',
    needs: [],
    title: 'any v2 or v3 map batch of never-opted-out and invalid entries, in any field, answers in its schema',
    async run(ctx) {
      const kept = keptIn(ctx);
      const fields = ['email', 'email_hash', 'phone', 'phone_hash'] as const;
      /** Entry choices per field: a never-opted-out subject in that form, or the field's invalid identifier. */
      const choices = Object.fromEntries(
        fields.map((field) => {
          const ofKind = kept.filter((s) => field.startsWith(s.kind));
          const value = (s: Subject) => (field === 'email_hash' ? base64Hash(s.dii) : field === 'phone_hash' ? hexHash(s.dii) : s.dii);
          return [field, [...ofKind.map((s) => ({ label: s.label, value: value(s) })), { label: 'invalid', value: INVALID[field] }]];
        }),
      ) as Record<DiiField, Array<{ label: string; value: string }>>;
      const entries = (field: DiiField) => fc.array(fc.nat({ max: choices[field].length - 1 }), { minLength: 0, maxLength: 4 });
      const arbitrary = fc.record({
        v3: fc.boolean(),
        field: fc.constantFrom(...fields),
        lists: fc.record({ email: entries('email'), email_hash: entries('email_hash'), phone: entries('phone'), phone_hash: entries('phone_hash') }),
      });
      const request = ({ v3, field, lists }: { v3: boolean; field: DiiField; lists: Record<DiiField, number[]> }): MapRequest =>
        v3
          ? Object.fromEntries(fields.filter((f) => lists[f].length > 0 || f === field).map((f) => [f, lists[f].map((i) => choices[f][i]!.value)]))
          : { [field]: lists[field].map((i) => choices[field][i]!.value) };
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (value) => {
          const body = request(value);
          const x = value.v3 ? await ctx.api.mapV3(body) : await ctx.api.mapV2(body);
          const what = `${value.v3 ? 'v3' : 'v2'} map of a batch`;
          judge(x, what);
          if (!matches(x, { http: 200, status: 'success' })) undecided(`${what}: expected HTTP 200 "success" to validate, got ${seen(x)}`);
        },
        (value) => {
          const body = request(value);
          const shown = Object.entries(body).map(([f, list]) => `${f}: [${list!.map((v) => (v === INVALID[f as DiiField] ? 'invalid' : (choices[f as DiiField].find((c) => c.value === v)?.label ?? '?'))).join(', ')}]`);
          return `${value.v3 ? 'v3' : 'v2'} {${shown.join('; ')}}`;
        },
      );
    },
  },
  {
    id: 'schema.every-answer',
    rule: 'OP-SCHEMA',
    kind: 'scenario',
    needs: [],
    last: true,
    title: 'every JSON answer any check of the run received matches its endpoint\'s schema',
    async run(ctx) {
      const { validated, violations, kept } = ctx.ledger;
      if (validated === 0) undecided('no answer of the run could be validated');
      for (const v of kept) ctx.note(`${v.check}: ${v.path} HTTP ${v.http}: ${v.problems.slice(0, 3).join('; ')}`);
      if (violations > 0) {
        const first = kept[0]!;
        fail(`${violations} of ${validated} answers of the run do not match their schema; first: ${first.path} HTTP ${first.http} in ${first.check}: ${first.problems[0]}`);
      }
      return `all ${validated} JSON answers of the run match their endpoint's schema`;
    },
  },
];
