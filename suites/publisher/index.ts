// The publisher suite (RULES.md participant rules); checks are judged from the driver's answers and the kit's
// operator call log. Shared pieces: support.ts (users, spellings, look-alikes, call log, tokens, timing,
// generated sequences) and timeline.ts (the refresh rules' timed runs).
import type { Check } from '../../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../../harness/engine/participant-session.ts';

import { optoutCheckChecks } from './optout-check.ts';
import { optoutRememberedChecks } from './optout-remembered.ts';
import { optoutResponseChecks } from './optout-response.ts';
import { refreshChecks } from './refresh.ts';
import { refreshOptoutChecks } from './refresh-optout.ts';
import { siteNotRelayedChecks } from './site-not-relayed.ts';
import { siteOptoutChecks } from './site-optout.ts';

export const PUBLISHER_CHECKS: Check<ParticipantCheckContext>[] = [
  ...siteOptoutChecks,
  ...siteNotRelayedChecks,
  ...optoutCheckChecks,
  ...optoutResponseChecks,
  ...optoutRememberedChecks,
  ...refreshChecks,
  ...refreshOptoutChecks,
];
