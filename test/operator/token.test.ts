// The token endpoints of the simulated operator against UID2-SPEC §1.1, §1.2, §1.5, §5.2 and §9.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../harness/wire/dii.ts';
import type { IdentityBody } from '../../harness/wire/identity.ts';
import { sealRequest } from '../../harness/wire/envelope.ts';
import { gcmEncrypt } from '../../harness/wire/gcm.ts';
import type { RunningOperator } from '../../harness/operator/index.ts';
import { FakeClock, postRaw, postRefresh, postSealed, syntheticEmail, syntheticPhone, withOperator } from './helpers.ts';

const EXACTLY_ONE = 'Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified';

let op: RunningOperator;
const clock = new FakeClock();
const fixture = withOperator({ now: clock.now });
beforeEach(async () => {
  op = await fixture.start();
});
afterEach(() => fixture.stop());

async function generate(payload: unknown): Promise<IdentityBody> {
  const answer = await postSealed(op, '/v2/token/generate', payload);
  expect(answer.http).toBe(200);
  expect(answer.json).toMatchObject({ status: 'success' });
  return (answer.json as { body: IdentityBody }).body;
}

const logout = (payload: unknown) => postSealed(op, '/v2/token/logout', payload, 'optout');

describe('POST /v2/token/generate', () => {
  it('issues a v4 advertising token, a 388-character refresh token and ordered ms timestamps', async () => {
    const now = clock.nowMs;
    const identity = await generate({ email: syntheticEmail(), optout_check: 1 });
    expect(identity.advertising_token).toMatch(/^A4A[A-Za-z0-9_-]+$/);
    expect(identity.refresh_token).toHaveLength(388);
    expect(identity.refresh_token).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(identity.refresh_response_key, 'base64')).toHaveLength(32);
    expect(identity.refresh_from).toBe(now + 900_000);
    expect(identity.identity_expires).toBe(now + 3_600_000);
    expect(identity.refresh_expires).toBe(now + 86_400_000);
    const phone = await generate({ phone: syntheticPhone() });
    expect(phone.advertising_token.startsWith('B4')).toBe(true);
  });

  it('answers an encrypted {"status":"optout"} with no body for every form of an opted-out DII, optout_check or not', async () => {
    const email = syntheticEmail();
    await logout({ email });
    const hash = sha256(email);
    for (const payload of [{ email }, { email: ` ${email.toUpperCase()} ` }, { email_hash: hash.toString('base64') }, { email_hash: hash.toString('hex') }, { email, optout_check: 0 }]) {
      const answer = await postSealed(op, '/v2/token/generate', payload);
      expect(answer.http).toBe(200);
      expect(answer.json).toEqual({ status: 'optout' });
    }
  });

  it('keeps the opt-out of one DII away from others (another user, the phone of the same person)', async () => {
    const email = syntheticEmail();
    await logout({ email });
    await generate({ email: syntheticEmail() });
    await generate({ phone: syntheticPhone() });
  });

  it('follows the documented test identities (spec §4, following the code)', async () => {
    for (const payload of [{ email: 'optout@example.com' }, { phone: '+00000000000' }, { email_hash: 'DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=' }]) {
      expect((await postSealed(op, '/v2/token/generate', payload)).json).toEqual({ status: 'optout' });
    }
    for (const payload of [{ email: 'refresh-optout@example.com' }, { phone: '+00000000002' }, { email: 'validate@example.com' }, { phone: '+12345678901' }]) await generate(payload);
  });

  it('answers 400 client_error for zero, two, null or invalid DII fields and for non-object JSON', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, EXACTLY_ONE],
      [{ email: syntheticEmail(), phone: syntheticPhone() }, EXACTLY_ONE],
      [{ email: null }, EXACTLY_ONE],
      [undefined, EXACTLY_ONE], // a 16-byte data envelope: no JSON at all
      [[1, 2, 3], EXACTLY_ONE],
      [{ email: 'no-at-sign' }, 'Invalid Identifier'],
      [{ phone: '+1 555 0100' }, 'Invalid Identifier'],
      [{ email_hash: 'abc' }, 'Invalid Identifier'],
      [{ email: 42 }, 'Invalid Identifier'],
    ];
    for (const [payload, message] of cases) {
      const answer = await postSealed(op, '/v2/token/generate', payload);
      expect(answer.http, JSON.stringify(payload)).toBe(400);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.json).toEqual({ status: 'client_error', message });
    }
    // a null field counts as absent
    await generate({ email: syntheticEmail(), phone: null });
  });

  it('answers 401 {"status":"unauthorized"} for no key, an unknown key and the wrong role, before opening the body', async () => {
    for (const headers of [{} as Record<string, string>, { Authorization: 'Bearer nope' }, { Authorization: `Bearer ${op.credentials.optoutApiKey}` }, { Authorization: 'Basic x' }]) {
      const answer = await postRaw(op, '/v2/token/generate', 'garbage', headers);
      expect(answer.http).toBe(401);
      expect(answer.json).toEqual({ status: 'unauthorized' });
    }
    const lowercase = await postRaw(op, '/v2/token/generate', 'garbage', { Authorization: `  bearer ${op.credentials.apiKey} ` });
    expect(lowercase.http).toBe(400);
  });

  it('rejects malformed envelopes with the spec messages (§2.3), never a 5xx', async () => {
    const auth = { Authorization: `Bearer ${op.credentials.apiKey}` };
    const secret = Buffer.from(op.credentials.clientSecret, 'base64');
    const sealed = (payload: unknown, nowMs = clock.nowMs) => sealRequest(secret, payload, { nowMs }).bytes;
    const wrongVersion = Buffer.from(sealed({ email: 'a@example.com' }));
    wrongVersion[0] = 2;
    const cases: Array<[string | Buffer, string]> = [
      ['', 'Invalid body: Body is missing.'],
      ['!!!not base64!!!', 'Invalid body: Body is not valid base64.'],
      ['{"email":"a@example.com"}', 'Invalid body: The request body is unencrypted JSON.'],
      [Buffer.alloc(30, 1).toString('base64'), 'Invalid body: Body too short.'],
      [wrongVersion.toString('base64'), 'Invalid body: Invalid request envelope format version: received 2, must be 1.'],
      [sealRequest(Buffer.alloc(32, 7), { email: 'a@example.com' }, { nowMs: clock.nowMs }).bytes.toString('base64'), 'Invalid body: Check encryption key (ClientSecret).'],
      [sealed({ email: 'a@example.com' }, clock.nowMs - 121_000).toString('base64'), 'Invalid timestamp: Request too old or client time drift.'],
      [sealed({ email: 'a@example.com' }, clock.nowMs + 180_000).toString('base64'), 'Invalid timestamp: Request too old or client time drift.'],
    ];
    for (const [body, prefix] of cases) {
      const answer = await postRaw(op, '/v2/token/generate', body, { ...auth, 'Content-Type': 'text/plain' });
      expect(answer.http, prefix).toBe(400);
      expect((answer.json as { status: string }).status).toBe('client_error');
      expect((answer.json as { message: string }).message.startsWith(prefix)).toBe(true);
    }
    // Not JSON inside a valid envelope
    const head = Buffer.alloc(16);
    head.writeBigInt64BE(BigInt(clock.nowMs));
    const notJson = Buffer.concat([Buffer.from([1]), gcmEncrypt(secret, Buffer.concat([head, Buffer.from('not json')]))]);
    const answer = await postRaw(op, '/v2/token/generate', notJson.toString('base64'), auth);
    expect([answer.http, answer.json]).toEqual([400, { status: 'client_error', message: 'Invalid payload in body: Data is not valid json string.' }]);
    const drift = await postSealed(op, '/v2/token/generate', { email: syntheticEmail() }, 'client', { nowMs: clock.nowMs - 119_000 });
    expect(drift.http).toBe(200);
  });

  it('answers in raw bytes with application/octet-stream when the request used it', async () => {
    const answer = await postSealed(op, '/v2/token/generate', { email: syntheticEmail() }, 'client', { octetStream: true });
    expect(answer.http).toBe(200);
    expect(answer.contentType).toMatch(/^application\/octet-stream/);
    expect(answer.json).toMatchObject({ status: 'success' });
  });
});

