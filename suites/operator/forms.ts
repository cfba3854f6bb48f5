// OP-FORMS and OP-ISOLATION (RULES.md; UID2-SPEC §3, §5.1). An opt-out holds for every equivalent form of
// the DII: case, surrounding spaces, spaces inside the local part (the operator drops every space before the
// `@`), gmail.com dots and +tags, base64 and hex SHA-256, phone ↔ phone_hash, the raw DII of a person logged
// out by hash. And it holds for nothing else: not another user of the same domain, not a non-gmail address
// that differs by dots or +tag (those are other people), not a phone, not a 44-character hash that decodes to
// 31 or 33 bytes (the operator keys those on the bytes as given: other people, §3.4).
// OP-FORMS probes with ONE-ENTRY v3 map requests, so no map fault (batch position, alignment) can interfere,
// and it is the only rule that sends gmail variants of opted-out persons. OP-ISOLATION also asks generate
// (optout_check 1, raw email or phone field: never email_hash, whose generate path is OP-GEN-OPTOUT's); its
// hash cuts go to v3 map only, where an operator may also refuse them as invalid (no opt-out spreads then).
import fc from 'fast-check';
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { base64Hash, hexHash } from '../../harness/engine/synthetic.ts';
import type { DiiField } from '../../harness/wire/dii.ts';
import { optedOutSubjects, v3State } from './map.ts';
import { bodyOf, isTokenAnswer, statusOf, whilePending } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

/** A request form of a DII; `label` names the subject and the transformation, never the DII. */
interface Variant {
  field: DiiField;
  value: string;
  label: string;
}

// ------------------------------------------------------------------ one-entry probes

async function v3One(ctx: CheckContext, v: Variant): Promise<{ state: string; x: Exchange }> {
  const x = await ctx.api.mapV3({ [v.field]: [v.value] });
  if (x.http !== 200 || x.envelopeError || statusOf(x) !== 'success') {
    return { state: x.envelopeError ? `an answer that did not open (${x.envelopeError.reason})` : `HTTP ${x.http} ${quoteTarget(statusOf(x))}`, x };
  }
  const entries = bodyOf(x)[v.field];
  return { state: Array.isArray(entries) && entries.length === 1 ? v3State(entries[0]) : `a "${v.field}" array without exactly one entry`, x };
}

/** The variant must read as opted out on a one-entry v3 map (polled only while the opt-out is pending). */
async function expectOptedOut(ctx: CheckContext, subject: Subject, v: Variant): Promise<void> {
  const polled = await whilePending(ctx, subject, () => v3One(ctx, v), (r) => r.state === 'optout', () => 'map');
  if (!polled.reported) fail(`one-entry v3 map of ${v.label}: answered ${polled.last.state}, expected {"e":"optout"}: the opt-out of ${subject.label} does not hold for this equivalent form`);
}

/** The variant is the subject's person for the oracle, or the kit has a bug (never a pass). */
function sameAs(ctx: CheckContext, subject: Subject, v: Variant): Variant {
  if (ctx.oracle.person(v.field, v.value) !== subject.person) undecided(`kit bug: the variant ${v.label} is not the same person as ${subject.label} for the oracle`);
  return v;
}

// ------------------------------------------------------------------ equivalent forms

const isGmail = (s: Subject) => s.kind === 'email' && s.dii.endsWith('@gmail.com');
const hashField = (s: Subject): DiiField => (s.kind === 'email' ? 'email_hash' : 'phone_hash');
const flipCase = (c: string) => (c >= 'a' && c <= 'z' ? c.toUpperCase() : c >= 'A' && c <= 'Z' ? c.toLowerCase() : c);

/** A raw email variant: ASCII case flips, dots (gmail) inserted between local-part characters, +tag, spaces. */
interface EmailShape {
  /** flips[i]: flip the case of character i (ASCII letters only). */
  flips: boolean[];
  lead: number;
  trail: number;
  /** gmail only: insert a dot before local-part character (p mod (length−1)) + 1. */
  dots: number[];
  /** gmail only: a +tag appended to the local part. */
  tag?: string;
  /** Any domain: insert a space inside the local part (+tag included), placed as the dots are. */
  spaces?: number[];
}

