// What the participant under test asked the simulated operator, call by call: the endpoint, the persons the
// request concerns (every valid DII in any of its four forms, as `<kind>:<base64 SHA-256>`), what was sent
// that the rules care about, and what the operator answered. The participant suites judge from this log.
import { DII_FIELDS, hashDii, personKey } from '../wire/dii.ts';

export type Endpoint =
  | 'generate'
  | 'refresh'
  | 'validate'
  | 'logout'
  | 'map-v2'
  | 'map-v3'
  | 'optout-status'
  | 'client-generate'
  | 'keys-bidstream'
  | 'keys-sharing';

export const ENDPOINT_OF_PATH: Readonly<Record<string, Endpoint>> = {
  '/v2/token/generate': 'generate',
  '/v2/token/refresh': 'refresh',
  '/v2/token/validate': 'validate',
  '/v2/token/logout': 'logout',
  '/v2/identity/map': 'map-v2',
  '/v3/identity/map': 'map-v3',
  '/v2/optout/status': 'optout-status',
  '/v2/token/client-generate': 'client-generate',
  '/v2/key/bidstream': 'keys-bidstream',
  '/v2/key/sharing': 'keys-sharing',
};

export interface OperatorCall {
  /** Order of logging, from 1: exact where `at` is not (a driver answer and the call it caused share a ms). */
  seq: number;
  at: number;
  endpoint: Endpoint;
  /** `<kind>:<base64 SHA-256 of the normalized DII>` of every valid DII in the request. */
  persons: string[];
  /** optout status: the raw UID2s asked. */
  uids?: string[];
  /** generate: the `optout_check` value as sent (undefined when absent). */
  optoutCheck?: unknown;
  /** refresh: the refresh chain (one id per generate, kept across refreshes). */
  chain?: string;
  /** The answer: its status string (`success`, `optout`, `unauthorized`, …). */
  status: string;
}

/** Every valid DII of a request payload, single values and arrays alike. */
export function personsOf(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null) return [];
  const persons: string[] = [];
  for (const field of DII_FIELDS) {
    const value = (payload as Record<string, unknown>)[field];
    for (const item of Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]) {
      try {
        persons.push(personKey(hashDii(field, item)));
      } catch {
        // an invalid identifier concerns nobody
      }
    }
  }
  return persons;
}

/** The most calls kept; a participant run makes far fewer, a long serve-operator session must not grow forever. */
const MAX_CALLS = 100_000;

export class CallLog {
  private readonly calls: OperatorCall[] = [];
  private seq = 0;

  /** Off unless a participant session needs it: recording costs a hash per DII on every request. */
  constructor(readonly enabled = false) {}

  add(fields: Omit<OperatorCall, 'seq'>): void {
    if (!this.enabled) return;
    this.calls.push({ seq: ++this.seq, ...fields });
    if (this.calls.length > MAX_CALLS) this.calls.shift();
  }

  /** The sequence number of the last call logged (0: none yet). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Calls from `sinceMs` on (all when omitted). */
  list(sinceMs = 0): readonly OperatorCall[] {
    return this.calls.filter((c) => c.at >= sinceMs);
  }
}
