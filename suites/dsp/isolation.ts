// DSP-BID-ISOLATION: the DSP keeps using UID2s that did not opt out (RULES.md; UID2-SPEC §6.2), and a DSP that
// uses no UID2 at all does not pass by accident: every bid for a user who had not opted out, with a live
// token, must be used. The situations a real implementation gets wrong: a status answer read for a whole batch
// (users bid in the same burst as an opted-out one lose their targeting), a global "latest opt-out time"
// compared with every token's established time, opt-out keys compared loosely (a case-insensitive collation,
// a truncated column: another user's UID2 that looks alike), phone-type tokens or refreshed tokens refused, an
// expiry check off by a unit (every token looks expired).
import { fail, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { caseArbitrary, describeCase, isolationViolations, runCase, PLAIN_VARIANT_TEXT, type Case, type Fate, type Member, type Trace, type Variant } from './model.ts';
import { deliver, fire, label, listUsers, newUser, nowSeconds, pause, Tokens, type BidItem, type BidRecord } from './support.ts';

function member(kind: Member['kind'], plus: boolean, fate: Fate, seenBefore: boolean, establishedS = 0): Member {
  return { kind, plus, fate, seenBefore, establishedS, repeat: false };
}

/** What had happened to the others when a bid was made, for the messages. */
function setting(trace: Trace, record: BidRecord<Variant>): string {
  if (record.round === 0) return 'before anyone opted out';
  const out = (fate: Fate) => trace.users.filter((_, i) => trace.case.members[i]!.fate === fate);
  const parts = [
    out('webhook').length > 0 ? `${listUsers(out('webhook'))} opted out by webhook` : '',
    out('operator').length > 0 ? `${listUsers(out('operator'))} opted out at the operator` : '',
  ].filter(Boolean);
  return `in round ${record.round} (${trace.case.burst ? 'a burst of concurrent bids' : 'bids one at a time'}), after ${parts.join(' and ') || 'nothing changed'}`;
}

function judge(trace: Trace): void {
  const missed = isolationViolations(trace);
  if (missed.length === 0) return;
  const users = [...new Set(missed.map((b) => b.member))];
  const first = missed[0]!;
  const who = label(trace.users[first.member]!);
  const stays = trace.case.members[first.member]!.fate === 'stays' ? 'who never opted out' : 'who had not opted out yet';
  fail(
    `${who}, ${stays}: the DSP did not use its UID2 with ${PLAIN_VARIANT_TEXT[first.variant]} ${setting(trace, first)}` +
      `${missed.length > 1 ? ` (${missed.length} such bids in all, for ${users.length} user${users.length === 1 ? '' : 's'})` : ''}`,
  );
}

async function scenario(ctx: ParticipantCheckContext, c: Case): Promise<Trace> {
  const trace = await runCase(ctx, new Tokens(ctx), c, 'stays');
  judge(trace);
  return trace;
}

const judgedBids = (trace: Trace) => trace.bids.filter((b) => trace.case.members[b.member]!.fate === 'stays' || b.round === 0).length;

/** The raw UID2 with the letters' case swapped from the 5th character on (the type byte stays). */
function caseSwapped(uid: string): Buffer {
  const swapped = uid.slice(0, 4) + [...uid.slice(4)].map((ch) => (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase())).join('');
  return Buffer.from(swapped, 'base64');
}

/** The raw UID2's first 24 bytes (32 base64 characters) with the rest changed. */
function samePrefix(uid: string): Buffer {
  const bytes = Buffer.from(uid, 'base64');
  for (let i = 24; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0x5a;
  return bytes;
}

export const isolationChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'dsp.bid-isolation.users-who-stay',
    rule: 'DSP-BID-ISOLATION',
    kind: 'scenario',
    needs: ['dsp'],
    title: "users who never opt out (email and phone, raw UID2 with and without '+', chains new or established hours and days ago): generated, refreshed and re-generated tokens are all used",
    async run(ctx) {
      const c: Case = {
        members: [member('email', true, 'stays', true), member('phone', false, 'stays', false, 3 * 3600), member('phone', true, 'stays', true, 2 * 86_400), member('email', false, 'stays', false)],
        burst: false,
        order: 3,
      };
      const trace = await scenario(ctx, c);
      return `every one of ${judgedBids(trace)} bids for 4 users who never opted out used the UID2 (generated, refreshed and re-generated tokens, email and phone, chains new and hours or days old)`;
    },
  },
  {
    id: 'dsp.bid-isolation.bursts-with-operator-optouts',
    rule: 'DSP-BID-ISOLATION',
    kind: 'scenario',
    needs: ['dsp'],
    title: 'users who stay, bid in the same bursts as users opted out at the operator (known and new to the DSP), are still used',
    async run(ctx) {
      const c: Case = {
        members: [
          member('email', true, 'stays', false),
          member('email', false, 'operator', true),
          member('phone', false, 'stays', false),
          member('phone', true, 'operator', false),
          member('email', false, 'stays', true),
          member('email', true, 'stays', false),
        ],
        burst: true,
        order: 9,
      };
      const trace = await scenario(ctx, c);
      return `every one of ${judgedBids(trace)} bids for users who had not opted out was used, also in bursts with 2 users listed by /v2/optout/status`;
    },
  },
  {
    id: 'dsp.bid-isolation.webhook-neighbours',
    rule: 'DSP-BID-ISOLATION',
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: 'webhook opt-outs affect only their own UID2: not users whose tokens were established earlier, not UID2s that differ only in letter case or share a long prefix',
    async run(ctx) {
      const tokens = new Tokens(ctx);
      const out = [newUser(ctx, 1, 'email', true), newUser(ctx, 2, 'phone', false)];
      const stay = [newUser(ctx, 3, 'email', true), newUser(ctx, 4, 'phone', false), newUser(ctx, 5, 'email', false)];
      const outTokens = await Promise.all(out.map((u) => tokens.generate(u)));
      const stayTokens = await Promise.all(stay.map((u) => tokens.generate(u)));
      for (const user of out) await deliver(ctx, user.uid, nowSeconds(), label(user));
      const lookalikes = [
        { what: `a UID2 equal to that of ${label(out[0]!)} but for the letters' case`, rawUid: caseSwapped(out[0]!.uid), template: outTokens[0]! },
        { what: `a UID2 sharing its first 24 bytes with that of ${label(out[0]!)}`, rawUid: samePrefix(out[0]!.uid), template: outTokens[0]! },
        { what: `a UID2 equal to that of ${label(out[1]!)} but for the letters' case`, rawUid: caseSwapped(out[1]!.uid), template: outTokens[1]! },
      ];
      type Item = BidItem & { what: string; judged: boolean };
      const items = async (): Promise<Item[]> => {
        const fresh = await Promise.all(stay.map((u) => tokens.generate(u)));
        return [
          // A refresh chain that started a minute before the opt-outs: established well before their timestamp.
          ...stay.map((u, i) => ({ member: i, variant: 'older', issued: tokens.mint(stayTokens[i]!, { establishedMs: Date.now() - 60_000 }), what: `${label(u)} with a token established a minute before the opt-outs`, judged: true })),
          ...stay.map((u, i) => ({ member: i, variant: 'new', issued: fresh[i]!, what: `${label(u)} with a token generated after the opt-outs`, judged: true })),
          ...lookalikes.map((l, i) => ({ member: 10 + i, variant: 'lookalike', issued: tokens.mint(l.template, { rawUid: l.rawUid }), what: `${l.what} (a user who did not opt out)`, judged: true })),
          ...out.map((u, i) => ({ member: 20 + i, variant: 'out', issued: outTokens[i]!, what: label(u), judged: false })),
        ];
      };
      let count = 0;
      for (const [round, burst] of [true, false].entries()) {
        const planned = await items();
        const records = await fire(ctx, planned, round + 1, burst);
        records.forEach((r, k) => {
          const item = planned[k]!;
          if (!item.judged || r.used) return;
          fail(`${item.what}: not used ${burst ? 'in a burst with the opted-out users' : 'in bids one at a time'}, after the webhook delivered the opt-outs of ${listUsers(out)} only`);
        });
        count += planned.filter((p) => p.judged).length;
        await pause(ctx.settings.pollIntervalMs);
      }
      return `${count} bids for users who did not opt out were used after the webhook opt-outs of 2 others: older tokens, new tokens, and UID2s that differ from an opted-out one only in letter case or after a shared 24-byte prefix`;
    },
  },
  {
    id: 'dsp.bid-isolation.populations',
    rule: 'DSP-BID-ISOLATION',
    kind: 'property',
    needs: ['dsp'],
    title: 'generated populations (users who stay, webhook and operator-only opt-outs, with and without \'+\'), bid in generated orders and bursts: every user who had not opted out is used',
    async run(ctx) {
      const tokens = new Tokens(ctx);
      const fates: Fate[] = ctx.webhook ? ['stays', 'webhook', 'operator'] : ['stays', 'operator'];
      if (!ctx.webhook) ctx.note('no webhook: the generated populations opt out at the operator only');
      let bids = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        caseArbitrary('stays', fates),
        async (c) => {
          const trace = await runCase(ctx, tokens, c, 'stays');
          bids += judgedBids(trace);
          judge(trace);
        },
        describeCase,
        { runs: Math.min(ctx.settings.runs, 5) },
      );
      return `${message}; ${bids} bids for users who had not opted out, every one used`;
    },
  },
];
