// The screenshots of a run's failed page checks: each PNG written into `<out>/screenshots/`, the run returned
// without the bytes (report.json names the files) and the bytes by file (audit.html embeds them).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../harness/engine/result.ts';

export const SCREENSHOT_DIR = 'screenshots';

/** Replaces `<dir>/screenshots/` with this run's pictures (an earlier run's would look like this one's). */
export function writeScreenshots(dir: string, run: RunResult): { run: RunResult; images: Map<string, Uint8Array> } {
  rmSync(join(dir, SCREENSHOT_DIR), { recursive: true, force: true });
  const images = new Map<string, Uint8Array>();
  const results = run.results.map((result) => {
    if (!result.screenshots) return result;
    const screenshots = result.screenshots.map(({ file, caption, png }) => {
      // One name per picture, also when two page runs of one report share check ids.
      const base = `${SCREENSHOT_DIR}/${file.replace(/^.*\//, '').replace(/\.png$/, '').replace(/[^A-Za-z0-9_-]+/g, '-')}`;
      let name = `${base}.png`;
      for (let i = 2; images.has(name); i++) name = `${base}-${i}.png`;
      if (png) {
        mkdirSync(join(dir, SCREENSHOT_DIR), { recursive: true });
        writeFileSync(join(dir, name), png);
        images.set(name, png);
      }
      return { file: name, caption };
    });
    return { ...result, screenshots };
  });
  return { run: { ...run, results }, images };
}
