// Client-side generate (UID2-SPEC §1.6), the key endpoints (UID2-TOKEN-FORMAT §3), and the HTTP edges:
// CORS, unknown routes, the 1 MiB cap, and garbage that must never produce a 5xx.
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { decodeAdvertisingToken } from '../../harness/wire/advertising-token.ts';
import { sha256 } from '../../harness/wire/dii.ts';
import { openBareResponse } from '../../harness/wire/envelope.ts';
import { gcmEncrypt } from '../../harness/wire/gcm.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { cstgKeyPairFromSecret } from '../../harness/operator/operator.ts';
import { postRaw, postSealed, syntheticEmail, withOperator } from './helpers.ts';

let op: RunningOperator;
let client: OperatorClient;
const fixture = withOperator({ cstgOrigins: [] });
beforeAll(async () => {
  op = await fixture.start();
  client = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret });
});
afterAll(() => fixture.stop());

/** A CSTG request built by hand, so each field can be broken on purpose. */
function cstgRequest(plaintext: unknown, overrides: Record<string, unknown> = {}, aadTimestamp?: number) {
  const serverKey = createPublicKey({ key: Buffer.from(op.credentials.cstgPublicKey.slice(9), 'base64'), format: 'der', type: 'spki' });
  const mine = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const secret = diffieHellman({ privateKey: mine.privateKey, publicKey: serverKey });
  const timestamp = Date.now();
  const iv = randomBytes(12);
  const sealed = gcmEncrypt(secret, Buffer.from(JSON.stringify(plaintext)), Buffer.from(JSON.stringify([aadTimestamp ?? timestamp])), iv);
  const body = {
    payload: sealed.subarray(12).toString('base64'),
    iv: iv.toString('base64'),
    public_key: mine.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    timestamp,
    subscription_id: op.credentials.cstgSubscriptionId,
    ...overrides,
  };
  return { body: JSON.stringify(body), secret };
}

describe('POST /v2/token/client-generate', () => {
  it('issues a CSTG token (privacy bits 3) for a fresh hash and optout for an opted-out one', async () => {
    const email = syntheticEmail();
    const fresh = await client.clientGenerate({ serverPublicKey: op.credentials.cstgPublicKey, subscriptionId: op.credentials.cstgSubscriptionId, dii: { email_hash: sha256(email).toString('base64') } });
    expect(fresh.http).toBe(200);
    const identity = (fresh.body as { status: string; body: { advertising_token: string; refresh_token: string } });
    expect(identity.status).toBe('success');
    expect(identity.body.refresh_token).toHaveLength(388);
    const decoded = op.operator.tokens.decodeAdvertising(identity.body.advertising_token);
    expect(decoded.ok && decoded.fields.privacyBits).toBe(3);

    const optout = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.optoutApiKey, clientSecret: op.credentials.optoutClientSecret });
    await optout.logout({ email });
    for (const hash of [sha256(email).toString('base64'), 'DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=']) {
      const answer = await client.clientGenerate({ serverPublicKey: op.credentials.cstgPublicKey, subscriptionId: op.credentials.cstgSubscriptionId, dii: { email_hash: hash } });
      expect([answer.http, answer.body]).toEqual([200, { status: 'optout' }]);
    }
  });

  it('answers the spec\'s 400 client_error messages', async () => {
    const hash = { email_hash: sha256(syntheticEmail()).toString('base64') };
    const cases: Array<[string, string]> = [
      [cstgRequest(hash, { subscription_id: 'nope' }).body, 'bad subscription_id'],
      [cstgRequest(hash, { iv: undefined }).body, 'required parameters: payload, iv, public_key'],
      [cstgRequest(hash, { public_key: 'AAAA' }).body, 'bad public key'],
      [cstgRequest(hash, { iv: randomBytes(8).toString('base64') }).body, 'bad iv'],
      [cstgRequest(hash, {}, 12345).body, 'payload decryption failed'],
      [cstgRequest({ email_hash: hash.email_hash, phone_hash: hash.email_hash }).body, 'please provide exactly one of: email_hash, phone_hash'],
      [cstgRequest({ email: 'raw@example.com' }).body, 'please provide exactly one of: email_hash, phone_hash'],
      [cstgRequest({ email_hash: 'short' }).body, 'Invalid Identifier'],
      ['not json', 'required parameters: payload, iv, public_key'],
    ];
    for (const [body, message] of cases) {
      const answer = await postRaw(op, '/v2/token/client-generate', body, { 'Content-Type': 'application/json' });
      expect([answer.http, answer.json], message).toEqual([400, { status: 'client_error', message }]);
    }
  });

  it('answers a bare encrypted JSON under the ECDH secret', async () => {
    const { body, secret } = cstgRequest({ phone_hash: sha256('+15550001234').toString('base64') });
    const answer = await postRaw(op, '/v2/token/client-generate', body, { 'Content-Type': 'application/json', Origin: 'https://pub.example' });
    expect(answer.http).toBe(200);
    expect(answer.raw.toString('latin1')).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(openBareResponse(secret, answer.raw.toString('latin1'))).toMatchObject({ status: 'success' });
  });

  it('refuses an origin outside the configured list with 403 invalid_http_origin', async () => {
    const restricted = await withOperator({ cstgOrigins: ['https://pub.example'] }).start();
    try {
      const saved = op;
      op = restricted;
      const { body } = cstgRequest({ email_hash: sha256(syntheticEmail()).toString('base64') });
      op = saved;
      const denied = await postRaw(restricted, '/v2/token/client-generate', body, { 'Content-Type': 'application/json', Origin: 'https://evil.example' });
      expect(denied.http).toBe(403);
      expect(denied.json).toMatchObject({ status: 'invalid_http_origin' });
      const allowed = await postRaw(restricted, '/v2/token/client-generate', body, { 'Content-Type': 'application/json', Origin: 'https://pub.example' });
      expect(allowed.http).toBe(200);
    } finally {
      await restricted.close();
    }
  });
});

