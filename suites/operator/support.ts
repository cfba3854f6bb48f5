// What the operator checks share: reading answers, failing with a message that carries no secret, and
// waiting for an opt-out until it settled (harness/oracle/oracle.ts). Messages name subjects by label, never by DII.
import type { DiiInput, Exchange } from '../../harness/client/operator-client.ts';
import { fail, undecided, type CheckContext } from '../../harness/engine/check.ts';
import type { Group, Subject } from '../../harness/engine/population.ts';
import type { Endpoint } from '../../harness/oracle/oracle.ts';
import { base64Hash, hexHash } from '../../harness/engine/synthetic.ts';
import type { DiiField } from '../../harness/wire/dii.ts';
import { quoteTarget } from '../../harness/engine/scrub.ts';

export type Json = Record<string, unknown>;

export const statusOf = (x: Exchange): unknown => (x.body as Json | undefined)?.status;
export const bodyOf = (x: Exchange): Json => (((x.body as Json | undefined)?.body ?? {}) as Json);

/** An answer that must be an encrypted HTTP 200 which opened with the right key and nonce. */
export function opened(x: Exchange, what: string): Json {
  if (x.http !== 200) fail(`${what}: HTTP ${x.http}${typeof statusOf(x) === 'string' ? ` ${quoteTarget(statusOf(x))}` : ''}, expected 200`);
  if (x.envelopeError) fail(`${what}: the 200 answer did not open (${x.envelopeError.message})`);
  if (typeof x.body !== 'object' || x.body === null) fail(`${what}: the answer is not a JSON object`);
  return x.body as Json;
}

/** Which endpoint answered, as the oracle names it. */
const ENDPOINT_OF_PATH: Readonly<Record<string, Endpoint>> = {
  '/v2/token/generate': 'generate',
  '/v2/token/refresh': 'refresh',
  '/v2/token/client-generate': 'cstg',
  '/v2/identity/map': 'map',
  '/v3/identity/map': 'map',
  '/v2/optout/status': 'status',
};
export const endpointOf = (x: Exchange): Endpoint => ENDPOINT_OF_PATH[x.path] ?? 'generate';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How far the operator's clock may run ahead of ours when it answers that a refresh token expired (ms). */
const EXPIRY_SKEW_MS = 1000;

/**
 * A 400 to a refresh token at (or, by the operator's clock, near) its refresh_expires: the operator checks
 * expiry before opt-out (UID2-SPEC §1.2), so it is expiry, never a verdict on opt-out.
 */
export const isExpiryAnswer = (x: Exchange, issued: { refresh_expires: number }): boolean => x.http === 400 && Date.now() + EXPIRY_SKEW_MS >= issued.refresh_expires;

export const isOptoutAnswer = (x: Exchange): boolean => x.http === 200 && !x.envelopeError && statusOf(x) === 'optout';
export const isTokenAnswer = (x: Exchange): boolean =>
  x.http === 200 && !x.envelopeError && statusOf(x) === 'success' && typeof bodyOf(x).advertising_token === 'string';

/** A request form of a subject: its raw DII, or a hash of it (base64 or hex). */
export interface Form {
  field: DiiField;
  value: string;
  /** Safe to print. */
  label: string;
}

export function formsOf(subject: Subject, which: ReadonlyArray<'raw' | 'base64' | 'hex'> = ['raw', 'base64']): Form[] {
  const hashField: DiiField = subject.kind === 'email' ? 'email_hash' : 'phone_hash';
  return which.map((w) =>
    w === 'raw'
      ? { field: subject.kind, value: subject.dii, label: `${subject.label} as ${subject.kind}` }
      : { field: hashField, value: w === 'base64' ? base64Hash(subject.dii) : hexHash(subject.dii), label: `${subject.label} as ${hashField} (${w})` },
  );
}

export const input = (form: Pick<Form, 'field' | 'value'>): DiiInput => ({ [form.field]: form.value }) as DiiInput;

