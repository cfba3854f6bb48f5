// report.json: the one RunResult, written atomically (a temporary file renamed over the old one),
// so a reader never sees half a report and an interrupted run keeps what it had found.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../harness/engine/result.ts';

export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content);
  renameSync(temporary, path);
}

export function writeJsonReport(dir: string, run: RunResult): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'report.json');
  writeFileAtomic(path, `${JSON.stringify(run, null, 2)}\n`);
  return path;
}
