// Progress for long runs: a line per phase; while waiting, a live line on a terminal, and in CI (no TTY)
// a plain line at most every 10 s so logs stay readable.

export interface Progress {
  /** A new phase or a finished step: always its own line. */
  phase(line: string): void;
  /** The state of a wait, repeated often: rewritten in place on a TTY, throttled elsewhere. */
  tick(text: string): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, plainEveryMs = 10_000): Progress {
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
      stream.write(`${line}\n`);
    },
    tick(text) {
      if (live) {
        stream.write(`\r\x1b[K${text}`);
        showing = true;
      } else if (Date.now() - lastPlain >= plainEveryMs) {
        lastPlain = Date.now();
        stream.write(`${text}\n`);
      }
    },
  };
}
