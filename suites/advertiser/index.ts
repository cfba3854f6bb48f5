// The advertiser suite (RULES.md participant rules); checks are judged from the driver's answers and the kit's
// operator call log.
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';

import { mapOptoutChecks } from './map-optout.ts';
import { siteOptoutChecks } from './site-optout.ts';

export const ADVERTISER_CHECKS: Check<ParticipantCheckContext>[] = [...mapOptoutChecks, ...siteOptoutChecks];
