// OP-CSTG-OPTOUT: POST /v2/token/client-generate for an opted-out hash answers the bare encrypted
// {"status":"optout"} (RULES.md; UID2-SPEC §1.6). CSTG takes hashes only: base64 SHA-256 of the normalized
// DII. Besides the run's opted-out persons, the documented always-opted-out email (§4) is asked too; the
// test phones are left to OP-TEST-IDENTITIES. A control must get a token, or the CSTG setup is broken and
// nothing can be concluded.
import type { Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { Subject } from '../../harness/engine/population.ts';
import { base64Hash } from '../../harness/engine/synthetic.ts';
import { expectEventually, isOptoutAnswer, isTokenAnswer, opened, seenAs } from './support.ts';

const TEST_OPTOUT_EMAIL = 'optout@example.com';
const NEVER_OPTED_OUT = { email: 'validate@example.com', phone: '+12345678901' } as const;

function cstg(ctx: CheckContext, kind: 'email' | 'phone', normalized: string): Promise<Exchange> {
  const dii = kind === 'email' ? { email_hash: base64Hash(normalized) } : { phone_hash: base64Hash(normalized) };
  return ctx.api.clientGenerate({ serverPublicKey: ctx.cstg!.publicKey, subscriptionId: ctx.cstg!.subscriptionId, dii });
}

/** The CSTG setup works: a never-opted-out email and phone hash each get a token (else: undecided). */
async function precondition(ctx: CheckContext): Promise<void> {
  const controls = ctx.population.get('controls');
  const pick = (kind: 'email' | 'phone') => {
    const control = controls.find((s) => s.kind === kind);
    return control ? { label: control.label, dii: control.dii } : { label: `the never-opted-out test ${kind}`, dii: NEVER_OPTED_OUT[kind] };
  };
  for (const kind of ['email', 'phone'] as const) {
    const { label, dii } = pick(kind);
    const x = await cstg(ctx, kind, dii);
    if (!isTokenAnswer(x)) undecided(`client-generate for ${label} (never opted out) did not issue a token (${seenAs(x)}): the CSTG key pair or subscription does not work, so opt-out answers cannot be judged`);
  }
}

export const cstgChecks: Check[] = [
  {
    id: 'cstg.optout.hashes',
    rule: 'OP-CSTG-OPTOUT',
    kind: 'scenario',
    needs: ['cstg'],
    title: 'client-generate answers a bare encrypted optout for opted-out email and phone hashes and the always-opted-out test email',
    async run(ctx) {
      await precondition(ctx);
      // With OPTOUT credentials the run's opted-out persons; without, the test identities stand in (email only).
      const subjects: Subject[] = ctx.population.get('optedOut').filter((s) => !s.test || s.kind === 'email');
      const testPerson = ctx.oracle.person('email', TEST_OPTOUT_EMAIL)!;
      if (!subjects.some((s) => s.person === testPerson)) {
        subjects.push({ label: 'test-optout-email', kind: 'email', dii: TEST_OPTOUT_EMAIL, person: testPerson, test: true });
      }
      const judged = subjects.filter((s) => ctx.oracle.expect(s.person, 'cstg', Date.now()) !== 'in');
      if (subjects.some((s) => !s.test) && !judged.some((s) => !s.test)) undecided('no opted-out person of the run is opted out: the opt-outs could not be registered (see OP-LOGOUT)');
      for (const subject of judged) {
        const what = `client-generate for ${subject.label} as ${subject.kind}_hash`;
        const x = await expectEventually(ctx, subject, () => cstg(ctx, subject.kind, subject.dii), isOptoutAnswer, what);
        const answer = opened(x, what);
        if ('body' in answer) fail(`${what}: the optout answer carries a body (expected exactly {"status":"optout"})`);
      }
      const phones = judged.filter((s) => s.kind === 'phone').length;
      return `client-generate answered a bare encrypted optout for ${judged.length} opted-out hashes (emails: ${judged.length - phones}, phones: ${phones}); never-opted-out hashes got tokens`;
    },
  },
];
