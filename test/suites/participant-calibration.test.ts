// Calibration of the participant suites: against the reference participants, each named participant fault
// fails exactly the rules it breaks, and the conformant participants pass, run after run with other seeds.
import { describe, expect, it } from 'vitest';
import { calibrateParticipants, type ParticipantCalibrationRow } from '../../harness/calibrate.ts';
import { PARTICIPANT_FAULTS } from '../../harness/participants/reference.ts';
import { RULES } from '../../harness/rules.ts';
import { PARTICIPANT_CHECKS, validateParticipantRegistry } from '../../suites/participants.ts';

const explain = (row: ParticipantCalibrationRow) =>
  JSON.stringify({ fault: row.fault ?? 'conformant', expected: row.expected, failed: row.failed, undecided: row.undecided, failures: row.results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => `${r.check}: ${r.message}`) }, null, 1);

describe('participant suite registry', () => {
  it('has unique ids, one participant rule each, and scenario and property checks for every participant rule', () => {
    expect(validateParticipantRegistry(PARTICIPANT_CHECKS)).toEqual([]);
    for (const rule of RULES.filter((r) => r.role !== 'operator')) {
      expect(PARTICIPANT_CHECKS.some((c) => c.rule === rule.id && c.kind === 'scenario'), `${rule.id} scenario`).toBe(true);
      expect(PARTICIPANT_CHECKS.some((c) => c.rule === rule.id && c.kind === 'property'), `${rule.id} property`).toBe(true);
    }
    for (const rule of RULES.filter((r) => r.role !== 'operator')) {
      expect(PARTICIPANT_FAULTS.some((f) => f.breaks.includes(rule.id)), `a fault for ${rule.id}`).toBe(true);
    }
  });
});

describe('participant calibration', () => {
  it('every named participant fault fails exactly the rules it breaks', async () => {
    const rows = await calibrateParticipants({ checks: PARTICIPANT_CHECKS, conformantRuns: 0 });
    expect(rows).toHaveLength(PARTICIPANT_FAULTS.length);
    for (const row of rows) expect(row.ok, explain(row)).toBe(true);
  }, 900_000);

  it('the conformant reference participants pass every check, run after run with different seeds', async () => {
    for (const seed of [1, 2, 3]) {
      const [row] = await calibrateParticipants({ checks: PARTICIPANT_CHECKS, faults: [], conformantRuns: 1, seed });
      expect(row!.ok, explain(row!)).toBe(true);
      expect(row!.results.every((r) => r.status === 'pass'), explain(row!)).toBe(true);
    }
  }, 300_000);
});

describe('participant evidence', () => {
  it('records every webhook call in the check evidence, with the UID2 pseudonymized', async () => {
    const checks = PARTICIPANT_CHECKS.filter((c) => c.id.startsWith('dsp.webhook-ack.'));
    const [row] = await calibrateParticipants({ checks, faults: [], conformantRuns: 1 });
    expect(row!.ok, explain(row!)).toBe(true);
    const calls = row!.results.flatMap((r) => r.evidence).filter((e) => e.path === 'webhook');
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.http).toBe(200);
      expect((call.request as { uid2: string }).uid2).toMatch(/^<uid2#\d+>$/);
      expect(call.note).toMatch(/^opt-out of /);
    }
    // No raw UID2 (44 base64 characters) anywhere in the evidence.
    expect(JSON.stringify(row!.results.map((r) => r.evidence))).not.toMatch(/[A-Za-z0-9+/]{43}=/);
  }, 120_000);
});
