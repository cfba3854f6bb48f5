// Progress for long runs: a line per phase; while waiting, a live line on a terminal, and in CI (no TTY)
// a plain line at most every 10 s so logs stay readable. Every line passes through the run's scrubber (no
// secret, no control character from a target reaches the terminal or the CI log).
import { Scrubber } from './engine/scrub.ts';

export interface Progress {
  /** A new phase or a finished step: always its own line. */
  phase(line: string): void;
  /** The state of a wait, repeated often: rewritten in place on a TTY, throttled elsewhere. */
  tick(text: string): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, plainEveryMs = 10_000, scrubber = new Scrubber()): Progress {
  const clean = (text: string) => scrubber.scrub(text);
  const live = Boolean(stream.isTTY) && !process.env.CI;
  let lastPlain = 0;
  let showing = false;
  const clear = () => {
    if (showing) stream.write('\r\x1b[K');
    showing = false;
  };
  return {
    phase(line) {
      clear();
      stream.write(`${clean(line)}\n`);
    },
    tick(text) {
      if (live) {
        stream.write(`\r\x1b[K${clean(text)}`);
        showing = true;
      } else if (Date.now() - lastPlain >= plainEveryMs) {
        lastPlain = Date.now();
        stream.write(`${clean(text)}\n`);
      }
    },
  };
}
