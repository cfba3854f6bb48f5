// manifest.json and manifest.sig as writeReports leaves them, and verifyReportDir against every way a report
// directory can stop matching them: a changed byte anywhere (property), a missing, extra or replaced file, a
// changed manifest, a wrong key, a stale signature. openssl, which shares no code with the kit, checks the signature.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../harness/config.ts';
import { Scrubber } from '../../harness/engine/scrub.ts';
import { validateWith } from '../../harness/engine/schemas.ts';
import { CATALOG_VERSION, RULES } from '../../harness/rules.ts';
import { writeReports } from '../../reports/index.ts';
import { catalogSha256, readPublicKey, readSignKey, verifyReportDir, writeManifest, type Manifest } from '../../reports/manifest.ts';
import { ALL, runOf } from './fixtures.ts';
import { expectEveryChangedByteCaught } from './tamper.ts';

const out = mkdtempSync(join(tmpdir(), 'uid2-manifest-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(out, `d${++dirs}`);

const keys = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const RUN = runOf(ALL, { target: { role: 'operator', url: 'https://operator.staging.example embedded:reference-participants' } });
const ARTIFACTS = ['audit.html', 'audit.md', 'junit.xml', 'report.json'];

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

/** A report directory as a run leaves it, signed with `keys` unless told otherwise (null: unsigned). */
function reportDir(signKey: KeyObject | null = keys.privateKey): string {
  const dir = freshDir();
  writeReports(dir, RUN, new Scrubber(), signKey ?? undefined);
  return dir;
}

describe('manifest.json', () => {
  it('lists every report with its SHA-256, the kit, the catalog, seed, targets and times, and validates', () => {
    const dir = reportDir(null);
    const manifest = readManifest(dir);
    expect(validateWith('manifest', manifest)).toEqual([]);
    expect(manifest).toEqual({
      manifest_version: 1,
      kit: RUN.kit,
      catalog: { version: CATALOG_VERSION, sha256: catalogSha256() },
      seed: RUN.seed,
      targets: ['https://operator.staging.example', 'embedded:reference-participants'],
      started_at: RUN.started_at,
      finished_at: RUN.finished_at,
      files: ARTIFACTS.map((path) => ({ path, sha256: sha256(join(dir, path)) })),
    });
  });

  it('pins the catalog hash to the catalog version: a changed rule table needs a new version (RULES.md)', () => {
    expect({ version: CATALOG_VERSION, sha256: catalogSha256() }).toEqual({ version: '1.1', sha256: 'acc21e868ba228ea4b9b8383d456fdca52651336a5e649bd7c42f11fcee2efe0' });
    const reworded = RULES.map((r, i) => (i === 3 ? { ...r, summary: `${r.summary}.` } : r));
    expect(catalogSha256(reworded)).not.toBe(catalogSha256());
    expect(catalogSha256([...RULES].reverse())).not.toBe(catalogSha256());
    expect(catalogSha256(RULES.map((r, i) => (i === 0 ? { ...r, severity: 'SHOULD' as const } : r)))).not.toBe(catalogSha256());
  });

  it('hashes files in subdirectories by their relative path (screenshots/…)', () => {
    const dir = freshDir();
    const written = writeReports(dir, RUN);
    mkdirSync(join(dir, 'screenshots'));
    writeFileSync(join(dir, 'screenshots', 'check-1.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
    writeManifest(dir, [...written, join(dir, 'screenshots', 'check-1.png')], RUN);
    expect(readManifest(dir).files.map((f) => f.path)).toEqual([...ARTIFACTS, 'screenshots/check-1.png']);
    expect(verifyReportDir(dir)).toEqual({ ok: true, files: 5, signature: 'unsigned' });
    writeFileSync(join(dir, 'screenshots', 'check-1.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 3]));
    expect(verifyReportDir(dir)).toEqual({ ok: false, mismatch: 'screenshots/check-1.png: changed (its SHA-256 is not the manifest\'s)' });
  });

  it('an unsigned write removes the signature of an earlier manifest', () => {
    const dir = reportDir();
    expect(verifyReportDir(dir, keys.publicKey)).toMatchObject({ ok: true, signature: 'verified' });
    writeReports(dir, RUN);
    expect(verifyReportDir(dir)).toEqual({ ok: true, files: 4, signature: 'unsigned' });
    expect(verifyReportDir(dir, keys.publicKey)).toEqual({ ok: false, mismatch: 'manifest.sig is missing: the manifest is not signed' });
  });

  it.skipIf(!hasOpenssl)('manifest.sig is a raw Ed25519 signature that openssl verifies', () => {
    const dir = reportDir();
    const pub = join(out, 'openssl-pub.pem');
    writeFileSync(pub, keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const check = (d: string) => execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', join(d, 'manifest.json'), '-sigfile', join(d, 'manifest.sig')], { encoding: 'utf8' });
    expect(check(dir)).toContain('Signature Verified Successfully');
    const manifest = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), manifest.replace('"seed": 99', '"seed": 98'));
    expect(() => check(dir)).toThrow();
  });
});

describe('verifyReportDir', () => {
  it('holds on a fresh directory: signed (with and without the key) and unsigned', () => {
    const signed = reportDir();
    expect(verifyReportDir(signed, keys.publicKey)).toEqual({ ok: true, files: 4, signature: 'verified' });
    expect(verifyReportDir(signed)).toEqual({ ok: true, files: 4, signature: 'not-checked' });
    expect(verifyReportDir(reportDir(null))).toEqual({ ok: true, files: 4, signature: 'unsigned' });
  });

  it('fails, naming the file, after any single byte of any report changes (and the signature after any byte of the manifest)', () => {
    const dir = reportDir();
    expectEveryChangedByteCaught(dir, [...ARTIFACTS, 'manifest.json'], keys.publicKey, 200);
  });

  it('fails on a missing file, an extra file (also below a subdirectory), a symbolic link, and a wrong key', () => {
    const missing = reportDir();
    unlinkSync(join(missing, 'junit.xml'));
    expect(verifyReportDir(missing, keys.publicKey)).toEqual({ ok: false, mismatch: 'junit.xml: missing' });

    const extra = reportDir();
    writeFileSync(join(extra, 'notes.txt'), 'added later');
    expect(verifyReportDir(extra, keys.publicKey)).toEqual({ ok: false, mismatch: 'notes.txt: not listed in manifest.json' });
    const below = reportDir();
    mkdirSync(join(below, 'screenshots'));
    writeFileSync(join(below, 'screenshots', 'x.png'), 'png');
    expect(verifyReportDir(below)).toEqual({ ok: false, mismatch: 'screenshots/x.png: not listed in manifest.json' });

    const linked = reportDir();
    const copy = join(out, 'audit-copy.md');
    cpSync(join(linked, 'audit.md'), copy);
    unlinkSync(join(linked, 'audit.md'));
    symlinkSync(copy, join(linked, 'audit.md'));
    expect(verifyReportDir(linked)).toEqual({ ok: false, mismatch: 'audit.md: not a regular file' });

    expect(verifyReportDir(reportDir(), other.publicKey)).toEqual({ ok: false, mismatch: 'manifest.sig: not a signature of manifest.json by this public key' });
    expect(verifyReportDir(reportDir(other.privateKey), keys.publicKey)).toMatchObject({ ok: false });
  });

  it('fails on a manifest (unsigned) that is not one, lists a path outside the directory, or lists a file twice', () => {
    const edit = (change: (m: Manifest) => unknown) => {
      const dir = reportDir(null);
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(change(readManifest(dir))));
      return verifyReportDir(dir);
    };
    const notJson = reportDir(null);
    writeFileSync(join(notJson, 'manifest.json'), '{"files": [');
    expect(verifyReportDir(notJson)).toEqual({ ok: false, mismatch: 'manifest.json: not JSON' });
    expect(edit((m) => ({ ...m, files: undefined }))).toEqual({ ok: false, mismatch: "manifest.json: not a manifest ((top level) must have required property 'files')" });
    for (const path of ['../audit.md', 'a/../../x', '/etc/hostname', './audit.md']) {
      expect(edit((m) => ({ ...m, files: [...m.files, { path, sha256: '0'.repeat(64) }] }))).toEqual({ ok: false, mismatch: `manifest.json lists ${JSON.stringify(path)}, a path outside the report directory` });
    }
    expect(edit((m) => ({ ...m, files: [...m.files, m.files[0]] }))).toEqual({ ok: false, mismatch: 'manifest.json lists "audit.html" twice, or lists itself or its signature' });
    // Unsigned, a manifest edited together with the file it lists goes unnoticed: that is what the signature is for.
    const forged = reportDir(null);
    writeFileSync(join(forged, 'audit.md'), 'all good');
    const manifest = readManifest(forged);
    manifest.files.find((f) => f.path === 'audit.md')!.sha256 = sha256(join(forged, 'audit.md'));
    writeFileSync(join(forged, 'manifest.json'), JSON.stringify(manifest));
    expect(verifyReportDir(forged)).toMatchObject({ ok: true });
  });

  it('a directory without manifest.json is a usage error', () => {
    expect(() => verifyReportDir(join(out, 'nowhere'))).toThrow(UsageError);
    const dir = reportDir();
    unlinkSync(join(dir, 'manifest.json'));
    expect(() => verifyReportDir(dir)).toThrow(/no manifest\.json/);
  });
});

describe('key files', () => {
  const file = (name: string, text: string) => {
    const path = join(out, name);
    writeFileSync(path, text);
    return path;
  };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const signPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  /** The message of the UsageError `read` throws, checked to show none of the key's text. */
  const refusal = (read: () => unknown, secret: string): string => {
    let message = '';
    try {
      read();
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      message = (e as Error).message;
    }
    for (const line of secret.split('\n').filter((l) => l.length > 8 && !l.startsWith('-----'))) expect(message).not.toContain(line);
    return message;
  };

  it('--sign-key: an Ed25519 PEM private key; refusals name the file, never its content', () => {
    const scrubber = new Scrubber();
    expect(readSignKey(file('sign.pem', signPem), scrubber).asymmetricKeyType).toBe('ed25519');
    expect(refusal(() => readSignKey(join(out, 'absent.pem'), new Scrubber()), '')).toBe(`--sign-key ${join(out, 'absent.pem')}: cannot read it (ENOENT)`);
    expect(refusal(() => readSignKey(file('rsa.pem', rsaPem), new Scrubber()), rsaPem)).toMatch(/^--sign-key \S+rsa\.pem: a key of type rsa; the kit signs with Ed25519/);
    const pub = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(refusal(() => readSignKey(file('pub-as-sign.pem', pub), new Scrubber()), pub)).toMatch(/^--sign-key \S+pub-as-sign\.pem: not a private key in PEM/);
    expect(refusal(() => readSignKey(signPem, new Scrubber()), signPem)).toBe('--sign-key: give the path of a PEM file, not the key itself');
    expect(refusal(() => readSignKey(file('huge.pem', `${signPem}\n${'A'.repeat(70_000)}`), new Scrubber()), signPem)).toMatch(/^--sign-key \S+huge\.pem: too large for a PEM key file$/);
  });

  it('--sign-key: every form of the key is registered with the run scrubber', () => {
    const scrubber = new Scrubber();
    readSignKey(file('sign-scrub.pem', signPem), scrubber);
    const d = keys.privateKey.export({ format: 'jwk' }).d!;
    const body = signPem.split('\n')[1]!;
    const forms = [signPem, body, d, Buffer.from(d, 'base64url').toString('base64'), Buffer.from(d, 'base64url').toString('hex')];
    for (const form of forms) expect(scrubber.scrub(`x ${form} y`)).not.toContain(form.trim());
    // A file that is no usable key is registered too: it may still be a key of some kind.
    const rsaScrubber = new Scrubber();
    expect(() => readSignKey(file('rsa2.pem', rsaPem), rsaScrubber)).toThrow(UsageError);
    expect(rsaScrubber.scrub(rsaPem)).not.toContain(rsaPem.split('\n')[1]);
  });

  it('--public-key: an Ed25519 PEM public key; not a private key, not another algorithm', () => {
    const pubPem = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(readPublicKey(file('pub.pem', pubPem)).equals(keys.publicKey)).toBe(true);
    expect(refusal(() => readPublicKey(file('priv-as-pub.pem', signPem)), signPem)).toMatch(/: a private key; give its public key/);
    expect(refusal(() => readPublicKey(file('rsa-pub.pem', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)), '')).toMatch(/: a key of type rsa; manifests are signed with Ed25519/);
    expect(refusal(() => readPublicKey(file('garbage.pem', 'hello')), '')).toMatch(/: not a public key in PEM/);
    expect(refusal(() => readPublicKey(join(out, 'absent-pub.pem')), '')).toMatch(/cannot read it \(ENOENT\)/);
  });
});
