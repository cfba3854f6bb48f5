// Every report of a run, written from the one RunResult; reporters never run checks.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { RunResult } from '../harness/engine/result.ts';
import { Scrubber } from '../harness/engine/scrub.ts';
import { writeAuditReports } from './audit.ts';
import { writeJsonReport } from './json.ts';
import { writeJunitReport } from './junit.ts';
import { writeManifest } from './manifest.ts';
import { writeScreenshots } from './screenshots.ts';

/**
 * Writes every report into `dir`, report.json first (the one PROTOCOL.md §2 promises), then junit.xml,
 * audit.html and audit.md; returns their paths. The final pass: every string of the run goes through the
 * run's scrubber first (before escaping and clipping, which could hide a secret from it). Screenshots of failed
 * page checks go into `dir/screenshots/` first (synthetic users only), report.json names them, audit.html embeds them.
 * Last, manifest.json with the hash of every file written here (and manifest.sig with a key): add any new
 * writer's files to `written`.
 */
export function writeReports(dir: string, run: RunResult, scrubber = new Scrubber(), signKey?: KeyObject): string[] {
  const { run: named, images } = writeScreenshots(dir, run);
  const safe = scrubber.scrubDeep(named);
  const written = [writeJsonReport(dir, safe), writeJunitReport(dir, safe), ...writeAuditReports(dir, safe, images)];
  writeManifest(dir, [...written, ...[...images.keys()].map((name) => join(dir, name))], safe, signKey);
  return written;
}
