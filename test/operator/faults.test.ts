// Calibration of the simulated operator's named faults (harness/operator/faults.ts) over its real wire:
// for every fault, one scenario run twice — on the conformant operator, where it shows the behaviour the
// rule demands (RULES.md, UID2-SPEC §1, §4, §5), and on the faulty one, where it shows exactly the
// described violation and nothing else. The table is keyed by fault name and must cover OPERATOR_FAULTS.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { request } from 'undici';
import { OPERATOR_FAULTS, type OperatorFaultName } from '../../harness/operator/faults.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { OperatorClient, type DiiInput, type Exchange } from '../../harness/client/operator-client.ts';
import { sealRequest } from '../../harness/wire/envelope.ts';

// ------------------------------------------------------------------ helpers

// Decrypted answers are untyped JSON; the assertions below pin their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

class FakeClock {
  // Whole second + 100 ms, so that opted_out_since (whole seconds ×1000) is predictable. It stays within
  // seconds of the real clock: the operator checks the request timestamp (sealed with Date.now()) against it.
  ms = Math.floor(Date.now() / 1000) * 1000 + 100;
  readonly now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

interface Env {
  faulty: boolean;
  op: RunningOperator;
  clock: FakeClock;
  /** GENERATOR, MAPPER, SHARER, ID_READER. */
  client: OperatorClient;
  /** OPTOUT role only. */
  optout: OperatorClient;
}

interface Scenario {
  /** What the conformant operator shows, and what the fault turns it into. */
  title: string;
  propagationDelayMs?: number;
  run(env: Env): Promise<void>;
}

const running: RunningOperator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((op) => op.close()));
});

async function runScenario(name: OperatorFaultName, faulty: boolean): Promise<void> {
  const scenario = SCENARIOS[name];
  const clock = new FakeClock();
  const op = await startOperator({
    fault: faulty ? name : undefined,
    propagationDelayMs: scenario.propagationDelayMs ?? 0,
    now: clock.now,
  });
  running.push(op);
  const c = op.credentials;
  const client = new OperatorClient({ baseUrl: op.url, apiKey: c.apiKey, clientSecret: c.clientSecret, timeoutMs: 5000 });
  const optout = new OperatorClient({ baseUrl: op.url, apiKey: c.optoutApiKey, clientSecret: c.optoutClientSecret, timeoutMs: 5000 });
  await scenario.run({ faulty, op, clock, client, optout });
}

