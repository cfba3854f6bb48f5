// PUB-OPTOUT-CHECK: every generate request a publisher sends carries `optout_check: 1` (RULES.md; UID2-SPEC
// §1.1). Judged from the kit's operator call log, for logins by email and by phone in generated mixes.
import fc from 'fast-check';
import { fail, undecided, type Check } from '../../harness/engine/check.ts';
import type { DriverIdentity } from '../../harness/client/driver-client.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { checkProperty } from '../../harness/engine/property.ts';

export const optoutCheckChecks: Check<ParticipantCheckContext>[] = [
  {
    id: 'publisher.optout-check.logins',
    rule: 'PUB-OPTOUT-CHECK',
    kind: 'property',
    needs: ['publisher'],
    title: 'every generate request for generated email and phone logins carries optout_check 1',
    async run(ctx) {
      let generates = 0;
      const message = await checkProperty(
        ctx,
        this.id,
        fc.array(fc.constantFrom<'email' | 'phone'>('email', 'phone'), { minLength: 1, maxLength: 4 }),
        async (kinds) => {
          const since = Date.now();
          const users: DriverIdentity[] = kinds.map((kind) => (kind === 'email' ? { email: ctx.identities.email() } : { phone: ctx.identities.phone() }));
          for (const user of users) await ctx.driver.login(user);
          for (const [i, user] of users.entries()) {
            const calls = ctx.callsAbout(user, since).filter((c) => c.endpoint === 'generate');
            generates += calls.length;
            const bad = calls.find((c) => c.optoutCheck !== 1);
            if (bad) fail(`a generate request for login ${i + 1} (${kinds[i]}) carried optout_check ${JSON.stringify(bad.optoutCheck ?? null)}, not 1`);
          }
        },
        (kinds) => `logins by ${kinds.join(', ')}`,
        { runs: Math.min(ctx.settings.runs, 10) },
      );
      if (generates === 0) undecided('the publisher sent no generate request for any login: nothing to judge (PUB-SITE-NOT-RELAYED covers a publisher that never generates)');
      return `${message}; ${generates} generate requests, each with optout_check 1`;
    },
  },
];
