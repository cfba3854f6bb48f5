// The GitHub Action (action.yml) run as a runner runs it: its steps in order, each `run:` in bash with its env
// map's `${{ inputs.x }}` (the input given, else its default) and `${{ github.action_path }}` (this checkout)
// substituted, in a simulated GITHUB_* environment (a temporary workspace, temporary files for
// GITHUB_STEP_SUMMARY and each step's GITHUB_OUTPUT); then the job summary and the action's outputs are checked
// against the reports. The `npm ci` step is skipped: it would reinstall and rebuild the very checkout the test
// runs from (the packaging test installs the kit from nothing).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUT, kitInvocation, SUMMARY_LIMIT, summaryOf } from '../../bin/github-action.mjs';
import { startOperator } from '../../harness/operator/index.ts';
import { verifyReportDir } from '../../reports/manifest.ts';

interface Step {
  name?: string;
  id?: string;
  shell?: string;
  env?: Record<string, string>;
  run?: string;
  uses?: string;
}
interface Action {
  inputs: Record<string, { description: string; default?: string }>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: Step[] };
}

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as Action;
const EXPRESSION = /\$\{\{\s*(.*?)\s*\}\}/g;
const CREDENTIAL_INPUTS = ['api-key', 'client-secret', 'optout-api-key', 'optout-client-secret'];
const tmp = mkdtempSync(join(tmpdir(), 'uid2-action-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let runs = 0;

/** What an expression of an env map stands for, as the runner evaluates it. */
function evaluate(expression: string, inputs: Record<string, string>): string {
  if (expression === 'github.action_path') return ROOT;
  const input = /^inputs\.([\w-]+)$/.exec(expression)?.[1];
  if (input === undefined || !action.inputs[input]) throw new Error(`an expression the runner would not resolve here: ${expression}`);
  return inputs[input] ?? action.inputs[input].default ?? '';
}

/** $GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIMITER` … `DELIMITER` blocks. */
function readOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const block = /^([\w-]+)<<(.+)$/.exec(lines[i]!);
    if (block) {
      const end = lines.indexOf(block[2]!, i + 1);
      if (end < 0) throw new Error(`output ${block[1]}: no closing delimiter`);
      outputs[block[1]!] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (lines[i]!.includes('=')) {
      const at = lines[i]!.indexOf('=');
      outputs[lines[i]!.slice(0, at)] = lines[i]!.slice(at + 1);
    }
  }
  return outputs;
}

interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  skipped: string[];
  summary: string;
  outputs: Record<string, string>;
  workspace: string;
}

/** Runs action.yml's steps in order, as a runner would, until one fails. `jobEnv`: the job's own env. */
async function runAction(inputs: Record<string, string>, jobEnv: Record<string, string> = {}): Promise<ActionRun> {
  const home = join(tmp, `run-${++runs}`);
  const workspace = join(home, 'workspace');
  const summaryFile = join(home, 'step-summary.md');
  rmSync(home, { recursive: true, force: true });
  mkdirSync(workspace, { recursive: true });
  writeFileSync(summaryFile, '');
  const stepOutputs: Record<string, Record<string, string>> = {};
  const result: ActionRun = { code: 0, stdout: '', stderr: '', skipped: [], summary: '', outputs: {}, workspace };
  for (const [index, step] of action.runs.steps.entries()) {
    if (step.uses !== undefined) throw new Error(`step ${index}: the test runs only run: steps`);
    if (/\bnpm ci\b/.test(step.run!)) {
      result.skipped.push(step.name ?? `step ${index}`); // see the top of this file
      continue;
    }
    const outputFile = join(home, `output-${index}`);
    writeFileSync(outputFile, '');
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([name, value]) => [name, value.replace(EXPRESSION, (_, e: string) => evaluate(e, inputs))]));
    const script = join(home, `step-${index}.sh`);
    writeFileSync(script, step.run!);
    const env = { PATH: process.env.PATH, HOME: home, CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: workspace, GITHUB_STEP_SUMMARY: summaryFile, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: home, ...jobEnv, ...stepEnv };
    // The runner's own command for `shell: bash`.
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: workspace, env });
    child.stdout.on('data', (c: Buffer) => (result.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (result.stderr += c.toString()));
    result.code = await new Promise<number>((done) => child.on('close', (code) => done(code ?? -1)));
    if (step.id) stepOutputs[step.id] = readOutputs(readFileSync(outputFile, 'utf8'));
    if (result.code !== 0) break;
  }
  result.summary = readFileSync(summaryFile, 'utf8');
  for (const [name, output] of Object.entries(action.outputs)) {
    const ref = /^\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$/.exec(output.value);
    if (!ref) throw new Error(`output ${name}: not a step output`);
    const value = stepOutputs[ref[1]!]?.[ref[2]!];
    if (value !== undefined) result.outputs[name] = value;
  }
  return result;
}

