// OP-MAP-OPTOUT and OP-MAP-V3-OPTOUT: identity map for opted-out DII (RULES.md; UID2-SPEC §1.3, §9).
// v2 takes exactly one DII array and echoes each input as `identifier`: an opted-out input belongs under
// `unmapped` with reason "optout" wherever it sits in the batch (first, middle, last, alone). v3 answers all
// four arrays index-aligned with the request: `{"e":"optout"}` at the opted-out input's own index.
// Inputs are the opted-out persons in the exact form they were registered, or their base64 hash; other
// spellings (gmail variants above all) are OP-FORMS's business. Only the fields a rule needs are read
// (`identifier`, `reason`; `u`, `e`): the shape of an answer is OP-SCHEMA's business.
// The judges below are shared with the one-entry probes of forms.ts and the model-based checks of model.ts.
import fc from 'fast-check';
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { base64Hash, hexHash } from '../../harness/engine/synthetic.ts';
import type { Expectation, PersonKey } from '../../harness/oracle/oracle.ts';
import { DII_FIELDS, type DiiField } from '../../harness/wire/dii.ts';
import { bodyOf, opened, statusOf, type Json } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

/** One input of a map request: safe label, request field and value, and the person the oracle sees. */
export interface MapEntry {
  label: string;
  field: DiiField;
  value: string;
  person: PersonKey;
}

export type MapRequestEntries = Partial<Record<DiiField, MapEntry[]>>;

const hashFieldOf = (kind: 'email' | 'phone'): DiiField => (kind === 'email' ? 'email_hash' : 'phone_hash');

/**
 * A subject as a map input: `registered` is the form its opt-out went in as (raw DII for the test identities
 * and for controls), `raw` its normalized DII, `base64`/`hex` its SHA-256. The oracle must agree it is the
 * subject's person; anything else is a kit bug (undecided, never a pass).
 */
export function entryOf(ctx: CheckContext, subject: Subject, form: 'registered' | 'raw' | 'base64' | 'hex'): MapEntry {
  let field: DiiField;
  let value: string;
  let label: string;
  if (form === 'registered' && subject.loggedOutAs) {
    ({ field, value } = subject.loggedOutAs);
    label = field === subject.kind ? `${subject.label} as ${field}` : `${subject.label} as ${field} (${value.length === 64 ? 'hex' : 'base64'})`;
  } else if (form === 'registered' || form === 'raw') {
    field = subject.kind;
    value = subject.dii;
    label = `${subject.label} as ${field}`;
  } else {
    field = hashFieldOf(subject.kind);
    value = form === 'base64' ? base64Hash(subject.dii) : hexHash(subject.dii);
    label = `${subject.label} as ${field} (${form})`;
  }
  if (ctx.oracle.person(field, value) !== subject.person) undecided(`kit bug: ${label} is not the same person as ${subject.label} for the oracle`);
  return { label, field, value, person: subject.person };
}

/** Where an input sits in its batch or array, for messages. */
export function position(index: number, length: number): string {
  const where = length === 1 ? 'alone' : index === 0 ? 'first' : index === length - 1 ? 'last' : 'middle';
  return `position ${index + 1} of ${length}, ${where}`;
}

/** The opted-out persons of the run (any group but the reserved ones), or undecided when there are none. */
export function optedOutSubjects(ctx: CheckContext, endpoint: 'map' | 'generate'): Subject[] {
  const subjects = ctx.population.optedOut().filter((s) => ctx.oracle.expect(s.person, endpoint, Date.now()) !== 'in');
  if (subjects.length === 0) undecided('no opted-out subject: the opt-outs could not be registered (see OP-LOGOUT)');
  return subjects;
}

/** Map inputs per request field: opted-out persons (registered form or base64 hash) and controls. */
export interface MapPools {
  out: Partial<Record<DiiField, MapEntry[]>>;
  controls: Partial<Record<DiiField, MapEntry[]>>;
}

export function mapPools(ctx: CheckContext): MapPools {
  const out: MapPools['out'] = {};
  const controls: MapPools['controls'] = {};
  const add = (pool: MapPools['out'], entry: MapEntry) => {
    const list = (pool[entry.field] ??= []);
    if (!list.some((e) => e.value === entry.value)) list.push(entry);
  };
  for (const subject of optedOutSubjects(ctx, 'map')) {
    add(out, entryOf(ctx, subject, 'registered'));
    add(out, entryOf(ctx, subject, 'base64'));
  }
  for (const subject of ctx.population.get('controls')) {
    add(controls, entryOf(ctx, subject, 'raw'));
    add(controls, entryOf(ctx, subject, 'base64'));
    if (subject.kind === 'phone') add(controls, entryOf(ctx, subject, 'hex'));
  }
  return { out, controls };
}