/** Inserts `char` before character (p mod (length−1)) + 1 for each p, so never first or last; same p, same place. */
function insertInside(text: string, positions: readonly number[], char: string): string {
  if (text.length < 2) return text;
  const places = [...new Set(positions.map((p) => (p % (text.length - 1)) + 1))].sort((a, b) => b - a);
  return places.reduce((out, p) => `${out.slice(0, p)}${char}${out.slice(p)}`, text);
}

function emailVariant(dii: string, shape: EmailShape): string {
  const at = dii.indexOf('@');
  let local = insertInside(dii.slice(0, at), shape.dots, '.');
  const domain = dii.slice(at + 1);
  if (shape.tag !== undefined) local = `${local}+${shape.tag}`;
  local = insertInside(local, shape.spaces ?? [], ' ');
  const flipped = [...`${local}@${domain}`].map((c, i) => (shape.flips[i] ? flipCase(c) : c)).join('');
  return `${' '.repeat(shape.lead)}${flipped}${' '.repeat(shape.trail)}`;
}

function describeShape(shape: EmailShape): string {
  const parts = [`${shape.flips.filter(Boolean).length} case flips`];
  if (shape.lead || shape.trail) parts.push(`${shape.lead} leading/${shape.trail} trailing spaces`);
  if (shape.spaces?.length) parts.push(`${shape.spaces.length} inner spaces`);
  if (shape.dots.length) parts.push(`${shape.dots.length} dots inserted`);
  if (shape.tag !== undefined) parts.push(`a +tag of ${shape.tag.length} characters`);
  return parts.join(', ');
}

const all = (n: number) => Array.from({ length: n }, () => true);
const at = (...indices: number[]) => {
  const flips: boolean[] = [];
  for (const i of indices) flips[i] = true;
  return flips;
};

/** The deterministic equivalent forms of an opted-out subject (never its registered form itself). */
function scenarioVariants(subject: Subject): Variant[] {
  const variants: Variant[] = [];
  const raw = (value: string, what: string) => variants.push({ field: subject.kind, value, label: `${subject.label} as ${subject.kind} (${what})` });
  const registered = subject.loggedOutAs ?? { field: subject.kind, value: subject.dii };
  if (subject.kind === 'email') {
    const n = subject.dii.length;
    const none: EmailShape = { flips: [], lead: 0, trail: 0, dots: [] };
    if (registered.field !== 'email') raw(subject.dii, 'raw, logged out by hash');
    raw(emailVariant(subject.dii, { ...none, flips: all(n) }), 'upper case');
    raw(emailVariant(subject.dii, { ...none, flips: at(0, 2, 4, n - 3) }), 'mixed case');
    raw(emailVariant(subject.dii, { ...none, lead: 2, trail: 3 }), 'surrounding spaces');
    raw(emailVariant(subject.dii, { ...none, flips: at(0, n - 1), lead: 1, trail: 1 }), 'case and spaces');
    raw(emailVariant(subject.dii, { ...none, spaces: [0, 3, 4] }), 'inner spaces');
    raw(emailVariant(subject.dii, { ...none, flips: at(1, n - 2), lead: 2, trail: 1, spaces: [1] }), 'inner space, case and surrounding spaces');
    if (isGmail(subject)) {
      const local = subject.dii.indexOf('@');
      raw(emailVariant(subject.dii, { ...none, dots: [0, 2, 4] }), 'gmail dots');
      raw(emailVariant(subject.dii, { ...none, tag: 'news' }), 'gmail +tag');
      // Like U.id2C…+x@GMAIL.com: case, a dot, a +tag and the domain in capitals.
      const shape = { ...none, dots: [0], tag: 'x', flips: at(0, 5, local + 4, local + 5, local + 6, local + 7, local + 8) };
      raw(emailVariant(subject.dii, shape), 'gmail case, dot and +tag');
      raw(emailVariant(subject.dii, { ...none, dots: [1, 3], tag: 'a.b', lead: 1, trail: 2 }), 'gmail dots, dotted +tag and spaces');
      raw(emailVariant(subject.dii, { ...none, dots: [2], tag: 'a b', spaces: [0, 5] }), 'gmail dot, +tag and spaces inside both');
    }
  } else if (registered.field !== 'phone') {
    raw(subject.dii, 'raw, logged out by hash');
  }
  const hashes: Variant[] = [
    { field: hashField(subject), value: base64Hash(subject.dii), label: `${subject.label} as ${hashField(subject)} (base64)` },
    { field: hashField(subject), value: hexHash(subject.dii), label: `${subject.label} as ${hashField(subject)} (hex)` },
  ];
  variants.push(...hashes.filter((h) => h.value !== registered.value));
  return variants;
}

