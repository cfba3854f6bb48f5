// schemas/report.schema.json: typed for every field the RunResult has, open to fields added later.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ALL, FAIL, PASS, PROPAGATION, runOf } from './fixtures.ts';

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats.default(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../schemas/report.schema.json', import.meta.url), 'utf8')));
/** What a reader of report.json sees: the RunResult through JSON (undefined fields dropped). */
const asJson = (value: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

function errorsOf(report: unknown): string[] {
  return validate(report) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe('report.schema.json', () => {
  it('accepts every kind of run the kit writes', () => {
    const runs = [
      runOf(ALL, { propagation: PROPAGATION, capabilities: ['optout', 'cstg', 'synthetic'] }),
      runOf([PASS], { outcome: 'interrupted', propagation: { ...PROPAGATION, latencyMs: undefined } }),
      runOf([], { outcome: 'error', error: 'cannot reach the operator' }),
    ];
    for (const run of runs) expect(errorsOf(asJson(run))).toEqual([]);
  });

  it('accepts fields it does not know yet, at every level', () => {
    const run = asJson(runOf([FAIL], { propagation: PROPAGATION }));
    const result = (run.results as Array<Record<string, unknown>>)[0]!;
    Object.assign(run, { audit: { signed: true } });
    Object.assign(run.kit as object, { commit: 'abc' });
    Object.assign(run.propagation as object, { p95: 3 });
    Object.assign(result, { replay: 'uid2-conformance replay report.json' });
    Object.assign((result.evidence as object[])[0]!, { headers: { 'content-type': 'application/json' } });
    expect(errorsOf(run)).toEqual([]);
  });

  it('types the known extensions', () => {
    const mutations: Array<[string, (run: Record<string, unknown>, result: Record<string, unknown>) => void]> = [
      ['kind', (_, r) => (r.kind = 'fuzz')],
      ['counterexample.seed', (_, r) => ((r.counterexample as Record<string, unknown>).seed = '424242')],
      ['counterexample.path', (_, r) => delete (r.counterexample as Record<string, unknown>).path],
      ['evidence.ms', (_, r) => ((r.evidence as Array<Record<string, unknown>>)[0]!.ms = -1)],
      ['evidence.http', (_, r) => ((r.evidence as Array<Record<string, unknown>>)[0]!.http = '200')],
      ['propagation.visible', (run) => ((run.propagation as Record<string, unknown>).visible = 1.5)],
      ['propagation.latencyMs', (run) => ((run.propagation as Record<string, unknown>).latencyMs = { min: 1, max: 2 })],
      ['propagation.timeout_ms', (run) => delete (run.propagation as Record<string, unknown>).timeout_ms],
      ['capabilities', (run) => (run.capabilities = 'optout')],
      ['error', (run) => (run.error = { message: 'x' })],
      ['summary', (run) => ((run.summary as Record<string, unknown>).warn = -1)],
    ];
    for (const [field, mutate] of mutations) {
      const run = asJson(runOf([FAIL], { propagation: PROPAGATION, capabilities: ['optout'] }));
      expect(errorsOf(run), field).toEqual([]);
      mutate(run, (run.results as Array<Record<string, unknown>>)[0]!);
      expect(errorsOf(run), field).not.toEqual([]);
    }
  });
});
