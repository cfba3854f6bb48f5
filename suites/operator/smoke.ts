// Wire smoke checks: one pass over each opt-out path of an operator, through the real v2 wire format.
// Each check names one rule of RULES.md. The full scenario and property suites build on the same client.
import { randomBytes } from 'node:crypto';
import { OperatorClient, TransportError, type Exchange } from '../../harness/client/operator-client.ts';
import type { CheckResult, Evidence, Status } from '../../harness/engine/result.ts';
import { sha256 } from '../../harness/wire/dii.ts';

export interface SmokeTarget {
  client: OperatorClient;
  /** A client with the OPTOUT role; without it the fresh opt-out checks are not applicable. */
  optoutClient?: OperatorClient;
  cstg?: { publicKey: string; subscriptionId: string };
  propagationTimeoutMs: number;
  pollIntervalMs?: number;
}

interface Verdict {
  status: Status;
  message: string;
}

/** Thrown inside a check to end it with a verdict. */
class Stop extends Error {
  constructor(readonly verdict: Verdict) {
    super(verdict.message);
  }
}

const fail = (message: string): never => {
  throw new Stop({ status: 'fail', message });
};
/** The kit could not decide: an earlier step this check builds on did not give what it needs. */
const undecided = (message: string): never => {
  throw new Stop({ status: 'error', message });
};

type Body = { status?: unknown; body?: Record<string, unknown> & unknown };
const bodyOf = (x: Exchange): Body => (typeof x.body === 'object' && x.body !== null ? (x.body as Body) : {});

/** A 200 that decrypted, with the given status. */
function expectStatus(x: Exchange, status: string, what: string): Body {
  if (x.http !== 200) fail(`${what}: HTTP ${x.http}, expected 200`);
  if (x.envelopeError) fail(`${what}: ${x.envelopeError.message}`);
  const body = bodyOf(x);
  if (body.status !== status) fail(`${what}: status ${JSON.stringify(body.status)}, expected "${status}"`);
  return body;
}

function expectTokens(x: Exchange, what: string): { refresh_token: string; refresh_response_key: string } {
  const body = expectStatus(x, 'success', what).body ?? {};
  if (typeof body.advertising_token !== 'string' || typeof body.refresh_token !== 'string' || typeof body.refresh_response_key !== 'string') {
    fail(`${what}: the success body lacks advertising_token, refresh_token or refresh_response_key`);
  }
  return body as { refresh_token: string; refresh_response_key: string };
}

const syntheticEmail = () => `smoke-${randomBytes(6).toString('hex')}@example.com`;

