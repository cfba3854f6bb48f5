// DSP-WEBHOOK-ACK: the DSP's opt-out webhook answers 200 (or 204) to every call, including raw UID2s it has
// never seen and repeats (RULES.md; UID2-SPEC §6.1: any other status than 200/204 and the retried 429/5xx is a
// permanent failure for the opt-out service, and "all opt-outs are sent": the DSP must store signals for UIDs
// it does not hold yet). Judged from the webhook's answers only. The situations a real implementation gets
// wrong: a "404 unknown user" habit, a unique key that turns a repeat or a retry into 409 or 500, concurrent
// deliveries of the same opt-out racing on that key, a raw UID2 with `+`, `/` or `=` (URL-encoded) that its
// parser refuses, old timestamps, phone-type UID2s.
import fc from 'fast-check';
import { fail, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { webhookAcknowledged, type WebhookCall } from '../../harness/engine/webhook.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { callWebhook, label, newUser, nowSeconds, randomRawUid, shape, Tokens, type Kind, type User } from './support.ts';

interface Answered {
  what: string;
  call: WebhookCall;
}

const DAY_S = 86_400;

function judge(answers: readonly Answered[]): void {
  const refused = answers.filter((a) => !webhookAcknowledged(a.call));
  if (refused.length === 0) return;
  const shown = refused.slice(0, 4).map((a) => `HTTP ${a.call.http} to ${a.what}`);
  fail(`the webhook did not acknowledge ${refused.length} of ${answers.length} opt-out calls (200 or 204 expected): ${shown.join('; ')}${refused.length > 4 ? '; …' : ''}`);
}

async function call(ctx: ParticipantCheckContext, uid: string, epochSeconds: number, what: string): Promise<Answered> {
  return { what, call: await callWebhook(ctx, uid, epochSeconds, what) };
}

/** Users the DSP has seen: a generated token bid on once (whatever the DSP made of it). */
async function makeKnown(ctx: ParticipantCheckContext, tokens: Tokens, users: readonly User[]): Promise<void> {
  for (const user of users) await ctx.driver.bid((await tokens.generate(user)).token);
}

export const webhookAckChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'dsp.webhook-ack.unknown-uid2s',
    rule: 'DSP-WEBHOOK-ACK',
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: "opt-outs of raw UID2s the DSP has never seen (email and phone, with '+', '/', the legacy '='-padded form, old timestamps, several at once) are acknowledged",
    async run(ctx) {
      const answers: Answered[] = [];
      const users = (
        [
          ['email', true],
          ['email', false],
          ['phone', true],
          ['phone', false],
        ] as Array<[Kind, boolean]>
      ).map(([kind, plus], i) => newUser(ctx, i + 1, kind, plus));
      for (const user of users) answers.push(await call(ctx, user.uid, nowSeconds(), `${label(user)}, never seen by the DSP`));
      const slash = randomRawUid(33, (uid) => uid.includes('/') && !uid.includes('+')).toString('base64');
      answers.push(await call(ctx, slash, nowSeconds(), "a raw UID2 with '/' never seen by the DSP"));
      const legacy = randomRawUid(32, (uid) => uid.includes('+')).toString('base64');
      answers.push(await call(ctx, legacy, nowSeconds(), "a legacy 32-byte raw UID2 ('=' padded, with '+') never seen by the DSP"));
      const old = newUser(ctx, 5, 'email', true);
      answers.push(await call(ctx, old.uid, nowSeconds() - 365 * DAY_S, `${label(old)}, never seen, opted out a year ago`));
      const together = [newUser(ctx, 6, 'email', true), newUser(ctx, 7, 'phone', false), newUser(ctx, 8, 'phone', true)];
      answers.push(...(await Promise.all(together.map((u) => call(ctx, u.uid, nowSeconds(), `${label(u)}, never seen, delivered concurrently with two others`)))));
      judge(answers);
      return `all ${answers.length} opt-outs of raw UID2s the DSP had never seen were acknowledged (email and phone types, '+', '/', '=' padding, a year-old timestamp, three at once)`;
    },
  },
  {
    id: 'dsp.webhook-ack.repeats',
    rule: 'DSP-WEBHOOK-ACK',
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: 'repeated opt-outs (a retry with the same timestamp, later and earlier timestamps, concurrent duplicates) of known and unknown UID2s are acknowledged',
    async run(ctx) {
      const tokens = new Tokens(ctx);
      const known = [newUser(ctx, 1, 'email', true), newUser(ctx, 2, 'phone', false)] as const;
      await makeKnown(ctx, tokens, known);
      const answers: Answered[] = [];
      const [k1, k2] = known;
      const t = nowSeconds();
      answers.push(await call(ctx, k1.uid, t, `${label(k1)}, bid on before: first call`));
      answers.push(await call(ctx, k1.uid, t, `${label(k1)}: the same call again (a retry)`));
      answers.push(await call(ctx, k1.uid, nowSeconds(), `${label(k1)}: again with a later or equal timestamp`));
      answers.push(await call(ctx, k1.uid, t - 60, `${label(k1)}: again with a timestamp a minute earlier`));
      answers.push(...(await Promise.all([1, 2].map((n) => call(ctx, k2.uid, t, `${label(k2)}, bid on before: identical call ${n} of 2 delivered at once`)))));
      const unknown = newUser(ctx, 3, 'email', true);
      answers.push(...(await Promise.all([1, 2, 3].map((n) => call(ctx, unknown.uid, t, `${label(unknown)}, never seen: identical call ${n} of 3 delivered at once`)))));
      answers.push(await call(ctx, unknown.uid, nowSeconds(), `${label(unknown)}, never seen: a fourth call`));
      judge(answers);
      return `all ${answers.length} calls were acknowledged: retries, later and earlier timestamps, and concurrent duplicates, for UID2s the DSP had bid on and one it had never seen`;
    },
  },
  {
    id: 'dsp.webhook-ack.sequences',
    rule: 'DSP-WEBHOOK-ACK',
    kind: 'property',
    needs: ['dsp', 'webhook'],
    title: 'generated sequences of webhook calls (known and unknown UID2s, repeats, old timestamps, concurrent deliveries) are all acknowledged',
    async run(ctx) {
      const tokens = new Tokens(ctx);
      let total = 0;
      const pool = fc.array(fc.record({ kind: fc.constantFrom<Kind>('email', 'phone'), plus: fc.boolean(), known: fc.boolean() }), { minLength: 1, maxLength: 4 });
      const arbitrary = pool.chain((users) =>
        fc.record({
          users: fc.constant(users),
          calls: fc.array(fc.record({ user: fc.nat({ max: users.length - 1 }), backS: fc.constantFrom(0, 1, 60, 30 * DAY_S), withPrevious: fc.boolean() }), { minLength: 1, maxLength: 8 }),
        }),
      );
      const message = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async ({ users: pool, calls }) => {
          const users = pool.map((u, i) => newUser(ctx, i + 1, u.kind, u.plus));
          await makeKnown(
            ctx,
            tokens,
            users.filter((_, i) => pool[i]!.known),
          );
          const groups: Array<typeof calls> = [];
          for (const c of calls) {
            if (c.withPrevious && groups.length > 0) groups.at(-1)!.push(c);
            else groups.push([c]);
          }
          const count = new Map<number, number>();
          const answers: Answered[] = [];
          let n = 0;
          for (const group of groups) {
            const planned = group.map((c) => {
              n += 1;
              const nth = (count.get(c.user) ?? 0) + 1;
              count.set(c.user, nth);
              const user = users[c.user]!;
              const what = `call ${n} (${label(user)}, ${pool[c.user]!.known ? 'bid on before' : 'never seen'}, its call ${nth}${group.length > 1 ? `, ${group.length} at once` : ''})`;
              return { user, seconds: nowSeconds() - c.backS, what };
            });
            answers.push(...(await Promise.all(planned.map((p) => call(ctx, p.user.uid, p.seconds, p.what)))));
          }
          total += answers.length;
          judge(answers);
        },
        ({ users, calls }) => {
          const who = users.map((u, i) => `user ${i + 1} ${u.kind} ${shape(u.plus)} ${u.known ? 'bid on before' : 'never seen'}`).join('; ');
          const seq = calls.map((c, i) => `${i > 0 && c.withPrevious ? '& ' : ''}call ${i + 1} → user ${c.user + 1}${c.backS ? ` (${c.backS} s back)` : ''}`).join(', ');
          return `${who}; ${seq}`;
        },
        { runs: Math.min(ctx.settings.runs, 6) },
      );
      return `${message}; ${total} webhook calls, every one acknowledged`;
    },
  },
];
