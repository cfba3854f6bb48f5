// The kit's DII model equals the real operator's (UID2-SPEC §3.2, §3.4). Every line of the recorded vectors
// (test/fixtures/operator-dii.jsonl, see its SOURCE note) is checked against harness/wire/dii.ts, the oracle and
// the simulated operator. The oracle and the operator both build on dii.ts, so the property compares them with a
// restatement of the spec written here apart from dii.ts (own scanner, own base64 and hex decoders), which the
// vectors pin first.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Oracle } from '../../harness/oracle/oracle.ts';
import { DEFAULT_LIFETIMES } from '../../harness/operator/index.ts';
import { generateCstgKeyPair, SimulatedOperator } from '../../harness/operator/operator.ts';
import { hashDii, kindOf, type DiiField } from '../../harness/wire/dii.ts';

interface Vector {
  field: DiiField;
  input: string;
  valid: boolean;
  /** Base64 of the bytes the operator keys the person on (valid inputs only). */
  identity?: string;
}

const FIXTURE = readFileSync(new URL('../fixtures/operator-dii.jsonl', import.meta.url), 'utf8');
const SOURCE_NOTE = readFileSync(new URL('../fixtures/operator-dii.SOURCE.md', import.meta.url), 'utf8');
const VECTORS: Vector[] = FIXTURE.split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Vector);

// ------------------------------------------------------------------ the restatement (UID2-SPEC §3 only)

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const HEX_DIGITS = '0123456789abcdefABCDEF';

/** §3.2: scanned left to right; before the `@` spaces vanish, after it only a trailing run of spaces does. */
function restatedEmail(input: string): string | undefined {
  let local = '';
  let domain: string | undefined;
  let spaces = '';
  for (const given of input) {
    const c = given >= 'A' && given <= 'Z' ? String.fromCharCode(given.charCodeAt(0) + 32) : given;
    if (domain === undefined) {
      if (c === '@') domain = '';
      else if (c !== ' ') local += c;
    } else if (c === '@') {
      return undefined;
    } else if (c === ' ') {
      spaces += c;
    } else {
      domain += spaces + c;
      spaces = '';
    }
  }
  if (!domain) return undefined;
  if (domain === 'gmail.com') local = [...local.split('+')[0]!].filter((c) => c !== '.').join('');
  return local === '' ? undefined : `${local}@${domain}`;
}

/** §3.3: `+` then 10–15 ASCII digits, nothing else. */
function restatedPhone(input: string): string | undefined {
  const digits = input.slice(1);
  const allDigits = [...digits].every((c) => c >= '0' && c <= '9');
  return input[0] === '+' && allDigits && digits.length >= 10 && digits.length <= 15 ? input : undefined;
}

/** §3.4: 44 characters as Java's basic decoder reads them: symbols, then at most two `=` at the very end. */
function restatedBase64(input: string): Buffer | undefined {
  const padding = input.endsWith('==') ? 2 : input.endsWith('=') ? 1 : 0;
  const values = [...input.slice(0, input.length - padding)].map((c) => BASE64_ALPHABET.indexOf(c));
  if (values.some((v) => v < 0)) return undefined;
  const bits = values.map((v) => v.toString(2).padStart(6, '0')).join('');
  const bytes = Array.from({ length: Math.floor(bits.length / 8) }, (_, i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2));
  return Buffer.from(bytes);
}

function restatedHex(input: string): Buffer | undefined {
  if (![...input].every((c) => HEX_DIGITS.includes(c))) return undefined;
  return Buffer.from(Array.from({ length: input.length / 2 }, (_, i) => parseInt(input.slice(i * 2, i * 2 + 2), 16)));
}

const sha256Of = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The bytes the operator keys this input on, or undefined for an invalid identifier. */
function restatedIdentity(field: DiiField, input: string): Buffer | undefined {
  if (field === 'email' || field === 'phone') {
    const normalized = field === 'email' ? restatedEmail(input) : restatedPhone(input);
    return normalized === undefined ? undefined : sha256Of(normalized);
  }
  if (input.length === 64) return restatedHex(input);
  return input.length === 44 ? restatedBase64(input) : undefined;
}

// ------------------------------------------------------------------ the three models under test

const operator = new SimulatedOperator({
  propagationDelayMs: 0,
  lifetimes: DEFAULT_LIFETIMES,
  cstg: generateCstgKeyPair(),
  cstgOrigins: [],
  now: () => Date.UTC(2026, 11, 3),
});
const oracle = new Oracle(1_000);

/** What the simulated operator's one-entry v3 map answers: the raw UID2, or the error reason. */
function operatorMaps(field: DiiField, input: string): { u?: string; e?: string } {
  const reply = operator.mapV3({ [field]: [input] });
  if (reply.kind !== 'sealed') throw new Error(`v3 map answered ${reply.kind}`);
  return (reply.payload as { body: Record<DiiField, Array<{ u?: string; e?: string }>> }).body[field][0]!;
}