/** The property's arbitrary: an opted-out subject and how to spell it. */
interface FormCase {
  subject: number;
  form: 'raw' | 'base64' | 'hex';
  shape: EmailShape;
}

function formCases(subjects: readonly Subject[]): fc.Arbitrary<FormCase> {
  const indices = (pick: (s: Subject) => boolean) => subjects.flatMap((s, i) => (pick(s) ? [i] : []));
  const form = fc.constantFrom<FormCase['form']>('raw', 'raw', 'raw', 'base64', 'hex');
  const common = {
    flips: fc.array(fc.boolean(), { maxLength: 48 }),
    lead: fc.nat({ max: 3 }),
    trail: fc.nat({ max: 3 }),
    spaces: fc.array(fc.nat({ max: 63 }), { maxLength: 3 }),
  };
  const plain = fc.record({
    subject: fc.constantFrom(...indices((s) => !isGmail(s))),
    form,
    shape: fc.record({ ...common, dots: fc.constant<number[]>([]) }),
  });
  const gmail = indices(isGmail);
  if (gmail.length === 0) return plain;
  // gmail cases are half of all: the +tag and dot rules exist only there.
  const gmailCase = fc.record({
    subject: fc.constantFrom(...gmail),
    form,
    shape: fc.record({ ...common, dots: fc.uniqueArray(fc.nat({ max: 63 }), { maxLength: 4 }), tag: fc.option(fc.stringMatching(/^[a-z0-9]{1,8}$/), { nil: undefined, freq: 5 }) }),
  });
  return fc.oneof(plain, gmailCase);
}

function variantOf(subject: Subject, c: FormCase): Variant {
  if (c.form !== 'raw') {
    const f = hashField(subject);
    return { field: f, value: c.form === 'base64' ? base64Hash(subject.dii) : hexHash(subject.dii), label: `${subject.label} as ${f} (${c.form})` };
  }
  if (subject.kind === 'phone') return { field: 'phone', value: subject.dii, label: `${subject.label} as phone` };
  return { field: 'email', value: emailVariant(subject.dii, c.shape), label: `${subject.label} as email (${describeShape(c.shape)})` };
}

// ------------------------------------------------------------------ look-alikes (OP-ISOLATION)

/** A look-alike of a `dotted` subject `a.b.c+tag@domain`: some dots dropped, the +tag kept, dropped or changed. */
interface LookAlike {
  subject: number;
  /** keepDots[i]: keep the i-th dot of the local part. */
  keepDots: boolean[];
  tag: { keep: true } | { drop: true } | { other: string };
  flips: boolean[];
}

