// OP-PROPAGATION: once acknowledged, an opt-out is reported within the declared bound, and from then on the
// DII never reads as opted in again (RULES.md; UID2-SPEC §5.2). Before it settled, answers may disagree (a
// fleet's instances sync on their own timers): that is measured, not judged. The run registered every
// opt-out at once and waited until each settled (harness/engine/population.ts); these checks judge those
// figures and watch one settled opt-out for a regression, also after the opt-out service delivers it again.
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import { consistently } from '../../harness/engine/eventually.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { bodyOf, expectEventually, isOptoutAnswer } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

interface Reading {
  generate: Exchange;
  /** The one entry of a one-entry v3 map answer, if any. */
  mapped: { e?: string; u?: string } | undefined;
  mapHttp: number;
}

/** One reading of the subject on generate and on a one-entry v3 map. */
async function reading(ctx: CheckContext, subject: Subject): Promise<Reading> {
  const [generate, map] = await Promise.all([
    ctx.api.generate({ [subject.kind]: subject.dii, optout_check: 1 } as never),
    ctx.api.mapV3({ [subject.kind]: [subject.dii] }),
  ]);
  return { generate, mapped: (bodyOf(map)[subject.kind] as Reading['mapped'][] | undefined)?.[0], mapHttp: map.http };
}

const readsOptedOut = (r: Reading) => isOptoutAnswer(r.generate) && r.mapped?.e === 'optout';

function describeReading(r: Reading): string {
  const gen = isOptoutAnswer(r.generate) ? 'optout' : `HTTP ${r.generate.http} ${quoteTarget((r.generate.body as { status?: unknown } | undefined)?.status)}`;
  const map = r.mapped?.e === 'optout' ? 'optout' : r.mapped?.u ? 'mapped' : `HTTP ${r.mapHttp}`;
  return `generate ${gen}, v3 map ${map}`;
}

export const propagationChecks: Check[] = [
  {
    id: 'propagation.within-bound',
    rule: 'OP-PROPAGATION',
    kind: 'scenario',
    needs: ['optout', 'synthetic'],
    title: 'every opt-out registered by the run was reported within --propagation-timeout of its acknowledgement, and still reported when it settled or the bound passed',
    async run(ctx) {
      const figures = ctx.population.figures;
      if (figures.registered === 0) undecided('no opt-out could be registered (see OP-LOGOUT)');
      const bound = ctx.settings.propagationTimeoutMs;
      const { late, proven } = ctx.oracle.lateness(bound);
      if (figures.visible < figures.registered) fail(`${figures.registered - figures.visible} of ${figures.registered} opt-outs were still not reported ${bound} ms after their acknowledgement`);
      if (proven > 0) fail(`${proven} of ${figures.registered} opt-outs took longer than ${bound} ms to be reported`);
      // Only a poll sent after the bound that still finds the person opted in proves lateness; a poll that
      // itself came late (slow answers, retries through a flaky gateway) proves nothing either way.
      if (late > 0) undecided(`${late} of ${figures.registered} opt-outs were first seen after the ${bound} ms bound, but no poll sent after it found them missing: the kit's own polls came late, so it cannot tell`);
      const l = figures.latencyMs!;
      const disagreements = Object.entries(figures.disagreements).map(([endpoint, d]) => `${endpoint} ${d.answers} answers over up to ${d.longestMs} ms`);
      const settled = figures.settleMs > 0 ? `; ${figures.settled} settled (reported for the ${figures.settleMs} ms settle window without a flip)` : '';
      return `${figures.registered} opt-outs reported within the ${bound} ms bound; measured latency ${l.min}–${l.max} ms (median ${l.median})${settled}; disagreements before settling: ${disagreements.length ? disagreements.join(', ') : 'none'}`;
    },
  },
  {
    id: 'propagation.no-regression',
    rule: 'OP-PROPAGATION',
    kind: 'scenario',
    needs: ['optout', 'synthetic'],
    title: 'a visible opt-out never reads as opted in again, also after the opt-out service delivers it a second time',
    async run(ctx) {
      const subject = ctx.population.get('watch')[0];
      if (!subject || !ctx.oracle.registration(subject.person)) undecided('the watched opt-out could not be registered (see OP-LOGOUT)');
      await expectEventually(ctx, subject!, () => ctx.api.generate({ [subject!.kind]: subject!.dii, optout_check: 1 } as never), isOptoutAnswer, `generate for ${subject!.label}`);
      const watch = { forMs: ctx.settings.watchMs, pollMs: ctx.settings.pollIntervalMs };
      const before = await consistently(() => reading(ctx, subject!), readsOptedOut, watch);
      if (before.broken) fail(`${subject!.label} read as opted in again while watched: ${describeReading(before.broken)}`);
      // The opt-out pipeline delivers at least once: a second delivery must not reopen the DII (UID2-SPEC §5.2).
      await ctx.optoutApi!.logout({ [subject!.kind]: subject!.dii } as never);
      const after = await consistently(() => reading(ctx, subject!), readsOptedOut, watch);
      if (after.broken) fail(`${subject!.label} read as opted in again after the opt-out was delivered a second time: ${describeReading(after.broken)}`);
      return `${subject!.label} stayed opted out on generate and v3 map for ${before.attempts + after.attempts} readings over ${2 * ctx.settings.watchMs} ms, across a second delivery`;
    },
  },
];