/**
 * Probes while the subject's opt-out is pending (harness/oracle/oracle.ts): until an answer reports it, or,
 * once it settled (by its answers or by the bound), until the first answer that does not: that one is the
 * rule's failure. An answer that does not report it before it settled is propagation (an instance that has
 * not synced yet): measured by the oracle, and probed again.
 */
export async function whilePending<T>(
  ctx: CheckContext,
  subject: Subject,
  probe: () => Promise<T>,
  reports: (value: T) => boolean,
  endpoint: (value: T) => Endpoint,
  /** An answer that says nothing about the opt-out (an expired refresh token): stop, neither in nor out. */
  setAside?: (value: T) => boolean,
): Promise<{ reported: boolean; last: T; setAside?: true }> {
  const { oracle } = ctx;
  for (;;) {
    const sentMs = Date.now();
    const last = await probe();
    if (reports(last)) {
      oracle.observedOut(subject.person, endpoint(last), Date.now());
      return { reported: true, last };
    }
    if (setAside?.(last)) return { reported: false, last, setAside: true };
    if (oracle.expect(subject.person, endpoint(last), sentMs) !== 'pending') return { reported: false, last };
    oracle.observedIn(subject.person, endpoint(last), sentMs);
    await sleep(ctx.settings.pollIntervalMs);
  }
}

/** How an answer that did not report the opt-out looked, safe to print. */
const notReported = (x: Exchange) => (x.envelopeError ? `an answer that did not open (${x.envelopeError.reason})` : `HTTP ${x.http} ${quoteTarget(statusOf(x))}`);

/**
 * Probes until the answer reports the subject opted out (see whilePending); fails with `what` and the answer
 * that still did not once the opt-out had settled (RULES.md: OP-PROPAGATION and the probed rule).
 */
export async function expectEventually(ctx: CheckContext, subject: Subject, probe: () => Promise<Exchange>, holds: (x: Exchange) => boolean, what: string): Promise<Exchange> {
  const { reported, last } = await whilePending(ctx, subject, probe, holds, endpointOf);
  if (!reported) fail(`${what}: ${notReported(last)}${ctx.oracle.registration(subject.person) ? ' after the opt-out had settled' : ''}`);
  return last;
}

/**
 * Subjects of a group that the oracle expects opted out on this endpoint (registered, or a test identity).
 * None left means no opt-out could be registered: the check cannot decide (OP-LOGOUT says why).
 */
export function optedOut(ctx: CheckContext, group: Group, endpoint: Endpoint, kinds: ReadonlyArray<'email' | 'phone'> = ['email', 'phone']): Subject[] {
  const subjects = ctx.population.get(group).filter((s) => kinds.includes(s.kind) && ctx.oracle.expect(s.person, endpoint, Date.now()) !== 'in');
  if (subjects.length === 0) undecided(`no ${group} subject is opted out: the opt-outs could not be registered (see OP-LOGOUT)`);
  return subjects;
}

/** How an answer looked, safe to print: HTTP status, answer status, whether it carried tokens or did not open. */
export function seenAs(x: Exchange): string {
  if (x.envelopeError) return `HTTP ${x.http} that did not open (${x.envelopeError.reason})`;
  const tokens = isTokenAnswer(x) ? ' with new tokens' : '';
  return `HTTP ${x.http} ${quoteTarget(statusOf(x))}${tokens}`;
}

/**
 * Subjects never opted out, for answers that need someone opted in: the run's controls, or, where no
 * synthetic identity may be sent (a production host), the documented `validate@example.com` (UID2-SPEC §4).
 */
export function keptIn(ctx: CheckContext): Subject[] {
  const controls = ctx.population.get('controls');
  if (controls.length > 0) return [...controls];
  const person = ctx.oracle.person('email', 'validate@example.com')!;
  return [{ label: 'test-validate-email', kind: 'email', dii: 'validate@example.com', person, test: true }];
}
