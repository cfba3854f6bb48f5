// The reference advertiser / data provider through the driver protocol (PROTOCOL.md §3) and the operator's call
// log: it maps with /v3/identity/map in batches of at most 5,000, drops raw UID2s a re-map reports as optout
// (ADV-MAP-OPTOUT), never maps a user who opted out of it in any spelling (ADV-SITE-OPTOUT), and each named
// fault breaks exactly the rules it declares, only for the batches and orderings it describes.
import { describe, expect, it } from 'vitest';
import type { DriverClient } from '../../harness/client/driver-client.ts';
import { ADVERTISER_FAULTS, MAP_BATCH, createAdvertiser } from '../../harness/participants/advertiser.ts';
import { callsTo, optOut, People, personKey, postDriver, rawUids, startRole, startTestOperator, type Identity, roleUnderTest } from './reference-fixture.ts';

const env = roleUnderTest('advertiser', createAdvertiser);
const people = new People();
const advertiser = (fault?: string) => env.start(fault);

const uidsOf = (identities: readonly Identity[]) => rawUids(env.kit.kit, identities);
const leave = (identity: Identity) => optOut(env.kit.optout, identity);

/**
 * ADV-MAP-OPTOUT probe: one user opted out before ever being synced, one opts out between two syncs, and the
 * re-map carries an invalid identifier right before that user. True when an opted-out user's raw UID2 comes back.
 */
async function mapOptoutBroken(driver: DriverClient): Promise<boolean> {
  const stays = { email: people.email() };
  const leaves = { email: people.email('example.org') };
  const leftBefore = { phone: people.phone() };
  const [uStays, uLeaves, uLeftBefore] = await uidsOf([stays, leaves, leftBefore]);
  await leave(leftBefore);
  const first = await driver.advertiserSync([stays, leaves, leftBefore]);
  await leave(leaves);
  const second = await driver.advertiserSync([stays, { email: 'not-an-email' }, leaves, leftBefore]);
  expect(second).toContain(uStays); // every implementation keeps the users who stayed
  return first.includes(uLeftBefore!) || second.includes(uLeaves!) || second.includes(uLeftBefore!);
}

/** ADV-SITE-OPTOUT probe: site opt-outs of a gmail user (one spelling) and a phone, then a sync in every spelling. */
async function siteOptoutBroken(driver: DriverClient): Promise<boolean> {
  const jane = people.gmail();
  const phone = people.phone();
  const other = { email: people.email() };
  const [uJane, uPhone, uOther] = await uidsOf([{ email: jane.normalized }, { phone }, other]);
  await driver.advertiserSiteOptout({ email: jane.variant });
  await driver.advertiserSiteOptout({ phone });
  const since = Date.now();
  const answer = await driver.advertiserSync([{ email: jane.normalized }, { email: jane.variant }, { phone }, other]);
  expect(answer).toContain(uOther); // every implementation keeps mapping the others
  const gone = [personKey(jane.normalized), personKey(phone)];
  const mapped = callsTo(env.op, 'map-v3', since).some((c) => c.persons.some((p) => gone.includes(p)));
  return mapped || answer.includes(uJane!) || answer.includes(uPhone!);
}

