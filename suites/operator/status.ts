// OP-STATUS-OPTOUT, OP-STATUS-LIMITS: POST /v2/optout/status (RULES.md; UID2-SPEC §1.4).
// The raw UID2s are the population's, mapped before any opt-out; the oracle says which persons opted out
// and when the kit sent and the operator acknowledged each logout. Only the `repeat` subject is logged out
// twice: after a repeat, any time from the first request to the answer conforms (RULES v1.1 retired
// OP-STATUS-EARLIEST: the reference operator keeps the latest time of same-day repeats).
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import { eventually } from '../../harness/engine/eventually.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import type { PersonKey } from '../../harness/oracle/oracle.ts';
import { bodyOf, opened, seenAs, statusOf, type Json } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

/** Allowed difference between the kit's clock and the operator's (ms). */
const CLOCK_SKEW_MS = 5000;
const MAX_IDS = 5000;

/** One raw UID2 of the pool, with who it belongs to (labels only, safe to print). */
interface Entry {
  uid: string;
  label: string;
  subject: Subject;
  person: PersonKey;
}

interface Reading {
  x: Exchange;
  sentMs: number;
  answeredMs: number;
}

const floorSecond = (ms: number) => Math.floor(ms / 1000) * 1000;

function entryOf(ctx: CheckContext, subject: Subject & { rawUid: string }): Entry {
  return { uid: subject.rawUid, label: subject.label, subject, person: ctx.oracle.personOf(subject.rawUid) ?? subject.person };
}

/** Opted-out raw UID2s (logged out by raw DII or by hash, once) and controls (never opted out). */
function statusPool(ctx: CheckContext): { out: Entry[]; controls: Entry[] } {
  const hasUid = (s: Subject): s is Subject & { rawUid: string } => typeof s.rawUid === 'string' && !s.test;
  const out = [...ctx.population.get('optedOut'), ...ctx.population.get('hashLoggedOut')]
    .filter(hasUid)
    .filter((s) => ctx.oracle.registration(s.person) !== undefined)
    .map((s) => entryOf(ctx, s));
  if (out.length === 0) undecided('no opted-out person has a raw UID2 mapped before its opt-out (the opt-outs could not be registered: see OP-LOGOUT)');
  const controls = ctx.population.get('controls').filter(hasUid).map((s) => entryOf(ctx, s));
  return { out, controls };
}

async function ask(ctx: CheckContext, ids: string[]): Promise<Reading> {
  const sentMs = Date.now();
  const x = await ctx.api.optoutStatus(ids);
  return { x, sentMs, answeredMs: Date.now() };
}

/** The `opted_out` list of a status answer, or a fail when the answer is not a success with such a list. */
function listedOf(x: Exchange, what: string): Array<{ id: unknown; since: unknown }> {
  const answer = opened(x, what);
  if (answer.status !== 'success') fail(`${what}: status ${quoteTarget(answer.status)}, expected "success"`);
  const list = bodyOf(x).opted_out;
  if (!Array.isArray(list)) fail(`${what}: the body has no opted_out array`);
  return (list as unknown[]).map((item) => {
    const o = (item && typeof item === 'object' ? item : {}) as Json;
    return { id: o.advertising_id, since: o.opted_out_since };
  });
}

const listedIds = (x: Exchange): Set<unknown> => {
  if (x.http !== 200 || x.envelopeError || statusOf(x) !== 'success') return new Set();
  const list = bodyOf(x).opted_out;
  return new Set(Array.isArray(list) ? list.map((i) => (i as Json | null)?.advertising_id) : []);
};

/**
 * Asks for `ids` until every opted-out entry among them is listed. An entry not listed while its opt-out is
 * pending is propagation (polled again); once it settled, that is the rule's failure, naming the entries.
 * Each instance answers status from the same snapshot as the DII endpoints (UID2-SPEC §1.4), so it settles
 * with them.
 */
async function untilListed(ctx: CheckContext, entries: Entry[], ids: string[], what: string): Promise<Reading> {
  const out = entries.filter((e) => ctx.oracle.registration(e.person));
  for (;;) {
    const reading = await ask(ctx, ids);
    const listed = listedIds(reading.x);
    const missing = out.filter((e) => !listed.has(e.uid));
    for (const e of out) if (listed.has(e.uid)) ctx.oracle.observedOut(e.person, 'status', reading.answeredMs);
    if (missing.length === 0) return reading;
    const settled = missing.filter((e) => ctx.oracle.expect(e.person, 'status', reading.sentMs) !== 'pending');
    if (settled.length > 0) fail(`${what}: ${[...new Set(settled.map((e) => e.label))].join(', ')} not listed after the opt-out had settled (answer ${seenAs(reading.x)})`);
    for (const e of missing) ctx.oracle.observedIn(e.person, 'status', reading.sentMs);
    await new Promise((resolve) => setTimeout(resolve, ctx.settings.pollIntervalMs));
  }
}

