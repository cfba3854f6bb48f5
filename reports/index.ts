// Every report of a run, written from the one RunResult; reporters never run checks.
import type { RunResult } from '../harness/engine/result.ts';
import { writeJsonReport } from './json.ts';

/** Writes every report into `dir`; returns their paths. */
export function writeReports(dir: string, run: RunResult): string[] {
  return [writeJsonReport(dir, run)];
}