const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { outcome: string; summary: Record<string, number>; target: { url: string; role: string; roles?: string[] }; propagation?: { timeout_ms: number } };

describe('action.yml', () => {
  it('is a composite action whose run: steps use no expression; inputs reach them only through env maps', () => {
    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs).sort()).toEqual(['api-key', 'baseline', 'bound', 'client-secret', 'optout-api-key', 'optout-client-secret', 'out', 'roles', 'strict', 'target']);
    expect(Object.keys(action.outputs).sort()).toEqual(['errors', 'failed', 'outcome', 'passed', 'report-dir', 'warned']);
    for (const step of action.runs.steps) {
      expect(step.shell, step.name).toBe('bash');
      expect(step.run, step.name).not.toMatch(/\$\{\{/);
      expect(Object.keys(step).filter((k) => !['name', 'id', 'shell', 'env', 'run'].includes(k)), step.name).toEqual([]);
      for (const value of Object.values(step.env ?? {})) for (const [, e] of value.matchAll(EXPRESSION)) expect(() => evaluate(e!, {})).not.toThrow();
    }
    // Credentials appear in no place but an env map (not a name, an output or another key).
    const text = readFileSync(join(ROOT, 'action.yml'), 'utf8');
    for (const input of CREDENTIAL_INPUTS) expect(text.match(new RegExp(`inputs\\.${input}\\b`, 'g'))).toHaveLength(1);
  });

  it('on the embedded default: exit 0, audit.md in the job summary, the counts and report directory as outputs', async () => {
    // Without the reference pages (minutes in Chromium, and their known Prebid.js finding): test/page/ runs them.
    const ran = await runAction({}, { UID2_NO_PAGES: '1' });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.skipped).toEqual(['Install the kit (npm ci builds it)']);
    const dir = join(ran.workspace, DEFAULT_OUT);
    const report = readReport(dir);
    expect(ran.summary).toBe(readFileSync(join(dir, 'audit.md'), 'utf8'));
    expect(ran.summary).toContain('Conformant');
    expect(report.summary.pass).toBeGreaterThan(0);
    expect(ran.outputs).toEqual({ outcome: 'pass', passed: String(report.summary.pass), failed: '0', warned: '0', errors: '0', 'report-dir': dir });
    expect(report.target.roles).toEqual(['operator', 'publisher', 'dsp', 'advertiser', 'sharer']);
    expect(verifyReportDir(dir)).toMatchObject({ ok: true });
  }, 300_000);

  it('against a target with a fault: credentials through env only, roles, bound, strict and out applied; exit 1 with the failures counted', async () => {
    const operator = await startOperator({ fault: 'status-seconds' });
    try {
      const c = operator.credentials;
      const secrets = { 'api-key': c.apiKey, 'client-secret': c.clientSecret, 'optout-api-key': c.optoutApiKey, 'optout-client-secret': c.optoutClientSecret };
      // The job's env reaches the kit too: its settle window (2 minutes against a target by default) made short.
      const ran = await runAction({ target: operator.url, ...secrets, roles: 'operator', bound: '2s', strict: 'true', out: 'reports/op' }, { UID2_SETTLE: '0ms' });
      expect(ran.code, ran.stderr).toBe(1);
      const dir = join(ran.workspace, 'reports', 'op');
      const report = readReport(dir);
      expect(report.outcome).toBe('fail');
      expect(report.target).toEqual({ role: 'operator', url: operator.url, name: new URL(operator.url).host });
      expect(report.propagation?.timeout_ms).toBe(2000);
      expect(report.summary.fail).toBeGreaterThan(0);
      expect(ran.outputs).toEqual({ outcome: 'fail', passed: String(report.summary.pass), failed: String(report.summary.fail), warned: String(report.summary.warn), errors: String(report.summary.error), 'report-dir': dir });
      expect(ran.summary).toBe(readFileSync(join(dir, 'audit.md'), 'utf8'));
      expect(ran.stdout).toContain('uid2-conformance run --out reports/op --role operator --propagation-timeout 2s --strict\n');
      for (const secret of Object.values(secrets)) for (const text of [ran.stdout, ran.stderr, ran.summary]) expect(text).not.toContain(secret);
    } finally {
      await operator.close();
    }
  }, 300_000);

  it('a baseline the kit cannot use: exit 2, outcome error, the kit names --baseline', async () => {
    const ran = await runAction({ baseline: 'no-such-baseline.yml', roles: 'operator' });
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain('--baseline');
    expect(ran.outputs.outcome).toBe('error');
    expect(ran.summary.length).toBeGreaterThan(0);
  }, 300_000);
});

