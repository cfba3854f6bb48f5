// OP-GEN-OPTOUT, OP-GEN-NO-LEAK, OP-GEN-OPTOUT-IMPLICIT: POST /v2/token/generate for opted-out DII
// (RULES.md; UID2-SPEC §1.1). Each form is the DII as it was opted out, or its base64 hash; other
// spellings are OP-FORMS's business.
import fc from 'fast-check';
import { fail, type Check } from '../../harness/engine/check.ts';
import { checkProperty } from '../../harness/engine/property.ts';
import { expectEventually, formsOf, input, isOptoutAnswer, opened, optedOut } from './support.ts';

const TOKEN_KEYS = ['advertising_token', 'refresh_token', 'advertising_id', 'refresh_response_key', 'u'];

/** Any token or raw UID2 anywhere in an answer. */
function leakedKeys(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => leakedKeys(v, found));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (TOKEN_KEYS.includes(k)) found.push(k);
      leakedKeys(v, found);
    }
  }
  return found;
}

export const generateChecks: Check[] = [
  {
    id: 'gen.optout.every-form',
    rule: 'OP-GEN-OPTOUT',
    kind: 'scenario',
    needs: [],
    title: 'generate with optout_check 1 answers optout for each opted-out email and phone, raw and hashed',
    async run(ctx) {
      const subjects = optedOut(ctx, 'optedOut', 'generate');
      let answers = 0;
      for (const subject of subjects) {
        for (const form of formsOf(subject, subject.test ? ['raw'] : ['raw', 'base64'])) {
          await expectEventually(ctx, subject, () => ctx.api.generate({ ...input(form), optout_check: 1 }), isOptoutAnswer, `generate for ${form.label}`);
          answers += 1;
        }
      }
      return `${answers} generate requests for ${subjects.length} opted-out persons answered an encrypted optout`;
    },
  },
  {
    id: 'gen.optout.property',
    rule: 'OP-GEN-OPTOUT',
    kind: 'property',
    needs: [],
    title: 'generate answers optout for any opted-out person in any of its four request fields',
    async run(ctx) {
      const subjects = optedOut(ctx, 'optedOut', 'generate');
      const arbitrary = fc.record({ index: fc.nat({ max: subjects.length - 1 }), hashed: fc.boolean() });
      return checkProperty(
        ctx,
        this.id,
        arbitrary,
        async ({ index, hashed }) => {
          const subject = subjects[index]!;
          const [form] = formsOf(subject, [hashed && !subject.test ? 'base64' : 'raw']);
          await expectEventually(ctx, subject, () => ctx.api.generate({ ...input(form!), optout_check: 1 }), isOptoutAnswer, `generate for ${form!.label}`);
        },
        ({ index, hashed }) => `${subjects[index]!.label}${hashed ? ' hashed' : ''}`,
      );
    },
  },
  {
    id: 'gen.no-leak',
    rule: 'OP-GEN-NO-LEAK',
    kind: 'scenario',
    needs: [],
    title: 'an opt-out answer to generate carries no body, no token and no raw UID2',
    async run(ctx) {
      const subjects = optedOut(ctx, 'optedOut', 'generate');
      for (const subject of subjects) {
        const [form] = formsOf(subject, ['raw']);
        const x = await expectEventually(ctx, subject, () => ctx.api.generate({ ...input(form!), optout_check: 1 }), isOptoutAnswer, `generate for ${form!.label}`);
        const answer = opened(x, `generate for ${form!.label}`);
        const leaks = leakedKeys(answer);
        if ('body' in answer || leaks.length > 0) fail(`the optout answer for ${form!.label} carries ${leaks.length ? leaks.join(', ') : 'a body'}`);
      }
      return `${subjects.length} optout answers carry nothing but {"status":"optout"}`;
    },
  },
  {
    id: 'gen.optout-implicit',
    rule: 'OP-GEN-OPTOUT-IMPLICIT',
    kind: 'scenario',
    needs: [],
    title: 'generate without optout_check also answers optout for an opted-out DII',
    async run(ctx) {
      const subjects = optedOut(ctx, 'optedOut', 'generate');
      for (const subject of subjects) {
        const [form] = formsOf(subject, ['raw']);
        await expectEventually(ctx, subject, () => ctx.api.generate(input(form!)), isOptoutAnswer, `generate without optout_check for ${form!.label}`);
      }
      return `${subjects.length} generate requests without optout_check answered optout`;
    },
  },
];

