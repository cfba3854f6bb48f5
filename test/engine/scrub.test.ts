// The scrubber: a registered value is replaced wherever it appears and in any case, control characters go,
// nothing else changes; the Redactor registers what it names (but a target cannot register ordinary words);
// target text in a check message is quoted and never cut.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { Redactor } from '../../harness/engine/redact.ts';
import { startOperator } from '../../harness/operator/index.ts';
import type { IssuedIdentity } from '../../harness/operator/tokens.ts';
import { quoteTarget, Scrubber, stripControls } from '../../harness/engine/scrub.ts';
import { sha256 } from '../../harness/wire/dii.ts';

const secret = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_@.'), minLength: 6, maxLength: 60 });
/** Text around a secret: anything, control characters included. */
const around = fc.string({ unit: 'binary', maxLength: 40 });
const flipCase = (text: string) => text.replace(/[a-z]/gi, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));

describe('Scrubber', () => {
  it('replaces every registered value wherever it appears, in any case, and leaves no control character (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(secret, { minLength: 1, maxLength: 8 }), around, around, fc.boolean(), (secrets, before, after, flip) => {
        const s = new Scrubber();
        secrets.forEach((v, i) => s.add(v, `<#${i}>`));
        const shown = secrets.map((v) => (flip ? flipCase(v) : v));
        const out = s.scrub(`${before}${shown.join(` ${after} `)}${after}`);
        for (const v of secrets) expect(out.toLowerCase()).not.toContain(v.toLowerCase());
        expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('changes nothing but control characters in text that holds no registered value (property)', () => {
    const s = new Scrubber();
    s.add('UID2-C-L-999-CANARY', '<api-key>');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        fc.pre(!text.toLowerCase().includes('uid2-c-l-999-canary'));
        expect(s.scrub(text)).toBe(stripControls(text));
      }),
      { numRuns: 300, seed: 12 },
    );
  });

  it('prefers the longest value, a pseudonym over a kind label, and ignores values too short to be secrets', () => {
    const s = new Scrubber();
    s.add('abcdef-123', '<short>');
    s.add('abcdef-123456', '<long>');
    s.add('xyz', '<never>');
    s.add('tok-000000000', '<secret>');
    s.add('tok-000000000', '<token#1>');
    s.add('tok-000000000', '<secret>');
    expect(s.scrub('abcdef-123456 abcdef-123 xyz tok-000000000')).toBe('<long> <short> xyz <token#1>');
  });

  it('knows a value by its URL-encoded spelling too', () => {
    const s = new Scrubber();
    s.add('ab+/cd==xy', '<uid2#1>');
    expect(s.scrub('GET /optout?uid2=ab%2B%2Fcd%3D%3Dxy&t=1')).toBe('GET /optout?uid2=<uid2#1>&t=1');
  });

  it('removes controls before matching, so a secret split by them is still found', () => {
    const s = new Scrubber();
    s.add('UID2-C-L-999-CANARY', '<api-key>');
    expect(s.scrub('key UID2-C-\x1bL-999\x07-CANARY\r!')).toBe('key <api-key>!');
  });

  it('scrubDeep scrubs every string and key and leaves the input as it was', () => {
    const s = new Scrubber();
    s.add('jane.doe@example.com', '<email dii#1>');
    const value = { message: 'for jane.doe@example.com', list: ['JANE.DOE@example.com', 1, null, true], 'jane.doe@example.com': { n: 2 } };
    const copy = structuredClone(value);
    expect(s.scrubDeep(value)).toEqual({ message: 'for <email dii#1>', list: ['<email dii#1>', 1, null, true], '<email dii#1>': { n: 2 } });
    expect(value).toEqual(copy);
  });

  it('scrubs a 1 MB report against 10,000 values in well under a second', () => {
    const s = new Scrubber();
    const values = Array.from({ length: 10_000 }, () => randomBytes(32).toString('base64'));
    values.forEach((v, i) => s.add(v, `<token#${i}>`));
    const line = `{"path":"/v2/token/generate","http":200,"status":"success","message":"evidence ${'x'.repeat(40)}"},\n`;
    const text = line.repeat(Math.ceil(1_000_000 / line.length)) + values[42];
    const started = performance.now();
    const out = s.scrub(text);
    const ms = performance.now() - started;
    expect(out.endsWith('<token#42>')).toBe(true);
    console.info(`scrub: ${text.length} characters against ${s.size} values in ${ms.toFixed(0)} ms`);
  });
});