describe('examples/', () => {
  it('github-workflow.yml gives only inputs action.yml declares, reads only its outputs, and keeps expressions out of run:', () => {
    const workflow = parse(readFileSync(join(ROOT, 'examples', 'github-workflow.yml'), 'utf8')) as { jobs: Record<string, { steps: Array<Step & { with?: Record<string, string> }> }> };
    const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
    const kit = steps.find((s) => s.uses?.startsWith('your-org/uid2-conformance@'));
    expect(Object.keys(kit!.with!).filter((input) => !action.inputs[input])).toEqual([]);
    for (const input of CREDENTIAL_INPUTS) expect(kit!.with![input]).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    const used = [...JSON.stringify(steps).matchAll(new RegExp(`steps\\.${kit!.id}\\.outputs\\.([\\w-]+)`, 'g'))].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((output) => !action.outputs[output!])).toEqual([]);
    for (const step of steps) expect(step.run ?? '').not.toMatch(/\$\{\{/);
  });

  it('gitlab-ci.yml hands junit.xml of the report directory to GitLab and keeps the directory', () => {
    const jobs = parse(readFileSync(join(ROOT, 'examples', 'gitlab-ci.yml'), 'utf8')) as Record<string, { variables: Record<string, string>; script: string[]; artifacts: { when: string; paths: string[]; reports: { junit: string } } }>;
    const job = Object.values(jobs)[0]!;
    const out = job.variables.UID2_OUT!;
    expect(job.artifacts).toMatchObject({ when: 'always', paths: [`${out}/`], reports: { junit: `${out}/junit.xml` } });
    expect(job.script.join('\n')).toMatch(/npx uid2-conformance run/);
    expect(job.script.join('\n')).not.toMatch(/--api-key|--client-secret|--optout/);
  });
});

describe('bin/github-action.mjs', () => {
  const secret = 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=';
  it('maps inputs to the kit: options on the command line, credentials and target in its environment only', () => {
    const { args, env, out } = kitInvocation({
      PATH: '/bin',
      UID2_SETTLE: '0ms',
      INPUT_TARGET: ' https://operator.staging.example ',
      INPUT_API_KEY: 'key-from-a-secret',
      INPUT_CLIENT_SECRET: secret,
      INPUT_OPTOUT_API_KEY: '',
      INPUT_ROLES: 'operator, publisher\ndsp',
      INPUT_BOUND: '10m',
      INPUT_STRICT: 'TRUE',
      INPUT_BASELINE: 'baseline.yml',
      INPUT_OUT: '',
    });
    expect(out).toBe(DEFAULT_OUT);
    expect(args).toEqual(['run', '--out', DEFAULT_OUT, '--role', 'operator', '--role', 'publisher', '--role', 'dsp', '--propagation-timeout', '10m', '--baseline', 'baseline.yml', '--strict']);
    expect(env).toEqual({ PATH: '/bin', UID2_SETTLE: '0ms', UID2_TARGET: 'https://operator.staging.example', UID2_API_KEY: 'key-from-a-secret', UID2_CLIENT_SECRET: secret });
    expect(kitInvocation({ INPUT_STRICT: 'false', UID2_API_KEY: 'from-the-job' })).toEqual({ args: ['run', '--out', DEFAULT_OUT], env: { UID2_API_KEY: 'from-the-job' }, out: DEFAULT_OUT });
    expect(() => kitInvocation({ INPUT_STRICT: 'yes' })).toThrow('input strict: "yes" is neither true nor false');
  });

  it('cuts an audit longer than a job summary may be at a line end, and says so', () => {
    expect(summaryOf('# Audit\nshort\n')).toBe('# Audit\nshort\n');
    const long = Array.from({ length: 40_000 }, (_, i) => `| OP-RULE-${i} | Pass | ✓ é |`).join('\n');
    const cut = summaryOf(long);
    expect(Buffer.byteLength(long)).toBeGreaterThan(SUMMARY_LIMIT);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(SUMMARY_LIMIT);
    expect(cut).toMatch(/\| Pass \| ✓ é \|\n\n… the audit is longer than a job summary may be: read audit\.md in the report directory\.\n$/);
    expect(long.startsWith(cut.slice(0, cut.indexOf('\n\n…')))).toBe(true);
  });
});
