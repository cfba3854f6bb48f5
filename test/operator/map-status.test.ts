// Identity map v2/v3 and /v2/optout/status of the simulated operator against UID2-SPEC §1.3, §1.4, §9.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../harness/wire/dii.ts';
import type { RunningOperator } from '../../harness/operator/index.ts';
import { FakeClock, postSealed, syntheticEmail, syntheticPhone, withOperator } from './helpers.ts';

let op: RunningOperator;
const clock = new FakeClock();
const fixture = withOperator({ now: clock.now });
beforeEach(async () => {
  op = await fixture.start();
});
afterEach(() => fixture.stop());

const logout = (payload: unknown) => postSealed(op, '/v2/token/logout', payload, 'optout');
const body = async (path: string, payload: unknown) => {
  const answer = await postSealed(op, path, payload);
  expect(answer.http, JSON.stringify(answer.json)).toBe(200);
  expect((answer.json as { status: string }).status).toBe('success');
  return (answer.json as { body: Record<string, unknown> }).body;
};
const RAW_UID = /^[A-Za-z0-9+/]{43}=$|^[A-Za-z0-9+/]{44}$/;

describe('POST /v2/identity/map (v2)', () => {
  it('maps in request order with duplicates, echoes identifiers, and leaves out an empty unmapped', async () => {
    const [a, b] = [syntheticEmail(), syntheticEmail()];
    const mapped = (await body('/v2/identity/map', { email: [a, b, a] })) as { mapped: Array<{ identifier: string; advertising_id: string; bucket_id: string }> };
    expect(Object.keys(mapped)).toEqual(['mapped']);
    expect(mapped.mapped.map((m) => m.identifier)).toEqual([a, b, a]);
    expect(mapped.mapped[0]!.advertising_id).toBe(mapped.mapped[2]!.advertising_id);
    expect(mapped.mapped[0]!.advertising_id).not.toBe(mapped.mapped[1]!.advertising_id);
    for (const m of mapped.mapped) {
      expect(m.advertising_id).toMatch(RAW_UID);
      expect(typeof m.bucket_id).toBe('string');
    }
  });

  it('lists an opted-out input under unmapped with reason optout at any position, invalid ones as "invalid identifier"', async () => {
    const out = syntheticEmail('gmail.com');
    await logout({ email: out });
    const variant = out.replace('@', '+news@').replace(/^t-/, 'T.-');
    for (let position = 0; position < 3; position++) {
      const batch = [syntheticEmail(), syntheticEmail()];
      batch.splice(position, 0, variant);
      const result = (await body('/v2/identity/map', { email: [...batch, 'broken'] })) as { mapped: Array<{ identifier: string }>; unmapped: Array<{ identifier: string; reason: string }> };
      expect(result.unmapped).toEqual([
        { identifier: variant, reason: 'optout' },
        { identifier: 'broken', reason: 'invalid identifier' },
      ]);
      expect(result.mapped.map((m) => m.identifier)).toEqual(batch.filter((e) => e !== variant));
    }
    const hashes = (await body('/v2/identity/map', { email_hash: [sha256(out).toString('hex')] })) as { unmapped: unknown[] };
    expect(hashes.unmapped).toEqual([{ identifier: sha256(out).toString('hex'), reason: 'optout' }]);
  });

  it('follows the test identities: always-optout unmapped, refresh-optout mapped', async () => {
    const result = (await body('/v2/identity/map', { phone: ['+00000000000', '+00000000002'] })) as { mapped: Array<{ identifier: string }>; unmapped: unknown[] };
    expect(result.unmapped).toEqual([{ identifier: '+00000000000', reason: 'optout' }]);
    expect(result.mapped.map((m) => m.identifier)).toEqual(['+00000000002']);
  });

  it('validates the request shape (§1.3, §9)', async () => {
    expect(await body('/v2/identity/map', { email: [] })).toEqual({ mapped: [] });
    expect(await body('/v2/identity/map', { email: [syntheticEmail()], phone: [], optout_check: 1 })).toMatchObject({ mapped: [expect.anything()] });
    const exactlyOne = { status: 'client_error', message: 'Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash] must be specified' };
    for (const payload of [{}, { email: [syntheticEmail()], phone: [syntheticPhone()] }, undefined]) {
      expect((await postSealed(op, '/v2/identity/map', payload)).json).toEqual(exactlyOne);
    }
    for (const payload of [{ email: 'a@example.com' }, { email: [null] }, { email: [5] }]) {
      const answer = await postSealed(op, '/v2/identity/map', payload);
      expect([answer.http, (answer.json as { status: string }).status]).toEqual([400, 'client_error']);
    }
  });

  it('answers 429 with no body above 5,000 entries', async () => {
    const emails = Array.from({ length: 5001 }, (_, i) => `bulk${i}@example.com`);
    const answer = await postSealed(op, '/v2/identity/map', { email: emails });
    expect([answer.http, answer.text]).toEqual([429, '']);
    expect(((await body('/v2/identity/map', { email: emails.slice(0, 5000) })).mapped as unknown[]).length).toBe(5000);
  });

  it('answers 401 to a key without the MAPPER role', async () => {
    expect((await postSealed(op, '/v2/identity/map', { email: [] }, 'optout')).http).toBe(401);
  });
});

