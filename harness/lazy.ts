// Heavy CommonJS dependencies loaded on first use, so a command that never needs them (`list`, `--help`) does not
// pay for loading them at start (npm run bench prints the start-up time of `list`).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The module `id`, required on the first call and kept. */
export function lazy<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}

/** undici, for the kit's HTTP clients (operator, driver, webhook). */
export const undici = lazy<typeof import('undici')>('undici');