export async function runSmokeChecks(target: SmokeTarget, onResult: (r: CheckResult) => void = () => {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const { client, optoutClient, cstg } = target;

  async function check(rule: string, id: string, body: (evidence: (x: Exchange) => Exchange) => Promise<string>, needs?: string): Promise<void> {
    const evidence: Evidence[] = [];
    const started = performance.now();
    let verdict: Verdict;
    if (needs) {
      verdict = { status: 'not_applicable', message: needs };
    } else {
      try {
        const record = (x: Exchange) => {
          const status = bodyOf(x).status;
          evidence.push({ path: x.path, http: x.http, ...(typeof status === 'string' ? { status } : {}) });
          return x;
        };
        verdict = { status: 'pass', message: await body(record) };
      } catch (e) {
        if (e instanceof Stop) verdict = e.verdict;
        else if (e instanceof TransportError) verdict = { status: 'error', message: e.message };
        else throw e;
      }
    }
    const result: CheckResult = { rule, check: id, ...verdict, duration_ms: Math.round(performance.now() - started), evidence };
    results.push(result);
    onResult(result);
  }

  let issued: { refresh_token: string; refresh_response_key: string } | undefined;
  await check('OP-ENVELOPE', 'smoke.generate-roundtrip', async (ev) => {
    issued = expectTokens(ev(await client.generate({ email: syntheticEmail(), optout_check: 1 })), 'generate');
    if (issued.refresh_token.length !== 388) fail(`refresh_token is ${issued.refresh_token.length} characters, expected 388`);
    return 'generate answered an encrypted success echoing the nonce, with a 388-character refresh token';
  });

  await check('OP-ENVELOPE', 'smoke.refresh-roundtrip', async (ev) => {
    if (!issued) undecided('no token to refresh: smoke.generate-roundtrip did not get one');
    expectTokens(ev(await client.refresh(issued!.refresh_token, issued!.refresh_response_key)), 'refresh');
    return 'refresh answered success encrypted under the refresh_response_key';
  });

  await check('OP-ENVELOPE', 'smoke.unauthorized-plain-json', async (ev) => {
    const stranger = new OperatorClient({ ...client.options, apiKey: `unknown-${randomBytes(8).toString('hex')}` });
    const x = ev(await stranger.generate({ email: syntheticEmail() }));
    if (x.http !== 401 || bodyOf(x).status !== 'unauthorized') fail(`an unknown API key got HTTP ${x.http} ${JSON.stringify(bodyOf(x).status)}, expected 401 "unauthorized"`);
    return 'an unknown API key answers 401 {"status":"unauthorized"} as plain JSON';
  });

  await check('OP-TEST-IDENTITIES', 'smoke.test-identity-always-optout', async (ev) => {
    for (const dii of [{ email: 'optout@example.com' }, { phone: '+00000000000' }]) expectStatus(ev(await client.generate({ ...dii, optout_check: 1 })), 'optout', `generate ${Object.keys(dii)[0]} test identity`);
    return 'the always-opted-out test identities (email and phone) answer optout on generate';
  });

  await check('OP-TEST-IDENTITIES', 'smoke.test-identity-refresh-optout', async (ev) => {
    const tokens = expectTokens(ev(await client.generate({ email: 'refresh-optout@example.com', optout_check: 1 })), 'generate of the refresh-optout test email');
    expectStatus(ev(await client.refresh(tokens.refresh_token, tokens.refresh_response_key)), 'optout', 'refresh of the refresh-optout test email');
    return 'the refresh-optout test email generates, and its refresh answers optout';
  });

  // A fresh global opt-out, registered once and then observed on every endpoint.
  const noOptout = optoutClient ? undefined : 'needs --optout-api-key and --optout-client-secret to register a fresh opt-out';
  const email = syntheticEmail();
  let before: { refresh_token: string; refresh_response_key: string } | undefined;
  let rawUid: string | undefined;
  let loggedOutAt = 0;
  await check('OP-GEN-OPTOUT', 'smoke.fresh-optout-generate', async (ev) => {
    before = expectTokens(ev(await client.generate({ email, optout_check: 1 })), 'generate before the opt-out');
    const mapped = (expectStatus(ev(await client.mapV2({ email: [email] })), 'success', 'map before the opt-out').body?.mapped ?? []) as { advertising_id?: string }[];
    rawUid = mapped[0]?.advertising_id;
    loggedOutAt = Date.now();
    const ack = expectStatus(ev(await optoutClient!.logout({ email })), 'success', 'logout');
    if ((ack.body as { optout?: unknown } | undefined)?.optout !== 'OK') fail('logout did not acknowledge with {"optout":"OK"}');
    const deadline = Date.now() + target.propagationTimeoutMs;
    for (;;) {
      const x = ev(await client.generate({ email, optout_check: 1 }));
      if (bodyOf(x).status === 'optout' && x.http === 200 && !x.envelopeError) {
        if (bodyOf(x).body !== undefined) fail('the optout answer carries a body');
        return `generate answered optout ${Date.now() - loggedOutAt} ms after the logout`;
      }
      if (Date.now() > deadline) fail(`generate still answered ${JSON.stringify(bodyOf(x).status)} ${target.propagationTimeoutMs} ms after the logout`);
      await new Promise((r) => setTimeout(r, target.pollIntervalMs ?? 250));
    }
  }, noOptout);

  const afterOptout = noOptout ?? (before ? undefined : 'the fresh opt-out was not observed on generate');
  await check('OP-REFRESH-OPTOUT', 'smoke.fresh-optout-refresh', async (ev) => {
    expectStatus(ev(await client.refresh(before!.refresh_token, before!.refresh_response_key)), 'optout', 'refresh of a token issued before the opt-out');
    return 'refresh of a token issued before the opt-out answers optout';
  }, afterOptout);

  await check('OP-MAP-OPTOUT', 'smoke.fresh-optout-map-v2', async (ev) => {
    const body = expectStatus(ev(await client.mapV2({ email: [syntheticEmail(), email] })), 'success', 'map v2').body ?? {};
    const unmapped = (body.unmapped ?? []) as { identifier?: string; reason?: string }[];
    if (!unmapped.some((u) => u.identifier === email && u.reason === 'optout')) fail('the opted-out email is not under unmapped with reason "optout"');
    if (((body.mapped ?? []) as { identifier?: string }[]).some((m) => m.identifier === email)) fail('the opted-out email is listed under mapped');
    return 'v2 identity map lists the opted-out email under unmapped with reason optout';
  }, afterOptout);

  await check('OP-STATUS-OPTOUT', 'smoke.fresh-optout-status', async (ev) => {
    if (!rawUid) undecided('no raw UID2 was mapped before the opt-out');
    const asked = Date.now();
    const listed = ((expectStatus(ev(await client.optoutStatus([rawUid!])), 'success', 'optout status').body?.opted_out ?? []) as { advertising_id?: string; opted_out_since?: number }[]);
    const since = listed.find((e) => e.advertising_id === rawUid)?.opted_out_since;
    if (typeof since !== 'number') fail('the opted-out raw UID2 is not listed');
    if (since! < Math.floor(loggedOutAt / 1000) * 1000 - 5000 || since! > asked + 5000) fail(`opted_out_since ${since} is not the logout time in Unix milliseconds`);
    return 'optout status lists the raw UID2 with opted_out_since in milliseconds';
  }, afterOptout);

  await check('OP-CSTG-OPTOUT', 'smoke.cstg-test-identity', async (ev) => {
    const x = ev(await client.clientGenerate({ serverPublicKey: cstg!.publicKey, subscriptionId: cstg!.subscriptionId, dii: { email_hash: sha256('optout@example.com').toString('base64') } }));
    expectStatus(x, 'optout', 'client-side generate of the always-opted-out test email');
    return 'client-side generate of the always-opted-out test identity answers optout';
  }, cstg ? undefined : 'needs --cstg-public-key and --cstg-subscription-id');

  return results;
}
