// The reference sharer through the driver protocol (PROTOCOL.md §3) and the operator's call log: it asks
// /v2/optout/status about every raw UID2 it is about to share, in batches of at most 5,000, and shares none
// the operator lists (SHR-STATUS-BEFORE-SHARE); each named fault breaks exactly that rule, only for the share
// sizes and orderings it describes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DriverClient } from '../../harness/client/driver-client.ts';
import { SHARER_FAULTS, createSharer } from '../../harness/participants/sharer.ts';
import { STATUS_BATCH } from '../../harness/participants/operator-answer.ts';
import { callsTo, optOut, People, postDriver, rawUids, startRole, startTestOperator, type Identity, roleUnderTest } from './reference-fixture.ts';

const env = roleUnderTest('sharer', createSharer);
const people = new People();
const sharer = (fault?: string) => env.start(fault);

/** Raw UID2s of synthetic users, mapped through the operator while they are opted in. */
async function users(count: number): Promise<{ identities: Identity[]; uids: string[] }> {
  const identities: Identity[] = Array.from({ length: count }, (_, i) => (i % 2 ? { phone: people.phone() } : { email: people.email() }));
  return { identities, uids: await rawUids(env.kit.kit, identities) };
}
const leave = (identity: Identity) => optOut(env.kit.optout, identity);
/** Raw UID2s nobody opted out of (32 random bytes, as the operator issues them). */
const fillers = (count: number) => Array.from({ length: count }, () => randomBytes(32).toString('base64'));
/** Every raw UID2 the sharer asked /v2/optout/status about since `sinceMs`. */
const askedSince = (sinceMs: number) => new Set(callsTo(env.op, 'optout-status', sinceMs).flatMap((c) => c.uids ?? []));

/**
 * SHR-STATUS-BEFORE-SHARE probe: two users shared while opted in, one opts out, then a share of more than one
 * status batch with both users past the first batch. True when an opted-out UID2 is shared, or any UID2 is
 * shared without being asked about.
 */
async function statusRuleBroken(driver: DriverClient): Promise<boolean> {
  const { identities, uids } = await users(2);
  const [stays, leaves] = uids as [string, string];
  expect(await driver.sharerShare([stays, leaves])).toEqual([stays, leaves]);
  await leave(identities[1]!);
  const since = Date.now();
  const crowd = fillers(STATUS_BATCH);
  const shared = await driver.sharerShare([...crowd, stays, leaves]);
  expect(shared).toContain(stays); // every implementation shares who stayed
  const asked = askedSince(since);
  return shared.includes(leaves) || shared.some((id) => !asked.has(id));
}

describe('the conformant sharer', () => {
  it('plays the sharer role, asks about every raw UID2 before sharing and shares none the operator lists', async () => {
    const { driver } = await sharer();
    expect(await driver.roles()).toEqual(['sharer']);
    const { identities, uids } = await users(3);
    const [a, b, c] = uids as [string, string, string];
    expect(await driver.sharerShare(uids)).toEqual(uids);
    await leave(identities[1]!);
    const since = Date.now();
    expect(await driver.sharerShare([a, b, c, b, a])).toEqual([a, c, a]);
    expect(callsTo(env.op, 'optout-status', since).map((call) => call.uids)).toEqual([[a, b, c]]);
  });

  it(`SHR-STATUS-BEFORE-SHARE: asks in batches of at most ${STATUS_BATCH} and catches an opt-out in any batch`, async () => {
    const { driver } = await sharer();
    expect(await statusRuleBroken(driver)).toBe(false);
    const { identities, uids } = await users(1);
    await leave(identities[0]!);
    const crowd = fillers(2 * STATUS_BATCH + 1);
    const since = Date.now();
    const shared = await driver.sharerShare([...crowd, uids[0]!]);
    expect(shared).toEqual(crowd);
    expect(callsTo(env.op, 'optout-status', since).map((call) => [call.uids?.length, call.status])).toEqual([
      [STATUS_BATCH, 'success'],
      [STATUS_BATCH, 'success'],
      [2, 'success'],
    ]);
  });

  it('answers an empty share without calling the operator', async () => {
    const { driver } = await sharer();
    const since = Date.now();
    expect(await driver.sharerShare([])).toEqual([]);
    expect(callsTo(env.op, 'optout-status', since)).toEqual([]);
  });

  it('refuses bad driver input with 400 and an unknown action with 404', async () => {
    const { url } = await sharer();
    for (const body of ['[1]', {}, { raw_uid2s: 'x' }, { raw_uid2s: ['a', 1] }]) {
      expect((await postDriver(url, '/sharer/share', body)).status).toBe(400);
    }
    expect((await postDriver(url, '/sharer/nope', {})).status).toBe(404);
  });

  it('answers 502 with a clear message, and shares nothing, when the operator is down', async () => {
    const gone = await startTestOperator();
    await gone.close();
    const started = await startRole(gone, 'sharer', createSharer);
    env.track(started);
    const answer = await postDriver(started.url, '/sharer/share', { raw_uid2s: fillers(1) });
    expect(answer).toEqual({ status: 502, json: { error: expect.stringMatching(/opt-out status failed: .*unreachable/) } });
    expect(JSON.stringify(answer.json)).not.toContain(gone.credentials.apiKey);
  });
});

describe('sharer faults', () => {
  it.each([undefined, ...SHARER_FAULTS.map((f) => f.name)])('%s breaks exactly the rules it declares', async (fault) => {
    const { driver } = await sharer(fault);
    const broken = (await statusRuleBroken(driver)) ? ['SHR-STATUS-BEFORE-SHARE'] : [];
    expect(broken).toEqual(SHARER_FAULTS.find((f) => f.name === fault)?.breaks ?? []);
  });

  it('every fault is a sharer fault with a unique name', () => {
    expect(new Set(SHARER_FAULTS.map((f) => f.name)).size).toBe(SHARER_FAULTS.length);
    expect(SHARER_FAULTS.every((f) => f.role === 'sharer' && f.breaks.length === 1)).toBe(true);
  });

  it(`shr-checks-first-batch-only: right for a share of up to ${STATUS_BATCH}, wrong past it`, async () => {
    const { driver } = await sharer('shr-checks-first-batch-only');
    const { identities, uids } = await users(2);
    await leave(identities[0]!);
    await leave(identities[1]!);
    const crowd = fillers(STATUS_BATCH - 1);
    expect(await driver.sharerShare([...crowd, uids[0]!])).toEqual(crowd);
    expect(await driver.sharerShare([...crowd, uids[0]!, uids[1]!])).toEqual([...crowd, uids[1]!]);
  });

  it('shr-caches-status: right for a UID2 first shared after its opt-out, wrong for one shared before', async () => {
    const { driver } = await sharer('shr-caches-status');
    const { identities, uids } = await users(2);
    const [before, after] = uids as [string, string];
    expect(await driver.sharerShare([before])).toEqual([before]);
    await leave(identities[0]!);
    await leave(identities[1]!);
    expect(await driver.sharerShare([after])).toEqual([]);
    expect(await driver.sharerShare([before, after])).toEqual([before]);
  });
});
