// The answer schemas of schemas/ (OP-SCHEMA): every file compiles; the simulated operator's real answers,
// success, opt-out and error, match them; broken answers (a missing field, a wrong type) do not, with
// problems that name where, never what. Seconds-for-milliseconds is not a schema matter (OP-STATUS-OPTOUT).
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorClient, type Exchange } from '../../harness/client/operator-client.ts';
import { ANSWER_SCHEMA_OF_PATH, ANSWER_SCHEMAS, compiledSchemas, SCHEMA_DIR, validateAnswer, type AnswerSchema } from '../../harness/engine/schemas.ts';
import { base64Hash, hexHash } from '../../harness/engine/synthetic.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { findOperatorVariant } from '../../harness/operator/variants.ts';

const clone = <T>(value: T): T => structuredClone(value);
let counter = 0;
const email = () => `schema-${process.pid}-${++counter}@example.com`;
const phone = () => `+99955500${String(++counter).padStart(3, '0')}`;

/** The schema an exchange is judged by: its endpoint's for a 200, the error schema otherwise. */
function problemsOf(x: Exchange): string[] {
  if (x.http !== 200) return validateAnswer('error', x.body);
  expect(x.envelopeError).toBeUndefined();
  return validateAnswer(ANSWER_SCHEMA_OF_PATH[x.path]!, x.body);
}

describe('schema files', () => {
  it('every schema file in schemas/ is draft-07 and compiles, and every endpoint answer has one', () => {
    const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));
    const compiled = compiledSchemas();
    expect([...compiled.keys()].sort()).toEqual(files.map((f) => f.replace(/\.schema\.json$/, '')).sort());
    for (const name of ANSWER_SCHEMAS) expect(compiled.has(`answer.${name}`)).toBe(true);
    for (const [name, validate] of compiled) expect((validate.schema as { $schema?: string }).$schema, name).toBe('http://json-schema.org/draft-07/schema#');
    expect(new Set(Object.values(ANSWER_SCHEMA_OF_PATH)).size).toBe(ANSWER_SCHEMAS.length - 1);
  });

  it('refuses an unknown schema name', () => {
    expect(() => validateAnswer('nope' as AnswerSchema, {})).toThrow(/no schema named/);
  });
});

