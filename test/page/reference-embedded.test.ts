// The embedded default's page phase: when the pages cannot run here, PagesUnavailableError names what is missing
// (run --pages stops with exit 2; the default says so in a phase line); when they can, `run` with no target
// drives every reference page after the reference participant.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { defaultChromium } from '../../harness/page/browser.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../harness/engine/result.ts';
import { ensureBundles } from '../../harness/page/reference/files.ts';
import { REFERENCE_PAGES } from '../../harness/page/reference/pages.ts';
import { pageTarget, PagesUnavailableError, runEmbeddedPages } from '../../harness/page/reference/session.ts';
import { runCommand, RUN_DEFAULTS } from '../../harness/run.ts';
import { PUBLISHER_CHECKS } from '../../suites/publisher/index.ts';

const KIT = { name: 'uid2-conformance', version: 'test' };
const CHROMIUM = process.env.UID2_CHROMIUM ?? defaultChromium();

describe('the embedded page phase', () => {
  it('without Chromium: PagesUnavailableError naming what to install, no phase line of results', async () => {
    ensureBundles();
    const lines: string[] = [];
    const outcome = runEmbeddedPages(
      {
        checks: PUBLISHER_CHECKS,
        settings: { seed: 1, runs: 1, lifetimes: { refreshAfterMs: 1000, identityExpiresAfterMs: 4000, refreshExpiresAfterMs: 12_000 }, pollIntervalMs: 100, actWithinMs: 5000 },
        requestTimeoutMs: 10_000,
        checkTimeoutMs: 60_000,
        concurrency: 1,
        deadlineMs: Date.now() + 60_000,
        chromium: '/no/such/chromium',
      },
      (line) => lines.push(line),
    );
    await expect(outcome).rejects.toThrow(PagesUnavailableError);
    await expect(outcome).rejects.toThrow(/no browser at \/no\/such\/chromium: install Debian's Chromium \(apt-get install -y chromium-headless-shell, or chromium\)/);
    expect(lines).toEqual([]);
  });
});

describe.skipIf(!existsSync(CHROMIUM))('the embedded default includes the reference pages (Chromium)', () => {
  it('run with no target and no --pages/--no-pages: a phase line and results for every reference page, after the reference participant', { timeout: 300_000 }, async () => {
    ensureBundles();
    const out = mkdtempSync(join(tmpdir(), 'uid2-embedded-pages-'));
    const check = PUBLISHER_CHECKS.find((c) => c.id === 'publisher.optout-check.paths')!;
    const stderr = captureStderr();
    try {
      // One check leaves the other PUB rules undecided (an incomplete run, exit 2): what counts here is where it ran.
      await runCommand({ ...RUN_DEFAULTS, role: ['publisher'], out }, KIT, { participantChecks: [check] });
    } finally {
      stderr.restore();
    }
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunResult;
    const byTarget = new Map(report.results.map((r) => [r.target ?? 'reference participant', r.status]));
    expect(byTarget, JSON.stringify(report.results.map((r) => [r.target, r.status, r.message]))).toEqual(new Map([['reference participant', 'pass'], ...REFERENCE_PAGES.map((p) => [pageTarget(p.name), p.integration === 'cstg' ? 'not_applicable' : 'pass'] as const)]));
    for (const page of REFERENCE_PAGES) expect(stderr.text()).toMatch(new RegExp(`publisher page ${page.name}: \\d+ of 1 checks passed`));
    expect(report.browser?.refused_requests).toBe(0);
    expect(report.browser?.contexts_opened).toBeGreaterThan(0);
  });
});

/** The run's progress lines (stderr), kept for the test and not printed. */
function captureStderr(): { text(): string; restore(): void } {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)) as typeof process.stderr.write;
  return { text: () => chunks.join(''), restore: () => void (process.stderr.write = write) };
}
