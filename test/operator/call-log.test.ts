// The simulated operator's call log, which the participant suites judge from: every call attributed to the
// persons it concerns in any DII form, including refused ones (a publisher relaying a site opt-out).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { sha256 } from '../../harness/wire/dii.ts';

let op: RunningOperator;
let client: OperatorClient;
beforeAll(async () => {
  op = await startOperator({ recordCalls: true });
  client = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret });
});
afterAll(() => op.close());

const person = (normalized: string, kind: 'email' | 'phone' = 'email') => `${kind}:${sha256(normalized).toString('base64')}`;

describe('call log', () => {
  it('attributes every form of a DII to one person and keeps what the rules look at', async () => {
    const since = Date.now();
    await client.generate({ email: ' Jane.Doe+x@GMAIL.com', optout_check: 1 });
    await client.generate({ email_hash: sha256('janedoe@gmail.com').toString('hex') });
    await client.mapV2({ phone: ['+15550001111', 'not a phone'] });
    await client.optoutStatus(['AAAA', 'BBBB']);
    const calls = op.operator.calls.list(since);
    expect(calls.map((c) => [c.endpoint, c.persons, c.optoutCheck, c.status])).toEqual([
      ['generate', [person('janedoe@gmail.com')], 1, 'success'],
      ['generate', [person('janedoe@gmail.com')], undefined, 'success'],
      ['map-v2', [person('+15550001111', 'phone')], undefined, 'success'],
      ['optout-status', [], undefined, 'success'],
    ]);
    expect(calls[3]!.uids).toEqual(['AAAA', 'BBBB']);
    // Sequence numbers order calls exactly where milliseconds tie, and lastSeq is the newest.
    expect(calls.map((c) => c.seq - calls[0]!.seq)).toEqual([0, 1, 2, 3]);
    expect(op.operator.calls.lastSeq).toBe(calls[3]!.seq);
  });

  it('logs a refused logout with the person it was about', async () => {
    const since = Date.now();
    const answer = await client.logout({ email: 'site-optout@example.com' }); // the client key has no OPTOUT role
    expect(answer.http).toBe(401);
    expect(op.operator.calls.list(since)).toEqual([expect.objectContaining({ endpoint: 'logout', persons: [person('site-optout@example.com')], status: 'unauthorized' })]);
  });

  it('follows a refresh chain across refreshes, and sees CSTG requests', async () => {
    const since = Date.now();
    const first = (await client.generate({ email: 'chain@example.com' })).body as { body: { refresh_token: string; refresh_response_key: string } };
    const second = (await client.refresh(first.body.refresh_token, first.body.refresh_response_key)).body as { body: { refresh_token: string; refresh_response_key: string } };
    await client.refresh(second.body.refresh_token, second.body.refresh_response_key);
    await client.clientGenerate({ serverPublicKey: op.credentials.cstgPublicKey, subscriptionId: op.credentials.cstgSubscriptionId, dii: { phone_hash: sha256('+15550002222').toString('base64') } });
    const calls = op.operator.calls.list(since);
    const refreshes = calls.filter((c) => c.endpoint === 'refresh');
    expect(refreshes).toHaveLength(2);
    expect(refreshes.every((c) => c.persons[0] === person('chain@example.com') && c.status === 'success')).toBe(true);
    expect(refreshes[0]!.chain).toBe(refreshes[1]!.chain);
    expect(calls.at(-1)).toEqual(expect.objectContaining({ endpoint: 'client-generate', persons: [person('+15550002222', 'phone')], status: 'success' }));
  });
});
