// The publisher suite against the reference pages through the page driver: for each page a fresh kit
// operator (its call log judges that page alone) and the page's server, one browser for all of them. The
// embedded default runs it after the reference participants (run.ts); calibration runs it with each page
// fault (calibrate.ts). A page's results carry `target: page:<name>`.
import type { Browser } from 'playwright-core';
import { calibrationVerdict, expectedFailures } from '../../calibrate.ts';
import type { Check } from '../../engine/check.ts';
import type { ParticipantCheckContext, ParticipantSettings } from '../../engine/participant-session.ts';
import { runParticipantSession } from '../../engine/participant-session.ts';
import type { BrowserStats, CheckResult } from '../../engine/result.ts';
import type { Scrubber } from '../../engine/scrub.ts';
import { startOperator } from '../../operator/index.ts';
import type { Progress } from '../../progress.ts';
import { launchChromium } from '../browser.ts';
import { loadJourney, PAGE_RUN_DEFAULTS, PageDriver } from '../page-driver.ts';
import { MissingBundleError, requireBundles } from './files.ts';
import { findPage, findPageFault, PAGE_FAULTS, REFERENCE_PAGES, type PageFault, type PageName } from './pages.ts';
import { startReferencePages } from './server.ts';

export interface ReferencePageRunOptions {
  checks: readonly Check<ParticipantCheckContext>[];
  settings: ParticipantSettings;
  requestTimeoutMs: number;
  checkTimeoutMs: number;
  concurrency: number;
  deadlineMs: number;
  /** Default every reference page; with a fault, its page alone. */
  pages?: readonly PageName[];
  fault?: string;
  chromium?: string;
  /** The page driver's tab budget (default PAGE_RUN_DEFAULTS.openPages). */
  maxOpenPages?: number;
  signal?: AbortSignal;
  progress?: Progress;
  onResult?: (result: CheckResult) => void;
  /** The run's scrubber: every token the pages' operators issue is registered with it. */
  scrubber?: Scrubber;
}

export interface PageRunOutcome {
  page: PageName;
  results: CheckResult[];
  browser: BrowserStats;
  wallMs: number;
}

/** The pages cannot run here (no browser bundles, no Chromium): what is missing and what to do. */
export class PagesUnavailableError extends Error {}


/** The target name a page's results carry. */
export const pageTarget = (page: PageName): string => `page:${page}`;

export async function runReferencePages(options: ReferencePageRunOptions): Promise<PageRunOutcome[]> {
  const fault = options.fault === undefined ? undefined : findPageFault(options.fault);
  const names = options.pages ?? (fault ? [fault.page] : REFERENCE_PAGES.map((p) => p.name));
  try {
    requireBundles(names.map((n) => findPage(n)!.library));
  } catch (e) {
    if (e instanceof MissingBundleError) throw new PagesUnavailableError(e.message);
    throw e;
  }
  let browser: Browser;
  try {
    browser = await launchChromium(options.chromium);
  } catch (e) {
    throw new PagesUnavailableError((e as Error).message.replace(/^--chromium: /, ''));
  }
  const outcomes: PageRunOutcome[] = [];
  try {
    for (const name of names) {
      options.signal?.throwIfAborted();
      outcomes.push(await runOnePage(name, browser, options));
    }
  } finally {
    await browser.close().catch(() => undefined);
  }
  return outcomes;
}

async function runOnePage(name: PageName, browser: Browser, options: ReferencePageRunOptions): Promise<PageRunOutcome> {
  const started = performance.now();
  const { scrubber } = options;
  const operator = await startOperator({
    lifetimes: options.settings.lifetimes,
    recordCalls: true,
    onIssued: (issued) => {
      scrubber?.add(issued.advertising_token, '<token>');
      scrubber?.add(issued.refresh_token, '<refresh>');
      scrubber?.add(issued.refresh_response_key, '<secret>');
    },
  });
  const pages = await startReferencePages({ operator: { url: operator.url, ...operator.credentials }, pages: [name], fault: options.fault });
  try {
    const [served] = pages.pages;
    const driver = new PageDriver({
      name,
      pageUrl: served!.url,
      journey: await loadJourney(served!.journey),
      browser,
      operatorUrl: operator.url,
      now: operator.operator.config.now,
      timeoutMs: Math.max(options.requestTimeoutMs, 15_000),
      ...(options.maxOpenPages === undefined ? {} : { maxOpenPages: options.maxOpenPages }),
    });
    options.progress?.phase(`publisher page ${name}${options.fault ? ` with fault ${options.fault}` : ''}: ${served!.title}, at ${served!.url}, in Chromium`);
    try {
      const onResult = options.onResult && ((r: CheckResult) => options.onResult!({ ...r, target: pageTarget(name) }));
      const { results } = await runParticipantSession(
        { driver, operator, roles: ['publisher'], requestTimeoutMs: options.requestTimeoutMs },
        { checks: options.checks, settings: options.settings, checkTimeoutMs: options.checkTimeoutMs, concurrency: options.concurrency, deadlineMs: options.deadlineMs, signal: options.signal, progress: options.progress, onResult, scrubber },
      );
      return { page: name, results: results.map((r) => ({ ...r, target: pageTarget(name) })), browser: driver.stats, wallMs: performance.now() - started };
    } finally {
      await driver.close();
    }
  } finally {
    await pages.close();
    await operator.close();
  }
}

