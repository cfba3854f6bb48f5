// Fleet mode of the simulated operator (UID2-SPEC §1.4, §5.2): instances behind one port, a request each in
// turn, sharing the opt-out service and the token keys, each answering from its own snapshot synced on a
// staggered timer. Driven by a fake clock: right after an opt-out the instances disagree, one interval
// later they all agree.
import { afterEach, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { FakeClock, postRefresh, postSealed } from './helpers.ts';

const INTERVAL = 4000;
let op: RunningOperator | undefined;
afterEach(async () => {
  await op?.close();
  op = undefined;
});

type Json = { status: string; body?: { refresh_token: string; refresh_response_key: string } };

/** One generate per instance (three consecutive requests): the statuses they answered. */
async function generateOnEach(fleet: RunningOperator, email: string): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < fleet.instances.length; i++) answers.push(((await postSealed(fleet, '/v2/token/generate', { email, optout_check: 1 })).json as Json).status);
  return answers;
}

describe('fleet mode', () => {
  it('instances disagree after an opt-out until each has synced, then all agree', async () => {
    const clock = new FakeClock(Math.floor(Date.UTC(2026, 10, 1, 12) / INTERVAL) * INTERVAL); // instance 0 syncs now; 1 and 2 at +1333, +2667 ms
    op = await startOperator({ instances: 3, syncIntervalMs: INTERVAL, now: clock.now });
    expect(op.instances).toHaveLength(3);
    const email = 'fleet-user@example.org';
    expect(await generateOnEach(op, email)).toEqual(['success', 'success', 'success']);

    clock.advance(100);
    expect((await postSealed(op, '/v2/token/logout', { email }, 'optout')).http).toBe(200);
    expect(await generateOnEach(op, email)).toEqual(['success', 'success', 'success']); // nobody synced since

    clock.advance(1300); // +1400: instance 1 synced
    expect((await generateOnEach(op, email)).sort()).toEqual(['optout', 'success', 'success']);
    clock.advance(1300); // +2700: instance 2 too
    expect((await generateOnEach(op, email)).sort()).toEqual(['optout', 'optout', 'success']);
    clock.advance(INTERVAL - 2700); // +4000: instance 0 synced again: all agree from here on
    for (let round = 0; round < 3; round++, clock.advance(INTERVAL / 3)) expect(await generateOnEach(op, email)).toEqual(['optout', 'optout', 'optout']);
  });

  it('a token minted by one instance refreshes on another; after the opt-out synced, every instance ends the chain', async () => {
    const clock = new FakeClock();
    op = await startOperator({ instances: 3, syncIntervalMs: INTERVAL, now: clock.now });
    const email = 'fleet-refresh@example.org';
    const minted = (await postSealed(op, '/v2/token/generate', { email, optout_check: 1 })).json as Json;
    const next = await postRefresh(op, minted.body!.refresh_token, minted.body!.refresh_response_key, { apiKey: op.credentials.apiKey });
    expect(next.opened?.status).toBe('success'); // the next instance in turn
    await postSealed(op, '/v2/token/logout', { email }, 'optout');
    clock.advance(INTERVAL);
    const refreshed = next.opened!.body as Json['body'];
    for (let i = 0; i < op.instances.length; i++) {
      const answer = await postRefresh(op, refreshed!.refresh_token, refreshed!.refresh_response_key, { apiKey: op.credentials.apiKey });
      expect(answer.opened?.status).toBe('optout');
    }
  });

  it('one instance without a sync interval is the operator as before: an opt-out is visible at once', async () => {
    op = await startOperator();
    expect(op.instances).toEqual([op.operator]);
    await postSealed(op, '/v2/token/logout', { email: 'single@example.org' }, 'optout');
    expect(((await postSealed(op, '/v2/token/generate', { email: 'single@example.org', optout_check: 1 })).json as Json).status).toBe('optout');
  });
});
