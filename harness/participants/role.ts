// What a reference participant is to the driver server (harness/participants/driver-server.ts): a handler
// per role for the driver protocol of PROTOCOL.md §3. The reference participants are implementations of
// conformant UID2 participants (with named faults), written apart from the participant suites' oracle.
import type { OperatorClient } from '../client/operator-client.ts';

export type ParticipantRole = 'publisher' | 'dsp' | 'advertiser' | 'sharer';
export const PARTICIPANT_ROLES: readonly ParticipantRole[] = ['publisher', 'dsp', 'advertiser', 'sharer'];

/** A refusal the driver answers as HTTP `status` with `{"error": message}` (bad input to the driver). */
export class DriverRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DriverRequestError';
  }
}

export interface ParticipantContext {
  /** The participant's UID2 client, configured with its operator (the kit's simulated one in the demo). */
  client: OperatorClient;
  /** A named fault of this role (see the role module's *_FAULTS), or undefined when conformant. */
  fault?: string;
  now: () => number;
}

export interface DriverCall {
  /** The path after the role, e.g. `login` for `/publisher/login`; for the DSP webhook `optout`. */
  action: string;
  method: string;
  /** Parsed JSON body (undefined for a GET or an empty body). */
  body: unknown;
  query: URLSearchParams;
}

export interface RoleHandler {
  readonly role: ParticipantRole;
  /** Answers one driver call with a JSON value; throws DriverRequestError for bad input, 404 for an unknown action. */
  handle(call: DriverCall): Promise<unknown>;
  /** Stops background work (timers), if any. */
  close?(): Promise<void>;
}

export interface ParticipantFault {
  name: string;
  role: ParticipantRole;
  /** The participant rule IDs this fault breaks. */
  breaks: readonly string[];
  description: string;
}

/** An identity as the driver protocol carries it: `{"email": "..."}` or `{"phone": "+..."}`. */
export function identityOf(body: unknown): { email: string } | { phone: string } {
  if (typeof body === 'object' && body !== null) {
    const { email, phone } = body as { email?: unknown; phone?: unknown };
    if (typeof email === 'string' && phone === undefined) return { email };
    if (typeof phone === 'string' && email === undefined) return { phone };
  }
  throw new DriverRequestError(400, 'expected an identity: {"email": "..."} or {"phone": "+..."}');
}
