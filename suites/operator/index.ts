// The operator suite: every check of every OP-* rule, in the order they run and are reported.
import type { Check } from '../../harness/engine/check.ts';
import { findRule } from '../../harness/rules.ts';
import { generateChecks } from './generate.ts';
import { refreshChecks } from './refresh.ts';
import { statusChecks } from './status.ts';
import { logoutChecks } from './logout.ts';
import { cstgChecks } from './cstg.ts';
import { testIdentitiesChecks } from './test-identities.ts';
import { mapChecks } from './map.ts';
import { formsChecks } from './forms.ts';
import { envelopeChecks } from './envelope.ts';
import { schemaChecks } from './schema.ts';
import { propagationChecks } from './propagation.ts';
import { modelChecks } from './model.ts';

export const OPERATOR_CHECKS: readonly Check[] = [
  ...generateChecks,
  ...refreshChecks,
  ...mapChecks,
  ...statusChecks,
  ...formsChecks,
  ...propagationChecks,
  ...testIdentitiesChecks,
  ...logoutChecks,
  ...envelopeChecks,
  ...schemaChecks,
  ...cstgChecks,
  ...modelChecks,
];

/** The registry's invariants: unique ids, and each check names exactly one operator rule of the catalog. */
export function validateRegistry(checks: readonly Check[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.id)) problems.push(`duplicate check id ${check.id}`);
    seen.add(check.id);
    const rule = findRule(check.rule);
    if (!rule) problems.push(`${check.id} names unknown rule ${check.rule}`);
    else if (rule.role !== 'operator') problems.push(`${check.id} names ${check.rule}, not an operator rule`);
  }
  return problems;
}