describe('answers of the simulated operator', () => {
  let op: RunningOperator;
  let api: OperatorClient;
  let optout: OperatorClient;
  let cstg: (hash: { email_hash: string } | { phone_hash: string }, subscriptionId?: string) => Promise<Exchange>;
  const optedOut = email();

  beforeAll(async () => {
    op = await startOperator({ propagationDelayMs: 0 });
    const c = op.credentials;
    api = new OperatorClient({ baseUrl: op.url, apiKey: c.apiKey, clientSecret: c.clientSecret });
    optout = new OperatorClient({ baseUrl: op.url, apiKey: c.optoutApiKey, clientSecret: c.optoutClientSecret });
    cstg = (hash, subscriptionId = c.cstgSubscriptionId) => api.clientGenerate({ serverPublicKey: c.cstgPublicKey, subscriptionId, dii: hash });
    expect((await optout.logout({ email: optedOut })).http).toBe(200);
  });
  afterAll(() => op?.close());

  it('generate, refresh, validate and client-generate: success and optout', async () => {
    const kept = email();
    const issued = await api.generate({ email: kept, optout_check: 1 });
    const identity = (issued.body as { body: { advertising_token: string; refresh_token: string; refresh_response_key: string } }).body;
    const before = await api.generate({ phone: phone() });
    const beforeIdentity = (before.body as { body: { refresh_token: string; refresh_response_key: string } }).body;
    const exchanges = [
      issued,
      before,
      await api.generate({ email_hash: base64Hash(email()) }),
      await api.generate({ phone_hash: hexHash(phone()) }),
      await api.generate({ email: optedOut, optout_check: 1 }),
      await api.refresh(identity.refresh_token, identity.refresh_response_key, { authenticated: true }),
      await api.validate(identity.advertising_token, { email: kept }),
      await api.validate(identity.advertising_token, { email: email() }),
      await cstg({ email_hash: base64Hash(email()) }),
      await cstg({ email_hash: base64Hash(optedOut) }),
    ];
    const refreshTest = await api.generate({ email: 'refresh-optout@example.com' });
    const test = (refreshTest.body as { body: { refresh_token: string; refresh_response_key: string } }).body;
    exchanges.push(await api.refresh(test.refresh_token, test.refresh_response_key));
    expect(exchanges.map((x) => (x.body as { status: string }).status)).toEqual(['success', 'success', 'success', 'success', 'optout', 'success', 'success', 'success', 'success', 'optout', 'optout']);
    for (const x of exchanges) expect(problemsOf(x), x.path).toEqual([]);
    expect(beforeIdentity.refresh_token).toHaveLength(388);
  });

  it('identity map v2 and v3 (mapped, optout, invalid), optout/status, logout and the key endpoints', async () => {
    const kept = [email(), email()];
    const v2 = await api.mapV2({ email: [...kept, 'no-at-sign'] });
    const v2Out = await api.mapV2({ email: [optedOut] });
    const v3 = await api.mapV3({ email: [...kept, 'no-at-sign'], phone_hash: [hexHash(phone())] });
    const v3Out = await api.mapV3({ email: [optedOut] });
    expect((v2.body as { body: { unmapped: unknown[] } }).body.unmapped).toEqual([{ identifier: 'no-at-sign', reason: 'invalid identifier' }]);
    expect((v2Out.body as { body: { unmapped: unknown[] } }).body.unmapped).toEqual([{ identifier: optedOut, reason: 'optout' }]);
    expect((v3Out.body as { body: { email: unknown[] } }).body.email).toEqual([{ e: 'optout' }]);
    const uid = (v2.body as { body: { mapped: Array<{ advertising_id: string }> } }).body.mapped[0]!.advertising_id;
    const outUid = await (async () => {
      const fresh = email();
      const m = await api.mapV2({ email: [fresh] });
      await optout.logout({ email: fresh });
      return (m.body as { body: { mapped: Array<{ advertising_id: string }> } }).body.mapped[0]!.advertising_id;
    })();
    const status = await api.optoutStatus([uid, outUid]);
    expect((status.body as { body: { opted_out: unknown[] } }).body.opted_out).toHaveLength(1);
    const exchanges = [
      v2,
      v2Out,
      await api.mapV2({ email: [] }),
      v3,
      v3Out,
      status,
      await api.optoutStatus([]),
      await optout.logout({ email: email() }),
      await api.keysBidstream(),
      await api.keysSharing(),
    ];
    for (const x of exchanges) expect(problemsOf(x), x.path).toEqual([]);
  });

  it('error answers: 400 of each kind, refresh errors, 401', async () => {
    const stranger = new OperatorClient({ ...api.options, apiKey: 'UID2-C-L-unknown' });
    const exchanges = [
      await api.encrypted('/v2/token/generate', {}),
      await api.generate({ email: 'no-at-sign' }),
      await api.validate('not-a-token', { email: email() }),
      await api.mapV2({ email: ['a@example.com'], phone: ['+12345678901'] }),
      await api.mapV3({}),
      await api.encrypted('/v2/optout/status', {}),
      await optout.encrypted('/v2/token/logout', {}),
      await api.refresh('short', Buffer.alloc(32).toString('base64'), { authenticated: true }),
      await api.refresh('short', Buffer.alloc(32).toString('base64')),
      await cstg({ email_hash: base64Hash(email()) }, 'unknown-subscription'),
      await api.encrypted('/v2/token/logout', {}),
      await stranger.generate({ email: email() }),
    ];
    expect(exchanges.map((x) => x.http)).toEqual([400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 401, 401]);
    for (const x of exchanges) expect(problemsOf(x), `${x.path} HTTP ${x.http}`).toEqual([]);
  });

  it('the empty-error-message variant: its internal-error 500 carries "message": "" and matches the error schema', async () => {
    let broken = false;
    const now = () => {
      if (broken) throw new Error('simulated internal error');
      return Date.now();
    };
    const variant = await startOperator({ ...findOperatorVariant('empty-error-message')!.operator, now });
    try {
      const c = variant.credentials;
      // No retries: the 500 itself is what is judged here.
      const client = new OperatorClient({ baseUrl: variant.url, apiKey: c.apiKey, clientSecret: c.clientSecret, retryWindowMs: 0 });
      broken = true;
      const x = await client.generate({ email: email() });
      expect([x.http, x.body]).toEqual([500, { status: 'unknown', message: '' }]);
      expect(problemsOf(x)).toEqual([]);
    } finally {
      await variant.close();
    }
  });

  it('the schema-v3-drops-null-previous fault fails the v3 schema, and only the v3 schema', async () => {
    const faulty = await startOperator({ fault: 'schema-v3-drops-null-previous' });
    try {
      const c = faulty.credentials;
      const client = new OperatorClient({ baseUrl: faulty.url, apiKey: c.apiKey, clientSecret: c.clientSecret });
      const v3 = await client.mapV3({ email: [email()], phone: ['bad'] });
      expect(validateAnswer('identity-map-v3', v3.body)).toEqual(["/body/email/0 must have required property 'p'"]);
      expect(problemsOf(await client.mapV2({ email: [email()] }))).toEqual([]);
      expect(problemsOf(await client.generate({ email: email() }))).toEqual([]);
    } finally {
      await faulty.close();
    }
  });
});

