// The named conformant variants of the simulated operator (harness/operator/variants.ts) over its real wire:
// each shows the behaviour its description names, and it is a behaviour the rules allow (the calibration
// test proves the kit passes each). A fake clock drives time, windows and expiry.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { OPERATOR_VARIANTS, findOperatorVariant, KIT_CSTG_ORIGIN, type OperatorVariantName } from '../../harness/operator/variants.ts';
import { OptOutStore } from '../../harness/operator/optout-store.ts';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { FakeClock, postRaw, postRefresh, postSealed, syntheticEmail } from './helpers.ts';

const running: RunningOperator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((op) => op.close()));
});

async function start(name: OperatorVariantName, clock?: FakeClock): Promise<RunningOperator> {
  const op = await startOperator({ ...findOperatorVariant(name)!.operator, ...(clock ? { now: clock.now } : {}) });
  running.push(op);
  return op;
}

const b64sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

describe('the variant registry', () => {
  it('names each variant once, with a description, and none carries a fault', () => {
    const names = OPERATOR_VARIANTS.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(['latest-time', 'throttle', 'empty-error-message', 'short-refresh-lifetime', 'cstg-origin', 'fleet']);
    for (const v of OPERATOR_VARIANTS) {
      expect(v.description.length, v.name).toBeGreaterThan(20);
      expect('fault' in v.operator, v.name).toBe(false);
    }
    expect(findOperatorVariant('nope')).toBeUndefined();
  });
});

describe('latest-time', () => {
  const first = Date.UTC(2026, 10, 1, 12, 0, 0, 250);

  it('the store keeps the latest time of a same-day repeat, the earliest across days; the default keeps the earliest', () => {
    const store = (sameDayLatest: boolean) => new OptOutStore({ propagationDelayMs: 0, sameDayLatest });
    const key = Buffer.alloc(32, 1);
    const sameDay = store(true);
    sameDay.record(key, 'uid', first);
    sameDay.record(key, 'uid', first + 5_000);
    expect(sameDay.optedOutSince('uid', first + 6_000)).toBe(first - 250 + 5_000);
    const nextDay = store(true);
    nextDay.record(key, 'uid', first);
    nextDay.record(key, 'uid', first + 86_400_000);
    expect(nextDay.optedOutSince('uid', first + 86_400_001)).toBe(first - 250);
    const earliest = store(false);
    earliest.record(key, 'uid', first);
    earliest.record(key, 'uid', first + 5_000);
    expect(earliest.optedOutSince('uid', first + 6_000)).toBe(first - 250);
  });

  it('over the wire: a repeat two seconds later moves opted_out_since to the repeat', async () => {
    const clock = new FakeClock(first);
    const op = await start('latest-time', clock);
    const email = syntheticEmail();
    const mapped = await postSealed(op, '/v2/identity/map', { email: [email] });
    const uid = (mapped.json as { body: { mapped: Array<{ advertising_id: string }> } }).body.mapped[0]!.advertising_id;
    expect((await postSealed(op, '/v2/token/logout', { email }, 'optout')).http).toBe(200);
    clock.advance(2_000);
    expect((await postSealed(op, '/v2/token/logout', { email }, 'optout')).http).toBe(200);
    const status = await postSealed(op, '/v2/optout/status', { advertising_ids: [uid] });
    expect(status.json).toStrictEqual({ status: 'success', body: { opted_out: [{ advertising_id: uid, opted_out_since: first - 250 + 2_000 }] } });
  });
});

describe('throttle', () => {
  it('past 100 requests in a window answers 429 with Retry-After and no body; the next window serves again', async () => {
    const clock = new FakeClock();
    const op = await start('throttle', clock);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await postSealed(op, '/v2/token/generate', { email: syntheticEmail() })).http);
    expect(statuses.every((s) => s === 200)).toBe(true);
    clock.advance(400);
    const throttled = await postRaw(op, '/v2/identity/map', 'x', { Authorization: `Bearer ${op.credentials.apiKey}` });
    expect(throttled.http).toBe(429);
    expect(throttled.raw).toHaveLength(0);
    const retry = (await fetch(`${op.url}/v2/token/refresh`, { method: 'POST', body: 'x' })).headers.get('retry-after');
    expect(retry).toBe('1'); // 600 ms left in the window, in whole seconds
    expect((await fetch(`${op.url}/ops/healthcheck`)).status).toBe(200); // health checks are not throttled
    clock.advance(600);
    expect((await postSealed(op, '/v2/token/generate', { email: syntheticEmail() })).http).toBe(200);
  });

  it('the conformant operator never throttles', async () => {
    const op = await startOperator();
    running.push(op);
    const statuses = await Promise.all(Array.from({ length: 60 }, () => postSealed(op, '/v2/token/generate', { email: syntheticEmail() }).then((x) => x.http)));
    expect(new Set(statuses)).toEqual(new Set([200]));
  });
});

describe('short-refresh-lifetime', () => {
  it('a refresh token past refresh_expires answers expired, before opt-out is looked at (UID2-SPEC §1.2)', async () => {
    const clock = new FakeClock();
    const op = await start('short-refresh-lifetime', clock);
    const email = syntheticEmail();
    const issued = (await postSealed(op, '/v2/token/generate', { email, optout_check: 1 })).json as { body: { refresh_token: string; refresh_response_key: string; refresh_expires: number } };
    expect(issued.body.refresh_expires).toBe(clock.nowMs + 800);
    expect((await postSealed(op, '/v2/token/logout', { email }, 'optout')).http).toBe(200);
    const { refresh_token: token, refresh_response_key: key } = issued.body;
    expect((await postRefresh(op, token, key)).opened).toEqual({ status: 'optout' });
    clock.advance(801);
    const authenticated = await postRefresh(op, token, key, { apiKey: op.credentials.apiKey });
    expect([authenticated.http, authenticated.json]).toEqual([400, { status: 'expired_token', message: 'Expired Token presented' }]);
    const anonymous = await postRefresh(op, token, key);
    expect([anonymous.http, anonymous.json]).toEqual([400, { status: 'error', message: 'Error refreshing token' }]);
  });
});

describe('cstg-origin', () => {
  it('client-generate from the listed origin is served; without an Origin or from another one, 403 invalid_http_origin', async () => {
    const op = await start('cstg-origin');
    expect(findOperatorVariant('cstg-origin')!.run?.cstgOrigin).toBe(KIT_CSTG_ORIGIN);
    const c = op.credentials;
    const send = (origin?: string) =>
      new OperatorClient({ baseUrl: op.url }).clientGenerate({ serverPublicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId, dii: { email_hash: b64sha256(syntheticEmail()) }, origin });
    const listed = await send(KIT_CSTG_ORIGIN);
    expect([listed.http, (listed.body as { status?: string }).status]).toEqual([200, 'success']);
    for (const origin of [undefined, 'https://elsewhere.example']) {
      const refused = await send(origin);
      expect([refused.http, (refused.body as { status?: string }).status], origin ?? 'no Origin').toEqual([403, 'invalid_http_origin']);
    }
    // The client's own option sends the origin on every client-generate.
    const withOption = await new OperatorClient({ baseUrl: op.url, cstgOrigin: KIT_CSTG_ORIGIN }).clientGenerate({ serverPublicKey: c.cstgPublicKey, subscriptionId: c.cstgSubscriptionId, dii: { email_hash: b64sha256(syntheticEmail()) } });
    expect(withOption.http).toBe(200);
  });
});