/** The raw UID2 the operator must hand out for a person keyed on these bytes (its own salts, not its DII code). */
function rawUidKeyedOn(field: DiiField, identity: Buffer): string {
  const dii = { kind: kindOf(field), hash: identity };
  return operator.identities.rawUid(dii.kind, operator.identities.firstLevelHash(dii)).toString('base64');
}

type Model = (field: DiiField, input: string) => { valid: false } | { valid: true; identity: string };
const verdict = (identity: Buffer | string | undefined): ReturnType<Model> =>
  identity === undefined ? { valid: false } : { valid: true, identity: typeof identity === 'string' ? identity : identity.toString('base64') };

const MODELS: Record<string, Model> = {
  'the restatement in this test': (field, input) => verdict(restatedIdentity(field, input)),
  'wire/dii.ts hashDii': (field, input) => {
    try {
      return verdict(hashDii(field, input).hash);
    } catch {
      return verdict(undefined);
    }
  },
  'the oracle person()': (field, input) => {
    const person = oracle.person(field, input);
    if (person === undefined) return verdict(undefined);
    expect(person.startsWith(`${kindOf(field)}:`)).toBe(true);
    return verdict(person.slice(person.indexOf(':') + 1));
  },
};

/** The operator keys on the vector's bytes exactly when its raw UID2 is the one those bytes give. */
function operatorAgrees(field: DiiField, input: string, expected: ReturnType<Model>): boolean {
  const entry = operatorMaps(field, input);
  if (!expected.valid) return entry.e === 'invalid identifier' && entry.u === undefined;
  return entry.u === rawUidKeyedOn(field, Buffer.from(expected.identity, 'base64'));
}

const show = (v: Vector, line: number) => `line ${line}: ${v.field} ${JSON.stringify(v.input)} (operator: ${v.valid ? `keyed on ${v.identity}` : 'invalid'})`;

// ------------------------------------------------------------------ every vector

describe('the recorded operator vectors (test/fixtures/operator-dii.jsonl)', () => {
  it('are the recording the SOURCE note names, all read: 433 lines, each valid one with its identity', () => {
    expect(SOURCE_NOTE).toContain(createHash('sha256').update(FIXTURE).digest('hex'));
    expect(VECTORS).toHaveLength(433);
    for (const v of VECTORS) expect(v.valid === (v.identity !== undefined)).toBe(true);
    // The lines that set the corrected model apart (UID2-SPEC §3.2, §3.4) are among them.
    const lengths = new Set(VECTORS.filter((v) => v.valid && v.field.endsWith('_hash')).map((v) => Buffer.from(v.identity!, 'base64').length));
    expect([...lengths].sort()).toEqual([31, 32, 33]);
    expect(VECTORS.some((v) => v.valid && v.field === 'email' && /[^ ] +[^ ]*@/.test(v.input.trim()))).toBe(true);
  });

  it.each(Object.keys(MODELS))('%s agrees with every line', (name) => {
    const model = MODELS[name]!;
    const wrong = VECTORS.flatMap((v, i) => {
      const got = model(v.field, v.input);
      const same = got.valid === v.valid && (!got.valid || got.identity === v.identity);
      return same ? [] : [`${show(v, i + 1)}, got ${got.valid ? `keyed on ${got.identity}` : 'invalid'}`];
    });
    expect(wrong).toEqual([]);
  });

  it('the simulated operator keys every line on the recorded bytes (one-entry v3 map)', () => {
    const wrong = VECTORS.flatMap((v, i) => (operatorAgrees(v.field, v.input, v.valid ? { valid: true, identity: v.identity! } : { valid: false }) ? [] : [show(v, i + 1)]));
    expect(wrong).toEqual([]);
  });
});

// ------------------------------------------------------------------ generated inputs

const chars = (pool: readonly string[], max: number) => fc.array(fc.constantFrom(...pool), { maxLength: max }).map((a) => a.join(''));
const spaces = chars([' '], 3);

/** Local parts with inner spaces, tabs, dots, +tags, ASCII capitals, non-ASCII and the odd extra `@`. */
const LOCAL_POOL = [...'abcxyzABCXYZ019', '.', '.', '+', '+', ' ', ' ', '\t', '-', '_', 'É', 'é', 'ß', '😊', '@'];
const DOMAINS = ['gmail.com', 'GMAIL.COM', 'Gmail.com', 'gmail .com', ' gmail.com', 'gmail.com\t', 'example.com', 'EXAMPLE.org', 'exa mple.com', 'googlemail.com', 'É.example', '', ' ', 'a@b.com'];
const emailArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(spaces, chars(LOCAL_POOL, 14), fc.constantFrom(...DOMAINS), spaces).map(([lead, local, domain, trail]) => `${lead}${local}@${domain}${trail}`) },
  { weight: 1, arbitrary: chars([...'aA. +@\t', 'é', 'gmail.com'], 10) },
);