describe('POST /v2/token/refresh', () => {
  it('refreshes without an API key, under the presented token\'s key, with a new key each time and the same raw UID2', async () => {
    const first = await generate({ email: syntheticEmail() });
    clock.advance(1000);
    const second = await postRefresh(op, first.refresh_token, first.refresh_response_key);
    expect(second.http).toBe(200);
    expect(second.contentType).toMatch(/^text\/plain/);
    expect(second.opened?.status).toBe('success');
    const body = second.opened!.body as unknown as IdentityBody;
    expect(body.refresh_token).toHaveLength(388);
    expect(body.refresh_response_key).not.toBe(first.refresh_response_key);
    const uidOf = (token: string) => op.operator.tokens.decodeAdvertising(token);
    const [a, b] = [uidOf(first.advertising_token), uidOf(body.advertising_token)];
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) {
      expect(b.fields.rawUid.equals(a.fields.rawUid)).toBe(true);
      expect(b.fields.establishedMs).toBe(a.fields.establishedMs); // established is kept across refreshes
      expect(b.fields.generatedMs).toBe(a.fields.generatedMs + 1000);
    }
    // refresh tokens are not single-use (§9)
    expect((await postRefresh(op, first.refresh_token, first.refresh_response_key)).opened?.status).toBe('success');
  });

  it('answers raw bytes for application/octet-stream', async () => {
    const first = await generate({ email: syntheticEmail() });
    const answer = await postRefresh(op, first.refresh_token, first.refresh_response_key, { octetStream: true });
    expect(answer.contentType).toMatch(/^application\/octet-stream/);
    expect(answer.opened?.status).toBe('success');
  });

  it('answers an encrypted optout after a logout, with or without an API key, and keeps answering it', async () => {
    const email = syntheticEmail();
    const first = await generate({ email });
    await logout({ email: email.toUpperCase() });
    for (const apiKey of [undefined, op.credentials.apiKey, undefined]) {
      const answer = await postRefresh(op, first.refresh_token, first.refresh_response_key, { apiKey });
      expect(answer.http).toBe(200);
      expect(answer.opened).toEqual({ status: 'optout' });
    }
  });

  it('answers optout on every refresh of the refresh-optout test identities', async () => {
    for (const payload of [{ email: 'refresh-optout@example.com' }, { phone: '+00000000002' }, { email_hash: 'NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4=' }]) {
      const identity = await generate(payload);
      expect((await postRefresh(op, identity.refresh_token, identity.refresh_response_key)).opened).toEqual({ status: 'optout' });
    }
  });

  it('reports decode failures of a 388-character body as client_error (§1.2)', async () => {
    const identity = await generate({ email: syntheticEmail() });
    const bytes = Buffer.from(identity.refresh_token, 'base64');
    const wrongKey = Buffer.from(bytes);
    wrongKey.writeInt32BE(77, 1);
    const tampered = Buffer.from(bytes);
    tampered[100]! ^= 1;
    const cases: Array<[string, string]> = [
      ['!'.repeat(388), 'Invalid body: Body is not valid base64.'],
      [wrongKey.toString('base64'), 'Invalid key: Generator of this token (Key ID: 77) does not exist.'],
      [tampered.toString('base64'), 'Invalid data:'],
    ];
    for (const [token, prefix] of cases) {
      const answer = await postRaw(op, '/v2/token/refresh', token, { 'Content-Type': 'text/plain' });
      expect(answer.http).toBe(400);
      expect(answer.json).toMatchObject({ status: 'client_error' });
      expect((answer.json as { message: string }).message.startsWith(prefix), prefix).toBe(true);
    }
  });

  it('distinguishes unauthenticated and authenticated callers for other failures (§1.2 CONFLICT: code wins)', async () => {
    const unauth = await postRaw(op, '/v2/token/refresh', 'short-token', { 'Content-Type': 'text/plain' });
    expect([unauth.http, unauth.json]).toEqual([400, { status: 'error', message: 'Error refreshing token' }]);
    const auth = await postRaw(op, '/v2/token/refresh', 'short-token', { 'Content-Type': 'text/plain', Authorization: `Bearer ${op.credentials.apiKey}` });
    expect([auth.http, auth.json]).toEqual([400, { status: 'invalid_token', message: 'Invalid Token presented' }]);
    const identity = await generate({ email: syntheticEmail() });
    clock.advance(86_400_001);
    const expired = await postRefresh(op, identity.refresh_token, identity.refresh_response_key, { apiKey: op.credentials.apiKey });
    expect([expired.http, expired.json]).toEqual([400, { status: 'expired_token', message: 'Expired Token presented' }]);
    const expiredUnauth = await postRefresh(op, identity.refresh_token, identity.refresh_response_key);
    expect([expiredUnauth.http, expiredUnauth.json]).toEqual([400, { status: 'error', message: 'Error refreshing token' }]);
  });
});

