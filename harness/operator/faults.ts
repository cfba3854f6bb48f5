// Named faults of the simulated operator: each is one subtle, realistic violation of the rules it lists,
// and the calibration target that proves the operator suites can fail that rule (RULES.md).

export interface OperatorFault {
  name: string;
  /** The rule IDs this fault breaks; calibration expects exactly these to fail. */
  breaks: readonly string[];
  description: string;
}

export const OPERATOR_FAULTS = [
  {
    name: 'gen-email-hash-skips-optout',
    breaks: ['OP-GEN-OPTOUT'],
    description: 'generate with an email_hash input skips the opt-out lookup and issues tokens (the other forms are refused)',
  },
  {
    name: 'gen-optout-leaks-uid',
    breaks: ['OP-GEN-NO-LEAK'],
    description: 'the generate opt-out answer carries a body with the raw UID2 of the opted-out user',
  },
  {
    name: 'gen-legacy-policy',
    breaks: ['OP-GEN-OPTOUT-IMPLICIT'],
    description: 'replays the 2023–2026 policy: without optout_check 1, an opted-out user gets tokens of the placeholder identity',
  },
  {
    name: 'refresh-unauthenticated-skips-optout',
    breaks: ['OP-REFRESH-OPTOUT'],
    description: 'refresh without an API key skips the opt-out check and issues new tokens',
  },
  {
    name: 'refresh-replay-cache',
    breaks: ['OP-REFRESH-CHAIN-END'],
    description: 'a refresh token presented again gets its first (cached) success answer, even after the chain answered optout',
  },
  {
    name: 'map-v2-last-entry-unchecked',
    breaks: ['OP-MAP-OPTOUT'],
    description: 'v2 identity map skips the opt-out check for the last entry of a batch of two or more',
  },
  {
    name: 'map-v3-optouts-appended',
    breaks: ['OP-MAP-V3-OPTOUT'],
    description: 'v3 identity map moves opt-out entries to the end of their array, breaking index alignment',
  },
  {
    name: 'status-seconds',
    breaks: ['OP-STATUS-OPTOUT'],
    description: '/v2/optout/status reports opted_out_since in Unix seconds instead of milliseconds',
  },
  {
    name: 'status-limit-off-by-one',
    breaks: ['OP-STATUS-LIMITS'],
    description: '/v2/optout/status accepts 5,001 IDs (the 400 starts at 5,002)',
  },
  {
    name: 'forms-gmail-plus-kept',
    breaks: ['OP-FORMS'],
    description: 'email normalization removes gmail.com dots but keeps the +tag',
  },
  {
    name: 'forms-inner-spaces-kept',
    breaks: ['OP-FORMS'],
    description: 'email normalization drops only the spaces around an address, keeping those inside the local part (the docs read literally)',
  },
  {
    name: 'isolation-lenient-optout-key',
    breaks: ['OP-ISOLATION'],
    description: 'logout of an email also records the opt-out under the gmail-style normalization for every domain',
  },
  {
    name: 'isolation-hash-first-32-bytes',
    breaks: ['OP-ISOLATION'],
    description: 'a hash field that decodes to 33 bytes is keyed on its first 32: taken for the person whose hash it begins with',
  },
  {
    name: 'propagation-repeat-resets',
    breaks: ['OP-PROPAGATION'],
    description: 'a repeated opt-out (a redelivery) replaces the visible record with a pending one: the DII reads as opted in again for one propagation delay',
  },
  {
    name: 'flapping',
    breaks: ['OP-PROPAGATION'],
    description: 'once an opt-out is delivered again, every instance drops it for every other half second: the DII keeps flipping between opted out and opted in long after it settled',
  },
  {
    name: 'test-identities-docs-table',
    breaks: ['OP-TEST-IDENTITIES'],
    description: 'follows the docs table in conflict with the code: +00000000002 always opted out, +00000000000 refresh-optout',
  },
  {
    name: 'logout-not-idempotent',
    breaks: ['OP-LOGOUT'],
    description: 'a repeated logout of the same DII answers 400 invalid_token instead of acknowledging again',
  },
  {
    name: 'envelope-version-500',
    breaks: ['OP-ENVELOPE'],
    description: 'an envelope with a wrong version byte answers HTTP 500 instead of 400 client_error',
  },
  {
    name: 'schema-v3-drops-null-previous',
    breaks: ['OP-SCHEMA'],
    description: 'v3 identity map leaves out "p" when there is no previous UID2 instead of sending null',
  },
  {
    name: 'cstg-phone-skips-optout',
    breaks: ['OP-CSTG-OPTOUT'],
    description: 'client-side generate with a phone_hash skips the opt-out lookup',
  },
] as const satisfies readonly OperatorFault[];

export type OperatorFaultName = (typeof OPERATOR_FAULTS)[number]['name'];

export function findOperatorFault(name: string): OperatorFault | undefined {
  return OPERATOR_FAULTS.find((f) => f.name === name);
}