function lookAlikeOf(subject: Subject, l: LookAlike): Variant {
  const at = subject.dii.indexOf('@');
  const local = subject.dii.slice(0, at);
  const domain = subject.dii.slice(at + 1);
  const plus = local.indexOf('+');
  const base = plus >= 0 ? local.slice(0, plus) : local;
  const tag = plus >= 0 ? local.slice(plus + 1) : undefined;
  const parts = base.split('.');
  const joined = parts.reduce((acc, part, i) => (i === 0 ? part : `${acc}${l.keepDots[i - 1] ? '.' : ''}${part}`), '');
  const newTag = 'keep' in l.tag ? tag : 'drop' in l.tag ? undefined : l.tag.other;
  const value = [...`${joined}${newTag !== undefined ? `+${newTag}` : ''}@${domain}`].map((c, i) => (l.flips[i] ? flipCase(c) : c)).join('');
  const dropped = parts.length - 1 - l.keepDots.slice(0, parts.length - 1).filter(Boolean).length;
  const tagWhat = 'keep' in l.tag ? '+tag kept' : 'drop' in l.tag ? '+tag dropped' : `+tag changed (${l.tag.other.length} characters)`;
  const flips = l.flips.filter(Boolean).length;
  return { field: 'email', value, label: `look-alike of ${subject.label} (${dropped} of ${parts.length - 1} dots dropped, ${tagWhat}${flips ? `, ${flips} case flips` : ''})` };
}

/** The look-alike must be another person, never registered: the oracle expects it opted in. */
function otherPerson(ctx: CheckContext, subject: Subject, v: Variant): string {
  const person = ctx.oracle.person(v.field, v.value);
  if (!person || person === subject.person) undecided(`kit bug: ${v.label} is ${person ? 'the same person' : 'invalid'} for the oracle`);
  if (ctx.oracle.expect(person!, 'generate', Date.now()) !== 'in' || ctx.oracle.expect(person!, 'map', Date.now()) !== 'in') undecided(`kit bug: ${v.label} is opted out for the oracle`);
  return person!;
}

/** Someone never opted out stays opted in: generate issues tokens and a one-entry v3 map has "u". */
async function expectOptedIn(ctx: CheckContext, v: Variant, why: string): Promise<void> {
  const generated = await ctx.api.generate({ [v.field]: v.value, optout_check: 1 } as never);
  if (!isTokenAnswer(generated)) {
    const seen = generated.envelopeError ? `an answer that did not open (${generated.envelopeError.reason})` : `HTTP ${generated.http} ${quoteTarget(statusOf(generated))}`;
    fail(`generate for ${v.label} answered ${seen}, expected tokens: ${why}`);
  }
  const mapped = await v3One(ctx, v);
  if (mapped.state !== 'mapped') fail(`one-entry v3 map of ${v.label} answered ${mapped.state}, expected a mapped entry: ${why}`);
}

function dottedSubjects(ctx: CheckContext): Subject[] {
  const dotted = ctx.population.get('dotted').filter((s) => ctx.oracle.expect(s.person, 'map', Date.now()) !== 'in');
  if (dotted.length === 0) undecided('no dotted subject is opted out: the opt-outs could not be registered (see OP-LOGOUT)');
  return dotted;
}

const LOOK_ALIKE_WHY = 'a non-gmail address that differs by dots or +tag is another person (the opt-out must not spread to it)';

// ------------------------------------------------------------------ hash look-alikes (OP-ISOLATION)

const BASE64_SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * The subject's base64 hash re-cut to 44 characters the operator decodes to another length (§3.4): 33 bytes
 * (its 32 bytes, then a byte from a 44th symbol instead of the `=`), or 31 bytes (`==` after 42 symbols).
 */
interface HashCut {
  subject: number;
  bytes: 31 | 33;
  /** 33 bytes: the 44th symbol, 0–63; the extra byte is its value. */
  symbol: number;
}

function hashCutOf(subject: Subject, c: HashCut): Variant {
  const field = hashField(subject);
  const symbols = base64Hash(subject.dii).slice(0, 43);
  const value = c.bytes === 33 ? symbols + BASE64_SYMBOLS[c.symbol % 64] : `${symbols.slice(0, 42)}==`;
  const what = c.bytes === 33 ? `its 32, then a byte of value ${c.symbol % 64}` : 'its first 31';
  return { field, value, label: `${field} of ${subject.label} re-cut to ${c.bytes} bytes (${what})` };
}

