// How a run can end early: one AbortSignal for the whole run, aborted by the --deadline, SIGINT or SIGTERM,
// whose reason (a RunStopped) says which. Every phase gets it (preflight, preparation, the propagation
// wait, the checks), so the run stops in any of them and still writes its reports.
import { mkdirSync, statSync } from 'node:fs';
import { UsageError } from './config.ts';

export type StopCause = 'deadline' | 'SIGINT' | 'SIGTERM';

/** Why the run's signal was aborted; what a request refused after the stop throws. */
export class RunStopped extends Error {
  constructor(
    readonly by: StopCause,
    message: string,
  ) {
    super(message);
    this.name = 'RunStopped';
  }
}

/** Exit codes of a run stopped by a signal: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export interface RunStop {
  signal: AbortSignal;
  /** What stopped the run, once it has been stopped. */
  readonly by: StopCause | undefined;
  /** Removes the signal listeners and the deadline timer. */
  dispose(): void;
}

/** The run's one AbortSignal: aborted at `deadlineMs` (absolute) or on the first SIGINT or SIGTERM. */
export function runStop(deadlineMs: number, deadlineText: string): RunStop {
  const controller = new AbortController();
  const stop = (cause: StopCause, message: string) => {
    if (!controller.signal.aborted) controller.abort(new RunStopped(cause, message));
  };
  // Listening (not `once`): a second signal while the reports are written must not kill the kit mid-write.
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => stop(signal, `the run was interrupted (${signal})`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = setTimeout(() => stop('deadline', `the run deadline (--deadline ${deadlineText}) passed`), Math.max(0, deadlineMs - Date.now()));
  timer.unref();
  return {
    signal: controller.signal,
    get by() {
      return controller.signal.aborted ? (controller.signal.reason as RunStopped).by : undefined;
    },
    dispose() {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The stop's message, for the checks it left undecided. */
export function stopMessage(signal: AbortSignal | undefined): string {
  return signal?.reason instanceof RunStopped ? signal.reason.message : 'the run was interrupted';
}

/**
 * `--out` before any request: a directory that exists or can be created. Whether it is writable shows when
 * the run's first reports go in (run.ts writes them at once); a problem is exit 2 with this message.
 */
export function ensureOutDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new UsageError(`--out ${dir}: not a directory`);
    throw new UsageError(`--out ${dir}: cannot create the report directory (${code ?? (e as Error).message})`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`--out ${dir}: not a directory`);
}

/** `--out` could not take the reports: exit 2 with the reason, nothing else lost (no request was sent yet). */
export function unwritableOut(dir: string, e: unknown): UsageError {
  return new UsageError(`--out ${dir}: cannot write the reports there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
}
