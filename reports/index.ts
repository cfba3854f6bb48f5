// Every report of a run, written from the one RunResult; reporters never run checks.
import type { RunResult } from '../harness/engine/result.ts';
import { Scrubber } from '../harness/engine/scrub.ts';
import { writeAuditReports } from './audit.ts';
import { writeJsonReport } from './json.ts';
import { writeJunitReport } from './junit.ts';
import { writeScreenshots } from './screenshots.ts';

/**
 * Writes every report into `dir`, report.json first (the one PROTOCOL.md §2 promises), then junit.xml,
 * audit.html and audit.md; returns their paths. The final pass: every string of the run goes through the
 * run's scrubber first (before escaping and clipping, which could hide a secret from it). Screenshots of failed
 * page checks go into `dir/screenshots/` first (synthetic users only), report.json names them, audit.html embeds them.
 */
export function writeReports(dir: string, run: RunResult, scrubber = new Scrubber()): string[] {
  const { run: named, images } = writeScreenshots(dir, run);
  const safe = scrubber.scrubDeep(named);
  return [writeJsonReport(dir, safe), writeJunitReport(dir, safe), ...writeAuditReports(dir, safe, images)];
}