describe('POST /v3/identity/map', () => {
  it('answers all four arrays index-aligned, with u/p/r for mapped and e for unmapped', async () => {
    const out = syntheticPhone();
    await logout({ phone: out });
    const email = syntheticEmail();
    const result = (await body('/v3/identity/map', { email: [email, 'bad'], phone: [syntheticPhone(), out, 'bad'] })) as Record<string, Array<Record<string, unknown>>>;
    expect(Object.keys(result).sort()).toEqual(['email', 'email_hash', 'phone', 'phone_hash']);
    expect(result.email_hash).toEqual([]);
    expect(result.phone_hash).toEqual([]);
    const [mapped, bad] = result.email!;
    expect(mapped).toEqual({ u: expect.stringMatching(RAW_UID), p: null, r: expect.any(Number) });
    expect(bad).toEqual({ e: 'invalid identifier' });
    expect(result.phone![1]).toEqual({ e: 'optout' });
    expect(result.phone![2]).toEqual({ e: 'invalid identifier' });
    const r = (mapped as { r: number }).r;
    expect(r).toBeGreaterThan(clock.nowMs / 1000); // seconds, in the future
    expect(r).toBeLessThanOrEqual(clock.nowMs / 1000 + 86_400);
    // v2 and v3 agree on the raw UID2
    const v2 = (await body('/v2/identity/map', { email: [email] })) as { mapped: Array<{ advertising_id: string }> };
    expect(v2.mapped[0]!.advertising_id).toBe((mapped as { u: string }).u);
  });

  it('validates the request shape (§1.3, §9)', async () => {
    expect(await body('/v3/identity/map', { email: [] })).toEqual({ email: [], email_hash: [], phone: [], phone_hash: [] });
    const oneOrMore = { status: 'client_error', message: 'Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash] must be specified' };
    expect((await postSealed(op, '/v3/identity/map', {})).json).toEqual(oneOrMore);
    for (const payload of [{ email: [null] }, { email: 'x@example.com' }, { phone: [12345678901] }]) {
      expect((await postSealed(op, '/v3/identity/map', payload)).json).toEqual({ status: 'client_error', message: 'Incorrect request format' });
    }
  });
});

describe('POST /v2/optout/status', () => {
  async function rawUidOf(email: string): Promise<string> {
    const result = (await body('/v2/identity/map', { email: [email] })) as { mapped: Array<{ advertising_id: string }> };
    return result.mapped[0]!.advertising_id;
  }

  it('lists only opted-out IDs, in input order, with the earliest time in whole-second milliseconds', async () => {
    const [a, b, c] = [syntheticEmail(), syntheticEmail(), syntheticEmail()];
    const [ua, ub, uc] = [await rawUidOf(a), await rawUidOf(b), await rawUidOf(c)];
    const firstTime = clock.nowMs + 250;
    clock.nowMs = firstTime;
    await logout({ email: c });
    await logout({ email: a });
    clock.advance(5000);
    await logout({ email: a }); // a repeat keeps the earliest
    const result = await body('/v2/optout/status', { advertising_ids: [ua, ub, uc, ua] });
    const since = Math.floor(firstTime / 1000) * 1000;
    expect(result).toEqual({
      opted_out: [
        { advertising_id: ua, opted_out_since: since },
        { advertising_id: uc, opted_out_since: since },
        { advertising_id: ua, opted_out_since: since },
      ],
    });
    expect(await body('/v2/optout/status', { advertising_ids: [ub] })).toEqual({ opted_out: [] });
  });

  it('does not report the DII test identities, which are not in the store (§1.4)', async () => {
    const result = (await body('/v2/identity/map', { email: ['refresh-optout@example.com'] })) as { mapped: Array<{ advertising_id: string }> };
    expect(await body('/v2/optout/status', { advertising_ids: [result.mapped[0]!.advertising_id] })).toEqual({ opted_out: [] });
  });

  it('answers its three 400 client_error cases and accepts exactly 5,000 IDs', async () => {
    const ids = Array.from({ length: 5001 }, (_, i) => Buffer.alloc(33, i % 256).toString('base64'));
    const cases: Array<[unknown, string]> = [
      [undefined, 'Invalid request body'],
      [{}, 'Required Parameter Missing: advertising_ids'],
      [{ advertising_ids: ids }, 'Request payload is too large'],
    ];
    for (const [payload, message] of cases) expect((await postSealed(op, '/v2/optout/status', payload)).json).toEqual({ status: 'client_error', message });
    expect(await body('/v2/optout/status', { advertising_ids: ids.slice(0, 5000) })).toEqual({ opted_out: [] });
  });
});
