// The sharer suite (RULES.md participant rules); checks are judged from the driver's answers and the kit's
// operator call log.
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';

import { statusChecks } from './status.ts';

export const SHARER_CHECKS: Check<ParticipantCheckContext>[] = [...statusChecks];
