// What the kit accepts from a target it does not trust, shared by the operator client, the driver client,
// the webhook and the envelope checks: a total time budget per request (connect, headers and the whole
// body), a byte cap per body, a nesting limit per JSON answer, and the paths joined under the target's own.
import { EventEmitter } from 'node:events';
import type { Dispatcher } from 'undici';

/** Deeper JSON is garbage: no UID2 or driver answer nests beyond a few levels, and walks recurse. */
export const MAX_JSON_DEPTH = 64;

/**
 * A request's total time budget, given to undici as its `signal`: it fires after `budgetMs` or when `outer`
 * fires, whichever comes first. An EventEmitter rather than an AbortController: undici takes either, and
 * this one costs a tenth as much on the hot path. `done()` ends it (timer and listener go at once).
 */
export class Budget extends EventEmitter {
  aborted = false;
  private readonly timer: NodeJS.Timeout;
  private readonly abort = () => {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  };

  constructor(
    readonly budgetMs: number,
    private readonly outer?: AbortSignal,
  ) {
    super();
    this.timer = setTimeout(this.abort, budgetMs);
    if (outer?.aborted) this.aborted = true;
    else outer?.addEventListener('abort', this.abort, { once: true });
  }

  done(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.abort);
  }

  /** How a failed undici call under this budget reads: the outer signal (run deadline, Ctrl-C), the budget, or no connection. */
  failure(error: unknown): { reason: 'aborted' | 'timeout' | 'unreachable'; detail: string } {
    const e = error as Error & { code?: string };
    if (this.outer?.aborted) return { reason: 'aborted', detail: 'the run stopped it' };
    if (this.aborted || /TIMEOUT/.test(e.code ?? '')) return { reason: 'timeout', detail: e.code ?? e.name };
    return { reason: 'unreachable', detail: e.code ?? e.message };
  }
}

/** The whole body, or undefined when it is (or is declared) larger than `maxBytes`: never read past the cap. */
export async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number, declaredLength: number): Promise<Buffer | undefined> {
  if (declaredLength > maxBytes) {
    body.destroy();
    return undefined;
  }
  // A declared length within the cap is read in one go: async iteration costs more than the crypto here.
  if (declaredLength > 0) return Buffer.from(await body.arrayBuffer());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The Content-Length an answer declares (0 when absent). */
export function declaredLength(headers: Dispatcher.ResponseData['headers']): number {
  return Number(headers['content-length'] ?? 0) || 0;
}

/** True when a parsed JSON value nests deeper than `maxDepth` (walked without recursion). */
export function tooDeep(value: unknown, maxDepth = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth >= maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** JSON text to a value, or undefined when it does not parse or nests too deep. */
export function parseBoundedJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return tooDeep(value) ? undefined : value;
}

/** `path` under the base URL's own path: `https://host/uid2` + `/v2/token/generate` → `https://host/uid2/v2/token/generate`. */
export function endpointUrl(baseUrl: string, path: string): URL {
  return new URL(path.replace(/^\/+/, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
}
