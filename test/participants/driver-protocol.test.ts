// The driver protocol (PROTOCOL.md §3) as schemas/driver.schema.json states it: every request the kit's driver
// client sends matches its definition, and every answer that does not match its definition is a DriverError
// (an `error` result, never a verdict) whose message names the place, never the value.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverClient, DriverError } from '../../harness/client/driver-client.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DRIVER_MESSAGES, SCHEMA_DIR, validateDriverMessage, type DriverMessage } from '../../harness/engine/schemas.ts';

/** What the fake driver answers per path, and the bodies it received. */
let answers: Record<string, unknown> = {};
const received: Array<{ path: string; body: unknown }> = [];
let server: ReturnType<typeof createServer>;
let client: DriverClient;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      if (req.method === 'POST') received.push({ path, body: JSON.parse(text) });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answers[path] ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new DriverClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2000 });
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const VALID: Record<string, unknown> = {
  '/': { roles: ['publisher', 'dsp', 'advertiser', 'sharer', 'something-new'] },
  '/publisher/login': { advertising_token: 'A4AAAA' },
  '/publisher/ad-request': { advertising_token: null },
  '/dsp/bid': { uses_uid2: false, reason: 'extra properties are allowed in answers' },
  '/advertiser/sync': { raw_uid2s: ['AAAA'] },
  '/sharer/share': { shared: [] },
};
const REQUEST_OF_PATH: Record<string, DriverMessage> = {
  '/publisher/login': 'identity',
  '/publisher/site-optout': 'identity',
  '/publisher/ad-request': 'identity',
  '/publisher/tick': 'tick-request',
  '/dsp/bid': 'bid-request',
  '/advertiser/sync': 'sync-request',
  '/advertiser/site-optout': 'identity',
  '/sharer/share': 'share-request',
};

describe('driver protocol schema', () => {
  it('every request the driver client sends matches its definition, and valid answers are read', async () => {
    answers = VALID;
    received.length = 0;
    expect(await client.roles()).toEqual(['publisher', 'dsp', 'advertiser', 'sharer']);
    expect(await client.publisherLogin({ email: 'user@example.com' })).toBe('A4AAAA');
    await client.publisherSiteOptout({ phone: '+99912345678' });
    expect(await client.publisherAdRequest({ email: 'user@example.com' })).toBeNull();
    expect(await client.publisherTick()).toBe(true);
    expect(await client.dspBid('A4AAAA')).toBe(false);
    expect(await client.advertiserSync([{ email: 'a@example.com' }, { phone: '+99912345678' }])).toEqual(['AAAA']);
    await client.advertiserSiteOptout({ email: 'a@example.com' });
    expect(await client.sharerShare(['AAAA', 'BBBB'])).toEqual([]);
    expect(received.map((r) => r.path).sort()).toEqual(Object.keys(REQUEST_OF_PATH).sort());
    for (const { path, body } of received) expect(validateDriverMessage(REQUEST_OF_PATH[path]!, body), path).toEqual([]);
  });

  it.each<[string, () => Promise<unknown>, unknown, RegExp]>([
    ['/', () => client.roles(), { roles: 'publisher' }, /"roles-answer" says: \/roles must be array/],
    ['/publisher/login', () => client.publisherLogin({ email: 'u@example.com' }), { token: 'x' }, /"token-answer" says: \(top level\) must have required property 'advertising_token'/],
    ['/dsp/bid', () => client.dspBid('t'), { uses_uid2: 'yes' }, /"bid-answer" says: \/uses_uid2 must be boolean/],
    ['/advertiser/sync', () => client.advertiserSync([]), { raw_uid2s: ['secret-uid', 7] }, /"sync-answer" says: \/raw_uid2s\/1 must be string/],
    ['/sharer/share', () => client.sharerShare([]), { shared: null }, /"share-answer" says: \/shared must be array/],
  ])('an answer to %s that breaks its definition is a DriverError naming the place', async (path, call, answer, message) => {
    answers = { [path]: answer };
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DriverError);
    expect((error as DriverError).reason).toBe('garbage');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('secret-uid');
  });

  it('the schema defines exactly the messages the kit names', () => {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, 'driver.schema.json'), 'utf8')) as { definitions: Record<string, unknown> };
    expect(Object.keys(schema.definitions).sort()).toEqual([...DRIVER_MESSAGES].sort());
  });

  it('identities are exactly one of email or phone', () => {
    expect(validateDriverMessage('identity', { email: 'u@example.com' })).toEqual([]);
    expect(validateDriverMessage('identity', { phone: '+99912345678' })).toEqual([]);
    for (const bad of [{}, { email: 'u@example.com', phone: '+99912345678' }, { phone: '99912345678' }, { email: 7 }]) {
      expect(validateDriverMessage('identity', bad), JSON.stringify(bad)).not.toEqual([]);
    }
  });
});
