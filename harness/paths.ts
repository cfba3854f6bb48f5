// Files of the kit itself (schemas/, package.json, built assets), found from its root: the nearest directory
// above this module that holds a package.json. That is the same directory whether the kit runs from source
// (harness/paths.ts) or compiled (dist/harness/paths.js), from a clone or installed under node_modules.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findKitRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}: the kit's files are missing`);
  }
}

/** The kit's root directory (where its package.json is). */
export const KIT_ROOT = findKitRoot(dirname(fileURLToPath(import.meta.url)));

/** The absolute path of a file or directory of the kit, e.g. kitFile('schemas', 'report.schema.json'). */
export function kitFile(...segments: string[]): string {
  return join(KIT_ROOT, ...segments);
}
