// OP-TEST-IDENTITIES: the documented test identities behave as the operator code says (UID2-SPEC §4,
// following the code where the docs table conflicts): optout@example.com / +00000000000 always opted out,
// refresh-optout@example.com / +00000000002 generate and map but every refresh answers optout,
// validate@example.com / +12345678901 never opted out. These identities are usable on any host, so the
// checks need nothing. Map requests carry one entry each (batch behavior is OP-MAP-*'s business), and
// generate is never asked with an email_hash for the always-opted-out email (OP-GEN-OPTOUT covers that).
import type { DiiInput, Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type Check, type CheckContext } from '../../harness/engine/check.ts';
import type { IssuedIdentity } from '../../harness/engine/population.ts';
import { base64Hash } from '../../harness/engine/synthetic.ts';
import type { DiiField } from '../../harness/wire/dii.ts';
import { bodyOf, isExpiryAnswer, isOptoutAnswer, isTokenAnswer, opened, seenAs, type Json } from './support.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

interface TestIdentity {
  label: string;
  kind: 'email' | 'phone';
  dii: string;
}

interface Form {
  field: DiiField;
  value: string;
  label: string;
}

const ALWAYS: TestIdentity[] = [
  { label: 'the always-opted-out test email', kind: 'email', dii: 'optout@example.com' },
  { label: 'the always-opted-out test phone', kind: 'phone', dii: '+00000000000' },
];
const REFRESH_OPTOUT: TestIdentity[] = [
  { label: 'the refresh-optout test email', kind: 'email', dii: 'refresh-optout@example.com' },
  { label: 'the refresh-optout test phone', kind: 'phone', dii: '+00000000002' },
];
const NEVER: TestIdentity[] = [
  { label: 'the validate test email', kind: 'email', dii: 'validate@example.com' },
  { label: 'the validate test phone', kind: 'phone', dii: '+12345678901' },
];

function formsOf(identity: TestIdentity, hashed: boolean): Form[] {
  const raw: Form = { field: identity.kind, value: identity.dii, label: `${identity.label} as ${identity.kind}` };
  if (!hashed) return [raw];
  const field: DiiField = identity.kind === 'email' ? 'email_hash' : 'phone_hash';
  return [raw, { field, value: base64Hash(identity.dii), label: `${identity.label} as ${field} (base64)` }];
}

const dii = (form: Form): DiiInput => ({ [form.field]: form.value }) as DiiInput;

/** What a one-entry map request answered for its entry: 'optout', 'mapped', or a printable description. */
async function mapOne(ctx: CheckContext, version: 'v2' | 'v3', form: Form): Promise<string> {
  const what = `${version} map of ${form.label}`;
  const x = version === 'v2' ? await ctx.api.mapV2({ [form.field]: [form.value] }) : await ctx.api.mapV3({ [form.field]: [form.value] });
  const answer = opened(x, what);
  if (answer.status !== 'success') return `status ${quoteTarget(answer.status)}`;
  const body = bodyOf(x);
  if (version === 'v2') {
    const mapped = (Array.isArray(body.mapped) ? body.mapped : []) as Json[];
    const unmapped = (Array.isArray(body.unmapped) ? body.unmapped : []) as Json[];
    if (mapped.length === 1 && typeof mapped[0]!.advertising_id === 'string' && unmapped.length === 0) return 'mapped';
    if (mapped.length === 0 && unmapped.length === 1) return unmapped[0]!.reason === 'optout' ? 'optout' : `unmapped with reason ${quoteTarget(unmapped[0]!.reason)}`;
    return `${mapped.length} mapped and ${unmapped.length} unmapped entries for one identifier`;
  }
  const entries = body[form.field];
  const entry = (Array.isArray(entries) && entries.length === 1 ? entries[0] : undefined) as Json | undefined;
  if (!entry) return `no single entry under "${form.field}"`;
  if (entry.e === 'optout') return 'optout';
  if (typeof entry.u === 'string') return 'mapped';
  return `the entry ${'e' in entry ? `e=${JSON.stringify(entry.e)}` : 'without u or e'}`;
}

async function expectMapped(ctx: CheckContext, form: Form, want: 'optout' | 'mapped'): Promise<void> {
  for (const version of ['v2', 'v3'] as const) {
    const got = await mapOne(ctx, version, form);
    if (got !== want) fail(`${version} map of ${form.label}: ${got}, expected ${want === 'optout' ? 'optout' : 'a raw UID2'}`);
  }
}

