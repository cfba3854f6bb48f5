// Tampering with a report directory, for the verify tests: any one byte of any file changed, then restored.
import type { KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { verifyReportDir } from '../../reports/manifest.ts';

/** The mismatch verify must name when `file` changed: the file itself, or the signature for the manifest. */
export const mismatchOf = (file: string): string =>
  file === 'manifest.json' ? 'manifest.sig: not a signature of manifest.json by this public key' : `${file}: changed (its SHA-256 is not the manifest's)`;

/** Property: with one byte of any of `files` changed (any offset, any other value), verify fails naming it. */
export function expectEveryChangedByteCaught(dir: string, files: string[], publicKey: KeyObject, numRuns: number): void {
  fc.assert(
    fc.property(fc.constantFrom(...files), fc.nat(), fc.integer({ min: 1, max: 255 }), (file, at, flip) => {
      const path = join(dir, file);
      const original = readFileSync(path);
      const changed = Buffer.from(original);
      changed[at % changed.length]! ^= flip;
      writeFileSync(path, changed);
      try {
        expect(verifyReportDir(dir, publicKey)).toEqual({ ok: false, mismatch: mismatchOf(file) });
      } finally {
        writeFileSync(path, original);
      }
    }),
    { numRuns },
  );
  expect(verifyReportDir(dir, publicKey)).toMatchObject({ ok: true });
}
