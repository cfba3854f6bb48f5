// Calibration (issue: a pass means something): the operator suite against the simulated operator with each
// named fault fails exactly the rules that fault breaks, and against the conformant operator, plain and in
// each named conformant variant, run repeatedly with different seeds, passes with zero failures and nothing
// undecided.
import { describe, expect, it } from 'vitest';
import { calibrate, expectedFailures, type CalibrationRow } from '../../harness/calibrate.ts';
import { OPERATOR_FAULTS } from '../../harness/operator/faults.ts';
import { OPERATOR_VARIANTS } from '../../harness/operator/variants.ts';
import { OPERATOR_CHECKS, validateRegistry } from '../../suites/operator/index.ts';
import { findRule, RETIRED_RULES, RULES } from '../../harness/rules.ts';

const SEEDS = [1, 2, 3, 4, 5];

const explain = (row: CalibrationRow) =>
  JSON.stringify({ fault: row.fault ?? row.variant ?? 'conformant', expected: row.expected, failed: row.failed, undecided: row.undecided, failures: row.results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => `${r.check}: ${r.message}`) }, null, 1);

describe('operator suite registry', () => {
  it('has unique ids, one operator rule each, and covers every operator rule with scenario and property checks where required', () => {
    expect(validateRegistry(OPERATOR_CHECKS)).toEqual([]);
    for (const rule of RULES.filter((r) => r.role === 'operator')) {
      expect(OPERATOR_CHECKS.some((c) => c.rule === rule.id), rule.id).toBe(true);
    }
    // The opt-out rules have property-based checks too.
    for (const rule of ['OP-GEN-OPTOUT', 'OP-MAP-OPTOUT', 'OP-MAP-V3-OPTOUT', 'OP-STATUS-OPTOUT', 'OP-FORMS', 'OP-ISOLATION', 'OP-REFRESH-OPTOUT']) {
      expect(OPERATOR_CHECKS.some((c) => c.rule === rule && c.kind === 'property'), rule).toBe(true);
    }
  });
});

describe('rule catalog v1.1', () => {
  it('has 17 operator rules; a retired ID stays out of it for good, and a check naming one is refused', () => {
    expect(RULES.filter((r) => r.role === 'operator')).toHaveLength(17);
    expect([...RETIRED_RULES.keys()]).toEqual(['OP-STATUS-EARLIEST']);
    for (const id of RETIRED_RULES.keys()) expect(findRule(id)).toBeUndefined();
    const check = OPERATOR_CHECKS[0]!;
    expect(validateRegistry([{ ...check, rule: 'OP-STATUS-EARLIEST' }])).toEqual([`${check.id} names retired rule OP-STATUS-EARLIEST`]);
  });
});

describe('calibration', () => {
  it('every named fault fails exactly the rules it breaks', async () => {
    const rows = await calibrate({ checks: OPERATOR_CHECKS, conformantRuns: 0 });
    expect(rows.map((r) => r.fault)).toEqual(OPERATOR_FAULTS.map((f) => f.name));
    for (const row of rows) expect(row.ok, explain(row)).toBe(true);
  }, 600_000);

  it('the conformant operator passes every check, run after run with different seeds', async () => {
    for (const seed of SEEDS) {
      const [row] = await calibrate({ checks: OPERATOR_CHECKS, faults: [], variants: [], conformantRuns: 1, settings: { seed } });
      expect(row!.ok, explain(row!)).toBe(true);
      expect(row!.results.every((r) => r.status === 'pass'), explain(row!)).toBe(true);
    }
  }, 300_000);
});

describe('conformant variants', () => {
  // Behaviours real operators show that the rules allow: the kit must pass each, nothing failed, warned or undecided.
  // (throttle passes only once the client honours 429 and Retry-After.)
  it.each(OPERATOR_VARIANTS.map((v) => v.name))('%s passes every check, run after run with different seeds', async (variant) => {
    const messages: string[] = [];
    for (const seed of SEEDS) {
      const [row] = await calibrate({ checks: OPERATOR_CHECKS, faults: [], variants: [variant], conformantRuns: 0, variantRuns: 1, settings: { seed } });
      expect(row!.variant).toBe(variant);
      expect(row!.ok, explain(row!)).toBe(true);
      expect(row!.results.every((r) => r.status === 'pass'), explain(row!)).toBe(true);
      messages.push(...row!.results.filter((r) => r.check === 'status.optout.repeat').map((r) => r.message));
    }
    // The variant is seen, not only survived: the later time of a repeat judged. (Whether short-refresh-lifetime's
    // tokens expire before or while the refresh checks use them depends on timing: both paths must pass.)
    // (A run across UTC midnight keeps the earliest: the reference operator merges only within a day.)
    if (variant === 'latest-time') expect(messages.some((m) => /\(a later time\)/.test(m))).toBe(true);
  }, 300_000);
});

describe('calibration under a check selection', () => {
  it('expects only the rules the selected checks judge', () => {
    const checks = [{ rule: 'OP-GEN-OPTOUT' }, { rule: 'OP-MAP-OPTOUT' }];
    expect(expectedFailures(['OP-MAP-OPTOUT', 'OP-GEN-OPTOUT', 'OP-STATUS-OPTOUT'], checks)).toEqual(['OP-GEN-OPTOUT', 'OP-MAP-OPTOUT']);
    expect(expectedFailures(['OP-STATUS-OPTOUT'], checks)).toEqual([]);
  });

  it('runs only the faults the selection can see, and each fails exactly its judged rules', async () => {
    const checks = OPERATOR_CHECKS.filter((c) => c.id.startsWith('refresh.'));
    const rows = await calibrate({ checks, conformantRuns: 0 });
    const seen = OPERATOR_FAULTS.filter((f) => f.breaks.some((rule) => checks.some((c) => c.rule === rule))).map((f) => f.name);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(OPERATOR_FAULTS.length);
    expect(rows.map((r) => r.fault)).toEqual(seen);
    for (const row of rows) expect(row.ok, explain(row)).toBe(true);
  }, 120_000);
});
