// Every participant check, by role, in the order they run and are reported.
import { registryProblems, type Check } from '../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../harness/engine/participant-session.ts';
import { ADVERTISER_CHECKS } from './advertiser/index.ts';
import { DSP_CHECKS } from './dsp/index.ts';
import { PUBLISHER_CHECKS } from './publisher/index.ts';
import { SHARER_CHECKS } from './sharer/index.ts';

export const PARTICIPANT_CHECKS: readonly Check<ParticipantCheckContext>[] = [...PUBLISHER_CHECKS, ...DSP_CHECKS, ...ADVERTISER_CHECKS, ...SHARER_CHECKS];

/** Unique ids; each check names one participant rule and needs the role that rule belongs to. */
export function validateParticipantRegistry(checks: readonly Check<ParticipantCheckContext>[]): string[] {
  return registryProblems(checks, (check, rule) => {
    if (rule.role === 'operator') return `names ${check.rule}, not a participant rule`;
    return check.needs.includes(rule.role) ? undefined : `does not declare it needs the ${rule.role} role`;
  });
}
