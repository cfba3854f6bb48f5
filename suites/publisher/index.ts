// The publisher suite (RULES.md participant rules); checks are judged from the driver's answers and the kit's
// operator call log.
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';

import { optoutCheckChecks } from './optout-check.ts';

export const PUBLISHER_CHECKS: Check<ParticipantCheckContext>[] = [...optoutCheckChecks];