describe('the CSTG key pair derived from the client secret', () => {
  it('is the same for one secret and another for another, with a UID2-X-L- P-256 key; an operator given the secret answers CSTG under it', async () => {
    const secret = Buffer.alloc(32, 3).toString('base64');
    const derived = cstgKeyPairFromSecret(secret);
    expect(cstgKeyPairFromSecret(secret).publicKey).toBe(derived.publicKey);
    expect(cstgKeyPairFromSecret(secret).subscriptionId).toBe(derived.subscriptionId);
    expect(derived.publicKey).toMatch(/^UID2-X-L-[A-Za-z0-9+/]+=*$/);
    expect(derived.subscriptionId).toMatch(/^sub-[0-9a-f]{8}$/);
    const other = cstgKeyPairFromSecret(Buffer.alloc(32, 4).toString('base64'));
    expect(other.publicKey).not.toBe(derived.publicKey);
    expect(other.subscriptionId).not.toBe(derived.subscriptionId);
    const key = createPublicKey({ key: Buffer.from(derived.publicKey.slice(9), 'base64'), format: 'der', type: 'spki' });
    expect(key.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    // Neither public value carries the secret.
    for (const value of [derived.publicKey, derived.subscriptionId]) expect(value).not.toContain(secret);

    const given = await startOperator({ apiKey: 'UID2-C-L-derived-cstg-test', clientSecret: secret });
    try {
      expect([given.credentials.cstgPublicKey, given.credentials.cstgSubscriptionId]).toEqual([derived.publicKey, derived.subscriptionId]);
      const kit = new OperatorClient({ baseUrl: given.url, apiKey: given.credentials.apiKey, clientSecret: secret });
      const answer = await kit.clientGenerate({ serverPublicKey: derived.publicKey, subscriptionId: derived.subscriptionId, dii: { email_hash: sha256(syntheticEmail()).toString('base64') } });
      expect([answer.http, (answer.body as { status?: string }).status]).toEqual([200, 'success']);
    } finally {
      await given.close();
    }
  });
});

describe('key endpoints', () => {
  it('serve bidstream keys that decrypt the operator\'s advertising tokens to the mapped raw UID2', async () => {
    const keys = (await client.keysBidstream()).body as { status: string; body: { keys: Array<{ id: number; secret: string; created: number; activates: number; expires: number }>; identity_scope: string; max_bidstream_lifetime_seconds: number } };
    expect(keys.status).toBe('success');
    expect(keys.body.identity_scope).toBe('UID2');
    expect(keys.body.max_bidstream_lifetime_seconds).toBe(3610);
    for (const key of keys.body.keys) expect(Object.keys(key).sort()).toEqual(['activates', 'created', 'expires', 'id', 'secret']);
    const email = syntheticEmail();
    const token = ((await client.generate({ email })).body as { body: { advertising_token: string } }).body.advertising_token;
    const secrets = new Map(keys.body.keys.map((k) => [k.id, Buffer.from(k.secret, 'base64')]));
    const decoded = decodeAdvertisingToken(token, (id) => secrets.get(id));
    const mapped = ((await client.mapV2({ email: [email] })).body as { body: { mapped: Array<{ advertising_id: string }> } }).body.mapped[0]!.advertising_id;
    expect(decoded.ok && decoded.fields.rawUid.toString('base64')).toBe(mapped);
  });

  it('serve sharing keys with keyset ids', async () => {
    const sharing = (await client.keysSharing()).body as { body: Record<string, unknown> & { keys: Array<{ keyset_id: number }> } };
    expect(sharing.body).toMatchObject({ caller_site_id: 123, master_keyset_id: 9999999, token_expiry_seconds: '2592000', identity_scope: 'UID2' });
    expect(sharing.body.keys.map((k) => k.keyset_id)).toContain(9999999);
    expect((await postSealed(op, '/v2/key/bidstream', undefined, 'optout')).http).toBe(401);
  });
});

describe('HTTP edges', () => {
  it('answers the healthcheck, CORS preflight and CORS headers on answers', async () => {
    const health = await request(op.server).get('/ops/healthcheck');
    expect([health.status, health.text]).toEqual([200, 'OK']);
    const preflight = await request(op.server)
      .options('/v2/token/client-generate')
      .set('Origin', 'https://pub.example')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://pub.example');
    expect(preflight.headers['access-control-allow-headers']).toBe('content-type');
    const answer = await request(op.server).post('/v2/token/refresh').set('Origin', 'https://pub.example').send('x');
    expect(answer.headers['access-control-allow-origin']).toBe('https://pub.example');
  });

  it('answers plain JSON 404 for an unknown route and 405 for a wrong method', async () => {
    const unknown = await request(op.server).post('/v2/nothing').send('x');
    expect([unknown.status, unknown.body.status]).toEqual([404, 'client_error']);
    const method = await request(op.server).get('/v2/token/generate');
    expect([method.status, method.body.status]).toEqual([405, 'client_error']);
  });

  it('refuses a body over 1 MiB without reading it all, declared or streamed', async () => {
    const url = new URL(op.url);
    const send = (chunked: boolean) =>
      new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
        const total = 64 << 20;
        const req = httpRequest({ host: url.hostname, port: url.port, path: '/v2/token/generate', method: 'POST', headers: { Authorization: `Bearer ${op.credentials.apiKey}`, ...(chunked ? {} : { 'Content-Length': total }) } });
        let sent = 0;
        const chunk = Buffer.alloc(64 << 10, 65);
        const pump = () => {
          while (sent < total && req.write(chunk)) sent += chunk.length;
        };
        req.on('drain', pump);
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body, sent });
            req.destroy();
          });
        });
        req.on('error', (e) => (sent > 0 ? undefined : reject(e)));
        pump();
      });
    for (const chunked of [false, true]) {
      const answer = await send(chunked);
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ status: 'client_error' });
      expect(answer.sent).toBeLessThan(64 << 20);
    }
  });

  it('never answers 5xx to garbage on any route (property)', async () => {
    const routes = ['/v2/token/generate', '/v2/token/refresh', '/v2/token/validate', '/v2/identity/map', '/v3/identity/map', '/v2/optout/status', '/v2/token/logout', '/v2/token/client-generate', '/v2/key/bidstream'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.uint8Array({ maxLength: 600 }), fc.constantFrom('text/plain', 'application/octet-stream', 'application/json'), fc.boolean(), async (route, bytes, type, authenticated) => {
        const headers: Record<string, string> = { 'Content-Type': type };
        if (authenticated) headers.Authorization = `Bearer ${route === '/v2/token/logout' ? op.credentials.optoutApiKey : op.credentials.apiKey}`;
        const answer = await postRaw(op, route, Buffer.from(bytes), headers);
        expect(answer.http).toBeLessThan(500);
        if (answer.http !== 200) expect((answer.json as { status?: string })?.status).toEqual(expect.any(String));
      }),
      { numRuns: 150, seed: 20261129 },
    );
  });
});