/**
 * Judges one status answer for the asked entries: exactly the opted-out ones listed (a pending one may be
 * either), in input order, each opted_out_since an integer in ms between the logout (minus skew) and the answer.
 */
function judge(ctx: CheckContext, asked: Entry[], reading: Reading, what: string): number {
  const listed = listedOf(reading.x, what);
  const byUid = new Map(asked.map((e) => [e.uid, e]));
  const expectation = new Map(asked.map((e) => [e.uid, ctx.oracle.expect(e.person, 'status', reading.sentMs)]));
  for (const [i, item] of listed.entries()) {
    const entry = typeof item.id === 'string' ? byUid.get(item.id) : undefined;
    if (!entry) fail(`${what}: entry ${i} of opted_out is ${typeof item.id === 'string' ? 'an id that was not asked' : 'not an advertising_id string'}`);
    if (expectation.get(entry!.uid) === 'in') fail(`${what}: ${entry!.label}, never opted out, is listed`);
    const since = item.since;
    if (typeof since !== 'number' || !Number.isInteger(since)) fail(`${what}: opted_out_since of ${entry!.label} is ${typeof since === 'number' ? 'not an integer' : `a ${typeof since}`}`);
    const registration = ctx.oracle.registration(entry!.person);
    if (registration) {
      const earliest = floorSecond(registration.sentMs) - CLOCK_SKEW_MS;
      const latest = reading.answeredMs + CLOCK_SKEW_MS;
      if ((since as number) < earliest || (since as number) > latest) {
        const unit = (since as number) < 1e11 ? ' (it looks like Unix seconds, not milliseconds)' : '';
        fail(`${what}: opted_out_since of ${entry!.label} is ${since}, outside [${earliest}, ${latest}] ms, the logout (minus ${CLOCK_SKEW_MS} ms skew) to the answer${unit}`);
      }
    }
  }
  const listedSet = new Set(listed.map((i) => i.id));
  for (const e of asked) {
    if (expectation.get(e.uid) === 'out' && !listedSet.has(e.uid)) fail(`${what}: ${e.label}, opted out, is not listed`);
  }
  // Input order: each occurrence in turn (duplicates listed again) or each id once at its first occurrence.
  const pending = new Set(asked.filter((e) => expectation.get(e.uid) === 'pending').map((e) => e.uid));
  const got = listed.map((i) => i.id as string).filter((id) => !pending.has(id));
  const want = asked.filter((e) => expectation.get(e.uid) === 'out').map((e) => e.uid);
  const wantOnce = [...new Set(want)];
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (!same(got, want) && !same(got, wantOnce)) {
    const labels = (ids: string[]) => ids.map((id) => byUid.get(id)?.label ?? '?').join(', ');
    fail(`${what}: listed [${labels(got)}], expected in input order [${labels(want)}]`);
  }
  return listed.length;
}

