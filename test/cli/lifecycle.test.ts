// How a run ends (issue 9): reports on every exit, the deadline and signals honoured in every phase, a run
// cut short never a pass, --out checked before any request. The targets here are minimal and local: an
// HTTP front that passes the preflight through to a simulated operator, then hangs or resets.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import { verifyReportDir } from '../../reports/manifest.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-lifecycle-'));
const ajv = new Ajv({ allErrors: true });
addFormats.default(ajv);
const validateReport = ajv.compile(JSON.parse(readFileSync(new URL('../../schemas/report.schema.json', import.meta.url), 'utf8')));

interface Report {
  outcome: string;
  error?: string;
  incomplete?: boolean;
  undecided_rules?: string[];
  stopped_by?: string;
  summary: Record<string, number>;
  results: Array<{ rule: string; status: string; message: string }>;
}
const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;

function expectValid(dir: string): Report {
  const report = readReport(dir);
  expect(validateReport(report), JSON.stringify(validateReport.errors)).toBe(true);
  for (const file of ['junit.xml', 'audit.html', 'audit.md']) expect(readFileSync(join(dir, file), 'utf8').length, file).toBeGreaterThan(0);
  // However the run ended, manifest.json came last and matches what is there.
  expect(verifyReportDir(dir)).toMatchObject({ ok: true, files: 4 });
  return report;
}

interface Kit {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[], options: { detached?: boolean } = {}): Kit {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached });
  const kit: Kit = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
  child.stdout!.on('data', (c: Buffer) => (kit.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (kit.stderr += c.toString()));
  return kit;
}

const cli = (args: string[]) => start(process.execPath, [BIN, ...args]);

/** Resolves once `text` matches the kit's standard error. */
function seen(kit: Kit, pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const look = () => pattern.test(kit.stderr) && (kit.child.stderr!.off('data', look), resolve());
    kit.child.stderr!.on('data', look);
    look();
  });
}

/** An operator in front of the simulated one: the first request (preflight) passes through, later ones hang or reset. */
interface Front {
  url: string;
  requests: number;
  /** Resolves at the request with this number. */
  reached(n: number): Promise<void>;
  close(): Promise<void>;
}

