// DSP-STATUS-CHECK (SHOULD): the DSP also honors /v2/optout/status: a raw UID2 the operator lists there is not
// used for targeting, even when no webhook delivered its opt-out (RULES.md; the opt-out overview's table: DSPs
// learn opt-outs from the webhook and the status endpoint; a webhook call can be late or lost). The opt-outs
// here are registered at the kit's operator only (as the Transparency and Control Portal would) and the webhook
// is never called for them. The DSP may take `actWithinMs` to notice (a status cache is fine within it); then
// no token carrying the UID2 may be used, and it may not come back. Tokens keep arriving after the opt-out:
// the one issued before it while it lives, and tokens from an operator the opt-out has not reached yet
// (established before or after it). The situations a real implementation gets wrong: no status check at all,
// a "not opted out" answer cached for ever (users it bid on before their opt-out keep being used), the
// removed "established < opt-out time" rule applied to status answers, status asked only for new users.
import { fail, type Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { caseArbitrary, describeCase, describeStop, runCase, stopViolations, usesOfOptedIn, type Case, type Fate, type Member, type Trace } from './model.ts';
import { requireSomeUse, Tokens } from './support.ts';

const RULE = 'DSP-STATUS-CHECK';
const LISTED = 'opted out at the operator only (listed by /v2/optout/status, no webhook call)';

function member(kind: Member['kind'], plus: boolean, fate: Fate, seenBefore: boolean): Member {
  return { kind, plus, fate, seenBefore, establishedS: 0, repeat: false };
}

function judge(trace: Trace, actWithinMs: number): void {
  const violations = stopViolations(trace, 'operator', actWithinMs);
  if (violations.length === 0) return;
  const lines = violations.slice(0, 3).map((v) => describeStop(trace, v, LISTED, actWithinMs));
  fail(`${lines.join('. ')}${violations.length > 3 ? ` (and ${violations.length - 3} more)` : ''}`);
}

const listedUsers = (c: Case) => c.members.filter((m) => m.fate === 'operator').length;

async function scenario(ctx: ParticipantCheckContext, c: Case): Promise<Trace> {
  const trace = await runCase(ctx, new Tokens(ctx), c, 'operator');
  requireSomeUse(usesOfOptedIn(trace), RULE);
  judge(trace, ctx.settings.actWithinMs);
  return trace;
}

export const statusCheckChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'dsp.status-check.known-users',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp'],
    title: 'users the DSP bid on before, then opted out at the operator only: within the bound no token carrying their UID2 is used, and none is used again',
    async run(ctx) {
      const c: Case = { members: [member('email', true, 'operator', true), member('phone', false, 'operator', true), member('email', false, 'stays', true)], burst: false, order: 2 };
      const trace = await scenario(ctx, c);
      return `2 users the DSP had bid on stopped being used once the operator listed them (no webhook call), within ${trace.rounds} rounds, and stayed stopped`;
    },
  },
  {
    id: 'dsp.status-check.new-users-in-bursts',
    rule: RULE,
    kind: 'scenario',
    needs: ['dsp'],
    title: 'users opted out at the operator before the DSP ever saw them, bid in bursts with users who stay: no token carrying their UID2 is used',
    async run(ctx) {
      const c: Case = {
        members: [member('phone', true, 'operator', false), member('email', false, 'stays', true), member('email', true, 'operator', false), member('phone', false, 'stays', false)],
        burst: true,
        order: 4,
      };
      const trace = await scenario(ctx, c);
      return `2 users opted out at the operator before the DSP saw them were not used (bursts with users who stay), over ${trace.rounds} rounds`;
    },
  },
  {
    id: 'dsp.status-check.populations',
    rule: RULE,
    kind: 'property',
    needs: ['dsp'],
    title: "generated populations (operator-only opt-outs of users bid on before or not, webhook opt-outs, users who stay; with and without '+'), bid in generated orders and bursts: no UID2 the operator lists is used after the bound",
    async run(ctx) {
      const tokens = new Tokens(ctx);
      const fates: Fate[] = ctx.webhook ? ['stays', 'webhook', 'operator'] : ['stays', 'operator'];
      let uses = 0;
      let judged = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        caseArbitrary('operator', fates),
        async (c) => {
          const trace = await runCase(ctx, tokens, c, 'operator');
          uses += usesOfOptedIn(trace);
          judged += listedUsers(c);
          judge(trace, ctx.settings.actWithinMs);
        },
        describeCase,
        { runs: Math.min(ctx.settings.runs, 4), shrinkBudgetMs: Math.max(2000, ctx.settings.actWithinMs) },
      );
      requireSomeUse(uses, RULE);
      return `${message}; ${judged} users opted out at the operator only, none used after the bound`;
    },
  },
];
