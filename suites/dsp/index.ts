// The dsp suite (RULES.md participant rules DSP-*); checks are judged from the driver's bid answers, the
// webhook's answers and the kit's operator (support.ts lists the pitfalls each check keeps to).
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';
import { bidOptoutChecks } from './bid-optout.ts';
import { isolationChecks } from './isolation.ts';
import { statusCheckChecks } from './status-check.ts';
import { webhookAckChecks } from './webhook-ack.ts';

export const DSP_CHECKS: Check<ParticipantCheckContext>[] = [...webhookAckChecks, ...bidOptoutChecks, ...isolationChecks, ...statusCheckChecks];
