// The command line as users' CI sees it (PROTOCOL.md §1–§2): exit codes, report.json, nothing secret printed.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { OPERATOR_FAULTS } from '../../harness/operator/faults.ts';
import { OPERATOR_VARIANTS } from '../../harness/operator/variants.ts';
import { RULES } from '../../harness/rules.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const ajv = new Ajv({ allErrors: true });
addFormats.default(ajv);
const validateReport = ajv.compile(JSON.parse(readFileSync(new URL('../../schemas/report.schema.json', import.meta.url), 'utf8')));
const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { outcome: string; results: Array<{ rule: string; status: string }>; error?: string };

function targetArgs(op: RunningOperator, dir: string): string[] {
  const c = op.credentials;
  return ['run', '--target', op.url, '--api-key', c.apiKey, '--client-secret', c.clientSecret, '--optout-api-key', c.optoutApiKey, '--optout-client-secret', c.optoutClientSecret,
    '--cstg-public-key', c.cstgPublicKey, '--cstg-subscription-id', c.cstgSubscriptionId, '--propagation-timeout', '2s', '--out', dir];
}

describe('uid2-conformance calibrate', () => {
  it('refuses a fault that no selected check can see (exit 2), instead of reporting it as missed', async () => {
    const { code, stderr } = await cli(['calibrate', '--check', 'cstg.', '--fault', 'logout-not-idempotent']);
    expect(code).toBe(2);
    expect(stderr).toContain('no selected check judges a rule that fault logout-not-idempotent breaks');
  });

  it('runs a variant picked by --variant or --fault and prints it beside the faults; refuses an unknown name', async () => {
    for (const option of ['--variant', '--fault']) {
      const { code, stdout, stderr } = await cli(['calibrate', '--check', 'status.optout.repeat', option, 'latest-time']);
      expect(code, stderr).toBe(0);
      expect(stdout).toMatch(/^OK {3}variant latest-time +expected \[\] failed \[\]$/m);
      expect(stdout).toContain('1 of 1 calibration runs as expected');
    }
    const unknown = await cli(['calibrate', '--variant', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown fault or variant nope');
  });
});

/** `serve-operator` as a child process: its URL, and the credentials it generated (printed once, on stderr). */
async function serveOperator(args: string[]): Promise<{ url: string; credentials: Record<string, string>; stop(): void }> {
  const child = spawn(process.execPath, [BIN, 'serve-operator', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const match = /^listening (\S+)$/m.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve-operator exited (${code}): ${stderr}`)));
  });
  const credentials = Object.fromEntries([...stderr.matchAll(/^([a-z-]+): (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  return { url, credentials, stop: () => void child.kill('SIGTERM') };
}

describe('uid2-conformance run --cstg-origin', () => {
  it('exits 2 on an origin without CSTG keys or one that is no http(s) URL, and serve-operator on an unknown variant', async () => {
    const target = ['run', '--target', 'http://127.0.0.1:9', '--api-key', 'k', '--client-secret', Buffer.alloc(32).toString('base64'), '--out', join(out, 'usage')];
    const keys = ['--cstg-public-key', 'UID2-X-L-x', '--cstg-subscription-id', 's'];
    for (const [args, message] of [
      [[...target, '--cstg-origin', 'https://publisher.example'], /--cstg-origin needs --cstg-public-key/],
      [[...target, ...keys, '--cstg-origin', 'publisher.example'], /--cstg-origin: "publisher.example" is not a URL/],
      [['serve-operator', '--variant', 'nope'], /unknown variant "nope"/],
    ] as const) {
      const { code, stderr } = await cli([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr, args.join(' ')).toMatch(message);
    }
  }, 60_000);

  it('passes serve-operator with its CSTG origin check on; without the option it exits 2 naming it', async () => {
    const origin = 'https://publisher.example';
    const op = await serveOperator(['--cstg-origin', origin]);
    try {
      const c = op.credentials;
      const args = ['run', '--target', op.url, '--api-key', c['api-key']!, '--client-secret', c['client-secret']!, '--optout-api-key', c['optout-api-key']!, '--optout-client-secret', c['optout-client-secret']!,
        '--cstg-public-key', c['cstg-public-key']!, '--cstg-subscription-id', c['cstg-subscription-id']!, '--propagation-timeout', '2s'];
      const dir = join(out, 'cstg-origin');
      const passed = await cli([...args, '--out', dir], { UID2_CSTG_ORIGIN: origin });
      expect(passed.code, passed.stderr).toBe(0);
      const report = readReport(dir);
      expect(report.results.filter((r) => r.rule === 'OP-CSTG-OPTOUT').map((r) => r.status)).toEqual(['pass']);
      expect(report.results.every((r) => r.status === 'pass')).toBe(true);

      const refused = await cli([...args, '--out', join(out, 'cstg-no-origin')]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/refused client-generate with no Origin \(HTTP 403 invalid_http_origin\): .*--cstg-origin/);
      expect(readReport(join(out, 'cstg-no-origin')).outcome).toBe('error');
      const wrong = await cli([...args, '--cstg-origin', 'https://elsewhere.example/', '--out', join(out, 'cstg-wrong-origin')]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain('with the origin https://elsewhere.example (HTTP 403 invalid_http_origin)');
    } finally {
      op.stop();
    }
  }, 120_000);
});

describe('uid2-conformance run', () => {
  it('passes on the embedded operator, writes a valid report and prints nothing sensitive', async () => {
    const dir = join(out, 'embedded');
    const { code, stdout, stderr } = await cli(['run', '--no-pages', '--out', dir]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^PASS: \d+ pass(, \d+ not_applicable)?; reports .*report\.json, .*junit\.xml, .*audit\.html, .*audit\.md$/m);
    const report = readReport(dir);
    expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
    expect(report.outcome).toBe('pass');
    expect(report.results.every((r) => r.status === 'pass')).toBe(true);
    const text = stdout + stderr + readFileSync(join(dir, 'report.json'), 'utf8');
    expect(text).not.toMatch(/@example\.com|\+0000000000|A4A[A-Za-z0-9_-]{20}|[A-Za-z0-9+/]{100}/);
  });

  it('passes against a conformant --target and keeps its credentials out of every output', async () => {
    const op = await startOperator();
    try {
      const dir = join(out, 'target');
      const { code, stdout, stderr } = await cli(targetArgs(op, dir));
      expect(code, stderr).toBe(0);
      const text = stdout + stderr + readFileSync(join(dir, 'report.json'), 'utf8');
      for (const secret of [op.credentials.apiKey, op.credentials.clientSecret, op.credentials.optoutApiKey, op.credentials.optoutClientSecret]) expect(text).not.toContain(secret);
    } finally {
      await op.close();
    }
  });

  it('exits 1 with the broken rule failing against a faulty operator', async () => {
    for (const [fault, rule] of [['status-seconds', 'OP-STATUS-OPTOUT'], ['test-identities-docs-table', 'OP-TEST-IDENTITIES']] as const) {
      const op = await startOperator({ fault });
      try {
        const dir = join(out, fault);
        const { code } = await cli(targetArgs(op, dir));
        expect(code, fault).toBe(1);
        const report = readReport(dir);
        expect(validateReport(report)).toBe(true);
        expect([...new Set(report.results.filter((r) => r.status === 'fail').map((r) => r.rule))]).toEqual([rule]);
      } finally {
        await op.close();
      }
    }
  });

  it('keeps its verdict and exit code when the reader of its output goes away (run | head)', async () => {
    const op = await startOperator({ fault: 'status-seconds' });
    try {
      const dir = join(out, 'closed-stdout');
      const child = spawn(process.execPath, [BIN, ...targetArgs(op, dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // every write to standard output now fails with EPIPE
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, stderr).toBe(1);
      expect(stderr).not.toMatch(/EPIPE|unexpected error/);
      expect(readReport(dir).outcome).toBe('fail');
    } finally {
      await op.close();
    }
  });

  it('exits 2 with a clear message and an error report when the target is unreachable or refuses the key', async () => {
    const op = await startOperator();
    const url = op.url;
    try {
      const refusedDir = join(out, 'refused');
      const refused = await cli(['run', '--target', url, '--api-key', 'wrong', '--client-secret', op.credentials.clientSecret, '--out', refusedDir]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/refused the API key/);
      expect(readReport(refusedDir)).toMatchObject({ outcome: 'error', error: expect.stringMatching(/401/) });
      const wrongSecret = await cli(['run', '--target', url, '--api-key', op.credentials.apiKey, '--client-secret', Buffer.alloc(32, 9).toString('base64'), '--out', join(out, 'secret')]);
      expect(wrongSecret.code).toBe(2);
      expect(wrongSecret.stderr).toMatch(/client secret|client_error|--client-secret/i);
    } finally {
      await op.close();
    }
    const downDir = join(out, 'down');
    const down = await cli(['run', '--target', url, '--api-key', 'k', '--client-secret', Buffer.alloc(32).toString('base64'), '--out', downDir]);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach the operator.*ECONNREFUSED/);
    const report = readReport(downDir);
    expect(validateReport(report)).toBe(true);
    expect(report.outcome).toBe('error');
  });

  it('exits 2 on bad usage: unknown option, bad duration, production host, missing credentials', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', '--bogus'], /unknown option/],
      [['run', '--propagation-timeout', 'soon'], /not a duration/],
      [['run', '--target', 'https://prod.uidapi.com', '--api-key', 'k', '--client-secret', Buffer.alloc(32).toString('base64')], /production operator/],
      [['run', '--target', 'http://127.0.0.1:9'], /needs --api-key and --client-secret/],
      [['run', '--target', 'http://127.0.0.1:9', '--api-key', 'k', '--client-secret', 'short'], /base64 of 32 bytes/],
      [['run', '--role', 'bogus'], /use operator, publisher, dsp, advertiser or sharer/],
      [['run', '--target', 'http://127.0.0.1:9', '--driver', 'http://127.0.0.1:9'], /separate runs/],
      [['run', '--driver', 'http://127.0.0.1:9', '--webhook', 'http://dsp.example/optout'], /\{uid2\} placeholder/],
      [['run', '--driver', 'http://127.0.0.1:9'], /cannot use the driver: .*ECONNREFUSED/],
      [['serve-operator', '--fault', 'nope'], /unknown fault/],
      [['serve-operator', '--listen', 'nowhere'], /not HOST:PORT/],
      [['replay', '/nonexistent/report.json'], /cannot read a report/],
      [['run', '--target', 'http://user:pw@127.0.0.1:9', '--api-key', 'k', '--client-secret', Buffer.alloc(32).toString('base64')], /no credentials in the URL/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await cli(args[0] === 'run' ? [...args, '--out', join(out, 'usage')] : args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr, args.join(' ')).toMatch(message);
    }
  });
});

describe('uid2-conformance run, interrupted', () => {
  it('exits 130 on SIGINT with complete reports marked interrupted', async () => {
    const dir = join(out, 'interrupted');
    const child = spawn(process.execPath, [BIN, 'run', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // Interrupt once the checks are running, not during start-up.
      if (/\[\s*5\]/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, stderr.slice(-2000)).toBe(130);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { outcome: string; summary: { pass: number; skipped: number } };
    expect(report.outcome).toBe('interrupted');
    expect(report.summary.skipped).toBeGreaterThan(0);
    expect(validateReport(report)).toBe(true);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('interrupted');
  });
});

describe('uid2-conformance run --config', () => {
  it('takes options from a JSON file, flags winning over it, and refuses unknown or malformed entries', async () => {
    const config = join(out, 'config.json');
    const dir = join(out, 'from-config');
    writeFileSync(config, JSON.stringify({ role: ['operator'], 'propagation-timeout': '5s', runs: 2, seed: 7, out: join(out, 'overridden') }));
    const { code, stderr } = await cli(['run', '--config', config, '--out', dir]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { seed: number; propagation: { timeout_ms: number }; target: { role: string } };
    expect([report.seed, report.propagation.timeout_ms, report.target.role]).toEqual([7, 5000, 'operator']);
    for (const [content, message] of [
      ['{"bogus": 1}', /additional properties \("bogus"\)/],
      ['{"runs": 0}', /\/runs must be >= 1/],
      ['not json', /cannot read it \(not valid JSON\)/],
    ] as const) {
      writeFileSync(config, content);
      const bad = await cli(['run', '--config', config, '--out', join(out, 'bad-config')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  });
});

describe('uid2-conformance list', () => {
  it('prints every rule, and with --faults every named fault with the rules it breaks', async () => {
    const rules = await cli(['list']);
    expect(rules.code).toBe(0);
    for (const rule of RULES) expect(rules.stdout).toContain(rule.id);
    const faults = await cli(['list', '--faults']);
    for (const fault of OPERATOR_FAULTS) expect(faults.stdout).toMatch(new RegExp(`^${fault.name} +${fault.breaks.join(',')} `, 'm'));
    for (const variant of OPERATOR_VARIANTS) expect(faults.stdout).toMatch(new RegExp(`^${variant.name} +variant: breaks none `, 'm'));
  });

  it('lists the checks covering each rule (PROTOCOL.md §1), also as JSON for scripts', async () => {
    const text = await cli(['list']);
    expect(text.stdout).toMatch(/^OP-GEN-OPTOUT .*\n {4}scenario +gen\.optout\.every-form: /m);
    const { stdout, code } = await cli(['list', '--json']);
    expect(code).toBe(0);
    const catalog = JSON.parse(stdout) as Array<{ id: string; severity: string; checks: Array<{ id: string; kind: string }> }>;
    expect(catalog.map((r) => r.id)).toEqual(RULES.map((r) => r.id));
    for (const rule of catalog) {
      expect(rule.checks.length, rule.id).toBeGreaterThan(0);
      expect(rule.checks.map((c) => c.kind)).toContain('scenario');
    }
    const faults = JSON.parse((await cli(['list', '--faults', '--json'])).stdout) as Array<{ kind: string; name: string; role: string; breaks: string[] }>;
    expect(faults.filter((f) => f.kind === 'fault').map((f) => f.name)).toEqual(expect.arrayContaining(OPERATOR_FAULTS.map((f) => f.name)));
    expect(faults.filter((f) => f.kind === 'variant')).toEqual(OPERATOR_VARIANTS.map((v) => ({ kind: 'variant', name: v.name, role: 'operator', breaks: [], description: v.description })));
    expect(new Set(faults.map((f) => f.role))).toEqual(new Set(['operator', 'publisher', 'dsp', 'advertiser', 'sharer']));
  });
});
