// OP-REFRESH-OPTOUT, OP-REFRESH-CHAIN-END: POST /v2/token/refresh for tokens issued before the opt-out
// (RULES.md; UID2-SPEC §1.2, §5.1). The refresh tokens come from the population: issued while everyone was
// opted in, never refreshed before (the chain's A once, which is what OP-REFRESH-CHAIN-END is about).
// Only OP-REFRESH-OPTOUT relies on an unauthenticated refresh answering optout; only OP-REFRESH-CHAIN-END
// presents a token that once got new tokens. The operator checks expiry before opt-out (§1.2): a token past
// its refresh_expires says nothing about opt-out, so it is never judged; when the run's tokens have all
// expired (short lifetimes), a person is issued tokens and opted out afresh.
import fc from 'fast-check';
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { IssuedIdentity, Subject } from '../../harness/engine/population.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { SyntheticIdentities } from '../../harness/engine/synthetic.ts';
import { bodyOf, isExpiryAnswer, isOptoutAnswer, isTokenAnswer, opened, seenAs, statusOf, whilePending } from './support.ts';

type WithTokens = Subject & { issued: IssuedIdentity; chain?: IssuedIdentity[] };

/**
 * The subjects whose pre-opt-out refresh token must answer optout: the opted-out persons of the run, or,
 * without OPTOUT credentials (only test identities stand in for them, and they have no tokens), the
 * documented refresh-optout identities. Tokens already past refresh_expires are left out; when none is left,
 * one subject with fresh tokens.
 */
async function refreshSubjects(ctx: CheckContext): Promise<WithTokens[]> {
  const now = Date.now();
  const withTokens = (s: Subject): s is WithTokens => s.issued !== undefined && ctx.oracle.expect(s.person, 'refresh', now) !== 'in';
  const optedOut = ctx.population.get('optedOut').filter((s) => !s.test).filter(withTokens);
  const registered = ctx.population.get('optedOut').some((s) => !s.test);
  const candidates = optedOut.length > 0 ? optedOut : registered ? [] : ctx.population.get('refreshTest').filter(withTokens);
  if (candidates.length === 0) undecided('no refresh token issued before an opt-out is available (tokens could not be issued, or the opt-outs not registered: see OP-LOGOUT)');
  const usable = candidates.filter((s) => now < s.issued.refresh_expires);
  if (usable.length < candidates.length) ctx.note(`${candidates.length - usable.length} of ${candidates.length} refresh tokens are past refresh_expires (expiry comes before opt-out, UID2-SPEC §1.2): not judged`);
  return usable.length > 0 ? usable : [await freshSubject(ctx, candidates[0]!)];
}

/**
 * Like `like`, with tokens issued now: a test identity generates again; otherwise a new person is issued
 * tokens (and, for a chain, refreshes once) and is opted out right after.
 */
async function freshSubject(ctx: CheckContext, like: Subject, options: { chain?: boolean } = {}): Promise<WithTokens> {
  const issue = async (subject: Subject): Promise<IssuedIdentity> => {
    const x = await ctx.api.generate({ [subject.kind]: subject.dii, optout_check: 1 } as never);
    if (!isTokenAnswer(x)) undecided(`the run's refresh tokens expired and fresh ones for ${subject.label} could not be issued (${seenAs(x)})`);
    return bodyOf(x) as unknown as IssuedIdentity;
  };
  if (like.test) return { ...like, issued: await issue(like) };
  if (!ctx.optoutApi) undecided(`the run's refresh tokens expired, and without OPTOUT credentials no person can be opted out afresh`);
  const dii = new SyntheticIdentities().email();
  const subject: Subject = { label: `${like.label}-fresh`, kind: 'email', dii, person: ctx.oracle.person('email', dii)! };
  const issued = await issue(subject);
  let chain: IssuedIdentity[] | undefined;
  if (options.chain) {
    const next = await ctx.api.refresh(issued.refresh_token, issued.refresh_response_key, { authenticated: true });
    if (!isTokenAnswer(next)) undecided(`the fresh chain of ${subject.label} could not be refreshed before its opt-out (${seenAs(next)})`);
    chain = [issued, bodyOf(next) as unknown as IssuedIdentity];
  }
  const sentMs = Date.now();
  const ack = await ctx.optoutApi!.logout({ email: dii });
  if (ack.http !== 200 || statusOf(ack) !== 'success') undecided(`the opt-out of ${subject.label} could not be registered (${seenAs(ack)}; see OP-LOGOUT)`);
  ctx.oracle.registerOptOut(subject.person, sentMs, Date.now());
  ctx.note(`the run's refresh tokens were past refresh_expires: judged on ${subject.label}, issued tokens and opted out just now`);
  return { ...subject, issued, ...(chain ? { chain } : {}) };
}

const how = (authenticated: boolean) => (authenticated ? 'with an API key' : 'without an API key');

/**
 * Refreshes `issued` until the answer is optout, within the subject's propagation bound; undefined when the
 * token expired first (noted, never a verdict).
 */
