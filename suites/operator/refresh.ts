// OP-REFRESH-OPTOUT, OP-REFRESH-CHAIN-END: POST /v2/token/refresh for tokens issued before the opt-out
// (RULES.md; UID2-SPEC §1.2, §5.1). The refresh tokens come from the population: issued while everyone was
// opted in, never refreshed before (the chain's A once, which is what OP-REFRESH-CHAIN-END is about).
// Only OP-REFRESH-OPTOUT relies on an unauthenticated refresh answering optout; only OP-REFRESH-CHAIN-END
// presents a token that once got new tokens.
import fc from 'fast-check';
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { IssuedIdentity, Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { expectEventually, isOptoutAnswer, opened, seenAs, statusOf } from './support.ts';

/**
 * The subjects whose pre-opt-out refresh token must answer optout: the opted-out persons of the run, or,
 * without OPTOUT credentials (only test identities stand in for them, and they have no tokens), the
 * documented refresh-optout identities.
 */
function refreshSubjects(ctx: CheckContext): Array<Subject & { issued: IssuedIdentity }> {
  const now = Date.now();
  const withTokens = (s: Subject): s is Subject & { issued: IssuedIdentity } => s.issued !== undefined && ctx.oracle.expect(s.person, 'refresh', now) !== 'in';
  const optedOut = ctx.population.get('optedOut').filter((s) => !s.test).filter(withTokens);
  if (optedOut.length > 0) return optedOut;
  const registered = ctx.population.get('optedOut').some((s) => !s.test);
  const fallback = registered ? [] : ctx.population.get('refreshTest').filter(withTokens);
  if (fallback.length === 0) undecided('no refresh token issued before an opt-out is available (tokens could not be issued, or the opt-outs not registered: see OP-LOGOUT)');
  return fallback;
}

const how = (authenticated: boolean) => (authenticated ? 'with an API key' : 'without an API key');

/** One refresh of the subject's pre-opt-out token: optout (within the bound), bare, under its response key. */
async function expectRefreshOptout(ctx: CheckContext, subject: Subject & { issued: IssuedIdentity }, authenticated: boolean): Promise<void> {
  const what = `refresh of ${subject.label}'s pre-opt-out token ${how(authenticated)}`;
  const x = await expectEventually(ctx, subject, () => ctx.api.refresh(subject.issued.refresh_token, subject.issued.refresh_response_key, { authenticated }), isOptoutAnswer, what);
  const answer = opened(x, what);
  if ('body' in answer) fail(`${what}: the optout answer carries a body (expected exactly {"status":"optout"})`);
}

/** Whether a refresh answer hands out tokens (or claims success, which is the same thing without them). */
function yieldsTokens(x: Exchange, what: string): boolean {
  if (x.http === 200 && x.envelopeError) undecided(`${what}: the 200 answer did not open under the token's refresh_response_key (${x.envelopeError.reason}), so whether it carried tokens is unknown`);
  return x.http === 200 && statusOf(x) === 'success';
}

/** The chain A → B of the run, after B answered optout (the end of the chain). */
async function endedChain(ctx: CheckContext): Promise<{ subject: Subject; a: IssuedIdentity; b: IssuedIdentity }> {
  const subject = ctx.population.get('chain')[0];
  const [a, b] = subject?.chain ?? [];
  if (!subject || !a || !b) undecided('no refresh chain A → B could be issued before the opt-out');
  if (!ctx.oracle.registration(subject!.person)) undecided(`the opt-out of ${subject!.label} could not be registered (see OP-LOGOUT)`);
  await expectEventually(
    ctx,
    subject!,
    () => ctx.api.refresh(b!.refresh_token, b!.refresh_response_key, { authenticated: true }),
    isOptoutAnswer,
    `refresh of ${subject!.label}'s token B with an API key`,
  );
  return { subject: subject!, a: a!, b: b! };
}

/** Presents one token of the ended chain again; it must never yield tokens. */
async function presentAgain(ctx: CheckContext, label: string, name: 'A' | 'B', token: IssuedIdentity, round: number): Promise<void> {
  const what = `${label}'s token ${name} presented again (presentation ${round}) after the chain answered optout`;
  const x = await ctx.api.refresh(token.refresh_token, token.refresh_response_key, { authenticated: true });
  if (yieldsTokens(x, what)) fail(`${what}: ${seenAs(x)}`);
}

export const refreshChecks: Check[] = [
  {
    id: 'refresh.optout.pre-optout-tokens',
    rule: 'OP-REFRESH-OPTOUT',
    kind: 'scenario',
    needs: [],
    title: 'refresh of a token issued before the opt-out answers a bare optout under its refresh_response_key, without and with an API key',
    async run(ctx) {
      const subjects = refreshSubjects(ctx);
      for (const subject of subjects) {
        // Without a key first: the token has never been presented (the unauthenticated path is the one at risk).
        await expectRefreshOptout(ctx, subject, false);
        await expectRefreshOptout(ctx, subject, true);
      }
      return `the refresh tokens of ${subjects.length} opted-out subjects (${subjects.map((s) => s.label).join(', ')}), issued before the opt-out, each answered optout without and with an API key`;
    },
  },
  {
    id: 'refresh.optout.property',
    rule: 'OP-REFRESH-OPTOUT',
    kind: 'property',
    needs: [],
    title: 'refresh answers optout for any opted-out subject’s pre-opt-out token, with or without an API key',
    async run(ctx) {
      const subjects = refreshSubjects(ctx);
      const arbitrary = fc.record({ index: fc.nat({ max: subjects.length - 1 }), authenticated: fc.boolean() });
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        ({ index, authenticated }) => expectRefreshOptout(ctx, subjects[index]!, authenticated),
        ({ index, authenticated }) => `${subjects[index]!.label} ${how(authenticated)}`,
      );
    },
  },
  {
    id: 'refresh.chain-end.re-present',
    rule: 'OP-REFRESH-CHAIN-END',
    kind: 'scenario',
    needs: ['optout'],
    title: 'once B of the chain A → B answered optout, neither A nor B ever yields tokens again, however often presented',
    async run(ctx) {
      const { subject, a, b } = await endedChain(ctx);
      const rounds = 3;
      for (let round = 1; round <= rounds; round++) {
        await presentAgain(ctx, subject.label, 'A', a, round);
        await presentAgain(ctx, subject.label, 'B', b, round);
      }
      return `after ${subject.label}'s chain answered optout, ${2 * rounds} further refreshes of A and B yielded no tokens`;
    },
  },
  {
    id: 'refresh.chain-end.sequence',
    rule: 'OP-REFRESH-CHAIN-END',
    kind: 'property',
    needs: ['optout'],
    title: 'any sequence of re-presentations of A and B after the chain ended yields no tokens',
    async run(ctx) {
      const { subject, a, b } = await endedChain(ctx);
      const arbitrary = fc.array(fc.constantFrom<'A' | 'B'>('A', 'B'), { minLength: 1, maxLength: 4 });
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async (sequence) => {
          for (const [i, name] of sequence.entries()) await presentAgain(ctx, subject.label, name, name === 'A' ? a : b, i + 1);
        },
        (sequence) => `${subject.label}: ${sequence.join(' ')}`,
      );
    },
  },
];
