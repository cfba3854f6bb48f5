// Where the reference pages' files are. The pages' own browser code and the journeys are plain JavaScript kept
// in harness/page/reference/ (shipped as they are: package.json `files`); the browser bundles are build output
// of bin/build-pages.mjs in dist/pages/ (never committed).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { kitFile } from '../../paths.ts';

/** A file of the reference pages (publisher.js, the journeys). */
export const referenceFile = (name: string): string => kitFile('harness', 'page', 'reference', name);

/** A browser bundle of a real UID2 library, as bin/build-pages.mjs writes it. */
export const bundleFile = (name: string): string => kitFile('dist', 'pages', name);

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
  execFileSync(process.execPath, [kitFile('bin', 'build-pages.mjs')], { stdio: 'ignore' });
}