const HASH_CUT_WHY = 'a hash that decodes to 31 or 33 bytes is keyed on those bytes: another person (the opt-out must not spread to it)';

/**
 * A hash cut must not read as opted out on a one-entry v3 map. The real operator maps it; an operator that
 * checks the length and refuses it as an invalid identifier spreads no opt-out either. True when refused.
 */
async function expectCutNotOptedOut(ctx: CheckContext, v: Variant): Promise<boolean> {
  const mapped = await v3One(ctx, v);
  if (mapped.state === 'mapped') return false;
  if (mapped.state === '{"e":"invalid identifier"}') return true;
  fail(`one-entry v3 map of ${v.label} answered ${mapped.state}, expected a mapped entry (or an invalid identifier): ${HASH_CUT_WHY}`);
}

export const formsChecks: Check[] = [
  {
    id: 'forms.equivalent.every-form',
    rule: 'OP-FORMS',
    kind: 'scenario',
    needs: [],
    title: 'an opt-out holds for case changes, surrounding and inner spaces, gmail dots and +tags, base64 and hex hashes, phone ↔ phone_hash and raw DII after a hashed logout (one-entry v3 map)',
    async run(ctx) {
      const subjects = optedOutSubjects(ctx, 'map');
      let count = 0;
      for (const subject of subjects) {
        for (const v of scenarioVariants(subject)) {
          await expectOptedOut(ctx, subject, sameAs(ctx, subject, v));
          count += 1;
        }
      }
      return `${count} equivalent forms of ${subjects.length} opted-out persons answered {"e":"optout"}`;
    },
  },
  {
    id: 'forms.equivalent.property',
    rule: 'OP-FORMS',
    kind: 'property',
    needs: [],
    title: 'any normalization variant of an opted-out person (case flips, surrounding and inner spaces, gmail dots and +tags, hash form) maps as opted out',
    async run(ctx) {
      const subjects = optedOutSubjects(ctx, 'map');
      return checkProperty(
        ctx,
        this.id,
        formCases(subjects),
        async (c) => {
          const subject = subjects[c.subject]!;
          await expectOptedOut(ctx, subject, sameAs(ctx, subject, variantOf(subject, c)));
        },
        (c) => variantOf(subjects[c.subject]!, c).label,
      );
    },
  },
  {
    id: 'isolation.others-stay-in',
    rule: 'OP-ISOLATION',
    kind: 'scenario',
    needs: ['optout', 'synthetic'],
    title: 'opt-outs leave other users of the same domains, non-gmail dot/+tag look-alikes and phones opted in (generate and one-entry v3 map); 31- and 33-byte cuts of their hashes are not taken for them (v3 map)',
    async run(ctx) {
      const dotted = dottedSubjects(ctx);
      const controls = ctx.population.get('controls');
      if (controls.length === 0) undecided('no control identities in the population');
      for (const control of controls) {
        const v: Variant = { field: control.kind, value: control.dii, label: `${control.label} as ${control.kind}` };
        const why = control.kind === 'email' ? 'another user of a domain with opted-out users stays opted in' : 'a phone stays opted in when emails opt out';
        await expectOptedIn(ctx, v, why);
      }
      const shapes: Array<Omit<LookAlike, 'subject'>> = [
        { keepDots: [false, false, false, false], tag: { drop: true }, flips: [] },
        { keepDots: [true, true, true, true], tag: { drop: true }, flips: [] },
        { keepDots: [false, false, false, false], tag: { keep: true }, flips: [] },
        { keepDots: [false, true, true, true], tag: { keep: true }, flips: [] },
        { keepDots: [true, true, true, true], tag: { other: 'other' }, flips: [] },
        { keepDots: [true, false, false, false], tag: { drop: true }, flips: [true, true, true] },
      ];
      let count = 0;
      for (const [index, subject] of dotted.entries()) {
        for (const shape of shapes) {
          const v = lookAlikeOf(subject, { subject: index, ...shape });
          otherPerson(ctx, subject, v);
          await expectOptedIn(ctx, v, LOOK_ALIKE_WHY);
          count += 1;
        }
      }
      const hashed = optedOutSubjects(ctx, 'map');
      let refused = 0;
      for (const [index, subject] of hashed.entries()) {
        for (const cut of [{ bytes: 33, symbol: 0 }, { bytes: 31, symbol: 0 }] as const) {
          const v = hashCutOf(subject, { subject: index, ...cut });
          otherPerson(ctx, subject, v);
          if (await expectCutNotOptedOut(ctx, v)) refused += 1;
        }
      }
      const cuts = `${hashed.length * 2} 31- and 33-byte hash cuts of ${hashed.length} opted-out persons were not taken for them on v3 map${refused ? ` (${refused} refused as invalid identifiers)` : ''}`;
      return `${controls.length} controls and ${count} look-alikes of ${dotted.length} opted-out dotted addresses stayed opted in on generate and v3 map; ${cuts}`;
    },
  },
  {
    id: 'isolation.look-alikes.property',
    rule: 'OP-ISOLATION',
    kind: 'property',
    needs: ['optout', 'synthetic'],
    title: 'any dot/+tag look-alike of an opted-out non-gmail address stays opted in (generate and v3 map), and no 31-/33-byte cut of an opted-out hash reads as opted out (v3 map): all other people',
    async run(ctx) {
      const dotted = dottedSubjects(ctx);
      const subject = fc.nat({ max: dotted.length - 1 });
      const flips = fc.array(fc.boolean(), { maxLength: 32 });
      const tag: fc.Arbitrary<LookAlike['tag']> = fc.oneof(
        fc.constant<LookAlike['tag']>({ keep: true }),
        fc.constant<LookAlike['tag']>({ drop: true }),
        fc.stringMatching(/^[a-z0-9]{1,8}$/).map((other): LookAlike['tag'] => ({ other })),
      );
      const general: fc.Arbitrary<LookAlike> = fc.record({ subject, keepDots: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), tag, flips });
      // Every dot and the +tag dropped is the gmail-style key: weight it so every run tries it a few times.
      const stripped: fc.Arbitrary<LookAlike> = fc.record({ subject, keepDots: fc.constant([false, false, false, false]), tag: fc.constant<LookAlike['tag']>({ drop: true }), flips });
      const lookAlike = fc.oneof(general, stripped).filter((l) => ctx.oracle.person('email', lookAlikeOf(dotted[l.subject]!, l).value) !== dotted[l.subject]!.person);
      const hashed = optedOutSubjects(ctx, 'map');
      const cut: fc.Arbitrary<HashCut> = fc.record({ subject: fc.nat({ max: hashed.length - 1 }), bytes: fc.constantFrom<HashCut['bytes']>(31, 33), symbol: fc.nat({ max: 63 }) });
      // One case in three is a hash cut; the rest keep the look-alikes' even split.
      const arbitrary = fc.oneof({ arbitrary: lookAlike.map((look) => ({ look })), weight: 2 }, { arbitrary: cut.map((cut) => ({ cut })), weight: 1 });
      const probe = (c: { look: LookAlike } | { cut: HashCut }): { subject: Subject; v: Variant } =>
        'look' in c ? { subject: dotted[c.look.subject]!, v: lookAlikeOf(dotted[c.look.subject]!, c.look) } : { subject: hashed[c.cut.subject]!, v: hashCutOf(hashed[c.cut.subject]!, c.cut) };
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (c) => {
          const { subject, v } = probe(c);
          otherPerson(ctx, subject, v);
          if ('look' in c) await expectOptedIn(ctx, v, LOOK_ALIKE_WHY);
          else await expectCutNotOptedOut(ctx, v);
        },
        (c) => probe(c).v.label,
      );
    },
  },
];
