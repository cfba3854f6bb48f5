// Tests that spawn the binary run dist/: build it once before any test, so they test the current source
// (tsc build mode: about a second when nothing changed).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function buildKit(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { status, stderr, stdout } = spawnSync(process.execPath, ['bin/build.mjs'], { cwd: root, encoding: 'utf8' });
  if (status !== 0) throw new Error(`npm run build failed before the tests:\n${stdout}${stderr}`);
}
