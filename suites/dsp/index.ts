// The dsp suite (RULES.md participant rules); checks are judged from the driver's answers and the kit's
// operator call log.
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';

export const DSP_CHECKS: Check<ParticipantCheckContext>[] = [];