describe('POST /v2/token/validate', () => {
  it('is true for the DII of the token, false for another, and ignores opt-out (§1.5)', async () => {
    const email = syntheticEmail();
    const identity = await generate({ email });
    const validate = async (payload: unknown) => postSealed(op, '/v2/token/validate', payload);
    expect((await validate({ token: identity.advertising_token, email })).json).toEqual({ status: 'success', body: true });
    expect((await validate({ token: identity.advertising_token, email_hash: sha256(email).toString('base64') })).json).toEqual({ status: 'success', body: true });
    expect((await validate({ token: identity.advertising_token, email: syntheticEmail() })).json).toEqual({ status: 'success', body: false });
    await logout({ email });
    expect((await validate({ token: identity.advertising_token, email })).json).toEqual({ status: 'success', body: true });
    for (const [payload, message] of [
      [{ email }, 'Invalid token'],
      [{ token: 5, email }, 'Invalid token'],
      [{ token: 'A4AAAAAAgarbage', email }, 'Invalid token'],
      [{ token: identity.advertising_token }, EXACTLY_ONE],
      [{ token: identity.advertising_token, email: 'x' }, 'Invalid Identifier'],
    ] as const) {
      expect((await validate(payload)).json).toEqual({ status: 'client_error', message });
    }
  });
});