describe('the conformant advertiser', () => {
  it('plays the advertiser role and maps emails and phones together in one v3 request', async () => {
    const { driver } = await advertiser();
    expect(await driver.roles()).toEqual(['advertiser']);
    const users: Identity[] = [{ email: people.email() }, { phone: people.phone() }, { email: people.email('example.org') }];
    const expected = await uidsOf(users);
    const since = Date.now();
    expect(await driver.advertiserSync(users)).toEqual(expected);
    const calls = callsTo(env.op, 'map-v3', since);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.persons).toHaveLength(3);
  });

  it('answers one raw UID2 per person whatever the spelling, and re-maps on every sync', async () => {
    const { driver } = await advertiser();
    const jane = people.gmail();
    const [uid] = await uidsOf([{ email: jane.normalized }]);
    const since = Date.now();
    expect(await driver.advertiserSync([{ email: jane.variant }, { email: jane.normalized }])).toEqual([uid]);
    expect(await driver.advertiserSync([{ email: jane.normalized }])).toEqual([uid]);
    expect(callsTo(env.op, 'map-v3', since).filter((c) => c.persons.includes(personKey(jane.normalized)))).toHaveLength(2);
  });

  it('ADV-MAP-OPTOUT: answers no raw UID2 identity map reports as optout, and drops the one it kept when a re-map says optout', async () => {
    const { driver } = await advertiser();
    expect(await mapOptoutBroken(driver)).toBe(false);
    const stays = { email: people.email() };
    const leaves = { phone: people.phone() };
    const [uStays, uLeaves] = await uidsOf([stays, leaves]);
    expect(await driver.advertiserSync([leaves, stays])).toEqual([uLeaves, uStays]);
    await leave(leaves);
    // Invalid identifiers before, between and after: the v3 arrays stay index-aligned (UID2-SPEC §1.3).
    const batch = [{ phone: '12345' }, leaves, { email: 'a@b@example.com' }, stays, { phone: '+1' }];
    expect(await driver.advertiserSync(batch)).toEqual([uStays]);
  });

  it(`ADV-MAP-OPTOUT: maps in batches of at most ${MAP_BATCH}, and drops an opted-out user past the first batch`, async () => {
    const { driver } = await advertiser();
    const crowd: Identity[] = Array.from({ length: MAP_BATCH }, (_, i) => (i % 2 ? { email: people.email() } : { phone: people.phone() }));
    const last = { email: people.email('example.org') };
    const [uLast] = await uidsOf([last]);
    expect(await driver.advertiserSync([...crowd, last])).toHaveLength(MAP_BATCH + 1);
    await leave(last);
    const since = Date.now();
    const answer = await driver.advertiserSync([...crowd, last]);
    expect(answer).toHaveLength(MAP_BATCH);
    expect(answer).not.toContain(uLast);
    expect(callsTo(env.op, 'map-v3', since).map((c) => [c.persons.length, c.status])).toEqual([
      [MAP_BATCH, 'success'],
      [1, 'success'],
    ]);
  });

  it('ADV-SITE-OPTOUT: maps no spelling of a site-opted-out user, forgets the raw UID2 it had, keeps mapping the others', async () => {
    const { driver } = await advertiser();
    expect(await siteOptoutBroken(driver)).toBe(false);
    const jane = people.gmail();
    const other = { email: people.email() };
    const [uJane, uOther] = await uidsOf([{ email: jane.normalized }, other]);
    expect(await driver.advertiserSync([{ email: jane.normalized }, other])).toEqual([uJane, uOther]);
    await driver.advertiserSiteOptout({ email: jane.variant });
    const since = Date.now();
    expect(await driver.advertiserSync([{ email: jane.normalized }, other])).toEqual([uOther]);
    expect(callsTo(env.op, 'map-v3', since).map((c) => c.persons)).toEqual([[personKey(other.email)]]);
    expect(callsTo(env.op, 'logout', since)).toEqual([]); // a site opt-out is not relayed to UID2 (UID2-SPEC §7)
  });

  it('answers an empty sync without calling the operator', async () => {
    const { driver } = await advertiser();
    const since = Date.now();
    expect(await driver.advertiserSync([])).toEqual([]);
    expect(callsTo(env.op, 'map-v3', since)).toEqual([]);
  });

  it('refuses bad driver input with 400 and an unknown action with 404', async () => {
    const { url } = await advertiser();
    for (const body of ['[1]', { identities: 'x' }, { identities: [{ email: 1 }] }, { identities: [{ email: 'a@example.com', phone: '+15550000000' }] }]) {
      expect((await postDriver(url, '/advertiser/sync', body)).status).toBe(400);
    }
    expect(await postDriver(url, '/advertiser/site-optout', { email: 'no-at-sign' })).toEqual({ status: 400, json: { error: expect.stringContaining('no user') } });
    expect((await postDriver(url, '/advertiser/site-optout', {})).status).toBe(400);
    expect((await postDriver(url, '/advertiser/nope', {})).status).toBe(404);
  });

  it('answers 502 with a clear message when the operator is down', async () => {
    const gone = await startTestOperator();
    await gone.close();
    const started = await startRole(gone, 'advertiser', createAdvertiser);
    env.track(started);
    const answer = await postDriver(started.url, '/advertiser/sync', { identities: [{ email: people.email() }] });
    expect(answer).toEqual({ status: 502, json: { error: expect.stringMatching(/identity map failed: .*unreachable/) } });
    expect(JSON.stringify(answer.json)).not.toContain(gone.credentials.apiKey);
  });
});