const phoneArb = fc.oneof(
  chars([...'0123456789'], 18).map((digits) => `+${digits}`),
  fc.tuple(fc.constantFrom('+', '', ' +', '++'), chars([...'0123456789', ' ', '-', 'a', '٣'], 17), fc.constantFrom('', ' ', '\n')).map(([a, b, c]) => a + b + c),
);

/** Hash inputs around the edges of §3.4: 31/32/33-byte base64, padding stripped or doubled, hex, wrong lengths, wrong characters. */
const hashArb = fc
  .tuple(
    fc.uint8Array({ minLength: 31, maxLength: 33 }).map((b) => Buffer.from(b)),
    fc.constantFrom('base64', 'unpadded', 'extra-symbol', 'last-symbol-changed', 'hex', 'HEX', 'hex-mixed'),
    fc.constantFrom('as is', 'as is', 'as is', 'one shorter', 'one longer', 'bad character'),
    fc.nat(),
    fc.constantFrom('-', '_', ' ', '=', 'é', 'g', 'A'),
  )
  .map(([bytes, form, edit, position, bad]) => {
    const base64 = bytes.toString('base64');
    const hex = bytes.toString('hex');
    let text: string;
    if (form === 'base64') text = base64;
    else if (form === 'unpadded') text = base64.replace(/=+$/, '');
    else if (form === 'extra-symbol') text = base64.replace(/=+$/, '') + BASE64_ALPHABET[position % 64];
    else if (form === 'last-symbol-changed') {
      const symbols = base64.replace(/=+$/, '');
      text = symbols.slice(0, -1) + BASE64_ALPHABET[position % 64] + base64.slice(symbols.length);
    } else if (form === 'hex') text = hex;
    else if (form === 'HEX') text = hex.toUpperCase();
    else text = [...hex].map((c, i) => ((position >> i % 16) & 1 ? c.toUpperCase() : c)).join('');
    if (edit === 'one shorter') return text.slice(0, -1);
    if (edit === 'one longer') return text + BASE64_ALPHABET[position % 64];
    if (edit === 'bad character') {
      const at = position % text.length;
      return text.slice(0, at) + bad + text.slice(at + 1);
    }
    return text;
  });

const caseArb = fc.oneof(
  fc.tuple(fc.constant<DiiField>('email'), emailArb),
  fc.tuple(fc.constant<DiiField>('phone'), phoneArb),
  fc.tuple(fc.constantFrom<DiiField>('email_hash', 'phone_hash'), hashArb),
  fc.tuple(fc.constantFrom<DiiField>('email_hash', 'phone_hash'), chars([...BASE64_ALPHABET.slice(60), 'A', 'z', '=', '-'], 46)),
);

describe('the oracle and the simulated operator agree with the restatement on generated inputs', () => {
  it('valid or not, and the keyed bytes (property, fixed seed)', () => {
    const seen = { innerSpaceEmails: 0, tabEmails: 0, nonAsciiEmails: 0, gmailTagged: 0, hashBytes: new Map<number, number>(), invalid: 0 };
    fc.assert(
      fc.property(caseArb, ([field, input]) => {
        const expected = MODELS['the restatement in this test']!(field, input);
        expect(MODELS['the oracle person()']!(field, input)).toEqual(expected);
        expect(operatorAgrees(field, input, expected)).toBe(true);
        if (!expected.valid) {
          seen.invalid += 1;
        } else if (field === 'email') {
          const local = input.slice(0, input.indexOf('@')).trim();
          if (local.includes(' ')) seen.innerSpaceEmails += 1;
          if (input.includes('\t')) seen.tabEmails += 1;
          if (/[^\x00-\x7f]/.test(input)) seen.nonAsciiEmails += 1;
          if (/gmail\.com *$/i.test(input) && local.includes('+')) seen.gmailTagged += 1;
        } else if (field.endsWith('_hash')) {
          const length = Buffer.from(expected.identity, 'base64').length;
          seen.hashBytes.set(length, (seen.hashBytes.get(length) ?? 0) + 1);
        }
      }),
      { seed: 20261203, numRuns: 3000 },
    );
    // The inputs the corrected model is about did occur, valid, so the agreement above covers them.
    expect(seen.innerSpaceEmails).toBeGreaterThan(0);
    expect(seen.tabEmails).toBeGreaterThan(0);
    expect(seen.nonAsciiEmails).toBeGreaterThan(0);
    expect(seen.gmailTagged).toBeGreaterThan(0);
    expect([...seen.hashBytes.keys()].sort()).toEqual([31, 32, 33]);
    expect(seen.invalid).toBeGreaterThan(0);
  });
});
