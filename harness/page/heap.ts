// The kit's own heap during a page run. A page run's memory goal counts the kit's process beside Chromium, and
// V8 lets a busy heap grow to several times what is live before it collects (measured: 180 MB used, 52 MB live
// after a full collection, in a page run of the publisher suite), because nothing else asks it for the memory.
// While a page driver is open, a full collection runs whenever the heap grew this much past what was live after
// the last one: a few tens of ms of the kit's CPU now and then, for about 100 MB less at the peak.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of the used heap past the last collection's live size that triggers the next one. */
const SLACK_BYTES = 48 * 1024 * 1024;
const EVERY_MS = 500;

let collect: (() => void) | undefined;

/** V8's gc(), exposed once (node starts without --expose-gc: the flag is set now, and a new context sees it). */
function fullCollection(): () => void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  return collect;
}

let holders = 0;
let timer: NodeJS.Timeout | undefined;

/** Keeps the kit's heap near its live size until every holder called the function it got back. */
export function keepHeapTight(): () => void {
  holders += 1;
  if (!timer) {
    const gc = fullCollection();
    let live = process.memoryUsage().heapUsed;
    timer = setInterval(() => {
      if (process.memoryUsage().heapUsed <= live + SLACK_BYTES) return;
      gc();
      live = process.memoryUsage().heapUsed;
    }, EVERY_MS);
    timer.unref();
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    holders -= 1;
    if (holders === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
