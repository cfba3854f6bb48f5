// How a reference participant reads its operator's answers. A call it cannot do without (identity map,
// opt-out status) must succeed: otherwise the driver answers 502, because a participant that cannot ask the
// operator must not guess (share unchecked, keep a stale mapping). An operator that is down is always a 502.
import { TransportError, type Exchange } from '../client/operator-client.ts';
import { DriverRequestError } from './role.ts';

/** At most this many raw UID2s in one opt-out status request (UID2-SPEC §1.4: more answers 400). */
export const STATUS_BATCH = 5_000;

/** Makes one operator call; an operator that is down or times out → DriverRequestError(502). `what` names the call. */
export async function ask(what: string, call: () => Promise<Exchange>): Promise<Exchange> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof TransportError) throw new DriverRequestError(502, `the operator's ${what} failed: ${e.message}`);
    throw e;
  }
}

/** The status string of an answer (`success`, `optout`, `expired_token`, …), undefined when it has none. */
export function statusOf(exchange: Exchange): string | undefined {
  const status = (exchange.body as { status?: unknown } | undefined)?.status;
  return typeof status === 'string' ? status : undefined;
}

/** A driver 502 for an operator answer the participant cannot act on. */
export function unexpected(what: string, exchange: Exchange): DriverRequestError {
  const detail = exchange.envelopeError ? 'an answer that does not open' : `status ${statusOf(exchange) ?? 'none'}`;
  return new DriverRequestError(502, `the operator's ${what} answered HTTP ${exchange.http} with ${detail}`);
}

/** The `body` of a `{"status":"success"}` answer; anything else → DriverRequestError(502). */
export async function successBody(what: string, call: () => Promise<Exchange>): Promise<unknown> {
  const exchange = await ask(what, call);
  if (exchange.http !== 200 || statusOf(exchange) !== 'success') throw unexpected(what, exchange);
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
