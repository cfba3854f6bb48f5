// The clients against hostile targets: every request ends within its budget or at the signal, every body is
// capped, deep JSON is an unparsable answer (never a crash), 429/5xx are retried and counted, and the
// target's path is kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { newTransportStats, OperatorClient, parseRetryAfter, retryWait, MAX_RETRY_WAIT_MS, TransportError } from '../../harness/client/operator-client.ts';
import { DriverClient, DriverError } from '../../harness/client/driver-client.ts';
import { endpointUrl, tooDeep } from '../../harness/client/bounded.ts';
import { Webhook } from '../../harness/engine/webhook.ts';
import { RecordingApi } from '../../harness/engine/recording.ts';
import { Redactor } from '../../harness/engine/redact.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { hostilePool, type HostileMode } from './server.ts';

let op: RunningOperator;
const pool = hostilePool(() => ({ url: op.url, clientSecret: op.credentials.clientSecret }));
const hostile = (mode: HostileMode) => pool.start(mode);
const clientOf = (baseUrl: string, extra: Partial<ConstructorParameters<typeof OperatorClient>[0]> = {}) =>
  new OperatorClient({ baseUrl, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret, timeoutMs: 1000, ...extra });
const generate = (client: OperatorClient) => client.generate({ email: 'validate@example.com', optout_check: 1 });
const reasonOf = async (pending: Promise<unknown>) => {
  const error = await pending.then(() => undefined, (e: unknown) => e);
  return error instanceof TransportError || error instanceof DriverError ? error.reason : String(error);
};

beforeAll(async () => {
  op = await startOperator();
});
afterAll(async () => {
  await pool.closeAll();
  await op.close();
});

describe('a total budget per request', () => {
  it('ends a request to a target that never answers, and one that drips a byte a second, with a timeout', async () => {
    const [hang, drip] = await Promise.all([hostile('hang'), hostile('drip')]);
    expect(await reasonOf(generate(clientOf(hang.url)))).toBe('timeout');
    // An idle timeout never fires here: a byte comes every second, for as long as the client waits.
    expect(await reasonOf(generate(clientOf(drip.url, { timeoutMs: 2500 })))).toBe('timeout');
  });

  it('aborts a request in flight at once when the signal fires', async () => {
    const hang = await hostile('hang');
    const stop = new AbortController();
    const pending = generate(clientOf(hang.url, { timeoutMs: 60_000, signal: stop.signal }));
    setImmediate(() => stop.abort());
    expect(await reasonOf(pending)).toBe('aborted');
  });

  it('ends driver calls to a dripping target, and webhook calls to a silent one, within their budget', async () => {
    const [hang, drip] = await Promise.all([hostile('hang'), hostile('drip')]);
    expect(await reasonOf(new DriverClient({ baseUrl: drip.url, timeoutMs: 1500 }).roles())).toBe('timeout');
    const hook = (base: string) => new Webhook(`${base}/hook?u={uid2}`, { method: 'GET', timeoutMs: 1500 }).call('x', 0);
    expect(await hook(hang.url)).toMatchObject({ http: 0, failure: 'no answer within 1500 ms' });
    // A webhook is judged by its status alone: the dripping body is given up at the budget.
    expect(await hook(drip.url)).toMatchObject({ http: 200 });
  });
});

describe('caps on what is read', () => {
  it('refuses a 20 MB streamed answer without reading it all, from the operator and the driver', async () => {
    const huge = await hostile('huge');
    expect(await reasonOf(generate(clientOf(huge.url, { timeoutMs: 10_000 })))).toBe('too_large');
    expect(await reasonOf(new DriverClient({ baseUrl: huge.url, timeoutMs: 10_000 }).roles())).toBe('too_large');
    expect(huge.hugeSentInFull).toBe(0);
    // The webhook judges the status alone and reads no more than a little of the body.
    expect(await new Webhook(`${huge.url}/hook?u={uid2}`, { method: 'GET', timeoutMs: 10_000 }).call('x', 0)).toMatchObject({ http: 200 });
  });

  it('reads a 100,000-deep JSON answer as unparsable, and records it without a crash', async () => {
    const deep = await hostile('deep');
    const api = new RecordingApi(clientOf(deep.url), new Redactor());
    const answer = await api.generate({ email: 'validate@example.com' });
    expect(answer).toMatchObject({ http: 400, body: undefined });
    expect(answer.plainText).toMatch(/^\[\[\[/);
    expect(api.evidence).toHaveLength(1);
    expect(await reasonOf(new DriverClient({ baseUrl: deep.url, timeoutMs: 5000 }).roles())).toBe('garbage');
  });

  it('tooDeep counts nesting exactly, without recursion', () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { k: value };
      return value;
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 100 }), (levels, max) => {
        expect(tooDeep(nest(levels), max)).toBe(levels > max);
      }),
    );
    expect(tooDeep(nest(200_000))).toBe(true);
  });
});