async function generated(ctx: CheckContext, form: Form): Promise<IssuedIdentity> {
  const x = await ctx.api.generate({ ...dii(form), optout_check: 1 });
  if (!isTokenAnswer(x)) fail(`generate for ${form.label}: ${seenAs(x)}, expected tokens`);
  return bodyOf(x) as unknown as IssuedIdentity;
}

/** A refresh answer to a token that expired first says nothing about the test identity: the kit cannot decide. */
function unlessExpired(x: Exchange, issued: IssuedIdentity, what: string): void {
  if (isExpiryAnswer(x, issued)) undecided(`${what}: ${seenAs(x)}, the fresh token already past refresh_expires (expiry comes before opt-out, UID2-SPEC §1.2)`);
}

async function validates(ctx: CheckContext, token: string, form: Form, which: string): Promise<void> {
  const what = `validate of the ${which} advertising token with ${form.label}`;
  const x = await ctx.api.validate(token, dii(form));
  const answer = opened(x, what);
  if (answer.status !== 'success' || answer.body !== true) fail(`${what}: status ${quoteTarget(answer.status)} with body ${quoteTarget(answer.body)}, expected success with true`);
}

export const testIdentitiesChecks: Check[] = [
  {
    id: 'test-identities.always-optout',
    rule: 'OP-TEST-IDENTITIES',
    kind: 'scenario',
    needs: [],
    title: 'optout@example.com and +00000000000 answer optout on generate and on v2 and v3 map, raw and hashed',
    async run(ctx) {
      let answers = 0;
      for (const identity of ALWAYS) {
        for (const form of formsOf(identity, true)) {
          // email_hash on generate is left to OP-GEN-OPTOUT; every other form is asked on generate here.
          if (form.field !== 'email_hash') {
            const x = await ctx.api.generate({ ...dii(form), optout_check: 1 });
            if (!isOptoutAnswer(x)) fail(`generate for ${form.label}: ${seenAs(x)}, expected optout`);
            answers += 1;
          }
          await expectMapped(ctx, form, 'optout');
          answers += 2;
        }
      }
      return `${answers} generate and map answers for the always-opted-out test email and phone were optout`;
    },
  },
  {
    id: 'test-identities.refresh-optout',
    rule: 'OP-TEST-IDENTITIES',
    kind: 'scenario',
    needs: [],
    title: 'refresh-optout@example.com and +00000000002 get tokens and map, and every refresh answers optout, with and without an API key',
    async run(ctx) {
      let refreshes = 0;
      for (const identity of REFRESH_OPTOUT) {
        for (const form of formsOf(identity, true)) {
          const issued = await generated(ctx, form);
          for (const authenticated of [false, true]) {
            const x = await ctx.api.refresh(issued.refresh_token, issued.refresh_response_key, { authenticated });
            unlessExpired(x, issued, `refresh of the token of ${form.label}`);
            if (!isOptoutAnswer(x)) fail(`refresh of the token of ${form.label} ${authenticated ? 'with' : 'without'} an API key: ${seenAs(x)}, expected optout`);
            refreshes += 1;
          }
        }
        await expectMapped(ctx, formsOf(identity, false)[0]!, 'mapped');
      }
      return `the refresh-optout test email and phone got tokens (raw and hashed) and mapped; all ${refreshes} refreshes answered optout`;
    },
  },
  {
    id: 'test-identities.validate',
    rule: 'OP-TEST-IDENTITIES',
    kind: 'scenario',
    needs: [],
    title: 'validate@example.com and +12345678901 get tokens, refresh to new tokens, map, and validate true',
    async run(ctx) {
      for (const identity of NEVER) {
        const [raw] = formsOf(identity, false);
        const issued = await generated(ctx, raw!);
        await validates(ctx, issued.advertising_token, raw!, 'generated');
        const x = await ctx.api.refresh(issued.refresh_token, issued.refresh_response_key, { authenticated: true });
        unlessExpired(x, issued, `refresh of the token of ${raw!.label}`);
        if (!isTokenAnswer(x)) fail(`refresh of the token of ${raw!.label}: ${seenAs(x)}, expected new tokens`);
        await validates(ctx, (bodyOf(x) as unknown as IssuedIdentity).advertising_token, raw!, 'refreshed');
        await expectMapped(ctx, raw!, 'mapped');
      }
      return 'the validate test email and phone got tokens, refreshed to new tokens, mapped, and both tokens validated true';
    },
  },
];
