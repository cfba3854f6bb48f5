// Verifiable audits as users run them: `run --sign-key` (flag, UID2_SIGN_KEY, config key `sign-key`) writes
// manifest.json and manifest.sig, `verify` checks a fresh run and refuses any changed byte or a wrong key, a
// bad key stops the run before any request, and no output ever shows a key. Each command is a child process
// (seconds each on a loaded machine): the tests that run several have a long timeout.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyReportDir } from '../../reports/manifest.ts';
import { expectEveryChangedByteCaught, mismatchOf } from '../reports/tamper.ts';

const BIN = new URL('../../bin/uid2-conformance.mjs', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'uid2-verify-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
/** Everything any command printed, for the canary scan. */
const printed: string[] = [];

function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 150_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      printed.push(stdout, stderr);
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const file = (name: string, text: string) => {
  const path = join(out, name);
  writeFileSync(path, text);
  return path;
};
const pem = (key: import('node:crypto').KeyObject) => key.export(key.type === 'private' ? { type: 'pkcs8', format: 'pem' } : { type: 'spki', format: 'pem' }) as string;
const signing = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const SIGN_KEY = file('sign.pem', pem(signing.privateKey));
const PUBLIC_KEY = file('sign.pub.pem', pem(signing.publicKey));
const STRANGER_KEY = file('stranger.pub.pem', pem(stranger.publicKey));
const RSA_KEY = file('rsa.pem', pem(rsa.privateKey));
const QUICK = ['--role', 'operator', '--propagation-timeout', '2s', '--runs', '5'];

const signed = join(out, 'signed');
let run: Ran;
beforeAll(async () => {
  const config = file('config.json', JSON.stringify({ 'sign-key': SIGN_KEY }));
  run = await cli(['run', ...QUICK, '--out', signed, '--config', config]);
}, 150_000);

describe('run --sign-key and verify', () => {
  it('a fresh signed run verifies, with the public key and without it (which says so)', async () => {
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(signed).sort()).toEqual(['audit.html', 'audit.md', 'junit.xml', 'manifest.json', 'manifest.sig', 'report.json']);
    const withKey = await cli(['verify', signed, '--public-key', PUBLIC_KEY]);
    expect(withKey).toEqual({ code: 0, stdout: `VERIFIED: 4 files match manifest.json; manifest.sig verified with ${PUBLIC_KEY}\n`, stderr: '' });
    const fromEnv = await cli(['verify', signed], { UID2_PUBLIC_KEY: PUBLIC_KEY });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('manifest.sig verified');
    const noKey = await cli(['verify', signed]);
    expect(noKey).toEqual({ code: 0, stdout: 'VERIFIED: 4 files match manifest.json; manifest.sig not checked (give --public-key)\n', stderr: '' });
  }, 150_000);

  it('any changed byte of the run\'s files fails verification (property over file and offset), and so does a wrong key', async () => {
    expectEveryChangedByteCaught(signed, readdirSync(signed).filter((f) => f !== 'manifest.sig'), signing.publicKey, 60);
    // The same through the command line: exit 1 naming the first mismatch.
    const report = join(signed, 'report.json');
    const original = readFileSync(report);
    writeFileSync(report, Buffer.concat([original.subarray(0, 100), Buffer.from([original[100]! ^ 1]), original.subarray(101)]));
    try {
      expect(await cli(['verify', signed, '--public-key', PUBLIC_KEY])).toEqual({ code: 1, stdout: `MISMATCH: ${mismatchOf('report.json')}\n`, stderr: '' });
    } finally {
      writeFileSync(report, original);
    }
    const manifest = join(signed, 'manifest.json');
    const text = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, text.replace(/"seed": \d+/, '"seed": 7'));
    try {
      expect((await cli(['verify', signed, '--public-key', PUBLIC_KEY])).stdout).toBe('MISMATCH: manifest.sig: not a signature of manifest.json by this public key\n');
    } finally {
      writeFileSync(manifest, text);
    }
    expect(await cli(['verify', signed, '--public-key', STRANGER_KEY])).toEqual({ code: 1, stdout: 'MISMATCH: manifest.sig: not a signature of manifest.json by this public key\n', stderr: '' });
    expect((await cli(['verify', signed, '--public-key', PUBLIC_KEY])).code).toBe(0);
  }, 150_000);

  it('usage errors exit 2: no manifest, an unreadable or wrong kind of public key', async () => {
    const empty = join(out, 'empty');
    mkdirSync(empty);
    const none = await cli(['verify', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`uid2-conformance: ${empty}: no manifest.json (not a report directory, or one written by a kit without manifests)\n`);
    const missing = await cli(['verify', signed, '--public-key', join(out, 'absent.pem')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--public-key ${join(out, 'absent.pem')}: cannot read it (ENOENT)`);
    const privateKey = await cli(['verify', signed, '--public-key', SIGN_KEY]);
    expect(privateKey.code).toBe(2);
    expect(privateKey.stderr).toContain('a private key; give its public key');
  }, 150_000);
});

describe('a bad --sign-key', () => {
  it('exits 2 before any request, naming the file (UID2_SIGN_KEY), with an unsigned report that says why', async () => {
    let requests = 0;
    const target = createServer((req, res) => {
      requests += 1;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as { port: number }).port;
    const dir = join(out, 'bad-key');
    try {
      const ran = await cli(['run', '--target', `http://127.0.0.1:${port}`, '--api-key', 'verify-test-key', '--client-secret', Buffer.alloc(32, 7).toString('base64'), '--out', dir], { UID2_SIGN_KEY: RSA_KEY });
      expect(ran.code).toBe(2);
      expect(ran.stderr).toContain(`uid2-conformance: --sign-key ${RSA_KEY}: a key of type rsa; the kit signs with Ed25519`);
      expect(requests).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { outcome: string; error: string };
      expect(report).toMatchObject({ outcome: 'error', error: expect.stringContaining(`--sign-key ${RSA_KEY}`) });
      expect(verifyReportDir(dir)).toEqual({ ok: true, files: 4, signature: 'unsigned' });
    } finally {
      target.close();
    }
  }, 150_000);

  it('a key pasted in place of its file name is refused without being shown', async () => {
    const dir = join(out, 'pasted');
    const ran = await cli(['run', ...QUICK, '--out', dir, '--sign-key', pem(signing.privateKey)]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toBe('uid2-conformance: --sign-key: give the path of a PEM file, not the key itself\n');
  }, 150_000);
});

describe('no key in any output', () => {
  it('neither the signing key nor a refused key appears in anything printed or written', () => {
    const d = signing.privateKey.export({ format: 'jwk' }).d!;
    const seed = Buffer.from(d, 'base64url');
    const canaries = [
      ...[pem(signing.privateKey), pem(rsa.privateKey)].flatMap((text) => text.split('\n').filter((line) => line.length > 8 && !line.startsWith('-----'))),
      d,
      seed.toString('base64'),
      seed.toString('hex'),
    ];
    const outputs = new Map(printed.map((text, i) => [`printed #${i}`, text]));
    for (const dir of readdirSync(out).map((name) => join(out, name)).filter((path) => statSync(path).isDirectory())) {
      for (const name of readdirSync(dir)) outputs.set(join(dir, name), readFileSync(join(dir, name), 'latin1'));
    }
    expect(outputs.size).toBeGreaterThan(20);
    const found = [...outputs].flatMap(([where, text]) => canaries.filter((c) => text.includes(c)).map((c) => `${where}: ${c.length} chars of key`));
    expect(found).toEqual([]);
  });
});
