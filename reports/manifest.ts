// manifest.json: what a report directory holds, so that an audit can be checked later: the SHA-256 of every
// file the run wrote there, the kit and rule catalog that judged, the seed, the targets and the run's times.
// Written last and atomically; with --sign-key, manifest.sig is an Ed25519 signature of its exact bytes (the
// raw 64 bytes, so `openssl pkeyutl -verify -rawin` checks it too). verifyReportDir is the other side.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { UsageError } from '../harness/config.ts';
import type { RunResult } from '../harness/engine/result.ts';
import { quoteTarget, type Scrubber } from '../harness/engine/scrub.ts';
import { validateWith } from '../harness/engine/schemas.ts';
import { CATALOG_VERSION, RULES, type Rule } from '../harness/rules.ts';
import { writeFileAtomic } from './json.ts';

export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';

/** schemas/manifest.schema.json */
export interface Manifest {
  manifest_version: 1;
  kit: { name: string; version: string };
  catalog: { version: string; sha256: string };
  seed: number;
  targets: string[];
  started_at: string;
  finished_at: string;
  /** Every file the run wrote into the directory, by relative path ('/'-separated), sorted. */
  files: Array<{ path: string; sha256: string }>;
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The rule table's fingerprint: SHA-256 of its rules as [id, severity, role, summary] rows, in catalog order. */
export function catalogSha256(rules: readonly Rule[] = RULES): string {
  return sha256(JSON.stringify(rules.map((r) => [r.id, r.severity, r.role, r.summary])));
}

/**
 * Writes manifest.json for the files `written` (paths inside `dir`), hashing them as they are on disk now, and
 * manifest.sig when given a key. `run` is the scrubbed RunResult the reports were written from.
 */
export function writeManifest(dir: string, written: readonly string[], run: RunResult, signKey?: KeyObject): string {
  const files = [...new Set(written)]
    .map((file) => {
      const path = relative(dir, file).split(sep).join('/');
      if (path.startsWith('../') || path === '..' || path === '') throw new Error(`${file} is not inside the report directory ${dir}`);
      return { path, sha256: sha256(readFileSync(file)) };
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const manifest: Manifest = {
    manifest_version: 1,
    kit: run.kit,
    catalog: { version: CATALOG_VERSION, sha256: catalogSha256() },
    seed: run.seed,
    // run.ts joins the run's targets with spaces, 'none' before it has one.
    targets: run.target.url === 'none' ? [] : run.target.url.split(' '),
    started_at: run.started_at,
    finished_at: run.finished_at,
    files,
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  // An earlier run's signature must never sit beside this manifest, signed or not.
  rmSync(join(dir, SIGNATURE), { force: true });
  const path = join(dir, MANIFEST);
  writeFileAtomic(path, text);
  if (signKey) writeFileAtomic(join(dir, SIGNATURE), sign(null, Buffer.from(text), signKey));
  return path;
}

export type Verification = { ok: true; files: number; signature: 'verified' | 'not-checked' | 'unsigned' } | { ok: false; mismatch: string };

/**
 * Checks a report directory against its manifest: the signature first (with a key), then every listed file's
 * hash, then that nothing else is there. The first mismatch wins. No manifest at all is a UsageError.
 */
export function verifyReportDir(dir: string, publicKey?: KeyObject): Verification {
  const mismatch = (text: string): Verification => ({ ok: false, mismatch: text });
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, MANIFEST));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${dir}: no ${MANIFEST} (not a report directory, or one written by a kit without manifests)` : `${dir}: cannot read ${MANIFEST} (${code ?? (e as Error).message})`);
  }
  const signature = readOptional(join(dir, SIGNATURE));
  if (publicKey) {
    if (!signature) return mismatch(`${SIGNATURE} is missing: the manifest is not signed`);
    if (!verify(null, bytes, publicKey, signature)) return mismatch(`${SIGNATURE}: not a signature of ${MANIFEST} by this public key`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch {
    return mismatch(`${MANIFEST}: not JSON`);
  }
  const problems = validateWith('manifest', manifest);
  if (problems.length > 0) return mismatch(`${MANIFEST}: not a manifest (${problems.join('; ')})`);
  const listed = new Set<string>([MANIFEST, SIGNATURE]);
  for (const { path, sha256: expected } of manifest.files) {
    if (listed.has(path)) return mismatch(`${MANIFEST} lists ${quoteTarget(path)} twice, or lists itself or its signature`);
    listed.add(path);
    const segments = path.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) return mismatch(`${MANIFEST} lists ${quoteTarget(path)}, a path outside the report directory`);
    const file = join(dir, ...segments);
    const kind = fileKind(file);
    if (kind === 'missing') return mismatch(`${path}: missing`);
    if (kind !== 'file') return mismatch(`${path}: not a regular file`);
    if (sha256(readFileSync(file)) !== expected) return mismatch(`${path}: changed (its SHA-256 is not the manifest's)`);
  }
  const extra = filesUnder(dir).find((path) => !listed.has(path));
  if (extra !== undefined) return mismatch(`${extra}: not listed in ${MANIFEST}`);
  return { ok: true, files: manifest.files.length, signature: publicKey ? 'verified' : signature ? 'not-checked' : 'unsigned' };
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function fileKind(file: string): 'file' | 'other' | 'missing' {
  try {
    return lstatSync(file).isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

/** Every entry below `dir` that is not a directory (symbolic links included, never followed), '/'-separated, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .map((entry) => ({ entry, path: prefix ? `${prefix}/${entry.name}` : entry.name }))
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .flatMap(({ entry, path }) => (entry.isDirectory() ? filesUnder(dir, path) : [path]));
}

/** An Ed25519 PEM key is a few hundred bytes; anything much larger is some other file. */
const MAX_KEY_FILE = 64 * 1024;

/** A key option's file, read; messages name the file, and refuse a key pasted in its place without showing it. */
function readKeyFile(file: string, option: string): string {
  if (/-----|\n/.test(file)) throw new UsageError(`${option}: give the path of a PEM file, not the key itself`);
  let text: string;
  try {
    if (statSync(file).size > MAX_KEY_FILE) throw new UsageError(`${option} ${file}: too large for a PEM key file`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${option} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  return text;
}

const GENERATE = 'openssl genpkey -algorithm ed25519 -out FILE';

/**
 * `--sign-key FILE`: an Ed25519 private key in PEM. Every form of it is registered with the run's scrubber
 * (before it is parsed: a file that is no key may still hold one); messages name the file, never its content.
 */
export function readSignKey(file: string, scrubber: Scrubber): KeyObject {
  if (/-----|\n/.test(file)) scrubber.add(file.trim(), '<sign-key>');
  const text = readKeyFile(file, '--sign-key');
  const body = text.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('-----'));
  for (const line of [...body, body.join(''), text.trim()]) scrubber.add(line, '<sign-key>');
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new UsageError(`--sign-key ${file}: not a private key in PEM (make one with: ${GENERATE})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--sign-key ${file}: a key of type ${key.asymmetricKeyType ?? 'unknown'}; the kit signs with Ed25519 (${GENERATE})`);
  const d = key.export({ format: 'jwk' }).d!;
  const seed = Buffer.from(d, 'base64url');
  for (const form of [d, seed.toString('base64'), seed.toString('hex')]) scrubber.add(form, '<sign-key>');
  return key;
}

/** `verify --public-key FILE`: an Ed25519 public key in PEM. */
export function readPublicKey(file: string): KeyObject {
  const text = readKeyFile(file, '--public-key');
  // A private key would do (its public half is in it), but a verifier should never need to hold one.
  if (text.includes('PRIVATE KEY')) throw new UsageError(`--public-key ${file}: a private key; give its public key (openssl pkey -in KEY -pubout)`);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new UsageError(`--public-key ${file}: not a public key in PEM (from the private key: openssl pkey -in KEY -pubout)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--public-key ${file}: a key of type ${key.asymmetricKeyType ?? 'unknown'}; manifests are signed with Ed25519`);
  return key;
}

/** `--sign-key` of a run: undefined without one, the key, or the error the run reports before any request. */
export function signKeyOption(file: string | undefined, scrubber: Scrubber): KeyObject | UsageError | undefined {
  if (file === undefined) return undefined;
  try {
    return readSignKey(file, scrubber);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
}
