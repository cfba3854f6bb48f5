// Every participant check, by role, in the order they run and are reported.
import type { Check } from '../harness/engine/check.ts';
import type { ParticipantCheckContext } from '../harness/engine/participant-session.ts';
import { findRule } from '../harness/rules.ts';
import { ADVERTISER_CHECKS } from './advertiser/index.ts';
import { DSP_CHECKS } from './dsp/index.ts';
import { PUBLISHER_CHECKS } from './publisher/index.ts';
import { SHARER_CHECKS } from './sharer/index.ts';

export const PARTICIPANT_CHECKS: readonly Check<ParticipantCheckContext>[] = [...PUBLISHER_CHECKS, ...DSP_CHECKS, ...ADVERTISER_CHECKS, ...SHARER_CHECKS];

/** Unique ids; each check names one participant rule and needs the role that rule belongs to. */
export function validateParticipantRegistry(checks: readonly Check<ParticipantCheckContext>[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.id)) problems.push(`duplicate check id ${check.id}`);
    seen.add(check.id);
    const rule = findRule(check.rule);
    if (!rule || rule.role === 'operator') problems.push(`${check.id} names ${check.rule}, not a participant rule`);
    else if (!check.needs.includes(rule.role)) problems.push(`${check.id} does not declare it needs the ${rule.role} role`);
  }
  return problems;
}