const b64sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');
const randomLocal = () => `u${randomBytes(5).toString('hex')}`;
const newEmail = (domain = 'example.com') => `${randomLocal()}@${domain}`;
const newPhone = () => `+1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;
const randomRawUid = () => randomBytes(33).toString('base64');

function expectTokens(x: Exchange): Json {
  expect(x.http).toBe(200);
  expect(x.envelopeError).toBeUndefined();
  const body = x.body as Json;
  expect(body.status).toBe('success');
  expect(body.body.advertising_token).toEqual(expect.any(String));
  expect(body.body.refresh_token).toHaveLength(388);
  expect(Buffer.from(body.body.refresh_response_key, 'base64')).toHaveLength(32);
  return body.body;
}

function expectOptout(x: Exchange): void {
  expect(x.http).toBe(200);
  expect(x.envelopeError).toBeUndefined();
  expect(x.body).toStrictEqual({ status: 'optout' });
}

async function logoutOk(env: Env, dii: DiiInput): Promise<void> {
  const x = await env.optout.logout(dii);
  expect(x.http).toBe(200);
  expect(x.body).toStrictEqual({ status: 'success', body: { optout: 'OK' } });
}

/** The raw UID2 of an email through v2 map (before it opts out). */
async function rawUidOf(env: Env, email: string): Promise<string> {
  const x = await env.client.mapV2({ email: [email] });
  expect(x.http).toBe(200);
  const mapped = (x.body as Json).body.mapped;
  expect(mapped).toHaveLength(1);
  return mapped[0].advertising_id as string;
}

async function generated(env: Env, input: DiiInput & { optout_check?: number }): Promise<Exchange> {
  return env.client.generate(input);
}

// ------------------------------------------------------------------ the table

const SCENARIOS: Record<OperatorFaultName, Scenario> = {
  'gen-email-hash-skips-optout': {
    title: 'generate with email_hash of an opted-out email: optout (fault: tokens); email form stays optout',
    async run(env) {
      const email = newEmail();
      await logoutOk(env, { email });
      const byHash = await generated(env, { email_hash: b64sha256(email), optout_check: 1 });
      if (env.faulty) expectTokens(byHash);
      else expectOptout(byHash);
      // The other forms are still refused, with and without the fault.
      expectOptout(await generated(env, { email, optout_check: 1 }));
      expectOptout(await generated(env, { email: email.toUpperCase(), optout_check: 1 }));
      // And a non-opted-out hash gets tokens in both.
      expectTokens(await generated(env, { email_hash: b64sha256(newEmail()), optout_check: 1 }));
    },
  },

  'gen-optout-leaks-uid': {
    title: 'generate opt-out answer is exactly {"status":"optout"} (fault: body with the raw UID2)',
    async run(env) {
      const email = newEmail();
      const uid = await rawUidOf(env, email);
      await logoutOk(env, { email });
      const x = await generated(env, { email, optout_check: 1 });
      expect(x.http).toBe(200);
      expect(x.envelopeError).toBeUndefined();
      if (env.faulty) expect(x.body).toStrictEqual({ status: 'optout', body: { advertising_id: uid } });
      else expect(x.body).toStrictEqual({ status: 'optout' });
    },
  },

  'gen-legacy-policy': {
    title: 'opted-out DII without optout_check 1: optout (fault: placeholder tokens); with optout_check 1 optout in both',
    async run(env) {
      const email = newEmail();
      const phone = newPhone();
      await logoutOk(env, { email });
      await logoutOk(env, { phone });
      for (const [dii, placeholder] of [
        [{ email }, { email: 'optout@unifiedid.com' }],
        [{ phone }, { phone: '+00000000001' }],
      ] as const) {
        for (const check of [undefined, 0] as const) {
          const x = await generated(env, check === undefined ? dii : { ...dii, optout_check: check });
          if (env.faulty) {
            const tokens = expectTokens(x);
            // The token is the placeholder identity's, not the user's.
            const onPlaceholder = await env.client.validate(tokens.advertising_token, placeholder);
            expect(onPlaceholder.body).toStrictEqual({ status: 'success', body: true });
            const onUser = await env.client.validate(tokens.advertising_token, dii);
            expect(onUser.body).toStrictEqual({ status: 'success', body: false });
          } else {
            expectOptout(x);
          }
        }
        expectOptout(await generated(env, { ...dii, optout_check: 1 }));
      }
      // A DII that did not opt out gets tokens without optout_check in both.
      expectTokens(await generated(env, { email: newEmail() }));
    },
  },

  'refresh-unauthenticated-skips-optout': {
    title: 'refresh after logout: optout with and without API key (fault: tokens without one)',
    async run(env) {
      const email = newEmail();
      const tokens = expectTokens(await generated(env, { email, optout_check: 1 }));
      await logoutOk(env, { email });
      expectOptout(await env.client.refresh(tokens.refresh_token, tokens.refresh_response_key, { authenticated: true }));
      const anonymous = await env.client.refresh(tokens.refresh_token, tokens.refresh_response_key);
      if (env.faulty) expectTokens(anonymous);
      else expectOptout(anonymous);
      expectOptout(await env.client.refresh(tokens.refresh_token, tokens.refresh_response_key, { authenticated: true }));
    },
  },

  'refresh-replay-cache': {
    title: 'after the chain answered optout, re-presenting the first refresh token: optout (fault: cached success)',
    async run(env) {
      const email = newEmail();
      const a = expectTokens(await generated(env, { email, optout_check: 1 }));
      const first = await env.client.refresh(a.refresh_token, a.refresh_response_key);
      const b = expectTokens(first);
      expect(b.refresh_token).not.toBe(a.refresh_token);
      await logoutOk(env, { email });
      expectOptout(await env.client.refresh(b.refresh_token, b.refresh_response_key));
      const replay = await env.client.refresh(a.refresh_token, a.refresh_response_key);
      if (env.faulty) {
        expectTokens(replay);
        expect(replay.body).toStrictEqual(first.body); // the very first answer, replayed
      } else {
        expectOptout(replay);
      }
    },
  },

  'map-v2-last-entry-unchecked': {
    title: 'v2 map lists an opted-out entry as unmapped in every position (fault: mapped when last of ≥2)',
    async run(env) {
      const x = newEmail();
      const y = newEmail();
      const z = newEmail();
      const uidX = await rawUidOf(env, x);
      await logoutOk(env, { email: x });
      const optoutEntry = { identifier: x, reason: 'optout' };
      const mappedEntry = (identifier: string) => ({ identifier, advertising_id: expect.any(String), bucket_id: expect.any(String) });
      const map = async (batch: string[]) => {
        const r = await env.client.mapV2({ email: batch });
        expect(r.http).toBe(200);
        expect((r.body as Json).status).toBe('success');
        return (r.body as Json).body;
      };
      // Alone, first and middle: unmapped in both.
      expect(await map([x])).toStrictEqual({ mapped: [], unmapped: [optoutEntry] });
      expect(await map([x, y])).toStrictEqual({ mapped: [mappedEntry(y)], unmapped: [optoutEntry] });
      expect(await map([y, x, z])).toStrictEqual({ mapped: [mappedEntry(y), mappedEntry(z)], unmapped: [optoutEntry] });
      // Last of two or more.
      for (const batch of [[y, x], [y, z, x]]) {
        const body = await map(batch);
        if (env.faulty) {
          expect(body.unmapped).toBeUndefined();
          expect(body.mapped.map((m: Json) => m.identifier)).toEqual(batch);
          expect(body.mapped.at(-1)).toStrictEqual({ identifier: x, advertising_id: uidX, bucket_id: expect.any(String) });
        } else {
          expect(body).toStrictEqual({ mapped: batch.slice(0, -1).map(mappedEntry), unmapped: [optoutEntry] });
        }
      }
    },
  },

  'map-v3-optouts-appended': {
    title: 'v3 map answers {"e":"optout"} at the input index (fault: moved to the end of the array)',
    async run(env) {
      const x = newEmail();
      const y = newEmail();
      await logoutOk(env, { email: x });
      const r = await env.client.mapV3({ email: [x, y] });
      expect(r.http).toBe(200);
      const body = (r.body as Json).body;
      const mapped = { u: expect.any(String), p: null, r: expect.any(Number) };
      if (env.faulty) expect(body.email).toStrictEqual([mapped, { e: 'optout' }]);
      else expect(body.email).toStrictEqual([{ e: 'optout' }, mapped]);
      expect(body).toMatchObject({ email_hash: [], phone: [], phone_hash: [] });
      // Already last: the same in both.
      const tail = await env.client.mapV3({ email: [y, x] });
      expect((tail.body as Json).body.email).toStrictEqual([mapped, { e: 'optout' }]);
    },
  },

  'status-seconds': {
    title: 'optout/status opted_out_since in Unix ms of the opt-out (fault: seconds)',
    async run(env) {
      const email = newEmail();
      const uid = await rawUidOf(env, email);
      const other = await rawUidOf(env, newEmail());
      const at = env.clock.ms;
      await logoutOk(env, { email });
      env.clock.advance(300);
      const r = await env.client.optoutStatus([other, uid]);
      expect(r.http).toBe(200);
      const expectedSince = env.faulty ? Math.floor(at / 1000) : Math.floor(at / 1000) * 1000;
      expect(r.body).toStrictEqual({ status: 'success', body: { opted_out: [{ advertising_id: uid, opted_out_since: expectedSince }] } });
    },
  },

  'status-limit-off-by-one': {
    title: 'optout/status with 5,001 IDs: 400 client_error (fault: 200); 5,000 → 200 and 5,002 → 400 in both',
    async run(env) {
      const ids = Array.from({ length: 5002 }, randomRawUid);
      const tooLarge = { status: 'client_error', message: 'Request payload is too large' };
      const at5000 = await env.client.optoutStatus(ids.slice(0, 5000));
      expect(at5000.http).toBe(200);
      expect(at5000.body).toStrictEqual({ status: 'success', body: { opted_out: [] } });
      const at5001 = await env.client.optoutStatus(ids.slice(0, 5001));
      if (env.faulty) {
        expect(at5001.http).toBe(200);
        expect(at5001.body).toStrictEqual({ status: 'success', body: { opted_out: [] } });
      } else {
        expect(at5001.http).toBe(400);
        expect(at5001.body).toStrictEqual(tooLarge);
      }
      const at5002 = await env.client.optoutStatus(ids);
      expect(at5002.http).toBe(400);
      expect(at5002.body).toStrictEqual(tooLarge);
    },
  },

  'forms-gmail-plus-kept': {
    title: 'opt-out of x@gmail.com holds for x+tag@gmail.com (fault: tokens for the +tag form)',
    async run(env) {
      const local = randomLocal();
      await logoutOk(env, { email: `${local}@gmail.com` });
      const tagged = await generated(env, { email: `${local}+tag@gmail.com`, optout_check: 1 });
      if (env.faulty) expectTokens(tagged);
      else expectOptout(tagged);
      // Dots, case, inner spaces and the hash are handled right in both.
      expectOptout(await generated(env, { email: `${local.slice(0, 3)}.${local.slice(3)}@gmail.com`, optout_check: 1 }));
      expectOptout(await generated(env, { email: `${local.slice(0, 2)} ${local.slice(2)}@gmail.com`, optout_check: 1 }));
      expectOptout(await generated(env, { email: ` ${local.toUpperCase()}@Gmail.com `, optout_check: 1 }));
      expectOptout(await generated(env, { email_hash: b64sha256(`${local}@gmail.com`), optout_check: 1 }));
    },
  },

  'forms-inner-spaces-kept': {
    title: 'opt-out of xy@example.com holds for "x y@example.com" (fault: tokens for the spaced form)',
    async run(env) {
      const local = randomLocal();
      await logoutOk(env, { email: `${local}@example.com` });
      const spaced = await generated(env, { email: `${local.slice(0, 3)} ${local.slice(3)}@example.com`, optout_check: 1 });
      if (env.faulty) expectTokens(spaced);
      else expectOptout(spaced);
      // Surrounding spaces and case are handled right in both; a space in the domain is another address in both.
      expectOptout(await generated(env, { email: `  ${local.toUpperCase()}@Example.com `, optout_check: 1 }));
      expectTokens(await generated(env, { email: `${local}@exa mple.com`, optout_check: 1 }));
    },
  },

  'isolation-lenient-optout-key': {
    title: 'logout of j.doe@example.com leaves jdoe@example.com opted in (fault: opted out too)',
    async run(env) {
      const [a, b] = [randomLocal(), randomLocal()];
      await logoutOk(env, { email: `${a}.${b}@example.com` });
      expectOptout(await generated(env, { email: `${a}.${b}@example.com`, optout_check: 1 }));
      const neighbour = await generated(env, { email: `${a}${b}@example.com`, optout_check: 1 });
      if (env.faulty) expectOptout(neighbour);
      else expectTokens(neighbour);
      // Another user of the domain is never touched.
      expectTokens(await generated(env, { email: `${b}.${a}@example.com`, optout_check: 1 }));
    },
  },

  'isolation-hash-first-32-bytes': {
    title: 'logout of an email leaves the 33-byte hash that begins with its hash opted in (fault: opted out too)',
    async run(env) {
      const email = newEmail();
      const hash = b64sha256(email);
      await logoutOk(env, { email });
      const longer = await generated(env, { email_hash: `${hash.slice(0, 43)}A`, optout_check: 1 });
      if (env.faulty) expectOptout(longer);
      else expectTokens(longer);
      // The hash itself is opted out and its 31-byte cut is another person, in both.
      expectOptout(await generated(env, { email_hash: hash, optout_check: 1 }));
      expectTokens(await generated(env, { email_hash: `${hash.slice(0, 42)}==`, optout_check: 1 }));
    },
  },

  flapping: {
    title: 'a redelivered opt-out stays reported on every read (fault: lost for every other half second, status untouched)',
    async run(env) {
      const email = newEmail();
      const uid = await rawUidOf(env, email);
      await logoutOk(env, { email });
      for (let i = 0; i < 4; i++, env.clock.advance(500)) expectOptout(await generated(env, { email, optout_check: 1 })); // delivered once: steady
      await logoutOk(env, { email }); // the opt-out service delivers the record again; the clock is at x.100 s
      for (let i = 0; i < 4; i++, env.clock.advance(500)) {
        const gen = await generated(env, { email, optout_check: 1 });
        const map = await env.client.mapV3({ email: [email] });
        const lost = env.faulty && i % 2 === 1; // x.600: the second half of a second
        if (lost) expectTokens(gen);
        else expectOptout(gen);
        expect((map.body as Json).body.email).toStrictEqual([lost ? expect.objectContaining({ u: uid }) : { e: 'optout' }]);
        expect((await env.client.optoutStatus([uid])).body as Json).toMatchObject({ body: { opted_out: [{ advertising_id: uid }] } });
      }
    },
  },
  'propagation-repeat-resets': {
    title: 'a repeated opt-out keeps the DII opted out everywhere (fault: opted in again for one delay)',
    propagationDelayMs: 500,
    async run(env) {
      const email = newEmail();
      const uid = await rawUidOf(env, email);
      await logoutOk(env, { email });
      env.clock.advance(499);
      expectTokens(await generated(env, { email, optout_check: 1 })); // not propagated yet, in both
      env.clock.advance(1); // visible from here
      expectOptout(await generated(env, { email, optout_check: 1 }));
      env.clock.advance(5000);
      await logoutOk(env, { email }); // the opt-out service delivers the record again
      const gen = await generated(env, { email, optout_check: 1 });
      const map = await env.client.mapV2({ email: [email] });
      const status = await env.client.optoutStatus([uid]);
      if (env.faulty) {
        expectTokens(gen);
        expect((map.body as Json).body).toStrictEqual({ mapped: [{ identifier: email, advertising_id: uid, bucket_id: expect.any(String) }] });
        expect((status.body as Json).body).toStrictEqual({ opted_out: [] });
      } else {
        expectOptout(gen);
        expect((map.body as Json).body).toStrictEqual({ mapped: [], unmapped: [{ identifier: email, reason: 'optout' }] });
        expect((status.body as Json).body.opted_out).toHaveLength(1);
      }
      env.clock.advance(500); // one more delay: back, with the earliest time kept
      expectOptout(await generated(env, { email, optout_check: 1 }));
    },
  },

  'test-identities-docs-table': {
    title: '+00000000002 generates then refreshes to optout, +00000000000 always optout (fault: the two swapped)',
    async run(env) {
      const hashOf2 = b64sha256('+00000000002');
      const hashOf0 = b64sha256('+00000000000');
      expect(hashOf2).toBe('0VoxsIuk88qt7TnZaTC//C9Vur3pR1zBMIr1cJe7xjE='); // UID2-SPEC §4
      expect(hashOf0).toBe('313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo=');
      const [refreshOptout, alwaysOptout] = env.faulty
        ? [{ raw: '+00000000000', hash: hashOf0 }, { raw: '+00000000002', hash: hashOf2 }]
        : [{ raw: '+00000000002', hash: hashOf2 }, { raw: '+00000000000', hash: hashOf0 }];
      for (const dii of [{ phone: refreshOptout.raw }, { phone_hash: refreshOptout.hash }]) {
        const tokens = expectTokens(await generated(env, { ...dii, optout_check: 1 }));
        expectOptout(await env.client.refresh(tokens.refresh_token, tokens.refresh_response_key));
      }
      expectOptout(await generated(env, { phone: alwaysOptout.raw, optout_check: 1 }));
      expectOptout(await generated(env, { phone_hash: alwaysOptout.hash, optout_check: 1 }));
      const map = await env.client.mapV2({ phone: ['+00000000000', '+00000000002'] });
      expect((map.body as Json).body).toStrictEqual({
        mapped: [{ identifier: refreshOptout.raw, advertising_id: expect.any(String), bucket_id: expect.any(String) }],
        unmapped: [{ identifier: alwaysOptout.raw, reason: 'optout' }],
      });
      // The email test identities are untouched by the fault.
      expectOptout(await generated(env, { email: 'optout@example.com', optout_check: 1 }));
      const r = expectTokens(await generated(env, { email: 'refresh-optout@example.com', optout_check: 1 }));
      expectOptout(await env.client.refresh(r.refresh_token, r.refresh_response_key));
      const v = expectTokens(await generated(env, { phone: '+12345678901', optout_check: 1 }));
      expectTokens(await env.client.refresh(v.refresh_token, v.refresh_response_key));
    },
  },

  'logout-not-idempotent': {
    title: 'a repeated logout acknowledges again (fault: 400 invalid_token)',
    async run(env) {
      const dii = { phone: newPhone() };
      await logoutOk(env, dii);
      const again = await env.optout.logout(dii);
      if (env.faulty) {
        expect(again.http).toBe(400);
        expect(again.body).toStrictEqual({ status: 'invalid_token', message: 'Invalid Token presented' });
      } else {
        expect(again.http).toBe(200);
        expect(again.body).toStrictEqual({ status: 'success', body: { optout: 'OK' } });
      }
      expectOptout(await generated(env, { ...dii, optout_check: 1 }));
    },
  },

  'envelope-version-500': {
    title: 'an envelope with version byte 2 answers 400 client_error (fault: 500)',
    async run(env) {
      const { apiKey, clientSecret } = env.op.credentials;
      const post = async (bytes: Buffer) => {
        const res = await request(new URL('/v2/token/generate', env.op.url), {
          method: 'POST',
          body: bytes.toString('base64'),
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'text/plain' },
        });
        return { http: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
      };
      const sealed = sealRequest(Buffer.from(clientSecret, 'base64'), { email: newEmail(), optout_check: 1 });
      // Unchanged, the same request succeeds (encrypted text, not JSON).
      const good = await post(sealed.bytes);
      expect(good.http).toBe(200);
      const bad = Buffer.from(sealed.bytes);
      bad[0] = 2;
      const answer = await post(bad);
      expect(answer.type).toMatch(/^application\/json/);
      if (env.faulty) {
        expect(answer.http).toBe(500);
        expect(JSON.parse(answer.text)).toStrictEqual({ status: 'unknown', message: 'Unexpected error' });
      } else {
        expect(answer.http).toBe(400);
        expect(JSON.parse(answer.text)).toStrictEqual({
          status: 'client_error',
          message: 'Invalid body: Invalid request envelope format version: received 2, must be 1.',
        });
      }
    },
  },

  'schema-v3-drops-null-previous': {
    title: 'v3 map entry without a previous UID2 has "p": null (fault: "p" left out)',
    async run(env) {
      const email = newEmail();
      const uid = await rawUidOf(env, email);
      const r = await env.client.mapV3({ email: [email] });
      expect(r.http).toBe(200);
      const body = (r.body as Json).body;
      expect(Object.keys(body).sort()).toEqual(['email', 'email_hash', 'phone', 'phone_hash']);
      const [entry] = body.email as Json[];
      const nowS = env.clock.ms / 1000;
      expect(entry.u).toBe(uid);
      expect(Number.isInteger(entry.r)).toBe(true);
      expect(entry.r).toBeGreaterThan(nowS);
      expect(entry.r).toBeLessThanOrEqual(nowS + 86_400);
      if (env.faulty) {
        expect(Object.keys(entry).sort()).toEqual(['r', 'u']);
        expect('p' in entry).toBe(false);
      } else {
        expect(Object.keys(entry).sort()).toEqual(['p', 'r', 'u']);
        expect(entry.p).toBeNull();
      }
    },
  },

  'cstg-phone-skips-optout': {
    title: 'CSTG with the phone_hash of an opted-out phone: optout (fault: tokens); email_hash optout in both',
    async run(env) {
      const { cstgPublicKey: serverPublicKey, cstgSubscriptionId: subscriptionId } = env.op.credentials;
      const phone = newPhone();
      const email = newEmail();
      await logoutOk(env, { phone });
      await logoutOk(env, { email });
      const byPhone = await env.client.clientGenerate({ serverPublicKey, subscriptionId, dii: { phone_hash: b64sha256(phone) } });
      if (env.faulty) expectTokens(byPhone);
      else expectOptout(byPhone);
      expectOptout(await env.client.clientGenerate({ serverPublicKey, subscriptionId, dii: { email_hash: b64sha256(email) } }));
      // Server-side generate of the same phone is refused in both.
      expectOptout(await generated(env, { phone_hash: b64sha256(phone), optout_check: 1 }));
      // A phone that did not opt out gets tokens in both.
      expectTokens(await env.client.clientGenerate({ serverPublicKey, subscriptionId, dii: { phone_hash: b64sha256(newPhone()) } }));
    },
  },
};

// ------------------------------------------------------------------ the suite

describe('operator faults', () => {
  it('the scenario table covers exactly OPERATOR_FAULTS', () => {
    expect(Object.keys(SCENARIOS).sort()).toEqual(OPERATOR_FAULTS.map((f) => f.name).sort());
  });

  for (const fault of OPERATOR_FAULTS) {
    describe(`${fault.name} (${fault.breaks.join(', ')})`, () => {
      const scenario: Scenario | undefined = (SCENARIOS as Partial<Record<string, Scenario>>)[fault.name];
      it(`conformant: ${scenario?.title ?? 'no scenario'}`, async () => {
        expect(scenario, `no scenario for fault ${fault.name}`).toBeDefined();
        await runScenario(fault.name, false);
      });
      it(`with the fault: ${fault.description}`, async () => {
        expect(scenario, `no scenario for fault ${fault.name}`).toBeDefined();
        await runScenario(fault.name, true);
      });
    });
  }
});