/** Interleaves two lists: a, b, a, b, … then the rest. */
function interleave<T>(a: T[], b: T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

const syntheticIds = (n: number): string[] => Array.from({ length: n }, () => randomBytes(33).toString('base64'));

/** A 400 client_error as plain JSON. */
function expectClientError(x: Exchange, what: string): void {
  if (x.http !== 400) fail(`${what}: HTTP ${x.http}${typeof statusOf(x) === 'string' ? ` ${quoteTarget(statusOf(x))}` : ''}, expected 400 client_error`);
  if (x.plainText !== undefined || typeof x.body !== 'object' || x.body === null) fail(`${what}: the 400 answer is not plain JSON`);
  if (statusOf(x) !== 'client_error') fail(`${what}: HTTP 400 with status ${quoteTarget(statusOf(x))}, expected "client_error"`);
}

export const statusChecks: Check[] = [
  {
    id: 'status.optout.scenario',
    rule: 'OP-STATUS-OPTOUT',
    kind: 'scenario',
    needs: ['optout'],
    title: 'status lists exactly the opted-out raw UID2s of a mixed request, in input order, opted_out_since in ms between logout and answer',
    async run(ctx) {
      const { out, controls } = statusPool(ctx);
      const asked = interleave(out, controls);
      const what = `status for ${out.length} opted-out and ${controls.length} control raw UID2s`;
      const reading = await untilListed(ctx, asked, asked.map((e) => e.uid), what);
      const listed = judge(ctx, asked, reading, what);
      return `${listed} of ${asked.length} raw UID2s listed: every opted-out one, in input order, with opted_out_since in ms; no control`;
    },
  },
  {
    id: 'status.optout.property',
    rule: 'OP-STATUS-OPTOUT',
    kind: 'property',
    needs: ['optout'],
    title: 'for any mix, order and repetition of opted-out and control raw UID2s, status lists exactly the opted-out ones in input order',
    async run(ctx) {
      const { out, controls } = statusPool(ctx);
      const pool = [...out, ...controls];
      await untilListed(ctx, pool, pool.map((e) => e.uid), 'status for every raw UID2 of the pool');
      const arbitrary = fc.array(fc.nat({ max: pool.length - 1 }), { minLength: 1, maxLength: 12 });
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (indices) => {
          const asked = indices.map((i) => pool[i]!);
          judge(ctx, asked, await ask(ctx, asked.map((e) => e.uid)), `status for [${asked.map((e) => e.label).join(', ')}]`);
        },
        (indices) => `[${indices.map((i) => pool[i]!.label).join(', ')}]`,
      );
    },
  },
  {
    id: 'status.optout.repeat',
    rule: 'OP-STATUS-OPTOUT',
    kind: 'scenario',
    needs: ['optout'],
    title: 'after a repeated logout a second later, status still lists the raw UID2, opted_out_since between the first logout and the answer',
    async run(ctx) {
      const subject = ctx.population.get('repeat')[0];
      const first = subject && ctx.oracle.registration(subject.person);
      if (!subject?.rawUid || !subject.loggedOutAs || !first) undecided('the repeat subject has no raw UID2 or its opt-out could not be registered (see OP-LOGOUT)');
      const entry = entryOf(ctx, subject as Subject & { rawUid: string });
      const sinceOf = (r: Reading, what: string) => listedOf(r.x, what).find((i) => i.id === entry.uid)?.since;
      const before = sinceOf(await untilListed(ctx, [entry], [entry.uid], `status for ${entry.label} before the repeat`), `status for ${entry.label} before the repeat`);

      // The repeat falls in a later second than the first opt-out, so an operator keeping the latest time moves it.
      const wait = first!.ackMs + 1100 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const repeat = await ctx.optoutApi!.logout({ [subject!.loggedOutAs!.field]: subject!.loggedOutAs!.value } as never);
      const repeatAckMs = Date.now();

      // A redelivery may be propagated again (OP-PROPAGATION): poll until listed, then judge as any answer.
      const after = await eventually(() => ask(ctx, [entry.uid]), (r) => listedIds(r.x).has(entry.uid), {
        untilMs: repeatAckMs + ctx.settings.propagationTimeoutMs,
        pollMs: ctx.settings.pollIntervalMs,
      });
      if (!after.held) fail(`${entry.label} was not listed again within the propagation bound after a repeated logout (last answer ${seenAs(after.last.x)})`);
      const what = `status for ${entry.label} after a repeated logout`;
      judge(ctx, [entry], after.last, what);
      // Either time conforms; saying which one the operator kept shows what was judged.
      const kept = sinceOf(after.last, what) === before ? 'the first opt-out\'s time' : 'a later time';
      const note = repeat.http === 200 && statusOf(repeat) === 'success' ? '' : ` (the repeat was answered ${seenAs(repeat)}; OP-LOGOUT judges that)`;
      return `${entry.label} stayed listed after a repeated logout ${Math.round((repeatAckMs - first!.ackMs) / 100) / 10} s later, opted_out_since (${kept}) within its bounds${note}`;
    },
  },
  {
    id: 'status.limits.over',
    rule: 'OP-STATUS-LIMITS',
    kind: 'scenario',
    needs: [],
    title: 'status with 5,001 advertising_ids answers 400 client_error as plain JSON',
    async run(ctx) {
      expectClientError(await ctx.api.optoutStatus(syntheticIds(MAX_IDS + 1)), `status with ${MAX_IDS + 1} ids`);
      return `${MAX_IDS + 1} ids answered 400 client_error`;
    },
  },
  {
    id: 'status.limits.missing',
    rule: 'OP-STATUS-LIMITS',
    kind: 'scenario',
    needs: [],
    title: 'status without advertising_ids answers 400 client_error as plain JSON',
    async run(ctx) {
      expectClientError(await ctx.api.encrypted('/v2/optout/status', {}), 'status without advertising_ids');
      return 'a request without advertising_ids answered 400 client_error';
    },
  },
  {
    id: 'status.limits.at-limit',
    rule: 'OP-STATUS-LIMITS',
    kind: 'scenario',
    needs: [],
    title: 'status with exactly 5,000 advertising_ids answers 200 success',
    async run(ctx) {
      const x = await ctx.api.optoutStatus(syntheticIds(MAX_IDS));
      const answer = opened(x, `status with ${MAX_IDS} ids`);
      if (answer.status !== 'success') fail(`status with ${MAX_IDS} ids: status ${quoteTarget(answer.status)}, expected "success"`);
      return `${MAX_IDS} ids answered 200 success`;
    },
  },
];