async function refreshUntilOptout(ctx: CheckContext, subject: Subject, issued: IssuedIdentity, authenticated: boolean, what: string): Promise<Exchange | undefined> {
  const refresh = () => ctx.api.refresh(issued.refresh_token, issued.refresh_response_key, { authenticated });
  const polled = await whilePending(ctx, subject, refresh, isOptoutAnswer, () => 'refresh', (x) => isExpiryAnswer(x, issued));
  if (polled.setAside) {
    ctx.note(`${what}: ${seenAs(polled.last)} at refresh_expires (expiry comes before opt-out, UID2-SPEC §1.2): not judged`);
    return undefined;
  }
  if (!polled.reported) fail(`${what}: still ${seenAs(polled.last)}${ctx.oracle.registration(subject.person) ? ' after the opt-out had settled' : ''}`);
  return polled.last;
}

/** One refresh of the subject's pre-opt-out token: optout (within the bound), bare, under its response key; false when it expired first. */
async function expectRefreshOptout(ctx: CheckContext, subject: WithTokens, authenticated: boolean): Promise<boolean> {
  const what = `refresh of ${subject.label}'s pre-opt-out token ${how(authenticated)}`;
  const x = await refreshUntilOptout(ctx, subject, subject.issued, authenticated, what);
  if (!x) return false;
  const answer = opened(x, what);
  if ('body' in answer) fail(`${what}: the optout answer carries a body (expected exactly {"status":"optout"})`);
  return true;
}

/** Whether a refresh answer hands out tokens (or claims success, which is the same thing without them). */
function yieldsTokens(x: Exchange, what: string): boolean {
  if (x.http === 200 && x.envelopeError) undecided(`${what}: the 200 answer did not open under the token's refresh_response_key (${x.envelopeError.reason}), so whether it carried tokens is unknown`);
  return x.http === 200 && statusOf(x) === 'success';
}

/** The chain A → B of the run (or a fresh one, once the run's has expired), after B answered optout (the end of the chain). */
async function endedChain(ctx: CheckContext): Promise<{ subject: Subject; a: IssuedIdentity; b: IssuedIdentity }> {
  const subject = ctx.population.get('chain')[0];
  const [a, b] = subject?.chain ?? [];
  if (!subject || !a || !b) undecided('no refresh chain A → B could be issued before the opt-out');
  if (!ctx.oracle.registration(subject!.person)) undecided(`the opt-out of ${subject!.label} could not be registered (see OP-LOGOUT)`);
  const ends = (s: Subject, token: IssuedIdentity) => refreshUntilOptout(ctx, s, token, true, `refresh of ${s.label}'s token B with an API key`);
  if (await ends(subject!, b!)) return { subject: subject!, a: a!, b: b! };
  const fresh = await freshSubject(ctx, subject!, { chain: true });
  const [freshA, freshB] = fresh.chain!;
  if (await ends(fresh, freshB!)) return { subject: fresh, a: freshA!, b: freshB! };
  undecided(`${fresh.label}'s fresh refresh tokens expired before its opt-out showed: refresh_expires comes sooner than the propagation`);
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
      // Without a key first: the token has never been presented (the unauthenticated path is the one at risk).
      const judge = async (s: WithTokens) => (await expectRefreshOptout(ctx, s, false)) && (await expectRefreshOptout(ctx, s, true));
      const subjects = await refreshSubjects(ctx);
      let judged: WithTokens[] = [];
      for (const subject of subjects) if (await judge(subject)) judged.push(subject);
      if (judged.length === 0) {
        const fresh = await freshSubject(ctx, subjects[0]!);
        if (!(await judge(fresh))) undecided(`${fresh.label}'s fresh refresh token expired before its opt-out showed: refresh_expires comes sooner than the propagation`);
        judged = [fresh];
      }
      return `the refresh tokens of ${judged.length} opted-out subjects (${judged.map((s) => s.label).join(', ')}), issued before the opt-out, each answered optout without and with an API key`;
    },
  },
  {
    id: 'refresh.optout.property',
    rule: 'OP-REFRESH-OPTOUT',
    kind: 'property',
    needs: [],
    title: 'refresh answers optout for any opted-out subject’s pre-opt-out token, with or without an API key',
    async run(ctx) {
      const subjects = await refreshSubjects(ctx);
      const arbitrary = fc.record({ index: fc.nat({ max: subjects.length - 1 }), authenticated: fc.boolean() });
      let judged = 0;
      const verdict = await checkProperty(
        ctx,
        this.id,
        arbitrary,
        async ({ index, authenticated }) => {
          if (await expectRefreshOptout(ctx, subjects[index]!, authenticated)) judged += 1;
        },
        ({ index, authenticated }) => `${subjects[index]!.label} ${how(authenticated)}`,
      );
      if (judged === 0) undecided('every refresh token expired before it could be judged: refresh_expires comes sooner than the propagation');
      return verdict;
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
