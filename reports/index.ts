// Every report of a run, written from the one RunResult; reporters never run checks.
import type { KeyObject } from 'node:crypto';
import type { RunResult } from '../harness/engine/result.ts';
import { Scrubber } from '../harness/engine/scrub.ts';
import { writeAuditReports } from './audit.ts';
import { writeJsonReport } from './json.ts';
import { writeJunitReport } from './junit.ts';
import { writeManifest } from './manifest.ts';

/**
 * Writes every report into `dir`, report.json first (the one PROTOCOL.md §2 promises), then junit.xml,
 * audit.html and audit.md; returns their paths. The final pass: every string of the run goes through the
 * run's scrubber first (before escaping and clipping, which could hide a secret from it). Last, manifest.json
 * with the hash of every file written here (and manifest.sig with a key): add any new writer's files to `written`.
 */
export function writeReports(dir: string, run: RunResult, scrubber = new Scrubber(), signKey?: KeyObject): string[] {
  const safe = scrubber.scrubDeep(run);
  const written = [writeJsonReport(dir, safe), writeJunitReport(dir, safe), ...writeAuditReports(dir, safe)];
  writeManifest(dir, written, safe, signKey);
  return written;
}
