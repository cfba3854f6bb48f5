// The embedded default's page phase when the pages cannot run here: a phase line says what is missing and what
// to install, and the run goes on without page results (never a failure of the embedded default).
import { describe, expect, it } from 'vitest';
import { ensureBundles } from '../../harness/page/reference/files.ts';
import { runEmbeddedPages } from '../../harness/page/reference/session.ts';
import { PUBLISHER_CHECKS } from '../../suites/publisher/index.ts';

describe('the embedded page phase', () => {
  it('without Chromium: one phase line naming what to install, no results, no error', async () => {
    ensureBundles();
    const lines: string[] = [];
    const outcome = await runEmbeddedPages(
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
    expect(outcome).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^publisher pages: not run \(no browser at \/no\/such\/chromium: install Debian's chromium \(apt-get install -y chromium\)/)]);
  });
});
