// How a reference participant reads its operator's answer to a call it cannot do without (identity map,
// opt-out status): the success body, or a driver answer of 502 when the operator is down or refuses. A
// participant that cannot ask the operator must not guess (share unchecked, keep a stale mapping), so the
// whole driver action fails instead.
import { TransportError, type Exchange } from '../client/operator-client.ts';
import { DriverRequestError } from './role.ts';

/** The `body` of a `{"status":"success"}` answer; anything else → DriverRequestError(502). `what` names the call. */
export async function successBody(what: string, call: () => Promise<Exchange>): Promise<unknown> {
  let exchange: Exchange;
  try {
    exchange = await call();
  } catch (e) {
    if (e instanceof TransportError) throw new DriverRequestError(502, `the operator's ${what} failed: ${e.message}`);
    throw e;
  }
  const status = (exchange.body as { status?: unknown } | undefined)?.status;
  if (exchange.http !== 200 || status !== 'success') {
    const detail = exchange.envelopeError ? 'an answer that does not open' : `status ${typeof status === 'string' ? status : 'none'}`;
    throw new DriverRequestError(502, `the operator's ${what} answered HTTP ${exchange.http} with ${detail}`);
  }
  return (exchange.body as { body?: unknown }).body;
}

/** A driver 502 for an operator answer that is a success but not of the documented shape. */
export function malformed(what: string, problem: string): DriverRequestError {
  return new DriverRequestError(502, `the operator's ${what} answer is malformed: ${problem}`);
}

/** Splits a list into consecutive batches of at most `size` (the operator's per-request limits, UID2-SPEC §8). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
