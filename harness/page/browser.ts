// The one browser of a page run: Debian's Chromium through playwright-core (never a browser download), with
// the flags of ../shared/TOOLCHAIN.md. Playwright gives every launch a fresh temporary profile (its own
// --user-data-dir, removed on close; it refuses the flag itself), so no run sees another's storage.
import { accessSync, constants } from 'node:fs';
import type { Browser } from 'playwright-core';
import { lazy } from '../lazy.ts';

// playwright-core loads only when a page run launches a browser (list and operator runs start without it).
const playwright = lazy<typeof import('playwright-core')>('playwright-core');
import { UsageError } from '../config.ts';

/**
 * Debian's Chromium builds, the lightest first: the headless shell (package chromium-headless-shell, what
 * Playwright itself runs for headless Chromium) has no browser UI at all, so a page run costs about 40 % less CPU
 * and its browser process a third of the memory of the full browser's headless mode (bench/pages.ts); the full
 * browser (package chromium) runs the same engine when the shell is not installed.
 */
export const CHROMIUM_CANDIDATES = ['/usr/lib/chromium/chromium-headless-shell', '/usr/bin/chromium'] as const;

/** The Chromium a page run launches when --chromium is not given: the first of CHROMIUM_CANDIDATES installed. */
export function defaultChromium(): string {
  return CHROMIUM_CANDIDATES.find(isExecutable) ?? CHROMIUM_CANDIDATES[CHROMIUM_CANDIDATES.length - 1]!;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * TOOLCHAIN.md: no sandbox (containers), no GPU, no QUIC, and none of the browser's own background traffic. Then
 * what only costs a page run CPU and memory: the omnibox popups, which this Chromium renders as WebUI pages
 * of their own in every window (a context is a window here) and updates at every navigation (without them a
 * new context costs about half the CPU and a renderer less, a page load 40 % less CPU: measured with Chromium
 * 156); no back/forward cache, no new renderer per same-site navigation, no spare renderer kept warm.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,BackForwardCache,ProactivelySwapBrowsingInstance,RenderDocument,SpareRendererForSitePerProcess',
];

/**
 * No host name resolves but loopback and the page's own hosts: what the route handler does not see (a
 * preconnect, a DNS prefetch, a WebSocket, a service worker's fetch) cannot reach another host either.
 */
export function hostResolverRules(pageHosts: readonly string[] = []): string {
  return `--host-resolver-rules=MAP * ~NOTFOUND, ${['localhost', '127.0.0.1', ...pageHosts].map((h) => `EXCLUDE ${h}`).join(', ')}`;
}

/**
 * `--chromium PATH` (or UID2_CHROMIUM; default defaultChromium()); a missing or broken browser is "could not test" (exit 2), with what to
 * do. `pageHosts`: the hosts of the pages under test, the only ones besides loopback that resolve.
 */
export async function launchChromium(executablePath = defaultChromium(), pageHosts: readonly string[] = []): Promise<Browser> {
  if (!isExecutable(executablePath)) {
    throw new UsageError(`--chromium: no browser at ${executablePath}: install Debian's Chromium (apt-get install -y chromium-headless-shell, or chromium) or give its path with --chromium PATH (or UID2_CHROMIUM)`);
  }
  try {
    return await playwright().chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, hostResolverRules(pageHosts)] });
  } catch (e) {
    const reason = ((e as Error).message ?? String(e)).split('\n')[0]!.replace(/^browserType\.launch: /, '');
    throw new UsageError(`--chromium: ${executablePath} did not start (${reason})`);
  }
}
