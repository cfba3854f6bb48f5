// DII normalization and hashing (harness/wire/dii.ts) against UID2-SPEC §3 (normalization, hashing)
// and §4 (test identities). Published vectors are pinned byte for byte; properties use fixed seeds.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  decodeDiiHash,
  hashDii,
  hashToBase64,
  hashToHex,
  InvalidDiiError,
  kindOf,
  normalizeEmail,
  sha256,
  validatePhone,
  type DiiField,
  type InvalidReason,
} from '../../harness/wire/dii.ts';

const b64 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64');

/** Runs `fn` and returns the InvalidDiiError it throws (fails the test if it throws anything else or nothing). */
function invalid(fn: () => unknown): InvalidDiiError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidDiiError);
    return e as InvalidDiiError;
  }
  throw new Error('expected an InvalidDiiError, nothing was thrown');
}

function expectInvalid(fn: () => unknown, reason: InvalidReason, field: DiiField): void {
  const e = invalid(fn);
  expect(e.reason).toBe(reason);
  expect(e.field).toBe(field);
  expect(e.name).toBe('InvalidDiiError');
  expect(e.message).toBe(`invalid ${field}: ${reason}`);
}

// ------------------------------------------------------------------------------------------------
describe('published vectors (UID2-SPEC §3.1, §3.3)', () => {
  it('user@example.com hashes to the documented base64 and hex', () => {
    const { kind, hash } = hashDii('email', 'user@example.com');
    expect(kind).toBe('email');
    expect(hash.length).toBe(32);
    expect(hashToBase64(hash)).toBe('tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=');
    const hex = hashToHex(hash);
    expect(hex).toHaveLength(64);
    expect(hex.startsWith('b4c9a289')).toBe(true);
    expect(hex.endsWith('5514')).toBe(true);
    expect(hex).toBe('b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514');
  });

  it('the documented email_hash of user@example.com decodes to the same bytes in both wire forms', () => {
    const fromB64 = hashDii('email_hash', 'tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=');
    const fromHex = hashDii('email_hash', 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514');
    const fromHexUpper = hashDii('email_hash', 'B4C9A289323B21A01C3E940F150EB9B8C542587F1ABFD8F0E1CC1FFC5E475514');
    expect(fromB64.kind).toBe('email');
    expect(fromB64.hash.equals(sha256('user@example.com'))).toBe(true);
    expect(fromHex.hash.equals(fromB64.hash)).toBe(true);
    expect(fromHexUpper.hash.equals(fromB64.hash)).toBe(true);
  });

  it.each(['JANE.SAOIRSE@gmail.com', 'JaneSaoirse+Work@gmail.com'])('%s normalizes to janesaoirse@gmail.com', (input) => {
    expect(normalizeEmail(input)).toBe('janesaoirse@gmail.com');
    expect(hashToBase64(hashDii('email', input).hash)).toBe('ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8=');
  });

  it('JaneSaoirse+Work@example.com keeps its +tag (not gmail)', () => {
    expect(normalizeEmail('JaneSaoirse+Work@example.com')).toBe('janesaoirse+work@example.com');
    expect(hashToBase64(hashDii('email', 'JaneSaoirse+Work@example.com').hash)).toBe(
      'KKruSBUjDNO069iMUVImVQZm6RrAGZKeOtrD9mwogYA=',
    );
  });

  it('+12345678901 hashes to the documented value and is not rewritten', () => {
    expect(validatePhone('+12345678901')).toBe('+12345678901');
    const { kind, hash } = hashDii('phone', '+12345678901');
    expect(kind).toBe('phone');
    expect(hashToBase64(hash)).toBe('EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4=');
  });
});

// ------------------------------------------------------------------------------------------------
describe('test identities (UID2-SPEC §4)', () => {
  const table: Array<[field: 'email' | 'phone', dii: string, hash: string]> = [
    ['email', 'optout@example.com', 'DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50='],
    ['phone', '+00000000000', '313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo='],
    ['email', 'refresh-optout@example.com', 'NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4='],
    ['phone', '+00000000002', '0VoxsIuk88qt7TnZaTC//C9Vur3pR1zBMIr1cJe7xjE='],
    ['email', 'validate@example.com', 'ntI244ZRTXwAwpki6/M5cyBYW7h/Wq576lnN3l9+W/c='],
    ['phone', '+12345678901', 'EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4='],
  ];

  it.each(table)('%s %s hashes to %s', (field, dii, hash) => {
    const raw = hashDii(field, dii);
    expect(raw.kind).toBe(field);
    expect(hashToBase64(raw.hash)).toBe(hash);
    // "The hashed forms behave the same as the raw forms": both wire forms of the hash give the same bytes.
    const hashField = field === 'email' ? 'email_hash' : 'phone_hash';
    const viaB64 = hashDii(hashField, hash);
    const viaHex = hashDii(hashField, Buffer.from(hash, 'base64').toString('hex'));
    expect(viaB64.kind).toBe(field);
    expect(viaHex.kind).toBe(field);
    expect(viaB64.hash.equals(raw.hash)).toBe(true);
    expect(viaHex.hash.equals(raw.hash)).toBe(true);
  });

  it('upper-case and padded forms of the email test identities map to the same hash', () => {
    expect(hashToBase64(hashDii('email', '  OptOut@Example.COM ').hash)).toBe('DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=');
    expect(hashToBase64(hashDii('email', 'Refresh-OPTOUT@example.com').hash)).toBe(
      'NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4=',
    );
  });
});

// ------------------------------------------------------------------------------------------------
describe('email normalization details (UID2-SPEC §3.1, §3.2)', () => {
  it.each([
    ['  user@example.com', 'user@example.com'],
    ['user@example.com   ', 'user@example.com'],
    ['USER@EXAMPLE.COM', 'user@example.com'],
    // Every space before the '@' is dropped, inner ones too (§3.2 as corrected; the operator's vectors pin it).
    ['first last@example.com', 'firstlast@example.com'],
    [' a b +c d@gmail.com ', 'ab@gmail.com'],
    ['a b+c d@example.com', 'ab+cd@example.com'],
    ['ab@exa mple.com  ', 'ab@exa mple.com'], // after the '@' only trailing spaces go
    ['ab@gmail .com', 'ab@gmail .com'], // so this is not gmail.com
    ['a\tb@example.com', 'a\tb@example.com'], // a tab is an ordinary character
    ['\tuser@example.com', '\tuser@example.com'], // only the space character is trimmed, not tabs
    ['user@example.com\t', 'user@example.com\t'],
    ['user@ example.com', 'user@ example.com'], // leading spaces of the domain stay (only trailing ones drop)
    ['😊user@example.com', '😊user@example.com'], // non-ASCII passes through (O InputNormalizationTest)
    ['+test@test.com', '+test@test.com'], // a leading + is fine outside gmail (O InputNormalizationTest)
    ['ÉLODIE@Example.com', 'Élodie@example.com'], // only ASCII A–Z are lowercased
    ['J.a.n.e+x+y@GMAIL.COM', 'jane@gmail.com'],
    ['.jane.@gmail.com', 'jane@gmail.com'],
    ['jane.doe+news@googlemail.com', 'jane.doe+news@googlemail.com'], // googlemail.com is not special
    ['jane.doe+news@mail.gmail.com', 'jane.doe+news@mail.gmail.com'], // only the exact domain gmail.com
    ['jane.doe+news@gmail.co', 'jane.doe+news@gmail.co'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeEmail(input)).toBe(expected);
    expect(hashDii('email', input).hash.equals(sha256(expected))).toBe(true);
  });

  it('an email with inner spaces before the @ is the same person as without them', () => {
    expect(hashDii('email', 'Jane Saoirse@example.com').hash.equals(hashDii('email', 'janesaoirse@example.com').hash)).toBe(true);
    expect(hashDii('email', 'jane@exam ple.com').hash.equals(hashDii('email', 'jane@example.com').hash)).toBe(false);
  });

  it('googlemail.com hashes differently from the gmail.com equivalent', () => {
    const google = hashDii('email', 'Jane.Saoirse+Work@googlemail.com').hash;
    expect(hashToBase64(google)).toBe(b64('jane.saoirse+work@googlemail.com'));
    expect(hashToBase64(google)).not.toBe('ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8=');
  });
});

// ------------------------------------------------------------------------------------------------
describe('invalid inputs are typed InvalidDiiError with a stable reason', () => {
  it.each([
    ['userexample.com', 'email_no_at'],
    ['', 'email_no_at'],
    ['   ', 'email_no_at'],
    ['a@b@example.com', 'email_many_at'],
    ['user@@example.com', 'email_many_at'],
    ['+tag@gmail.com', 'email_empty_local'],
    ['...@gmail.com', 'email_empty_local'],
    ['.+x@GMail.com', 'email_empty_local'],
    ['@example.com', 'email_empty_local'],
    ['user@', 'email_empty_domain'],
    ['user@   ', 'email_empty_domain'],
  ] as const)('email %j → %s', (input, reason) => {
    expectInvalid(() => normalizeEmail(input), reason, 'email');
    expectInvalid(() => hashDii('email', input), reason, 'email');
  });

  it.each([
    '+1 2345678901', // space
    '+1 (234) 567-8901', // punctuation
    '+1-234-567-8901',
    '1 (234) 567-8901', // the docs' example before E.164 formatting
    '12345678901', // no plus
    '+123456789', // 9 digits: too short
    '+1234567890123456', // 16 digits: too long
    '+', // no digits
    '',
    ' +12345678901', // leading space is not trimmed for phones
    '+12345678901 ',
    '+12345678901\n',
    '++12345678901',
    '+١٢٣٤٥٦٧٨٩٠١', // Arabic-Indic digits are not ASCII digits
    '+１２３４５６７８９０１', // full-width digits
  ])('phone %j → phone_not_e164', (input) => {
    expectInvalid(() => validatePhone(input), 'phone_not_e164', 'phone');
    expectInvalid(() => hashDii('phone', input), 'phone_not_e164', 'phone');
  });

  it.each([
    ['', 'hash_bad_length'],
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ', 'hash_bad_length'], // 43 chars, padding dropped
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ==', 'hash_bad_length'], // 45 chars
    ['b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e47551', 'hash_bad_length'], // 63 hex
    ['b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e4755140', 'hash_bad_length'], // 65 hex
    ['user@example.com', 'hash_bad_length'], // a raw DII in a hash field
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf!F5HVRQ=', 'hash_not_decodable'], // 44 chars, '!' not base64
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf_F5HVRQ=', 'hash_not_decodable'], // base64url alphabet
    [' tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVR=', 'hash_not_decodable'],
    ['g4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514', 'hash_not_decodable'], // 64, not hex
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5H=RQA', 'hash_not_decodable'], // '=' before the end
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HV===', 'hash_not_decodable'], // three '='
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HV=Q=', 'hash_not_decodable'],
  ] as const)('hash %j → %s', (input, reason) => {
    for (const field of ['email_hash', 'phone_hash'] as const) {
      expectInvalid(() => decodeDiiHash(input, field), reason, field);
      expectInvalid(() => hashDii(field, input), reason, field);
    }
  });

  it.each([
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQA', 33], // 44 symbols, no padding
    ['tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVR==', 31],
  ] as const)('44 characters the operator decodes to another length are valid: %j → %d bytes (§3.4)', (input, bytes) => {
    const decoded = decodeDiiHash(input, 'email_hash');
    expect(decoded).toHaveLength(bytes);
    expect(decoded.equals(sha256('user@example.com'))).toBe(false);
    expect(hashDii('phone_hash', input).hash.equals(decoded)).toBe(true);
  });

  it('unused trailing bits are ignored: …HVR== and …HVQ== are one person', () => {
    const a = decodeDiiHash('tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVR==', 'email_hash');
    expect(a.equals(decodeDiiHash('tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVQ==', 'email_hash'))).toBe(true);
    expect(a.toString('base64')).toBe('tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVQ==');
  });

  it.each([
    ['email', 42],
    ['email', null],
    ['email_hash', undefined],
    ['phone', 12345678901],
    ['phone_hash', ['+12345678901']],
    ['email', { email: 'user@example.com' }],
    ['email', Buffer.from('user@example.com')],
  ] as const)('%s given %j → not_a_string', (field, value) => {
    expectInvalid(() => hashDii(field, value), 'not_a_string', field);
  });

  it('kindOf maps each request field to its DII kind', () => {
    expect([kindOf('email'), kindOf('email_hash'), kindOf('phone'), kindOf('phone_hash')]).toEqual([
      'email',
      'email',
      'phone',
      'phone',
    ]);
  });
});

// ------------------------------------------------------------------------------------------------
// Generators

const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const lowerAlnum = (min: number, max: number) =>
  fc.array(fc.constantFrom(...LOWER), { minLength: min, maxLength: max }).map((a) => a.join(''));
/** Local-part characters an operator accepts, incl. dots, +, hyphen, underscore and inner spaces. */
const LOCAL_CHARS = [...LOWER, ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '.', '+', '-', '_', ' ', "'"];
const domainArb = fc.oneof(
  fc.constantFrom('gmail.com', 'GMAIL.com', 'googlemail.com', 'example.com', 'Example.ORG', 'mail.gmail.com'),
  fc.tuple(lowerAlnum(1, 10), fc.constantFrom('com', 'net', 'co.uk', 'io')).map(([l, t]) => `${l}.${t}`),
);
/** Any valid email: starts with an alphanumeric so the local part survives gmail stripping. */
const validEmailArb = fc
  .tuple(
    fc.constantFrom(...LOWER, 'A', 'Z'),
    fc.array(fc.constantFrom(...LOCAL_CHARS), { maxLength: 20 }).map((a) => a.join('')),
    domainArb,
    fc.nat(3),
    fc.nat(3),
  )
  .map(([first, rest, domain, lead, trail]) => `${' '.repeat(lead)}${first}${rest}@${domain}${' '.repeat(trail)}`);

/** Randomly upper-cases letters, driven by a boolean per character. */
function withCase(text: string, flips: boolean[]): string {
  return [...text].map((c, i) => (flips[i % Math.max(flips.length, 1)] ? c.toUpperCase() : c)).join('');
}

/** Inserts `dots[i]` dots before character i (and dots[len] at the end). */
function withDots(text: string, dots: number[]): string {
  const chars = [...text];
  let out = '';
  for (let i = 0; i <= chars.length; i++) {
    out += '.'.repeat(dots[i] ?? 0);
    if (i < chars.length) out += chars[i];
  }
  return out;
}

const TAG_CHARS = [...LOWER, ...'ABCXYZ', '.', '+', '-', '_', ' '];
const tagArb = fc.array(fc.constantFrom(...TAG_CHARS), { maxLength: 12 }).map((a) => a.join(''));

// ------------------------------------------------------------------------------------------------
describe('properties (fixed seeds)', () => {
  it('normalization is idempotent and yields lower-case ASCII with exactly one @', () => {
    fc.assert(
      fc.property(validEmailArb, (email) => {
        const once = normalizeEmail(email);
        expect(normalizeEmail(once)).toBe(once);
        expect(once).not.toMatch(/[A-Z]/);
        expect(once.split('@')).toHaveLength(2);
        expect(once.startsWith(' ') || once.endsWith(' ')).toBe(false);
        expect(hashDii('email', email).hash.equals(hashDii('email', once).hash)).toBe(true);
      }),
      { seed: 20260101, numRuns: 300 },
    );
  });

  it('gmail variants (case, dots anywhere, any +tag, surrounding spaces) all normalize to one address', () => {
    fc.assert(
      fc.property(
        lowerAlnum(1, 15),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(3), { maxLength: 17 }),
        fc.option(tagArb),
        fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
        fc.nat(3),
        fc.nat(3),
        (base, caseFlips, dots, tag, domainFlips, lead, trail) => {
          const local = withDots(withCase(base, caseFlips), dots) + (tag === null ? '' : `+${tag}`);
          const input = `${' '.repeat(lead)}${local}@${withCase('gmail.com', domainFlips)}${' '.repeat(trail)}`;
          const expected = `${base}@gmail.com`;
          expect(normalizeEmail(input)).toBe(expected);
          expect(hashToBase64(hashDii('email', input).hash)).toBe(b64(expected));
        },
      ),
      { seed: 424242, numRuns: 300 },
    );
  });

  it('a non-gmail address keeps its dots and +tag, so it hashes differently from the dotless, tagless one', () => {
    fc.assert(
      fc.property(
        lowerAlnum(2, 12),
        fc.array(fc.nat(2), { maxLength: 13 }),
        fc.option(lowerAlnum(1, 8)),
        fc.constantFrom('example.com', 'googlemail.com', 'gmail.co', 'yahoo.com', 'mail.gmail.com'),
        (base, dotsRaw, tag, domain) => {
          // At least one dot strictly inside the local part, or a tag, so the address differs from the plain one.
          const dots: number[] = [0, ...dotsRaw.slice(1, base.length), 0];
          if (tag === null && !dots.some((d) => d > 0)) dots[1] = 1;
          const local = withDots(base, dots) + (tag === null ? '' : `+${tag}`);
          const input = `${local}@${domain}`;
          expect(normalizeEmail(input)).toBe(input);
          expect(normalizeEmail(input.toUpperCase())).toBe(input);
          const kept = hashDii('email', input).hash;
          expect(hashToBase64(kept)).toBe(b64(input));
          expect(kept.equals(hashDii('email', `${base}@${domain}`).hash)).toBe(false);
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('googlemail.com is not special: dots and +tags survive, unlike the same local part at gmail.com', () => {
    fc.assert(
      fc.property(lowerAlnum(1, 8), lowerAlnum(1, 8), lowerAlnum(1, 6), (a, b, tag) => {
        const local = `${a}.${b}+${tag}`;
        expect(normalizeEmail(`${local}@googlemail.com`)).toBe(`${local}@googlemail.com`);
        expect(normalizeEmail(`${local}@gmail.com`)).toBe(`${a}${b}@gmail.com`);
      }),
      { seed: 99, numRuns: 150 },
    );
  });

  it('hex (either case) and base64 forms of one hash decode to identical bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom('email_hash', 'phone_hash'), (raw, field) => {
        const bytes = Buffer.from(raw);
        const base64 = bytes.toString('base64');
        const hex = bytes.toString('hex');
        expect(base64).toHaveLength(44);
        const a = hashDii(field, base64);
        const b = hashDii(field, hex);
        const c = hashDii(field, hex.toUpperCase());
        expect(a.kind).toBe(field === 'email_hash' ? 'email' : 'phone');
        expect(a.hash.equals(bytes)).toBe(true);
        expect(b.hash.equals(bytes)).toBe(true);
        expect(c.hash.equals(bytes)).toBe(true);
        expect(hashToBase64(b.hash)).toBe(base64);
        expect(hashToHex(a.hash)).toBe(hex);
      }),
      { seed: 31337, numRuns: 300 },
    );
  });

  const digitsArb = (min: number, max: number) =>
    fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((a) => a.join(''));

  it('valid E.164 phones (+ and 10–15 digits) pass validatePhone unchanged and hash as given', () => {
    fc.assert(
      fc.property(digitsArb(10, 15), (digits) => {
        const phone = `+${digits}`;
        expect(validatePhone(phone)).toBe(phone);
        const { kind, hash } = hashDii('phone', phone);
        expect(kind).toBe('phone');
        expect(hashToBase64(hash)).toBe(b64(phone));
      }),
      { seed: 12345, numRuns: 200 },
    );
  });

  it('a phone with any non-digit character inserted anywhere fails', () => {
    const nonDigit = fc
      .integer({ min: 0, max: 0x10ffff })
      .filter((cp) => (cp < 0x30 || cp > 0x39) && (cp < 0xd800 || cp > 0xdfff))
      .map((cp) => String.fromCodePoint(cp));
    fc.assert(
      fc.property(digitsArb(10, 15), nonDigit, fc.nat(), (digits, ch, posSeed) => {
        const phone = `+${digits}`;
        const pos = posSeed % (phone.length + 1);
        const bad = phone.slice(0, pos) + ch + phone.slice(pos);
        expectInvalid(() => validatePhone(bad), 'phone_not_e164', 'phone');
        // and without the leading plus, digits alone never pass
        expectInvalid(() => validatePhone(digits), 'phone_not_e164', 'phone');
      }),
      { seed: 555, numRuns: 300 },
    );
  });

  it('phones with fewer than 10 or more than 15 digits fail', () => {
    fc.assert(
      fc.property(fc.oneof(digitsArb(0, 9), digitsArb(16, 25)), (digits) => {
        expectInvalid(() => validatePhone(`+${digits}`), 'phone_not_e164', 'phone');
      }),
      { seed: 8080, numRuns: 150 },
    );
  });
});