// ------------------------------------------------------------------ judging answers

type Seen = 'optout' | 'mapped';

/**
 * Judges what the oracle expects of one person against what one answer said for each of its occurrences:
 * `out` must be optout everywhere, `in` mapped everywhere; `pending` (acknowledged, not settled yet) may be
 * either, but not both in one answer (one answer comes from one snapshot). Either is reported to the oracle:
 * optout answers settle the opt-out, a mapped one before that is a measured disagreement.
 */
function judgePerson(ctx: CheckContext, expected: Expectation, seen: Array<Seen | string>, where: string, what: string): void {
  const bad = seen.findIndex((s) => (expected === 'out' ? s !== 'optout' : expected === 'in' ? s !== 'mapped' : s !== 'optout' && s !== 'mapped'));
  if (bad >= 0) {
    const wanted = expected === 'out' ? 'opted out' : expected === 'in' ? 'never opted out, must be mapped' : 'opt-out pending, must be mapped or optout';
    fail(`${what}: ${where} (${wanted}) answered ${seen[bad]}`);
  }
  if (expected === 'pending' && seen.includes('optout') && seen.includes('mapped')) fail(`${what}: ${where} (opt-out pending) answered optout and mapped in the same answer`);
}

function successBody(x: Exchange, what: string): Json {
  const answer = opened(x, what);
  if (answer.status !== 'success') fail(`${what}: status ${quoteTarget(statusOf(x))}, expected "success"`);
  return bodyOf(x);
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const field = (v: unknown, key: string): unknown => (v !== null && typeof v === 'object' ? (v as Json)[key] : undefined);

/**
 * Judges a v2 map answer for `entries` (one DII array, in request order; duplicates allowed). `sentMs`:
 * when the request was sent, the time the expectation is taken at.
 */
export function judgeMapV2(ctx: CheckContext, entries: readonly MapEntry[], x: Exchange, what: string, sentMs: number): void {
  const body = successBody(x, what);
  const mapped = asArray(body.mapped).map((m) => field(m, 'identifier'));
  const unmapped = asArray(body.unmapped).map((u) => ({ identifier: field(u, 'identifier'), reason: field(u, 'reason') }));
  const byValue = new Map<string, number[]>();
  entries.forEach((e, i) => byValue.set(e.value, [...(byValue.get(e.value) ?? []), i]));
  for (const [value, indices] of byValue) {
    const entry = entries[indices[0]!]!;
    const expected = ctx.oracle.expect(entry.person, 'map', sentMs);
    const inMapped = mapped.filter((id) => id === value).length;
    const reasons = unmapped.filter((u) => u.identifier === value).map((u) => (u.reason === 'optout' ? 'optout' : `unmapped with reason ${quoteTarget(u.reason)}`));
    const seen: string[] = [...Array<string>(inMapped).fill('mapped'), ...reasons];
    const where = `${entry.label} at ${indices.map((i) => position(i, entries.length)).join('; ')}`;
    if (expected === 'out' && inMapped > 0) fail(`${what}: ${where} (opted out) is listed under mapped`);
    // Every occurrence is listed once: missing ones read as "not listed".
    while (seen.length < indices.length) seen.push('nothing (not listed under mapped or unmapped)');
    judgePerson(ctx, expected, seen, where, what);
    if (reasons.includes('optout')) ctx.oracle.observedOut(entry.person, 'map', Date.now());
    else if (inMapped > 0) ctx.oracle.observedIn(entry.person, 'map', sentMs);
  }
}

/** The state of one v3 entry: optout, mapped (has `u`), or a description of anything else. */
export function v3State(entry: unknown): Seen | string {
  if (field(entry, 'e') === 'optout') return 'optout';
  if (typeof field(entry, 'u') === 'string') return 'mapped';
  const e = field(entry, 'e');
  return e !== undefined ? `{"e":${JSON.stringify(e)}}` : 'an entry with neither "u" nor "e"';
}

/**
 * Judges a v3 map answer: all four keys present, each array as long as the request's (empty when the field
 * was not sent), and at each index the answer for the input at that index.
 */
export function judgeMapV3(ctx: CheckContext, request: MapRequestEntries, x: Exchange, what: string, sentMs: number): void {
  const body = successBody(x, what);
  const perPerson = new Map<PersonKey, { entry: MapEntry; seen: string[]; where: string[] }>();
  for (const f of DII_FIELDS) {
    const sent = request[f] ?? [];
    const got = body[f];
    if (!Array.isArray(got)) fail(`${what}: the answer has no "${f}" array (all four keys must be present)`);
    if (got.length !== sent.length) fail(`${what}: "${f}" has ${got.length} entries for ${sent.length} inputs: not index-aligned with the request`);
    sent.forEach((entry, i) => {
      const record = perPerson.get(entry.person) ?? { entry, seen: [], where: [] };
      record.seen.push(v3State(got[i]));
      record.where.push(`${f}[${i}] (${entry.label}, ${position(i, sent.length)})`);
      perPerson.set(entry.person, record);
    });
  }
  for (const { entry, seen, where } of perPerson.values()) {
    const expected = ctx.oracle.expect(entry.person, 'map', sentMs);
    // Name the first index whose answer is wrong, so the message says where alignment broke.
    const bad = seen.findIndex((s) => (expected === 'out' ? s !== 'optout' : expected === 'in' ? s !== 'mapped' : s !== 'optout' && s !== 'mapped'));
    judgePerson(ctx, expected, bad >= 0 ? [seen[bad]!] : seen, bad >= 0 ? where[bad]! : where.join(', '), what);
    if (seen.includes('optout')) ctx.oracle.observedOut(entry.person, 'map', Date.now());
    else ctx.oracle.observedIn(entry.person, 'map', sentMs);
  }
}

/** Sends a v2 map request and judges it. */
export async function mapV2Judged(ctx: CheckContext, entries: readonly MapEntry[], what: string): Promise<void> {
  const field0 = entries[0]!.field;
  if (entries.some((e) => e.field !== field0)) undecided('kit bug: a v2 map batch mixes DII fields');
  const sentMs = Date.now();
  const x = await ctx.api.mapV2({ [field0]: entries.map((e) => e.value) });
  judgeMapV2(ctx, entries, x, what, sentMs);
}

/** Sends a v3 map request and judges it; `empty` fields are sent as empty arrays. */
export async function mapV3Judged(ctx: CheckContext, request: MapRequestEntries, what: string, empty: readonly DiiField[] = []): Promise<void> {
  const payload: Partial<Record<DiiField, string[]>> = {};
  for (const f of empty) payload[f] = [];
  for (const f of DII_FIELDS) if (request[f]) payload[f] = request[f]!.map((e) => e.value);
  const sentMs = Date.now();
  const x = await ctx.api.mapV3(payload);
  judgeMapV3(ctx, request, x, what, sentMs);
}

const describeEntries = (entries: readonly MapEntry[]) => entries.map((e, i) => `${i + 1}:${e.label}`).join(', ');

// ------------------------------------------------------------------ batches for the scenarios

/**
 * The opted-out entries, each placed first, in the middle and last of some batch: rotation i puts entry i
 * first and entry i−1 last, with a control between consecutive opted-out entries. Fewer than three entries
 * are repeated (duplicates are allowed) so that a middle exists.
 */
export function rotations(out: readonly MapEntry[], controls: readonly MapEntry[]): MapEntry[][] {
  const padded = out.length >= 3 ? [...out] : Array.from({ length: 3 }, (_, i) => out[i % out.length]!);
  return padded.map((_, shift) => {
    const rotated = [...padded.slice(shift), ...padded.slice(0, shift)];
    return rotated.flatMap((entry, k) => (k < rotated.length - 1 && controls.length > 0 ? [entry, controls[(shift + k) % controls.length]!] : [entry]));
  });
}

const entryPick = fc.record({ out: fc.boolean(), pick: fc.nat({ max: 1000 }) });
type Pick = { out: boolean; pick: number };

function resolve(pools: MapPools, f: DiiField, p: Pick): MapEntry {
  const out = pools.out[f] ?? [];
  const controls = pools.controls[f] ?? [];
  const list = (p.out && out.length > 0) || controls.length === 0 ? out : controls;
  return list[p.pick % list.length]!;
}

export const mapChecks: Check[] = [
  {
    id: 'map.v2.optout-every-position',
    rule: 'OP-MAP-OPTOUT',
    kind: 'scenario',
    needs: [],
    title: 'v2 identity map lists each opted-out email and phone (raw and hashed) under unmapped "optout" first, in the middle, last and alone in a batch; controls stay mapped',
    async run(ctx) {
      const pools = mapPools(ctx);
      let requests = 0;
      let inputs = 0;
      for (const f of DII_FIELDS) {
        const out = pools.out[f] ?? [];
        if (out.length === 0) continue;
        for (const entry of out) {
          await mapV2Judged(ctx, [entry], `v2 map of ${f}, ${entry.label} alone`);
          requests += 1;
          inputs += 1;
        }
        for (const batch of rotations(out, pools.controls[f] ?? [])) {
          await mapV2Judged(ctx, batch, `v2 map of a ${batch.length}-entry ${f} batch`);
          requests += 1;
          inputs += batch.length;
        }
      }
      return `${requests} v2 map requests (${inputs} inputs): every opted-out input unmapped "optout" in every position, every control mapped`;
    },
  },
  {
    id: 'map.v2.optout-property',
    rule: 'OP-MAP-OPTOUT',
    kind: 'property',
    needs: [],
    title: 'v2 identity map partitions any batch of 1–20 opted-out and control inputs (any positions, duplicates) as the oracle says',
    async run(ctx) {
      const pools = mapPools(ctx);
      const fields = DII_FIELDS.filter((f) => (pools.out[f] ?? []).length > 0);
      const arbitrary = fc.record({ field: fc.constantFrom(...fields), picks: fc.array(entryPick, { minLength: 1, maxLength: 20 }) });
      const batchOf = (v: { field: DiiField; picks: Pick[] }) => v.picks.map((p) => resolve(pools, v.field, p));
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (v) => mapV2Judged(ctx, batchOf(v), `v2 map of a ${v.picks.length}-entry ${v.field} batch`),
        (v) => `${v.field} batch [${describeEntries(batchOf(v))}]`,
      );
    },
  },
  {
    id: 'map.v3.optout-own-index',
    rule: 'OP-MAP-V3-OPTOUT',
    kind: 'scenario',
    needs: [],
    title: 'v3 identity map answers {"e":"optout"} at each opted-out input\'s own index (first, middle, last, alone) in all four arrays; controls have "u"',
    async run(ctx) {
      const pools = mapPools(ctx);
      const fields = DII_FIELDS.filter((f) => (pools.out[f] ?? []).length > 0);
      const perField = new Map(fields.map((f) => [f, rotations(pools.out[f]!, pools.controls[f] ?? [])]));
      const longest = Math.max(...fields.map((f) => pools.out[f]!.length), 3);
      let requests = 0;
      for (let i = 0; i < longest; i++) {
        const alone: MapRequestEntries = Object.fromEntries(fields.map((f) => [f, [pools.out[f]![i % pools.out[f]!.length]!]]));
        await mapV3Judged(ctx, alone, `v3 map with one opted-out input per array (request ${i + 1})`);
        const mixed: MapRequestEntries = Object.fromEntries(fields.map((f) => [f, perField.get(f)![i % perField.get(f)!.length]!]));
        await mapV3Judged(ctx, mixed, `v3 map with mixed arrays (request ${i + 1})`);
        requests += 2;
      }
      return `${requests} v3 map requests over ${fields.length} arrays: every opted-out input answered {"e":"optout"} at its own index`;
    },
  },
  {
    id: 'map.v3.optout-property',
    rule: 'OP-MAP-V3-OPTOUT',
    kind: 'property',
    needs: [],
    title: 'v3 identity map keeps any mix of opted-out and control inputs over several arrays index-aligned, optout at its own index',
    async run(ctx) {
      const pools = mapPools(ctx);
      const usable = DII_FIELDS.filter((f) => (pools.out[f] ?? []).length + (pools.controls[f] ?? []).length > 0);
      const arbitrary = fc.record({
        inputs: fc.array(fc.record({ field: fc.constantFrom(...usable), out: fc.boolean(), pick: fc.nat({ max: 1000 }) }), { minLength: 1, maxLength: 16 }),
        empty: fc.subarray([...DII_FIELDS]),
      });
      const requestOf = (v: { inputs: Array<Pick & { field: DiiField }> }): MapRequestEntries => {
        const request: MapRequestEntries = {};
        for (const p of v.inputs) (request[p.field] ??= []).push(resolve(pools, p.field, p));
        return request;
      };
      const emptyOf = (v: { inputs: Array<{ field: DiiField }>; empty: DiiField[] }) => v.empty.filter((f) => !v.inputs.some((p) => p.field === f));
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (v) => mapV3Judged(ctx, requestOf(v), `v3 map of ${v.inputs.length} inputs`, emptyOf(v)),
        (v) => {
          const request = requestOf(v);
          const arrays = DII_FIELDS.filter((f) => request[f]).map((f) => `${f} [${describeEntries(request[f]!)}]`);
          const empties = emptyOf(v).map((f) => `${f} []`);
          return [...arrays, ...empties].join('; ');
        },
      );
    },
  },
];