async function front(op: RunningOperator, after: 'hang' | 'reset', passThrough = 1): Promise<Front> {
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const state = { requests: 0 };
  const server: Server = createServer(async (req, res) => {
    const n = ++state.requests;
    for (const w of waiters.filter((w) => w.n === n)) w.resolve();
    if (n > passThrough) {
      if (after === 'reset') req.socket.destroy();
      return; // hang: never answer
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = { 'content-type': String(req.headers['content-type']) };
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    const answer = await request(`${op.url}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) });
    res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'text/plain') });
    res.end(Buffer.from(await answer.body.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    reached: (n) => (state.requests >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

function targetArgs(op: RunningOperator, url: string, dir: string): string[] {
  const c = op.credentials;
  return ['run', '--target', url, '--api-key', c.apiKey, '--client-secret', c.clientSecret, '--optout-api-key', c.optoutApiKey, '--optout-client-secret', c.optoutClientSecret, '--out', dir];
}

/** No stack trace reaches the user: no `    at fn (file:line)` frames. */
const STACK = /^\s+at .+:\d+/m;

let op: RunningOperator;
beforeAll(async () => {
  op = await startOperator();
});
afterAll(async () => {
  await op.close();
  rmSync(out, { recursive: true, force: true });
});

describe('a target that fails after preflight', () => {
  it('hangs: exit 2 within the deadline + 5 s, complete valid reports saying which rules were not decided, no stack trace', async () => {
    const target = await front(op, 'hang');
    const dir = join(out, 'hang');
    try {
      const kit = cli([...targetArgs(op, target.url, dir), '--deadline', '3s', '--timeout', '30s']);
      await target.reached(1);
      const firstRequest = Date.now();
      await target.reached(2);
      // Mid-run, --out already says this run has not finished: no earlier report looks current.
      expect(readReport(dir)).toMatchObject({ outcome: 'error', error: expect.stringMatching(/has not finished/) });
      const { code } = await kit.exited;
      const elapsed = Date.now() - firstRequest;
      expect(code, kit.stderr.slice(-2000)).toBe(2);
      expect(elapsed).toBeLessThan(3000 + 5000);
      expect(kit.stderr).not.toMatch(STACK);
      const report = expectValid(dir);
      expect(report).toMatchObject({ outcome: 'error', incomplete: true, stopped_by: 'deadline' });
      expect(report.undecided_rules).toContain('OP-GEN-OPTOUT');
      expect(report.results.every((r) => r.status === 'skipped' && /deadline/.test(r.message))).toBe(true);
      expect(readFileSync(join(dir, 'audit.md'), 'utf8')).toMatch(/Incomplete: .*OP-GEN-OPTOUT/);
    } finally {
      await target.close();
    }
  });

  it('resets: exit 2 with the reason, reports replacing the previous run\'s pass, no stack trace', async () => {
    const target = await front(op, 'reset');
    const dir = join(out, 'reset');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify({ outcome: 'pass' }));
    writeFileSync(join(dir, 'junit.xml'), '<testsuites tests="1" failures="0"/>');
    try {
      const kit = cli(targetArgs(op, target.url, dir));
      const { code } = await kit.exited;
      expect(code, kit.stderr.slice(-2000)).toBe(2);
      expect(kit.stderr).toMatch(/uid2-conformance: the operator stopped answering during the run: .*unreachable/);
      expect(kit.stderr).not.toMatch(STACK);
      const report = expectValid(dir);
      expect(report).toMatchObject({ outcome: 'error', error: expect.stringMatching(/stopped answering/) });
      expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toMatch(/could not test/);
    } finally {
      await target.close();
    }
  });
});

describe('the deadline and signals in every phase', () => {
  it('a deadline that cuts the embedded run short is exit 2, "Incomplete", never "Conformant"', async () => {
    const dir = join(out, 'deadline');
    const kit = cli(['run', '--out', dir, '--deadline', '2s']);
    const { code } = await kit.exited;
    expect(code, kit.stderr.slice(-2000)).toBe(2);
    const report = expectValid(dir);
    expect(report).toMatchObject({ outcome: 'error', incomplete: true, stopped_by: 'deadline' });
    expect(report.summary.skipped).toBeGreaterThan(0);
    expect(report.undecided_rules!.length).toBeGreaterThan(0);
    const audit = readFileSync(join(dir, 'audit.md'), 'utf8');
    expect(audit).toMatch(/\*\*Outcome: Incomplete: /);
    expect(audit).not.toMatch(/Conformant/);
    expect(kit.stdout).toMatch(/^ERROR: /m);
    expect(kit.stderr).toMatch(/^INCOMPLETE: \d+ MUST rules? not decided before the run deadline: /m);
  });

  it('SIGINT during a preflight that hangs: exit 130 within 5 s, reports marked interrupted', async () => {
    const target = await front(op, 'hang', 0);
    const dir = join(out, 'preflight-sigint');
    try {
      const kit = cli([...targetArgs(op, target.url, dir), '--timeout', '60s']);
      await target.reached(1);
      const sent = Date.now();
      kit.child.kill('SIGINT');
      const { code } = await kit.exited;
      expect(code, kit.stderr.slice(-2000)).toBe(130);
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(expectValid(dir)).toMatchObject({ outcome: 'interrupted', stopped_by: 'SIGINT', incomplete: true });
    } finally {
      await target.close();
    }
  });

  it('SIGTERM during preparation: exit 143 within 5 s, reports marked interrupted', async () => {
    const target = await front(op, 'hang');
    const dir = join(out, 'preparation-sigterm');
    try {
      const kit = cli([...targetArgs(op, target.url, dir), '--timeout', '60s']);
      await target.reached(2);
      const sent = Date.now();
      kit.child.kill('SIGTERM');
      const { code } = await kit.exited;
      expect(code, kit.stderr.slice(-2000)).toBe(143);
      expect(Date.now() - sent).toBeLessThan(5000);
      const report = expectValid(dir);
      expect(report).toMatchObject({ outcome: 'interrupted', stopped_by: 'SIGTERM' });
      expect(report.results.every((r) => r.status === 'skipped' && /SIGTERM/.test(r.message))).toBe(true);
    } finally {
      await target.close();
    }
  });
});

describe('--out and usage errors', () => {
  it('refuses an unusable --out (a file, a path under a file) with exit 2 before any request', async () => {
    const target = await front(op, 'hang');
    const file = join(out, 'a-file');
    writeFileSync(file, 'not a directory');
    try {
      for (const dir of [file, join(file, 'sub')]) {
        const kit = cli(targetArgs(op, target.url, dir));
        const { code } = await kit.exited;
        expect(code, dir).toBe(2);
        expect(kit.stderr).toMatch(/^uid2-conformance: --out .*: not a directory$/m);
        expect(kit.stderr).not.toMatch(STACK);
      }
      expect(target.requests).toBe(0);
    } finally {
      await target.close();
    }
  }, 60_000); // two runs of the binary, one after the other

  it('writes an error report for usage errors when --out is usable (PROTOCOL.md §2)', async () => {
    for (const [args, message] of [
      [['--propagation-timeout', 'soon'], /not a duration/],
      [['--bogus'], /unknown option/],
      [['--role', 'bogus'], /use operator, publisher/],
    ] as const) {
      const dir = join(out, `usage-${args[0]}`);
      const kit = cli(['run', ...args, '--out', dir]);
      const { code } = await kit.exited;
      expect(code, args.join(' ')).toBe(2);
      expect(kit.stderr).toMatch(message);
      expect(expectValid(dir)).toMatchObject({ outcome: 'error', error: expect.stringMatching(message) });
    }
  }, 60_000); // three runs of the binary, one after the other
});

/** Whether any process of this group is still there. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the process group is empty (every process of the run gone); false if it is not within `ms`. */
async function groupGone(pgid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (groupAlive(pgid)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe('signals through npx and npm exec (npm runs the bin under `sh -c`)', () => {
  const cases = [
    ['npx', ['--offline', 'uid2-conformance', 'run'], 'SIGINT', 'group'],
    ['npx', ['--offline', 'uid2-conformance', 'run'], 'SIGTERM', 'group'],
    ['npm', ['exec', '--offline', 'uid2-conformance', '--', 'run'], 'SIGINT', 'group'],
    ['npm', ['exec', '--offline', 'uid2-conformance', '--', 'run'], 'SIGTERM', 'group'],
    ['npx', ['--offline', 'uid2-conformance', 'run'], 'SIGTERM', 'npm alone'],
  ] as const;
  for (const [command, args, signal, to] of cases) {
    it(`${command} ${args[0]} ${signal} to the ${to}: ${signal === 'SIGINT' ? 130 : 143}, complete reports marked interrupted, no process left`, { timeout: 90_000 }, async () => {
      const dir = join(out, `npm-${command}-${signal}-${to.replace(' ', '-')}`);
      const kit = start(command, [...args, '--out', dir], { detached: true });
      const pgid = kit.child.pid!;
      try {
        await seen(kit, /\[\s*3\]/);
        process.kill(to === 'group' ? -pgid : pgid, signal);
        const { code, signal: killedBy } = await kit.exited;
        // npm exits with the child shell's status or re-raises the signal on itself: either way, 128 + n.
        expect(code ?? { SIGINT: 130, SIGTERM: 143 }[killedBy as 'SIGINT' | 'SIGTERM'], kit.stderr.slice(-2000)).toBe(signal === 'SIGINT' ? 130 : 143);
        expect(await groupGone(pgid, 10_000), 'a process of the run was left behind').toBe(true);
        expect(expectValid(dir)).toMatchObject({ outcome: 'interrupted', stopped_by: signal });
      } finally {
        if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
      }
    });
  }
});
