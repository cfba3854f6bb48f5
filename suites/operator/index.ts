// The operator suite: every check of every OP-* rule, in the order they run and are reported.
import { registryProblems, type Check } from '../../harness/engine/check.ts';
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
  return registryProblems(checks, (check, rule) => (rule.role === 'operator' ? undefined : `names ${check.rule}, not an operator rule`));
}