describe('broken answers', () => {
  const uid = Buffer.alloc(32, 7).toString('base64');
  const identity = {
    advertising_token: 'A4AAAAB' + 'x'.repeat(211),
    refresh_token: 'R'.repeat(388),
    identity_expires: 1_780_000_000_000,
    refresh_from: 1_779_999_000_000,
    refresh_expires: 1_780_086_400_000,
    refresh_response_key: Buffer.alloc(32, 1).toString('base64'),
  };
  const generated = { status: 'success', body: identity };

  it('a well-formed answer passes, with additional properties anywhere (forward-compatible)', () => {
    expect(validateAnswer('token-generate', generated)).toEqual([]);
    expect(validateAnswer('token-generate', { ...generated, trace: 'x', body: { ...identity, extra: 1 } })).toEqual([]);
    // A body on an optout answer is OP-GEN-NO-LEAK's business, not the schema's.
    expect(validateAnswer('token-generate', { status: 'optout', body: { advertising_id: uid } })).toEqual([]);
    expect(validateAnswer('token-refresh', { status: 'optout' })).toEqual([]);
    expect(validateAnswer('identity-map-v3', { status: 'success', body: { email: [{ u: uid, p: uid, r: 1, x: true }], email_hash: [], phone: [{ e: 'optout' }], phone_hash: [] } })).toEqual([]);
    // A 33-byte raw UID2 (a type byte first) is as good as a 32-byte one.
    expect(validateAnswer('optout-status', { status: 'success', body: { opted_out: [{ advertising_id: Buffer.alloc(33, 9).toString('base64'), opted_out_since: 1 }] } })).toEqual([]);
    expect(validateAnswer('error', { status: 'unauthorized' })).toEqual([]);
  });

  it('generate / refresh / client-generate: a missing field or a wrong type fails, naming the field', () => {
    for (const name of ['token-generate', 'token-refresh', 'token-client-generate'] as const) {
      for (const field of Object.keys(identity)) {
        const broken = clone(generated) as { body: Record<string, unknown> };
        delete broken.body[field];
        expect(validateAnswer(name, broken)).toEqual([`/body must have required property '${field}'`]);
      }
      expect(validateAnswer(name, { status: 'success' })).toEqual(["(top level) must have required property 'body'"]);
      expect(validateAnswer(name, { body: identity })).toContain("(top level) must have required property 'status'");
      expect(validateAnswer(name, { status: 'opted_out' })).toEqual(['/status must be equal to one of the allowed values']);
    }
    const wrong = (patch: Record<string, unknown>) => validateAnswer('token-generate', { status: 'success', body: { ...identity, ...patch } });
    expect(wrong({ identity_expires: String(identity.identity_expires) })).toEqual(['/body/identity_expires must be integer']);
    expect(wrong({ refresh_from: 1.5 })).toEqual(['/body/refresh_from must be integer']);
    expect(wrong({ refresh_token: 'R'.repeat(387) })).toHaveLength(1);
    expect(wrong({ refresh_token: 'R'.repeat(386) + '-_' })).toHaveLength(1); // base64url is not standard base64
    expect(wrong({ refresh_response_key: Buffer.alloc(16).toString('base64') })).toHaveLength(1);
    expect(wrong({ advertising_token: '' })).toHaveLength(1);
  });

  it('validate, logout and the key endpoints', () => {
    expect(validateAnswer('token-validate', { status: 'success', body: true })).toEqual([]);
    expect(validateAnswer('token-validate', { status: 'success', body: 'true' })).toEqual(['/body must be boolean']);
    expect(validateAnswer('token-logout', { status: 'success', body: { optout: 'OK' } })).toEqual([]);
    expect(validateAnswer('token-logout', { status: 'success', body: { optout: 'ok' } })).toEqual(['/body/optout must be equal to constant']);
    expect(validateAnswer('token-logout', { status: 'success' })).toEqual(["(top level) must have required property 'body'"]);
    const key = { id: 1, created: 1, activates: 1, expires: 2, secret: Buffer.alloc(32, 3).toString('base64') };
    const bidstream = { max_bidstream_lifetime_seconds: 3610, identity_scope: 'UID2', allow_clock_skew_seconds: 1800, keys: [key] };
    expect(validateAnswer('key-bidstream', { status: 'success', body: bidstream })).toEqual([]);
    expect(validateAnswer('key-bidstream', { status: 'success', body: { ...bidstream, keys: [] } })).toEqual(['/body/keys must NOT have fewer than 1 items']);
    expect(validateAnswer('key-bidstream', { status: 'success', body: { ...bidstream, keys: [{ ...key, secret: undefined }] } })).toEqual(["/body/keys/0 must have required property 'secret'"]);
    expect(validateAnswer('key-bidstream', { status: 'success', body: { ...bidstream, identity_scope: 'uid2' } })).toEqual(['/body/identity_scope must be equal to one of the allowed values']);
    const sharing = { caller_site_id: 123, master_keyset_id: 9999999, token_expiry_seconds: '2592000', identity_scope: 'UID2', allow_clock_skew_seconds: 1800, keys: [{ ...key, keyset_id: 99 }] };
    expect(validateAnswer('key-sharing', { status: 'success', body: sharing })).toEqual([]);
    expect(validateAnswer('key-sharing', { status: 'success', body: { ...sharing, token_expiry_seconds: 2592000 } })).toEqual([]);
    expect(validateAnswer('key-sharing', { status: 'success', body: { ...sharing, token_expiry_seconds: '30 days' } }).length).toBeGreaterThan(0);
    expect(validateAnswer('key-sharing', { status: 'success', body: { ...sharing, caller_site_id: undefined } })).toEqual(["/body must have required property 'caller_site_id'"]);
  });

  it('identity map v2 and v3, optout/status', () => {
    const v2 = { status: 'success', body: { mapped: [{ identifier: 'a@example.com', advertising_id: uid, bucket_id: 'b1' }], unmapped: [{ identifier: 'x', reason: 'optout' }] } };
    expect(validateAnswer('identity-map-v2', v2)).toEqual([]);
    expect(validateAnswer('identity-map-v2', { status: 'success', body: { unmapped: [] } })).toEqual(["/body must have required property 'mapped'"]);
    expect(validateAnswer('identity-map-v2', { status: 'success', body: { mapped: [{ identifier: 'a', advertising_id: uid }] } })).toEqual(["/body/mapped/0 must have required property 'bucket_id'"]);
    expect(validateAnswer('identity-map-v2', { status: 'success', body: { mapped: [], unmapped: [{ identifier: 'x', reason: 'opted out' }] } })).toEqual(['/body/unmapped/0/reason must be equal to one of the allowed values']);
    expect(validateAnswer('identity-map-v2', { status: 'success', body: { mapped: [{ identifier: 'a', advertising_id: uid.slice(1), bucket_id: 'b' }] } })).toHaveLength(1);

    const v3 = { status: 'success', body: { email: [{ u: uid, p: null, r: 1_780_000_000 }], email_hash: [], phone: [{ e: 'invalid identifier' }], phone_hash: [] } };
    expect(validateAnswer('identity-map-v3', v3)).toEqual([]);
    const without = clone(v3) as { body: Record<string, unknown> };
    delete without.body.phone_hash;
    expect(validateAnswer('identity-map-v3', without)).toEqual(["/body must have required property 'phone_hash'"]);
    expect(validateAnswer('identity-map-v3', { ...v3, body: { ...v3.body, email: [{ u: uid, r: 1 }] } })).toEqual(["/body/email/0 must have required property 'p'"]);
    expect(validateAnswer('identity-map-v3', { ...v3, body: { ...v3.body, email: [{ u: uid, p: null, r: '1' }] } })).toEqual(['/body/email/0/r must be integer']);
    expect(validateAnswer('identity-map-v3', { ...v3, body: { ...v3.body, email: [{ u: uid, p: 5, r: 1 }] } }).every((p) => p.startsWith('/body/email/0/p'))).toBe(true);
    expect(validateAnswer('identity-map-v3', { ...v3, body: { ...v3.body, phone: [{ e: 'unknown' }] } })).toEqual(['/body/phone/0/e must be equal to one of the allowed values']);

    const status = { status: 'success', body: { opted_out: [{ advertising_id: uid, opted_out_since: 1_780_000_000_000 }] } };
    expect(validateAnswer('optout-status', status)).toEqual([]);
    expect(validateAnswer('optout-status', { status: 'success', body: { opted_out: [{ advertising_id: uid, opted_out_since: '1780000000000' }] } })).toEqual(['/body/opted_out/0/opted_out_since must be integer']);
    expect(validateAnswer('optout-status', { status: 'success', body: { opted_out: [{ opted_out_since: 1 }] } })).toEqual(["/body/opted_out/0 must have required property 'advertising_id'"]);
    expect(validateAnswer('optout-status', { status: 'success', body: {} })).toEqual(["/body must have required property 'opted_out'"]);
  });

  it('error bodies: a spec status, and a message on everything but 401, non-empty except with "unknown" (HTTP 500)', () => {
    // The reference operator's internal errors send an empty message; nothing else may.
    expect(validateAnswer('error', { status: 'unknown', message: '' })).toEqual([]);
    expect(validateAnswer('error', { status: 'unknown', message: 'No active encryption key available' })).toEqual([]);
    expect(validateAnswer('error', { status: 'unknown' })).toEqual(["(top level) must have required property 'message'"]);
    for (const status of ['client_error', 'invalid_token', 'expired_token', 'error', 'invalid_http_origin']) {
      expect(validateAnswer('error', { status, message: '' }), status).toEqual(['/message must NOT have fewer than 1 characters']);
    }
    expect(validateAnswer('error', { status: 'unknown', message: 7 })).toEqual(['/message must be string']);
    expect(validateAnswer('error', { status: 'client_error', message: 'Invalid Identifier' })).toEqual([]);
    expect(validateAnswer('error', { status: 'client_error' })).toEqual(["(top level) must have required property 'message'"]);
    expect(validateAnswer('error', { status: 'client_error', message: '' })).toEqual(['/message must NOT have fewer than 1 characters']);
    expect(validateAnswer('error', { status: 'oops', message: 'x' })).toEqual(['/status must be equal to one of the allowed values']);
    expect(validateAnswer('error', { status: 'success', message: 'x' })).toEqual(['/status must be equal to one of the allowed values']);
    expect(validateAnswer('error', { message: 'x' })).toEqual(["(top level) must have required property 'status'"]);
    expect(validateAnswer('error', 'Bad Request')).toEqual(['(top level) must be object']);
  });

  it('problems never echo the values of an answer', () => {
    const dii = 'jane.doe@example.com';
    const broken = {
      status: 'success',
      body: {
        mapped: [{ identifier: dii, advertising_id: 'not-a-uid-' + dii, bucket_id: 5 }],
        unmapped: [{ identifier: dii, reason: dii }],
      },
    };
    const problems = validateAnswer('identity-map-v2', broken);
    expect(problems.length).toBeGreaterThanOrEqual(3);
    for (const p of problems) expect(p).not.toContain('jane');
    const token = { status: 'success', body: { ...identity, refresh_token: identity.advertising_token, identity_expires: dii } };
    for (const p of validateAnswer('token-generate', token)) {
      expect(p).not.toContain('jane');
      expect(p).not.toContain('xxxxxxxx');
    }
  });

  it('caps the problems of a badly broken answer', () => {
    const problems = validateAnswer('identity-map-v3', { status: 'success', body: { email: Array.from({ length: 20 }, () => ({ u: 1 })), email_hash: [], phone: [], phone_hash: [] } });
    expect(problems).toHaveLength(9);
    expect(problems.at(-1)).toMatch(/^… \d+ more$/);
  });
});
