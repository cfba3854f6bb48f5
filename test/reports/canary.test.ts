// Nothing sensitive in any output, whatever the target writes: a run against a target that echoes every
// request (API key, DII, tokens, with terminal control bytes) into its answers, then every file of the report
// directory and the captured stdout and stderr scanned for every canary the target saw pass. The same scan
// for a run against a well-behaved target.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOperator } from '../../harness/operator/index.ts';
import { startEchoingTarget, type EchoingTarget } from './echoing-target.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-canary-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
/** The scrubber leaves values shorter than this alone (they would match ordinary words). */
const SHORTEST = 6;
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 150_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Runs the operator suite against the target; every output of the run, by name. */
async function outputsOf(target: EchoingTarget, upstream: Awaited<ReturnType<typeof startOperator>>, name: string): Promise<{ code: number; outputs: Map<string, string> }> {
  const dir = join(out, name);
  const c = upstream.credentials;
  const { code, stdout, stderr } = await cli(['run', '--target', target.url, '--api-key', c.apiKey, '--client-secret', c.clientSecret, '--optout-api-key', c.optoutApiKey,
    '--optout-client-secret', c.optoutClientSecret, '--cstg-public-key', c.cstgPublicKey, '--cstg-subscription-id', c.cstgSubscriptionId, '--propagation-timeout', '2s', '--runs', '10', '--out', dir]);
  const outputs = new Map([['stdout', stdout], ['stderr', stderr]]);
  for (const file of readdirSync(dir)) outputs.set(file, readFileSync(join(dir, file), 'utf8'));
  return { code, outputs };
}

/** Every string of a JSON value (keys too), joined. */
const stringsOf = (value: unknown): string =>
  typeof value === 'string' ? value : value !== null && typeof value === 'object' ? Object.entries(value).map(([k, v]) => `${k} ${stringsOf(v)}`).join(' ') : '';

/** `output: canary kind and length` for every canary found (the values themselves are not printed). */
function leaks(canaries: ReadonlySet<string>, outputs: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [name, text] of outputs) {
    const lower = text.toLowerCase();
    for (const canary of canaries) {
      if (canary.length >= SHORTEST && lower.includes(canary.toLowerCase())) found.push(`${name}: ${canary.includes('@') ? 'email' : canary.startsWith('+') ? 'phone' : 'value'} of ${canary.length} chars`);
    }
    // report.json escapes them (\u001b): a reader that prints its strings gets them back, so its strings are read.
    const shown = name.endsWith('.json') ? stringsOf(JSON.parse(text)) : text;
    if (CONTROL.test(shown)) found.push(`${name}: a control character`);
  }
  return found;
}

async function scan(echo: boolean) {
  const upstream = await startOperator();
  const target = await startEchoingTarget(upstream, { echo });
  try {
    const { code, outputs } = await outputsOf(target, upstream, echo ? 'echoing' : 'plain');
    return { code, outputs, target };
  } finally {
    await target.close();
    await upstream.close();
  }
}

describe('no secret reaches any output', () => {
  it('against a target that echoes every request into its answers, with control bytes', async () => {
    const { code, outputs, target } = await scan(true);
    expect([0, 1], outputs.get('stderr')).toContain(code); // judged (its statuses are wrong), not "could not test"
    expect(target.echoed).toBeGreaterThan(100);
    expect([...outputs.keys()].sort()).toEqual(['audit.html', 'audit.md', 'junit.xml', 'manifest.json', 'report.json', 'stderr', 'stdout']);
    // Every kind of canary passed through the target: credentials, DII and hashes, tokens, raw UID2s.
    const canaries = [...target.canaries];
    expect(canaries.filter((v) => v.includes('@')).length).toBeGreaterThan(10);
    expect(canaries.filter((v) => /^\+\d+$/.test(v)).length).toBeGreaterThan(3);
    expect(canaries.filter((v) => /^[0-9a-f]{64}$/.test(v)).length).toBeGreaterThan(10);
    expect(canaries.filter((v) => v.length > 100).length).toBeGreaterThan(10);
    expect(leaks(target.canaries, outputs)).toEqual([]);
    // The echo did reach the reports, as data: the target's text is there, its secrets are not.
    expect(outputs.get('report.json')).toContain('Bearer <api-key>');
  }, 180_000);

  it('against a well-behaved target', async () => {
    const { code, outputs, target } = await scan(false);
    expect(code, outputs.get('stderr')).toBe(0);
    expect(target.canaries.size).toBeGreaterThan(100);
    expect(leaks(target.canaries, outputs)).toEqual([]);
  }, 180_000);
});
