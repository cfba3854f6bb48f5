// Eventual consistency as a first-class verdict: poll until an expectation holds or the bound passes,
// then, where asked, keep watching that it still holds.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Polled<T> {
  held: boolean;
  last: T;
  attempts: number;
  /** When the expectation first held (ms since epoch). */
  heldAtMs?: number;
}

/** Probes until `holds` or `untilMs` passes; always probes at least once. */
export async function eventually<T>(probe: () => Promise<T>, holds: (value: T) => boolean, options: { untilMs: number; pollMs: number }): Promise<Polled<T>> {
  let attempts = 0;
  for (;;) {
    const last = await probe();
    attempts += 1;
    if (holds(last)) return { held: true, last, attempts, heldAtMs: Date.now() };
    if (Date.now() + options.pollMs > options.untilMs) return { held: false, last, attempts };
    await sleep(options.pollMs);
  }
}

/** Probes for `forMs`; returns the first value that breaks the expectation, or undefined if it held throughout. */
export async function consistently<T>(probe: () => Promise<T>, holds: (value: T) => boolean, options: { forMs: number; pollMs: number }): Promise<{ broken?: T; attempts: number }> {
  const until = Date.now() + options.forMs;
  let attempts = 0;
  for (;;) {
    const value = await probe();
    attempts += 1;
    if (!holds(value)) return { broken: value, attempts };
    if (Date.now() + options.pollMs > until) return { attempts };
    await sleep(options.pollMs);
  }
}
