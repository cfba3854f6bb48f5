// DSP-BID-OPTOUT: after the webhook delivers an opt-out for a raw UID2, the DSP does not use any token carrying
// that UID2 for targeting (RULES.md; UID2-SPEC §6.2: MUST NOT bid with a raw UID2 that has an opt-out record,
// whatever the token's established time). The opt-outs here go through the webhook only: the kit's operator
// knows nothing of them, so /v2/optout/status cannot hide a lost one. The DSP may take `actWithinMs` to act on
// a delivery; after that (and once it has stopped) no token carrying the UID2 may be used: the one the DSP saw
// before, a refresh of it, one generated after the opt-out. The chains those tokens belong to were established
// in the second of the webhook's opt-out time, whole seconds, hours or days before it (most tokens in
// production), or seconds after it. The situations a real implementation gets wrong: `+` in the raw UID2
// decoded as a space (about half of all UID2s), a comparison of established and opt-out times in place of "any
// record refuses": the removed "established < opt-out time" rule (a token established in the same second as
// the opt-out, or generated after it), the opposite (only tokens established after the opt-out: older chains
// pass), either with seconds taken for milliseconds; an opt-out delivered before the DSP ever saw the UID2
// (stored only for known users), repeats that move the stored time, the legacy `=`-padded 32-byte form.
import { fail, notApplicable, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { caseArbitrary, describeCase, describeStop, runCase, stopViolations, usesOfOptedIn, type Case, type Member, type Trace } from './model.ts';
import { deliver, fire, newUser, nowSeconds, pause, randomRawUid, requireSomeUse, seconds, Tokens, type BidItem } from './support.ts';

const RULE = 'DSP-BID-OPTOUT';

function judge(trace: Trace, actWithinMs: number): void {
  const violations = stopViolations(trace, 'webhook', actWithinMs);
  if (violations.length === 0) return;
  const lines = violations.slice(0, 3).map((v) => {
    const answers = trace.optouts.get(v.member)!.answers!;
    return describeStop(trace, v, `the webhook delivered its opt-out (answered HTTP ${answers.join(', then ')})`, actWithinMs);
  });
  fail(`${lines.join('. ')}${violations.length > 3 ? ` (and ${violations.length - 3} more)` : ''}`);
}

const webhookUsers = (c: Case) => c.members.filter((m) => m.fate === 'webhook');

function member(kind: Member['kind'], plus: boolean, fate: Member['fate'], seenBefore: boolean, establishedS = 0, repeat = false): Member {
  return { kind, plus, fate, seenBefore, establishedS, repeat };
}

async function scenario(ctx: ParticipantCheckContext, c: Case, summary: string): Promise<string> {
  const trace = await runCase(ctx, new Tokens(ctx), c, 'webhook');
  requireSomeUse(usesOfOptedIn(trace), RULE);
  judge(trace, ctx.settings.actWithinMs);
  return `${webhookUsers(c).length} users ${summary}: once the webhook delivered their opt-out, no token carrying their UID2 was used (the one bid before, refreshes, tokens generated after the opt-out), over ${trace.rounds} rounds`;
}

export const bidOptoutChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'dsp.bid-optout.known-users',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: "users the DSP bid on (email and phone, raw UID2 with and without '+'), opted out by webhook with an opt-out time in the second their chain was established: no token carrying their UID2 is used afterwards",
    run(ctx) {
      const c: Case = {
        members: [member('email', true, 'webhook', true), member('phone', false, 'webhook', true), member('email', false, 'stays', true), member('phone', true, 'webhook', true), member('email', false, 'webhook', true)],
        burst: true,
        order: 11,
      };
      return scenario(ctx, c, "bid on before, opted out by webhook with an opt-out time in the second their chain was established (with and without '+')");
    },
  },
  {
    id: 'dsp.bid-optout.before-first-bid',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: 'opt-outs delivered before the DSP ever saw the UID2, timestamped seconds before the tokens were established (some delivered twice): no token carrying the UID2 is used',
    run(ctx) {
      const c: Case = {
        members: [member('phone', true, 'webhook', false, -3, true), member('email', true, 'webhook', false, -1), member('email', false, 'stays', true), member('email', false, 'webhook', false, -3), member('phone', false, 'webhook', false, -1, true)],
        burst: false,
        order: 5,
      };
      return scenario(ctx, c, 'the DSP had never bid on, opted out by webhook with a timestamp 1–3 s before their tokens were established');
    },
  },
  {
    id: 'dsp.bid-optout.older-chains',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: 'users whose refresh chains were established whole seconds, hours and days before the webhook\'s opt-out time (bid on before or not), and one in its second: no token carrying their UID2 is used afterwards',
    run(ctx) {
      const c: Case = {
        members: [
          member('email', true, 'webhook', true, 3 * 3600),
          member('phone', false, 'webhook', false, 2 * 86_400),
          member('email', false, 'stays', true, 3 * 3600),
          member('phone', true, 'webhook', true, 2),
          member('email', false, 'webhook', false, 1),
          member('email', true, 'webhook', true, 0),
        ],
        burst: false,
        order: 13,
      };
      return scenario(ctx, c, 'with chains established 3 h, 2 days, 2 s and 1 s before the opt-out time and in its second');
    },
  },
  {
    id: 'dsp.bid-optout.legacy-form',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp', 'webhook'],
    title: "legacy 32-byte raw UID2s ('=' padding, with '+' and '/') opted out by webhook are not used afterwards",
    async run(ctx) {
      const tokens = new Tokens(ctx);
      const carrier = newUser(ctx, 1, 'email');
      const template = await tokens.generate(carrier);
      const raws = [randomRawUid(32, (u) => u.includes('+')), randomRawUid(32, (u) => u.includes('/') && !u.includes('+'))];
      const what = ["legacy raw UID2 1 (with '+')", "legacy raw UID2 2 (with '/', without '+')"];
      const mint = (): BidItem[] => raws.map((rawUid, member) => ({ member, variant: 'minted', issued: tokens.mint(template, { rawUid }) }));
      const before = await fire(ctx, [...mint(), { member: -1, variant: 'control', issued: template }], 0, true);
      const usedBefore = before.filter((b) => b.used);
      requireSomeUse(usedBefore.length, RULE);
      const judged = raws.map((_, i) => i).filter((i) => before.some((b) => b.member === i && b.used));
      if (judged.length === 0) notApplicable('the DSP did not use tokens carrying a legacy 32-byte raw UID2 even before any opt-out: there is nothing an opt-out could change');
      const acks = new Map<number, number>();
      for (const i of judged) acks.set(i, (await deliver(ctx, raws[i]!.toString('base64'), nowSeconds(), what[i]!)).ackMs);
      const stoppedAt = new Map<number, number>();
      const bound = Math.max(...acks.values()) + ctx.settings.actWithinMs;
      for (let round = 1; ; round++) {
        const items: BidItem[] = mint().filter((item) => judged.includes(item.member));
        const records = await fire(ctx, items, round, true);
        for (const r of records) {
          const stopped = stoppedAt.get(r.member);
          if (r.used && stopped !== undefined) fail(`${what[r.member]}: the DSP stopped using it after the webhook delivered its opt-out, then used it again ${seconds(r.sentMs - acks.get(r.member)!)} after the delivery`);
          if (!r.used && stopped === undefined) stoppedAt.set(r.member, round);
        }
        if (stoppedAt.size === judged.length && round > Math.max(...stoppedAt.values())) break;
        if (Date.now() > bound) {
          const still = judged.filter((i) => !stoppedAt.has(i)).map((i) => what[i]);
          if (still.length > 0) fail(`${still.join(' and ')}: the webhook delivered the opt-out, yet the DSP still used tokens carrying it ${seconds(Date.now() - Math.min(...acks.values()))} later, past the ${seconds(ctx.settings.actWithinMs)} bound`);
          break;
        }
        await pause(ctx.settings.pollIntervalMs);
      }
      return `${judged.length} legacy 32-byte raw UID2s ('=' padded) were used before and not after the webhook delivered their opt-out`;
    },
  },
  {
    id: 'dsp.bid-optout.populations',
    rule: RULE,
    kind: 'property',
    needs: ['dsp', 'webhook'],
    title: 'generated populations (webhook opt-outs with and without \'+\', chains established days, hours or seconds before the opt-out time, in its second or after it, some delivered twice; operator-only opt-outs; users who stay), bid in generated orders and bursts: no webhook-opted-out UID2 is used',
    async run(ctx) {
      const tokens = new Tokens(ctx);
      let uses = 0;
      let judged = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        caseArbitrary('webhook', ['stays', 'webhook', 'operator']),
        async (c) => {
          const trace = await runCase(ctx, tokens, c, 'webhook');
          uses += usesOfOptedIn(trace);
          judged += webhookUsers(c).length;
          judge(trace, ctx.settings.actWithinMs);
        },
        describeCase,
        { runs: Math.min(ctx.settings.runs, 5), shrinkBudgetMs: Math.max(2000, ctx.settings.actWithinMs) },
      );
      requireSomeUse(uses, RULE);
      return `${message}; ${judged} users opted out by webhook, none used afterwards`;
    },
  },
];
