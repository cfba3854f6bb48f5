// Where the reference pages' files are: the one place that turns a kit path into a file path (switch to
// harness/paths.ts `kitFile` once it lands). Source files sit beside this module; the browser bundles are build
// output of bin/build-pages.mjs in dist/pages/ (never committed).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const KIT_ROOT = new URL('../../../', import.meta.url);

/** A file of the reference pages (publisher.js, the journeys). */
export const referenceFile = (name: string): string => fileURLToPath(new URL(`harness/page/reference/${name}`, KIT_ROOT));

/** A browser bundle of a real UID2 library, as bin/build-pages.mjs writes it. */
export const bundleFile = (name: string): string => fileURLToPath(new URL(`dist/pages/${name}`, KIT_ROOT));

export const BUNDLES = { prebid: 'prebid.js', sdk: 'euid-sdk.js' } as const;

export class MissingBundleError extends Error {}

/** Throws a message naming `npm run build` when a bundle a page needs was not built. */
export function requireBundles(libraries: Iterable<keyof typeof BUNDLES>): void {
  const missing = [...new Set(libraries)].map((l) => BUNDLES[l]).filter((b) => !existsSync(bundleFile(b)));
  if (missing.length > 0) throw new MissingBundleError(`the reference pages need the browser bundles ${missing.map((b) => `dist/pages/${b}`).join(', ')}: run \`npm run build\` (or \`node bin/build-pages.mjs\`) first`);
}

/** Builds the bundles when one is missing, as `npm run build` does (tests and the bench). */
export function ensureBundles(): void {
  if (Object.values(BUNDLES).every((b) => existsSync(bundleFile(b)))) return;
  execFileSync(process.execPath, [fileURLToPath(new URL('bin/build-pages.mjs', KIT_ROOT))], { stdio: 'ignore' });
}
