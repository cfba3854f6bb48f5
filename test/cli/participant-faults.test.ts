// Issue "participant conformance", done when: each named participant fault fails its rule with exit code 1.
// This test does what a participant's staging does (README "Testing a participant"): a reference
// participant, with one fault, points its UID2 base URL at the kit's operator (--operator-listen, with the
// credentials it was given) and exposes its driver; the CLI runs against that driver as a child process.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startReferenceParticipants } from '../../harness/participants/driver-server.ts';
import { PARTICIPANT_FAULTS, REFERENCE_ROLES } from '../../harness/participants/reference.ts';
import type { ParticipantFault } from '../../harness/participants/role.ts';
import { findRule } from '../../harness/rules.ts';
import { freePort } from '../free-port.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-pfaults-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));


async function runAgainst(fault: ParticipantFault): Promise<{ code: number; failing: string[]; stderr: string }> {
  const port = await freePort();
  const apiKey = `participant-${randomBytes(6).toString('hex')}`;
  const clientSecret = randomBytes(32).toString('base64');
  const participant = await startReferenceParticipants({ operator: { url: `http://127.0.0.1:${port}`, apiKey, clientSecret }, roles: { [fault.role]: REFERENCE_ROLES[fault.role]! }, faults: { [fault.role]: fault.name } });
  const dir = join(out, fault.name);
  try {
    const args = ['run', '--driver', participant.url, '--operator-listen', `127.0.0.1:${port}`, '--api-key', apiKey, '--client-secret', clientSecret, '--webhook', participant.webhookTemplate, '--seed', '1', '--out', dir];
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, ...args], { timeout: 180_000 }, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr })),
    );
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { results: Array<{ rule: string; status: string }> };
    return { code, stderr, failing: [...new Set(report.results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => r.rule))].sort() };
  } finally {
    await participant.close();
  }
}

describe('uid2-conformance run --driver against a faulty participant', () => {
  it('exits 1 with exactly the broken rule failing, one fault of each role', async () => {
    // One MUST fault per role keeps this end-to-end test short; calibration covers every fault.
    const picked = (['publisher', 'dsp', 'advertiser', 'sharer'] as const).map((role) => PARTICIPANT_FAULTS.find((f) => f.role === role && f.breaks.every((r) => findRule(r)?.severity === 'MUST'))!);
    for (const fault of picked) {
      const outcome = await runAgainst(fault);
      expect({ fault: fault.name, code: outcome.code, failing: outcome.failing }, outcome.stderr.slice(-3000)).toEqual({ fault: fault.name, code: 1, failing: [...fault.breaks].sort() });
    }
  }, 600_000);
});
