// Every report of a run, written from the one RunResult; reporters never run checks.
import type { RunResult } from '../harness/engine/result.ts';
import { writeAuditReports } from './audit.ts';
import { writeJsonReport } from './json.ts';
import { writeJunitReport } from './junit.ts';

/**
 * Writes every report into `dir`, report.json first (the one PROTOCOL.md §2 promises), then junit.xml,
 * audit.html and audit.md; returns their paths.
 */
export function writeReports(dir: string, run: RunResult): string[] {
  return [writeJsonReport(dir, run), writeJunitReport(dir, run), ...writeAuditReports(dir, run)];
}
