// The rule catalog of ../shared/RULES.md (v1.1): stable IDs, severity and the role whose suite checks them.
// Every check names one of these IDs; every result carries it. A retired ID stays listed in RETIRED_RULES so
// that it is never reused for another rule.

/** The catalog's version (RULES.md): reports carry it, and `merge` refuses reports judged by different ones. */
export const CATALOG_VERSION = '1.1';

export type Severity = 'MUST' | 'SHOULD';
export type Role = 'operator' | 'publisher' | 'dsp' | 'advertiser' | 'sharer';

export interface Rule {
  id: string;
  severity: Severity;
  role: Role;
  summary: string;
}

const rule = (id: string, severity: Severity, role: Role, summary: string): Rule => ({ id, severity, role, summary });

export const RULES: readonly Rule[] = [
  rule('OP-GEN-OPTOUT', 'MUST', 'operator', 'generate with optout_check 1 for an opted-out DII answers an encrypted {"status":"optout"}'),
  rule('OP-GEN-NO-LEAK', 'MUST', 'operator', 'an opt-out answer carries no body: no token and no raw UID2'),
  rule('OP-GEN-OPTOUT-IMPLICIT', 'SHOULD', 'operator', 'the same opt-out answer comes without optout_check'),
  rule('OP-REFRESH-OPTOUT', 'MUST', 'operator', 'refresh of a token issued before the opt-out answers optout under its refresh_response_key, with or without an API key'),
  rule('OP-REFRESH-CHAIN-END', 'MUST', 'operator', 'once a refresh chain answered optout, none of its refresh tokens yields tokens again'),
  rule('OP-MAP-OPTOUT', 'MUST', 'operator', 'v2 identity map lists an opted-out input under unmapped with reason optout, at any batch position'),
  rule('OP-MAP-V3-OPTOUT', 'MUST', 'operator', 'v3 identity map answers {"e":"optout"} at the input\'s own index'),
  rule('OP-STATUS-OPTOUT', 'MUST', 'operator', '/v2/optout/status lists exactly the opted-out raw UID2s, opted_out_since in ms within bounds (any time from the first opt-out request to the answer)'),
  rule('OP-STATUS-LIMITS', 'MUST', 'operator', 'more than 5,000 IDs or no advertising_ids answers 400 client_error'),
  rule('OP-FORMS', 'MUST', 'operator', 'an opt-out of one form of a DII holds for every equivalent form'),
  rule('OP-ISOLATION', 'MUST', 'operator', 'an opt-out affects no other DII'),
  rule('OP-PROPAGATION', 'MUST', 'operator', 'every endpoint reports the opt-out within the propagation bound, and never reverts after it (before it, instances of a fleet may disagree)'),
  rule('OP-TEST-IDENTITIES', 'MUST', 'operator', 'the documented test identities behave as documented'),
  rule('OP-LOGOUT', 'MUST', 'operator', 'logout with the OPTOUT role acknowledges, is idempotent, and answers 401 without the role'),
  rule('OP-ENVELOPE', 'MUST', 'operator', 'every 200 is encrypted and echoes the nonce; every non-200 is plain JSON; bad envelopes answer 400'),
  rule('OP-SCHEMA', 'MUST', 'operator', 'every answer matches its endpoint\'s JSON Schema'),
  rule('OP-CSTG-OPTOUT', 'MUST', 'operator', 'client-side generate for an opted-out hash answers an encrypted {"status":"optout"}'),
  rule('PUB-SITE-OPTOUT', 'MUST', 'publisher', 'no UID2 is created for a user who opted out of the site'),
  rule('PUB-SITE-NOT-RELAYED', 'MUST', 'publisher', 'a site opt-out is not relayed to UID2 and other users keep their UID2s'),
  rule('PUB-OPTOUT-CHECK', 'MUST', 'publisher', 'every generate request carries optout_check 1'),
  rule('PUB-OPTOUT-RESPONSE', 'MUST', 'publisher', 'after an optout answer to generate, no token is sent and generate is not retried within the login: at most one generate per login'),
  rule('PUB-OPTOUT-REMEMBERED', 'SHOULD', 'publisher', 'an optout answer is remembered: later logins of that user within 72 hours make no generate call'),
  rule('PUB-REFRESH', 'MUST', 'publisher', 'a token in use is refreshed after refresh_from and before refresh_expires'),
  rule('PUB-REFRESH-OPTOUT', 'MUST', 'publisher', 'after an optout answer to refresh, the token is dropped and the chain never refreshed again'),
  rule('DSP-WEBHOOK-ACK', 'MUST', 'dsp', 'the opt-out webhook answers 200 or 204 to every call'),
  rule('DSP-BID-OPTOUT', 'MUST', 'dsp', 'after a webhook opt-out, no token carrying that UID2 is used for targeting'),
  rule('DSP-BID-ISOLATION', 'MUST', 'dsp', 'UID2s that did not opt out are still used'),
  rule('DSP-STATUS-CHECK', 'SHOULD', 'dsp', 'UID2s listed by /v2/optout/status are not used even without a webhook call'),
  rule('ADV-MAP-OPTOUT', 'MUST', 'advertiser', 'raw UID2s that identity map reports as optout are never used or sent onward'),
  rule('ADV-SITE-OPTOUT', 'MUST', 'advertiser', 'users who opted out of the participant are not mapped'),
  rule('SHR-STATUS-BEFORE-SHARE', 'MUST', 'sharer', 'opt-out status is checked before sharing and opted-out UID2s are never shared'),
];

/** Retired rule IDs (RULES.md "Changes"): no check may name them and no new rule may take them. */
export const RETIRED_RULES: ReadonlyMap<string, string> = new Map([
  ['OP-STATUS-EARLIEST', 'retired in v1.1: the reference operator keeps the latest time of same-day repeats; any time within OP-STATUS-OPTOUT\'s bounds conforms'],
]);

export function findRule(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}