describe('advertiser faults', () => {
  it.each([undefined, ...ADVERTISER_FAULTS.map((f) => f.name)])('%s breaks exactly the rules it declares', async (fault) => {
    const { driver } = await advertiser(fault);
    const broken = [];
    if (await mapOptoutBroken(driver)) broken.push('ADV-MAP-OPTOUT');
    if (await siteOptoutBroken(driver)) broken.push('ADV-SITE-OPTOUT');
    expect(broken).toEqual(ADVERTISER_FAULTS.find((f) => f.name === fault)?.breaks ?? []);
  });

  it('every fault is an advertiser fault with a unique name', () => {
    expect(new Set(ADVERTISER_FAULTS.map((f) => f.name)).size).toBe(ADVERTISER_FAULTS.length);
    expect(ADVERTISER_FAULTS.every((f) => f.role === 'advertiser' && f.breaks.length === 1)).toBe(true);
  });

  it('adv-keeps-stale-uid: right for a user who opted out before the first sync, wrong only on a re-map', async () => {
    const { driver } = await advertiser('adv-keeps-stale-uid');
    const early = { email: people.email() };
    const late = { email: people.email() };
    const [, uLate] = await uidsOf([early, late]);
    await leave(early);
    expect(await driver.advertiserSync([early, late])).toEqual([uLate]);
    await leave(late);
    expect(await driver.advertiserSync([early, late])).toEqual([uLate]);
  });

  it('adv-v3-misaligned-after-invalid: right when the invalid identifier comes after the user, wrong when it comes before', async () => {
    const { driver } = await advertiser('adv-v3-misaligned-after-invalid');
    const [a, b] = [{ email: people.email() }, { email: people.email() }];
    const [uA, uB] = await uidsOf([a, b]);
    expect(await driver.advertiserSync([a, b])).toEqual([uA, uB]);
    await leave(a);
    await leave(b);
    expect(await driver.advertiserSync([a, { email: 'not-an-email' }])).toEqual([]);
    expect(await driver.advertiserSync([{ email: 'not-an-email' }, b])).toEqual([uB]);
  });

  it('adv-maps-site-optout: the answer is right, the identity map call is not', async () => {
    const { driver } = await advertiser('adv-maps-site-optout');
    const user = { phone: people.phone() };
    await driver.advertiserSiteOptout(user);
    const since = Date.now();
    expect(await driver.advertiserSync([user])).toEqual([]);
    expect(callsTo(env.op, 'map-v3', since).map((c) => c.persons)).toEqual([[personKey(user.phone)]]);
  });

  it('adv-site-optout-by-spelling: the spelling the user opted out with is honored, another spelling is mapped', async () => {
    const { driver } = await advertiser('adv-site-optout-by-spelling');
    const jane = people.gmail();
    const [uJane] = await uidsOf([{ email: jane.normalized }]);
    await driver.advertiserSiteOptout({ email: jane.variant });
    const since = Date.now();
    expect(await driver.advertiserSync([{ email: jane.variant.toUpperCase() }])).toEqual([]);
    expect(callsTo(env.op, 'map-v3', since)).toEqual([]);
    expect(await driver.advertiserSync([{ email: jane.normalized }])).toEqual([uJane]);
  });
});
