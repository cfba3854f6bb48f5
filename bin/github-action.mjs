#!/usr/bin/env node
// The one working step of the GitHub Action (action.yml): runs the kit's binary with the action's inputs
// (INPUT_* variables), appends audit.md to the job summary and sets the action's outputs, then exits with the
// kit's exit code. Credentials reach the kit through its own environment variables (UID2_API_KEY, …), never
// its command line. UID2_KIT_DIR is the action's checkout (github.action_path), where the binary is.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Inputs handed to the kit through its environment variables (PROTOCOL.md §1). */
const THROUGH_ENV = {
  TARGET: 'UID2_TARGET',
  API_KEY: 'UID2_API_KEY',
  CLIENT_SECRET: 'UID2_CLIENT_SECRET',
  OPTOUT_API_KEY: 'UID2_OPTOUT_API_KEY',
  OPTOUT_CLIENT_SECRET: 'UID2_OPTOUT_CLIENT_SECRET',
};
export const DEFAULT_OUT = 'uid2-conformance-report';
/** GitHub refuses a step summary above 1 MiB. */
export const SUMMARY_LIMIT = 1024 * 1024;
const EXIT_OF_SIGNAL = { SIGINT: 130, SIGTERM: 143 };

/** The kit's command line and environment for the action's inputs; throws on an input it cannot use. */
export function kitInvocation(env) {
  const input = (name) => (env[`INPUT_${name}`] ?? '').trim();
  const out = input('OUT') || DEFAULT_OUT;
  const args = ['run', '--out', out];
  for (const role of input('ROLES').split(/[\s,]+/).filter(Boolean)) args.push('--role', role);
  if (input('BOUND')) args.push('--propagation-timeout', input('BOUND'));
  if (input('BASELINE')) args.push('--baseline', input('BASELINE'));
  const strict = input('STRICT').toLowerCase();
  if (strict === 'true') args.push('--strict');
  else if (strict !== '' && strict !== 'false') throw new Error(`input strict: "${strict}" is neither true nor false`);
  const kitEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('INPUT_')));
  for (const [name, variable] of Object.entries(THROUGH_ENV)) if (input(name)) kitEnv[variable] = input(name);
  return { args, env: kitEnv, out };
}

/** The job summary's text: audit.md, cut at a line end when it would pass GitHub's limit. */
export function summaryOf(audit) {
  const note = '\n… the audit is longer than a job summary may be: read audit.md in the report directory.\n';
  if (Buffer.byteLength(audit) <= SUMMARY_LIMIT) return audit;
  const room = Buffer.from(audit).subarray(0, SUMMARY_LIMIT - Buffer.byteLength(note)).toString('utf8');
  return room.slice(0, room.lastIndexOf('\n') + 1) + note;
}

/** `name=value` for $GITHUB_OUTPUT, in the delimited form that no value can break out of. */
function outputLines(outputs) {
  return Object.entries(outputs)
    .map(([name, value]) => {
      const delimiter = `ghadelimiter_${randomUUID()}`;
      return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
    })
    .join('');
}

function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Runs the kit; resolves with its exit code. A cancelled job's signal reaches it, and the reports are still read. */
function runKit(kitDir, { args, env }) {
  const child = spawn(process.execPath, [join(kitDir, 'bin', 'uid2-conformance.mjs'), ...args], { env, stdio: 'inherit' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((done) => {
    child.on('error', () => done(2));
    child.on('exit', (code, signal) => done(code ?? EXIT_OF_SIGNAL[signal] ?? 2));
  });
}

async function main(env) {
  const kitDir = env.UID2_KIT_DIR;
  if (!kitDir) throw new Error('UID2_KIT_DIR (the action path) is not set: run this script through action.yml');
  const invocation = kitInvocation(env);
  process.stdout.write(`uid2-conformance ${invocation.args.join(' ')}\n`);
  const code = await runKit(kitDir, invocation);
  const dir = resolve(invocation.out);
  const report = readText(join(dir, 'report.json'));
  const { outcome = 'error', summary = {} } = report === undefined ? {} : JSON.parse(report);
  const count = (status) => (summary[status] === undefined ? '' : String(summary[status]));
  const audit = readText(join(dir, 'audit.md')) ?? `uid2-conformance exited ${code} without an audit: see the step's log.\n`;
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, summaryOf(audit));
  const outputs = { outcome, passed: count('pass'), failed: count('fail'), warned: count('warn'), errors: count('error'), 'report-dir': dir };
  if (env.GITHUB_OUTPUT) appendFileSync(env.GITHUB_OUTPUT, outputLines(outputs));
  return code;
}

// Run as a script (not imported by the tests); Node gives a main module its real path, so compare real paths.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.env).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`::error::uid2-conformance action: ${e.message}\n`);
      if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, outputLines({ outcome: 'error' }));
      process.exit(2);
    },
  );
}