/** The browser figures of several page runs, added up. */
export function sumBrowserStats(stats: readonly BrowserStats[]): BrowserStats {
  const sum: BrowserStats = { operator_requests: 0, bidder_requests: 0, refused_requests: 0, refused_hosts: {} };
  for (const s of stats) {
    sum.operator_requests += s.operator_requests;
    sum.bidder_requests += s.bidder_requests;
    sum.refused_requests += s.refused_requests;
    for (const [host, n] of Object.entries(s.refused_hosts)) sum.refused_hosts[host] = (sum.refused_hosts[host] ?? 0) + n;
    sum.contexts_opened = (sum.contexts_opened ?? 0) + (s.contexts_opened ?? 0);
    sum.page_loads = (sum.page_loads ?? 0) + (s.page_loads ?? 0);
  }
  return sum;
}

/**
 * The embedded default's page phase: every reference page, a phase line each; when the pages cannot run here
 * (no Chromium, no bundles) a phase line says what to install or build, and the run goes on without them.
 */
/**
 * `run --pages`: the embedded default also drives every reference page. Asked for and unable to run (no browser
 * bundles, no Chromium) is PagesUnavailableError: the run stops with exit 2 naming what to install.
 */
export async function runEmbeddedPages(options: ReferencePageRunOptions, say: (line: string) => void): Promise<{ results: CheckResult[]; browser: BrowserStats }> {
  // A page run's defaults, or less when the run asked for less (PAGE_RUN_DEFAULTS).
  const outcomes = await runReferencePages({
    ...options,
    settings: {
      ...options.settings,
      runs: Math.min(options.settings.runs, PAGE_RUN_DEFAULTS.runs),
      lifetimes: { ...options.settings.lifetimes, refreshExpiresAfterMs: Math.max(options.settings.lifetimes.refreshExpiresAfterMs, PAGE_RUN_DEFAULTS.refreshExpiresAfterMs) },
    },
    concurrency: Math.min(options.concurrency, PAGE_RUN_DEFAULTS.concurrency),
  });
  for (const o of outcomes) {
    const finding = findPage(o.page)!.finding;
    const found = finding && o.results.some((r) => finding.breaks.includes(r.rule) && (r.status === 'fail' || r.status === 'warn'));
    say(
      `publisher page ${o.page}: ${o.results.filter((r) => r.status === 'pass').length} of ${o.results.length} checks passed in ${(o.wallMs / 1000).toFixed(1)} s; ${o.browser.refused_requests} browser requests refused` +
        (found ? `; its ${finding.breaks.join(' and ')} results are a known finding: ${finding.summary} (README, "Known findings")` : ''),
    );
  }
  return { results: outcomes.flatMap((o) => o.results), browser: sumBrowserStats(outcomes.map((o) => o.browser)) };
}

export interface PageCalibrationRow {
  /** `page:<fault>`, or `page <name>` for a conformant reference page. */
  fault?: string;
  page: PageName;
  expected: string[];
  failed: string[];
  undecided: string[];
  ok: boolean;
  results: CheckResult[];
  browser: BrowserStats;
}

/** Lifetimes of page calibration: the participant defaults, with a page run's refresh token lifetime. */
const PAGE_LIFETIMES = { refreshAfterMs: 1000, identityExpiresAfterMs: 4000, refreshExpiresAfterMs: PAGE_RUN_DEFAULTS.refreshExpiresAfterMs };

/**
 * The publisher suite through the browser: each conformant reference page must fail nothing, and each page
 * fault exactly the rules it breaks that the selected checks judge.
 */
export async function calibratePages(options: {
  checks: readonly Check<ParticipantCheckContext>[];
  faults?: readonly PageFault[];
  /** The conformant pages to run (default every one; none with `conformant: false`). */
  pages?: readonly PageName[];
  conformant?: boolean;
  seed?: number;
  runs?: number;
  onRow?: (row: PageCalibrationRow) => void;
}): Promise<PageCalibrationRow[]> {
  const runs: Array<{ page: PageName; fault?: PageFault }> = [
    ...(options.conformant === false ? [] : (options.pages ?? REFERENCE_PAGES.map((p) => p.name)).map((page) => ({ page }))),
    ...(options.faults ?? PAGE_FAULTS.filter((f) => expectedFailures(f.breaks, options.checks).length > 0)).map((fault) => ({ page: fault.page, fault })),
  ];
  const rows: PageCalibrationRow[] = [];
  for (const { page, fault } of runs) {
    const [outcome] = await runReferencePages({
      checks: options.checks,
      settings: { seed: options.seed ?? 1, runs: Math.min(options.runs ?? PAGE_RUN_DEFAULTS.runs, PAGE_RUN_DEFAULTS.runs), lifetimes: PAGE_LIFETIMES, pollIntervalMs: 100, actWithinMs: 3 * PAGE_LIFETIMES.refreshAfterMs + 2000 },
      requestTimeoutMs: 15_000,
      checkTimeoutMs: 300_000,
      concurrency: PAGE_RUN_DEFAULTS.concurrency,
      deadlineMs: Date.now() + 30 * 60_000,
      pages: [page],
      fault: fault?.name,
    });
    const { results, browser } = outcome!;
    // A conformant page fails nothing but its library's known finding (README, "Known findings").
    const finding = findPage(page)!.finding;
    const expected = expectedFailures(fault ? fault.breaks : (finding?.breaks ?? []), options.checks);
    const row = { fault: fault ? `page:${fault.name}` : `page ${page}${finding ? ' (known finding about its library)' : ''}`, page, expected, ...calibrationVerdict(results, expected), results, browser };
    rows.push(row);
    options.onRow?.(row);
  }
  return rows;
}
