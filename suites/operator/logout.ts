// OP-LOGOUT: POST /v2/token/logout (RULES.md; UID2-SPEC §5.2). With the OPTOUT role it acknowledges with
// {"status":"success","body":{"optout":"OK"}}, again for a repeat; without the role it answers 401. The
// acknowledging check uses fresh synthetic identities of its own (never the population's) and never reads
// their opt-out state afterwards: a repeat may legitimately restart propagation.
import type { DiiInput, Exchange } from '../../harness/client/operator-client.ts';
import { fail, type Check } from '../../harness/engine/check.ts';
import { base64Hash, hexHash, SyntheticIdentities } from '../../harness/engine/synthetic.ts';
import { bodyOf, opened, seenAs, statusOf } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

/** The acknowledgement, exactly as the spec gives it. */
function expectAcknowledged(x: Exchange, what: string): void {
  const answer = opened(x, what);
  if (answer.status !== 'success' || bodyOf(x).optout !== 'OK') fail(`${what}: ${seenAs(x)}${answer.status === 'success' ? ' without body.optout "OK"' : ''}, expected {"status":"success","body":{"optout":"OK"}}`);
}

export const logoutChecks: Check[] = [
  {
    id: 'logout.acknowledged-idempotent',
    rule: 'OP-LOGOUT',
    kind: 'scenario',
    needs: ['optout'],
    title: 'logout with the OPTOUT role acknowledges {"optout":"OK"} for a fresh email, phone and their hashes, and identically for a repeat',
    async run(ctx) {
      const ids = new SyntheticIdentities();
      const email = ids.email();
      const phone = ids.phone();
      const requests: Array<{ label: string; dii: DiiInput }> = [
        { label: 'a fresh email as email', dii: { email } },
        { label: 'a fresh phone as phone', dii: { phone } },
        { label: 'a fresh email as email_hash (base64)', dii: { email_hash: base64Hash(ids.email()) } },
        { label: 'a fresh phone as phone_hash (hex)', dii: { phone_hash: hexHash(ids.phone()) } },
      ];
      for (const { label, dii } of requests) {
        const first = await ctx.optoutApi!.logout(dii);
        expectAcknowledged(first, `logout of ${label}`);
        const again = await ctx.optoutApi!.logout(dii);
        expectAcknowledged(again, `repeated logout of ${label}`);
        if (JSON.stringify(again.body) !== JSON.stringify(first.body)) fail(`repeated logout of ${label}: the answer differs from the first acknowledgement`);
      }
      return `${requests.length} logouts (email, phone, email_hash, phone_hash) acknowledged {"optout":"OK"}, and identically when repeated`;
    },
  },
  {
    id: 'logout.without-role',
    rule: 'OP-LOGOUT',
    kind: 'scenario',
    needs: [],
    title: 'logout with a key that lacks the OPTOUT role answers 401 {"status":"unauthorized"} as plain JSON',
    async run(ctx) {
      // Production hosts get only documented test identities; the role check comes before the payload anyway.
      const synthetic = ctx.capabilities.has('synthetic');
      const dii: DiiInput = { email: synthetic ? new SyntheticIdentities().email() : 'validate@example.com' };
      const x = await ctx.api.logout(dii);
      if (x.http !== 401) fail(`logout with the client key (no OPTOUT role): ${seenAs(x)}, expected HTTP 401`);
      if (x.plainText !== undefined || statusOf(x) !== 'unauthorized') fail(`logout with the client key: HTTP 401 with ${x.plainText !== undefined ? 'a body that is not JSON' : `status ${quoteTarget(statusOf(x))}`}, expected {"status":"unauthorized"}`);
      return 'logout without the OPTOUT role answered 401 {"status":"unauthorized"}';
    },
  },
];