describe('retries of throttling, 5xx and lost connections', () => {
  it('a gateway answering 503 to every other request is retried and counted, never seen by the checks', async () => {
    const flaky = await hostile('flaky-503');
    const transport = newTransportStats();
    const client = clientOf(flaky.url, { transport });
    for (let i = 0; i < 6; i++) expect((await generate(client)).http).toBe(200);
    expect(transport.server_errors).toBeGreaterThan(0);
    expect(transport).toMatchObject({ retried: transport.server_errors, throttled: 0, network_errors: 0, gave_up: 0 });
    expect(transport.requests).toBe(6 + transport.retried);
  });

  it('a 429 with Retry-After is retried after the time it asks', async () => {
    const flaky = await hostile('flaky-429');
    const transport = newTransportStats();
    const client = clientOf(flaky.url, { transport, retryWindowMs: 5000 });
    const answers = [await generate(client), await generate(client)];
    expect(answers.map((a) => a.http)).toEqual([200, 200]);
    expect(transport).toMatchObject({ throttled: 1, retried: 1, gave_up: 0 });
    // The retried call waited at least the second Retry-After asked.
    expect(answers[1]!.durationMs).toBeGreaterThanOrEqual(1000);
  });

  it('a 503 that persists is an outage naming the count (never an answer to judge), unless the check judges 5xx itself', async () => {
    const down = await hostile('down-503');
    const transport = newTransportStats();
    const client = clientOf(down.url, { transport, retryWindowMs: 1500 });
    const error = await generate(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ reason: 'unavailable', message: expect.stringMatching(/kept answering HTTP 503 \(text\/html\) after \d+ attempts/) });
    expect(transport.gave_up).toBe(1);
    const judged = await client.send('/v2/token/generate', Buffer.from('x'), { 'content-type': 'text/plain' }, { judge5xx: true });
    expect(judged.http).toBe(503);
  });

  it('a connection reset after the first request is retried a few times, then unreachable', async () => {
    const reset = await hostile('reset-after-first');
    const transport = newTransportStats();
    const client = clientOf(reset.url, { transport });
    expect((await generate(client)).http).toBe(200);
    expect(await reasonOf(generate(client))).toBe('unreachable');
    expect(transport.network_errors).toBeGreaterThan(1);
  });

  it('Retry-After reads as seconds or an HTTP date; waits grow, honour it, and stay capped', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(new Date(now + 3000).toUTCString(), now)).toBe(3000);
    expect(parseRetryAfter(new Date(now - 3000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.option(fc.nat({ max: 1e9 }), { nil: undefined }), (attempt, retryAfterMs) => {
        const wait = retryWait(attempt, retryAfterMs);
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(MAX_RETRY_WAIT_MS);
        expect(wait).toBeGreaterThanOrEqual(Math.min(MAX_RETRY_WAIT_MS, retryAfterMs ?? 0));
      }),
    );
  });
});

describe('the target URL', () => {
  it("keeps the base URL's path for every endpoint", async () => {
    const prefixed = await hostile('prefix');
    expect((await generate(clientOf(`${prefixed.url}/uid2/`))).http).toBe(200);
    expect((await generate(clientOf(`${prefixed.url}/uid2`))).http).toBe(200);
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { maxLength: 3 }), fc.boolean(), (segments, slash) => {
        const base = `https://host.test/${segments.join('/')}${slash && segments.length > 0 ? '/' : ''}`;
        expect(endpointUrl(base, '/v2/token/generate').pathname).toBe(`/${segments.map((s) => `${s}/`).join('')}v2/token/generate`);
      }),
    );
  });
});