describe('POST /v2/token/logout', () => {
  it('acknowledges, again for a repeat, and answers 400 invalid_token for a bad DII (§5.2)', async () => {
    const email = syntheticEmail();
    for (let i = 0; i < 2; i++) expect((await logout({ email })).json).toEqual({ status: 'success', body: { optout: 'OK' } });
    for (const payload of [{}, { email, phone: syntheticPhone() }, { email: 'not-an-email' }, undefined, [email]]) {
      const answer = await logout(payload);
      expect(answer.http).toBe(400);
      expect(answer.json).toEqual({ status: 'invalid_token', message: 'Invalid Token presented' });
    }
  });

  it('answers 401 to a key without the OPTOUT role and 400 client_error to a broken envelope', async () => {
    const wrongRole = await postSealed(op, '/v2/token/logout', { email: syntheticEmail() }, 'client');
    expect([wrongRole.http, wrongRole.json]).toEqual([401, { status: 'unauthorized' }]);
    const broken = await postRaw(op, '/v2/token/logout', 'bm90IGFuIGVudmVsb3Bl', { Authorization: `Bearer ${op.credentials.optoutApiKey}` });
    expect(broken.http).toBe(400);
    expect(broken.json).toMatchObject({ status: 'client_error' });
  });

  it('becomes visible only after the propagation delay', async () => {
    const delayed = await withOperator({ now: clock.now, propagationDelayMs: 5000 }).start();
    try {
      const email = syntheticEmail();
      await postSealed(delayed, '/v2/token/logout', { email }, 'optout');
      clock.advance(4999);
      expect((await postSealed(delayed, '/v2/token/generate', { email })).json).toMatchObject({ status: 'success' });
      clock.advance(1);
      expect((await postSealed(delayed, '/v2/token/generate', { email })).json).toEqual({ status: 'optout' });
    } finally {
      await delayed.close();
    }
  });

  it('never leaks state between operator instances', async () => {
    const email = syntheticEmail();
    await logout({ email });
    const other = await withOperator({ now: clock.now }).start();
    try {
      expect((await postSealed(other, '/v2/token/generate', { email })).json).toMatchObject({ status: 'success' });
    } finally {
      await other.close();
    }
  });
});
