// `run --pages` when the pages cannot run here: the run stops (exit 2 in run.ts) with what is missing and what to
// install, never a pass without page results.
import { describe, expect, it } from 'vitest';
import { ensureBundles } from '../../harness/page/reference/files.ts';
import { PagesUnavailableError, runEmbeddedPages } from '../../harness/page/reference/session.ts';
import { PUBLISHER_CHECKS } from '../../suites/publisher/index.ts';

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
    await expect(outcome).rejects.toThrow(/no browser at \/no\/such\/chromium: install Debian's chromium \(apt-get install -y chromium\)/);
    expect(lines).toEqual([]);
  });
});