describe('Redactor and the scrubber', () => {
  it('registers every form of a DII it names, so an echo in free text is replaced by the same pseudonym', () => {
    const r = new Redactor();
    const email = 'Jane.Doe+news@Gmail.com';
    const hash = sha256('janedoe@gmail.com');
    const request = r.value({ email }) as { email: string };
    const echo = `Bearer x {"email":"${email}"} janedoe@gmail.com ${hash.toString('base64')} ${hash.toString('hex').toUpperCase()}`;
    const answer = r.value({ status: 'client_error', message: echo }) as { message: string };
    expect(answer.message).toBe(`Bearer x {"email":"${request.email}"} ${request.email} <email_hash dii#1> <email_hash dii#1>`);
  });

  it('registers tokens and raw UID2s only when they look like them: a target cannot make ordinary words secret', () => {
    const r = new Redactor();
    r.value({ status: 'success', body: { advertising_token: 'operator', refresh_token: 'not_applicable_not_applicable', advertising_id: 'PUB-SITE-OPTOUT-NOT-RELAYED', refresh_response_key: 'passpass' } });
    expect(r.scrubber.size).toBe(0);
    const token = 'AgAAAAbcdefghijklmnopqrSTUVWXYZ-_abcdefghijkl'; // a raw UID2 can lack digits
    const label = r.value({ advertising_token: token }) as { advertising_token: string };
    expect(r.value({ message: `token ${token}` })).toEqual({ message: `token ${label.advertising_token}` });
  });

  it('keeps free text as data: scrubbed, clipped after scrubbing, nesting bounded', () => {
    const r = new Redactor();
    const deep = JSON.parse(`${'{"a":'.repeat(100)}1${'}'.repeat(100)}`) as unknown;
    expect(JSON.stringify(r.value(deep))).toContain('<nested too deep>');
    expect((r.value({ message: 'y'.repeat(500) }) as { message: string }).message).toHaveLength(200);
  });
});

describe("the kit's operator (participant runs)", () => {
  it('tells its listener every identity it issues, by generate and by refresh', async () => {
    const issued: IssuedIdentity[] = [];
    const op = await startOperator({ onIssued: (identity) => issued.push(identity) });
    try {
      const client = new OperatorClient({ baseUrl: op.url, apiKey: op.credentials.apiKey, clientSecret: op.credentials.clientSecret });
      const generated = (await client.generate({ email: 'uid2c-issued@example.com' })).body as { body: IssuedIdentity };
      const refreshed = (await client.refresh(generated.body.refresh_token, generated.body.refresh_response_key)).body as { body: IssuedIdentity };
      expect(issued).toEqual([generated.body, refreshed.body]);
    } finally {
      await op.close();
    }
  });
});

describe('quoteTarget', () => {
  it('quotes short text as JSON data without control characters and summarizes long text instead of cutting it (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (text) => {
        const quoted = quoteTarget(text);
        expect(quoted).not.toMatch(/[\u0000-\u001f\u007f]/);
        if (stripControls(text).length <= 60) expect(JSON.parse(quoted)).toBe(stripControls(text));
        else expect(quoted).toBe(`<${stripControls(text).length} characters of target text>`);
      }),
      { numRuns: 300, seed: 13 },
    );
    expect([quoteTarget(undefined), quoteTarget(null), quoteTarget(3), quoteTarget({ a: 1 }), quoteTarget([])]).toEqual(['null', 'null', '3', 'a JSON object', 'a JSON array']);
  });
});
