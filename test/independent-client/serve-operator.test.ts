// Wire-compatibility test: the kit's `serve-operator` CLI, driven by an independent UID2 client
// (spec-client.mjs) written from /work/shared/UID2-SPEC.md alone. Nothing under harness/ is imported:
// the operator is a black box reached over HTTP on 127.0.0.1, exactly as a participant would reach it.
// Section numbers (§) refer to UID2-SPEC.md; PROTOCOL.md §1 describes the CLI contract.
// Set UID2_INDEP_FAULT=<name> (see `uid2-conformance list --faults`) to run the same checks against a
// deliberately broken operator: the suite should then fail, which shows that it can.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import * as spec from './spec-client.mjs';
import type { Conn, Result } from './spec-client.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const T = 5_000; // per-test timeout
const STARTUP_TIMEOUT = 20_000; // bound on the CLI becoming ready (not a sleep)
const STD_B64 = /^[A-Za-z0-9+/]*={0,2}$/;

// --------------------------------------------------------------------------------------------
// The child process

const CRED_NAMES = [
  'api-key',
  'client-secret',
  'optout-api-key',
  'optout-client-secret',
  'cstg-public-key',
  'cstg-subscription-id',
] as const;
type CredName = (typeof CRED_NAMES)[number];

interface Operator {
  child: ChildProcess;
  baseUrl: string;
  creds: Record<CredName, string>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startOperator(): Promise<Operator> {
  const child = spawn(
    process.execPath,
    [
      'bin/uid2-conformance.mjs',
      'serve-operator',
      '--listen',
      '127.0.0.1:0',
      '--propagation-delay',
      '0ms',
      ...(process.env.UID2_INDEP_FAULT ? ['--fault', process.env.UID2_INDEP_FAULT] : []),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  let err = '';
  const creds: Partial<Record<CredName, string>> = {};
  let baseUrl: string | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise<Operator>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      finish(new Error(`serve-operator not ready after ${STARTUP_TIMEOUT}ms; stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err.slice(0, 2000))}`));
    }, STARTUP_TIMEOUT - 1000);
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) {
        child.kill('SIGKILL');
        reject(e);
        return;
      }
      resolve({
        child,
        baseUrl: baseUrl!,
        creds: creds as Record<CredName, string>,
        stdout: () => out,
        stderr: () => err,
        exited,
      });
    };
    const check = () => {
      const m = /^listening (\S+)$/m.exec(out);
      if (m) baseUrl = m[1];
      for (const line of err.split('\n')) {
        const c = /^([a-z-]+): (\S+)\s*$/.exec(line);
        if (c && (CRED_NAMES as readonly string[]).includes(c[1]!)) creds[c[1] as CredName] = c[2]!;
      }
      if (baseUrl && CRED_NAMES.every((n) => creds[n] !== undefined)) finish();
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      check();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      check();
    });
    child.once('error', (e) => finish(e));
    child.once('exit', (code, signal) =>
      finish(new Error(`serve-operator exited early (code ${code}, signal ${signal}); stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err.slice(0, 2000))}`)),
    );
  });
}

let op: Operator;
let client: Conn; // GENERATOR / MAPPER / SHARER / ID_READER credential
let optoutClient: Conn; // OPTOUT credential
let cstg: { serverPublicKey: string; subscriptionId: string };

beforeAll(async () => {
  op = await startOperator();
  client = { baseUrl: op.baseUrl, apiKey: op.creds['api-key'], clientSecret: op.creds['client-secret'] };
  optoutClient = {
    baseUrl: op.baseUrl,
    apiKey: op.creds['optout-api-key'],
    clientSecret: op.creds['optout-client-secret'],
  };
  cstg = { serverPublicKey: op.creds['cstg-public-key'], subscriptionId: op.creds['cstg-subscription-id'] };
}, STARTUP_TIMEOUT);

afterAll(async () => {
  // Safety net only; the last test performs (and asserts) the SIGTERM shutdown.
  if (op && op.child.exitCode === null && op.child.signalCode === null) {
    op.child.kill('SIGKILL');
    await op.exited;
  }
});

// --------------------------------------------------------------------------------------------
// Helpers

const rnd = () => crypto.randomBytes(6).toString('hex');
const b64Len = (s: string) => Buffer.from(s, 'base64').length;

function need<V>(v: V | undefined, what: string): V {
  if (v === undefined) throw new Error(`precondition missing: ${what} (an earlier test failed)`);
  return v;
}

/** A non-200 answer must be plain JSON (§0). */
function expectPlainJson(res: Result, httpStatus: number) {
  expect(res.httpStatus, JSON.stringify(res.text)).toBe(httpStatus);
  expect(res.encrypted).toBe(false);
  expect(res.parseError).toBeUndefined();
  expect(res.contentType ?? '').toMatch(/application\/json/);
}

function expectClientError(res: Result, messagePrefix?: string) {
  expectPlainJson(res, 400);
  expect(res.json.status).toBe('client_error');
  expect(typeof res.json.message).toBe('string');
  expect(res.json.message.length).toBeGreaterThan(0);
  if (messagePrefix) expect(res.json.message.startsWith(messagePrefix), res.json.message).toBe(true);
}

/** An encrypted 200 `{"status":"optout"}` with no body and no message (§1.1, §1.2, §1.6). */
function expectOptout(res: Result) {
  expect(res.httpStatus, JSON.stringify(res.json)).toBe(200);
  expect(res.encrypted).toBe(true);
  expect(res.json).toStrictEqual({ status: 'optout' });
}

interface Identity {
  advertising_token: string;
  refresh_token: string;
  identity_expires: number;
  refresh_from: number;
  refresh_expires: number;
  refresh_response_key: string;
}

/** A success answer carrying a token identity (§1.1 body fields). */
function expectIdentity(res: Result, notBefore: number): Identity {
  expect(res.httpStatus, JSON.stringify(res.json ?? res.text)).toBe(200);
  expect(res.encrypted).toBe(true);
  expect(res.json.status).toBe('success');
  const b = res.json.body as Identity;
  expect(typeof b.advertising_token).toBe('string');
  expect(b.advertising_token.length).toBeGreaterThan(0);
  expect(typeof b.refresh_token).toBe('string');
  expect(b.refresh_token).toHaveLength(388); // §2.5
  expect(b.refresh_token).toMatch(STD_B64);
  expect(typeof b.refresh_response_key).toBe('string');
  expect(b.refresh_response_key).toMatch(STD_B64);
  expect(b64Len(b.refresh_response_key)).toBe(32);
  for (const k of ['identity_expires', 'refresh_from', 'refresh_expires'] as const) {
    expect(Number.isInteger(b[k]), k).toBe(true);
    expect(b[k], `${k} must be Unix ms`).toBeGreaterThan(1e12);
    expect(b[k], `${k} must be Unix ms`).toBeLessThan(1e14);
  }
  expect(b.refresh_from).toBeGreaterThanOrEqual(notBefore - 2000);
  expect(b.refresh_from).toBeLessThanOrEqual(b.identity_expires);
  expect(b.identity_expires).toBeLessThanOrEqual(b.refresh_expires);
  expect(b.refresh_expires).toBeGreaterThan(Date.now());
  return b;
}

function expectRawUid2(v: unknown) {
  expect(typeof v).toBe('string');
  expect(v as string).toMatch(STD_B64);
  expect([32, 33]).toContain(b64Len(v as string)); // §9
}

// --------------------------------------------------------------------------------------------

describe('serve-operator CLI (PROTOCOL.md §1)', () => {
  it('prints one `listening http://HOST:PORT` line on stdout and its generated credentials on stderr', () => {
    const lines = op.stdout().split('\n').filter((l) => l.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^listening http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(op.baseUrl).port);
    expect(port).toBeGreaterThan(0);
    expect(b64Len(op.creds['client-secret'])).toBe(32); // §2.1
    expect(op.creds['client-secret']).toMatch(STD_B64);
    expect(b64Len(op.creds['optout-client-secret'])).toBe(32);
    expect(op.creds['api-key']).not.toBe(op.creds['optout-api-key']);
    expect(op.creds['cstg-public-key']).toMatch(/^UID2-X-[A-Z]-/); // §1.6
    const k = crypto.createPublicKey({
      key: Buffer.from(op.creds['cstg-public-key'].slice(9), 'base64'),
      format: 'der',
      type: 'spki',
    });
    expect(k.asymmetricKeyType).toBe('ec');
    expect(k.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(op.creds['cstg-subscription-id'].length).toBeGreaterThan(0);
    // Secrets go to stderr only.
    for (const n of CRED_NAMES) expect(op.stdout()).not.toContain(op.creds[n]);
  });
});

describe('generate and refresh (§1.1, §1.2)', () => {
  const email = `indep-${rnd()}@example.com`;
  let first: Identity | undefined;
  let second: Identity | undefined;

  it('generate for a synthetic email answers success with a well-formed identity', async () => {
    const t0 = Date.now();
    const res = await spec.generate(client, { email });
    first = expectIdentity(res, t0);
    // The response envelope carries the server time in ms (§2.4).
    expect(Math.abs(need(res.serverTimestamp, 'server ts') - Date.now())).toBeLessThan(60_000);
  }, T);

  it('the refresh token is the 291-byte wrapped form with the UID2 scope byte (§2.5, §9)', () => {
    const tok = need(first, 'identity').refresh_token;
    const raw = Buffer.from(tok, 'base64');
    expect(raw.length).toBe(291);
    expect(raw[0]).toBe(0x00);
  });

  it('refresh (text/plain, no API key) answers success encrypted under the refresh_response_key, with a new key', async () => {
    const id = need(first, 'identity');
    const t0 = Date.now();
    const res = await spec.refresh(client, id.refresh_token, id.refresh_response_key);
    second = expectIdentity(res, t0);
    expect(second.refresh_response_key).not.toBe(id.refresh_response_key);
    expect(second.refresh_token).not.toBe(id.refresh_token);
  }, T);

  it('refresh with Content-Type application/octet-stream answers raw bytes that decrypt to success (§1.2, §9)', async () => {
    const id = need(second, 'refreshed identity');
    const t0 = Date.now();
    const res = await spec.refresh(client, id.refresh_token, id.refresh_response_key, { octet: true });
    const third = expectIdentity(res, t0);
    expect(third.refresh_response_key).not.toBe(id.refresh_response_key);
  }, T);

  it('refresh with an API key also answers success', async () => {
    const id = need(second, 'refreshed identity');
    const res = await spec.refresh(client, id.refresh_token, id.refresh_response_key, { apiKey: client.apiKey! });
    expectIdentity(res, Date.now());
  }, T);

  it('generate accepts email_hash (base64 and hex), phone and phone_hash', async () => {
    const e = `indep-${rnd()}@example.com`;
    const phone = `+1555${String(crypto.randomInt(1_000_000, 9_999_999))}`;
    for (const identity of [
      { email_hash: spec.emailHashBase64(e) },
      { email_hash: spec.emailHashHex(e) },
      { phone },
      { phone_hash: spec.phoneHashBase64(phone) },
    ]) {
      expectIdentity(await spec.generate(client, identity), Date.now());
    }
  }, T);

  it('generate accepts and ignores optout_check (§1.1)', async () => {
    const res = await spec.generate(client, { email: `indep-${rnd()}@example.com`, optout_check: 1 });
    expectIdentity(res, Date.now());
  }, T);

  it('validate answers true for the token of the same DII and false for another (§1.5)', async () => {
    const id = need(first, 'identity');
    const yes = await spec.validate(client, id.advertising_token, { email });
    expect(yes.httpStatus).toBe(200);
    expect(yes.json).toStrictEqual({ status: 'success', body: true });
    const no = await spec.validate(client, id.advertising_token, { email: `indep-${rnd()}@example.com` });
    expect(no.httpStatus).toBe(200);
    expect(no.json).toStrictEqual({ status: 'success', body: false });
  }, T);
});

describe('opt-out registered through /v2/token/logout (§5.2) and seen everywhere (§1, §5.1)', () => {
  const r = rnd();
  const victim = `indep-${r}@example.com`;
  const control1 = `indep-ctl1-${r}@example.com`;
  const control2 = `indep-ctl2-${r}@example.com`;
  // The opt-out of a gmail address is registered in a dotted/tagged spelling; other spellings must follow (§3.1).
  const gmailOptoutSpelling = `Indep.Gm.${r}+news@gmail.com`;
  const gmailNormal = `indepgm${r}@gmail.com`;
  const gmailVariants = [gmailNormal, `i.n.d.e.p.g.m.${r}@gmail.com`, `INDEPGM${r}+shop@GMAIL.com`];

  let victimIdentity: Identity | undefined;
  let victimRefreshed: Identity | undefined;
  let gmailIdentity: Identity | undefined;
  let victimRaw: string | undefined; // raw UID2 from v2 map, before the opt-out
  let victimRawV3: string | undefined;
  let controlRaw: string | undefined;
  let gmailRaw: string | undefined;
  let logoutStart: number | undefined;
  let victimSince: number | undefined;

  it('before the opt-out: tokens are issued for the victim (then refreshed) and the gmail address', async () => {
    victimIdentity = expectIdentity(await spec.generate(client, { email: victim }), Date.now());
    const ref = await spec.refresh(client, victimIdentity.refresh_token, victimIdentity.refresh_response_key);
    victimRefreshed = expectIdentity(ref, Date.now());
    gmailIdentity = expectIdentity(await spec.generate(client, { email: gmailNormal }), Date.now());
  }, T);

  it('before the opt-out: the DIIs map (v2 without `unmapped`; v3 with u, p, r)', async () => {
    const v2 = await spec.identityMapV2(client, { email: [control1, victim, gmailNormal] });
    expect(v2.httpStatus).toBe(200);
    expect(v2.json.status).toBe('success');
    expect(v2.json.body).not.toHaveProperty('unmapped'); // left out when empty (§1.3)
    const mapped = v2.json.body.mapped as Array<{ identifier: string; advertising_id: string; bucket_id: string }>;
    expect(mapped.map((m) => m.identifier)).toStrictEqual([control1, victim, gmailNormal]);
    for (const m of mapped) {
      expectRawUid2(m.advertising_id);
      expect(typeof m.bucket_id).toBe('string');
    }
    controlRaw = mapped[0]!.advertising_id;
    victimRaw = mapped[1]!.advertising_id;
    gmailRaw = mapped[2]!.advertising_id;
    expect(new Set([controlRaw, victimRaw, gmailRaw]).size).toBe(3);

    const v3 = await spec.identityMapV3(client, { email: [victim] });
    expect(v3.httpStatus).toBe(200);
    expect(v3.json.status).toBe('success');
    expect(Object.keys(v3.json.body).sort()).toStrictEqual(['email', 'email_hash', 'phone', 'phone_hash']);
    const entry = v3.json.body.email[0];
    expectRawUid2(entry.u);
    expect(entry.p === null || typeof entry.p === 'string').toBe(true);
    expect(Number.isInteger(entry.r)).toBe(true);
    expect(entry.r, 'v3 r is Unix seconds').toBeLessThan(1e11);
    expect(entry.r).toBeGreaterThan(Date.now() / 1000 - 5);
    victimRawV3 = entry.u;
  }, T);

  it('v2 advertising_id and v3 u are the same raw UID2 for the same DII', () => {
    expect(need(victimRawV3, 'v3 raw UID2')).toBe(need(victimRaw, 'v2 raw UID2'));
  });

  it('optout/status lists nothing before the opt-out', async () => {
    const res = await spec.optoutStatus(client, [need(victimRaw, 'raw'), need(controlRaw, 'raw')]);
    expect(res.httpStatus).toBe(200);
    expect(res.json).toStrictEqual({ status: 'success', body: { opted_out: [] } });
  }, T);

  it('logout with the OPTOUT credential answers {"status":"success","body":{"optout":"OK"}}, also when repeated', async () => {
    logoutStart = Date.now();
    for (const identity of [{ email: victim }, { email: victim }, { email: gmailOptoutSpelling }]) {
      const res = await spec.logout(optoutClient, identity);
      expect(res.httpStatus, JSON.stringify(res.json)).toBe(200);
      expect(res.encrypted).toBe(true);
      expect(res.json).toStrictEqual({ status: 'success', body: { optout: 'OK' } });
    }
  }, T);

  it('generate for the opted-out DII answers {"status":"optout"} for email, email_hash base64 and hex', async () => {
    need(logoutStart, 'logout');
    expectOptout(await spec.generate(client, { email: victim }));
    expectOptout(await spec.generate(client, { email: `  ${victim.toUpperCase()}  ` }));
    expectOptout(await spec.generate(client, { email_hash: spec.emailHashBase64(victim) }));
    expectOptout(await spec.generate(client, { email_hash: spec.emailHashHex(victim) }));
  }, T);

  it('gmail: every spelling of the opted-out gmail address answers optout on generate', async () => {
    need(logoutStart, 'logout');
    for (const v of gmailVariants) expectOptout(await spec.generate(client, { email: v }));
    expectOptout(await spec.generate(client, { email_hash: spec.emailHashBase64(gmailNormal) }));
    expectOptout(await spec.generate(client, { email_hash: spec.emailHashHex(gmailVariants[1]!) }));
  }, T);

  it('a different DII is not affected', async () => {
    expectIdentity(await spec.generate(client, { email: control1 }), Date.now());
  }, T);

  it('refresh of a token issued before the opt-out answers optout, encrypted under that token\'s key', async () => {
    const id = need(victimRefreshed, 'victim token');
    expectOptout(await spec.refresh(client, id.refresh_token, id.refresh_response_key));
    const g = need(gmailIdentity, 'gmail token');
    expectOptout(await spec.refresh(client, g.refresh_token, g.refresh_response_key));
  }, T);

  it('refresh → optout also with application/octet-stream and with an API key', async () => {
    const id = need(victimRefreshed, 'victim token');
    expectOptout(await spec.refresh(client, id.refresh_token, id.refresh_response_key, { octet: true }));
    expectOptout(await spec.refresh(client, id.refresh_token, id.refresh_response_key, { apiKey: client.apiKey! }));
  }, T);

  it('refresh of the already-used first token also answers optout (§9: not single-use)', async () => {
    const id = need(victimIdentity, 'victim first token');
    expectOptout(await spec.refresh(client, id.refresh_token, id.refresh_response_key));
  }, T);

  it('v2 identity map lists the opted-out DII in unmapped with reason "optout" at any batch position', async () => {
    need(logoutStart, 'logout');
    const orders = [
      [victim, control1, control2],
      [control1, victim, control2],
      [control1, control2, victim],
    ];
    for (const order of orders) {
      const res = await spec.identityMapV2(client, { email: order });
      expect(res.httpStatus).toBe(200);
      expect(res.json.status).toBe('success');
      const body = res.json.body;
      expect(body.unmapped).toStrictEqual([{ identifier: victim, reason: 'optout' }]);
      expect(body.mapped.map((m: { identifier: string }) => m.identifier)).toStrictEqual(
        order.filter((e) => e !== victim),
      );
      const c1 = body.mapped.find((m: { identifier: string }) => m.identifier === control1);
      expect(c1.advertising_id).toBe(controlRaw);
    }
    // Hash form, and the gmail spellings.
    const hashes = [spec.emailHashBase64(control1), spec.emailHashBase64(victim)];
    const byHash = await spec.identityMapV2(client, { email_hash: hashes });
    expect(byHash.json.body.unmapped).toStrictEqual([{ identifier: hashes[1], reason: 'optout' }]);
    expect(byHash.json.body.mapped).toHaveLength(1);
    const gm = await spec.identityMapV2(client, { email: gmailVariants });
    expect(gm.json.body.mapped).toStrictEqual([]);
    expect(gm.json.body.unmapped).toStrictEqual(gmailVariants.map((identifier) => ({ identifier, reason: 'optout' })));
  }, T);

  it('v3 identity map gives {"e":"optout"} at the opted-out index, with all four keys present', async () => {
    need(logoutStart, 'logout');
    const res = await spec.identityMapV3(client, {
      email: [control1, victim, control2],
      email_hash: [spec.emailHashBase64(victim), spec.emailHashBase64(control2)],
    });
    expect(res.httpStatus).toBe(200);
    expect(res.json.status).toBe('success');
    const body = res.json.body;
    expect(Object.keys(body).sort()).toStrictEqual(['email', 'email_hash', 'phone', 'phone_hash']);
    expect(body.phone).toStrictEqual([]);
    expect(body.phone_hash).toStrictEqual([]);
    expect(body.email).toHaveLength(3);
    expect(body.email[1]).toStrictEqual({ e: 'optout' });
    expect(body.email[0].u).toBe(controlRaw);
    expectRawUid2(body.email[2].u);
    expect(body.email_hash).toHaveLength(2);
    expect(body.email_hash[0]).toStrictEqual({ e: 'optout' });
    expect(body.email_hash[1].u).toBe(body.email[2].u);
  }, T);

  it('optout/status lists the opted-out raw UID2 (obtained before the opt-out) with opted_out_since in ms', async () => {
    const start = need(logoutStart, 'logout');
    const victimId = need(victimRaw, 'raw UID2');
    const res = await spec.optoutStatus(client, [need(controlRaw, 'control raw'), victimId, need(gmailRaw, 'gmail raw')]);
    const now = Date.now();
    expect(res.httpStatus).toBe(200);
    expect(res.json.status).toBe('success');
    const list = res.json.body.opted_out as Array<{ advertising_id: string; opted_out_since: number }>;
    expect(list.map((e) => e.advertising_id)).toStrictEqual([victimId, gmailRaw]);
    for (const e of list) {
      expect(Object.keys(e).sort()).toStrictEqual(['advertising_id', 'opted_out_since']);
      expect(Number.isInteger(e.opted_out_since)).toBe(true);
      expect(e.opted_out_since % 1000, 'opted_out_since is whole seconds x1000 (§0)').toBe(0);
      expect(e.opted_out_since).toBeGreaterThanOrEqual(Math.floor(start / 1000) * 1000 - 1000);
      expect(e.opted_out_since).toBeLessThanOrEqual(now);
    }
    victimSince = list[0]!.opted_out_since;
  }, T);

  it('a later repeated logout keeps the earliest opted_out_since (the default; the latest-time variant keeps the latest of a day, §1.4)', async () => {
    const since = need(victimSince, 'first opted_out_since');
    const wait = since + 1000 + 20 - Date.now(); // at most ~1s: let the recorded second change
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const again = await spec.logout(optoutClient, { email: victim });
    expect(again.json).toStrictEqual({ status: 'success', body: { optout: 'OK' } });
    const res = await spec.optoutStatus(client, [need(victimRaw, 'raw UID2')]);
    expect(res.json.body.opted_out).toStrictEqual([{ advertising_id: victimRaw, opted_out_since: since }]);
  }, T);

  it('non-gmail domains keep dots and +tags: an opt-out of a.b+tag@example.com does not touch ab@example.com (§3.1)', async () => {
    const base = `indep.iso.${rnd()}`;
    const res = await spec.logout(optoutClient, { email: `${base}+tag@example.com` });
    expect(res.json).toStrictEqual({ status: 'success', body: { optout: 'OK' } });
    expectOptout(await spec.generate(client, { email: `${base.toUpperCase()}+TAG@example.com` }));
    expectIdentity(await spec.generate(client, { email: `${base}@example.com` }), Date.now());
    expectIdentity(await spec.generate(client, { email: `${base.replaceAll('.', '')}@example.com` }), Date.now());
    expectIdentity(await spec.generate(client, { email: `${base.replaceAll('.', '')}+tag@example.com` }), Date.now());
  }, T);

  it('optout/status does not list a raw UID2 that is not opted out', async () => {
    const res = await spec.optoutStatus(client, [need(controlRaw, 'control raw')]);
    expect(res.httpStatus).toBe(200);
    expect(res.json).toStrictEqual({ status: 'success', body: { opted_out: [] } });
  }, T);

  it('CSTG for the opted-out DII\'s hash answers optout (§1.6)', async () => {
    need(logoutStart, 'logout');
    expectOptout(await spec.clientGenerate(client, { email_hash: spec.emailHashBase64(victim) }, cstg));
  }, T);

  it('validate does not check opt-out (§1.5): the old token still validates against its DII', async () => {
    const id = need(victimIdentity, 'victim token');
    const res = await spec.validate(client, id.advertising_token, { email: victim });
    expect(res.httpStatus).toBe(200);
    expect(res.json).toStrictEqual({ status: 'success', body: true });
  }, T);
});

describe('documented test identities (§4)', () => {
  it('optout@example.com and +00000000000 always answer optout on generate (raw and hashed)', async () => {
    expectOptout(await spec.generate(client, { email: 'optout@example.com' }));
    expectOptout(await spec.generate(client, { email_hash: 'DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=' }));
    expectOptout(await spec.generate(client, { email_hash: spec.emailHashHex('optout@example.com') }));
    expectOptout(await spec.generate(client, { phone: '+00000000000' }));
    expectOptout(await spec.generate(client, { phone_hash: '313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo=' }));
  }, T);

  it('optout@example.com maps as optout (v2 and v3)', async () => {
    const ctl = `indep-${rnd()}@example.com`;
    const v2 = await spec.identityMapV2(client, { email: [ctl, 'optout@example.com'] });
    expect(v2.httpStatus).toBe(200);
    expect(v2.json.body.unmapped).toStrictEqual([{ identifier: 'optout@example.com', reason: 'optout' }]);
    expect(v2.json.body.mapped).toHaveLength(1);
    const v3 = await spec.identityMapV3(client, { email: ['optout@example.com', ctl], phone: ['+00000000000'] });
    expect(v3.httpStatus).toBe(200);
    expect(v3.json.body.email[0]).toStrictEqual({ e: 'optout' });
    expectRawUid2(v3.json.body.email[1].u);
    expect(v3.json.body.phone[0]).toStrictEqual({ e: 'optout' });
  }, T);

  it('refresh-optout@example.com / +00000000002: generate succeeds, refresh answers optout', async () => {
    for (const identity of [
      { email: 'refresh-optout@example.com' },
      { email_hash: 'NaNI8RU0bL1Jpp1jJLC5aJO/lchc6gGhgXQIAwJ7cV4=' },
      { phone: '+00000000002' },
      { phone_hash: '0VoxsIuk88qt7TnZaTC//C9Vur3pR1zBMIr1cJe7xjE=' },
    ]) {
      const id = expectIdentity(await spec.generate(client, identity), Date.now());
      expectOptout(await spec.refresh(client, id.refresh_token, id.refresh_response_key));
    }
  }, T);

  it('refresh-optout@example.com maps (v2), and its raw UID2 is not reported by optout/status', async () => {
    const v2 = await spec.identityMapV2(client, { email: ['refresh-optout@example.com'] });
    expect(v2.httpStatus).toBe(200);
    expect(v2.json.body).not.toHaveProperty('unmapped');
    const raw = v2.json.body.mapped[0].advertising_id;
    expectRawUid2(raw);
    const st = await spec.optoutStatus(client, [raw]);
    expect(st.json).toStrictEqual({ status: 'success', body: { opted_out: [] } });
  }, T);

  it('validate@example.com generates, refreshes and validates', async () => {
    const id = expectIdentity(await spec.generate(client, { email: 'validate@example.com' }), Date.now());
    expectIdentity(await spec.refresh(client, id.refresh_token, id.refresh_response_key), Date.now());
    const v = await spec.validate(client, id.advertising_token, { email: 'validate@example.com' });
    expect(v.json).toStrictEqual({ status: 'success', body: true });
  }, T);
});

describe('authorization and envelope errors (§0, §2.3, §5.2)', () => {
  it('a bad API key answers 401 {"status":"unauthorized"} as plain JSON', async () => {
    const res = await spec.generate(client, { email: 'user@example.com' }, { apiKey: 'not-a-real-key' });
    expectPlainJson(res, 401);
    expect(res.json).toStrictEqual({ status: 'unauthorized' });
  }, T);

  it('a missing Authorization header answers 401', async () => {
    const res = await spec.identityMapV2(client, { email: ['user@example.com'] }, { noAuth: true });
    expectPlainJson(res, 401);
    expect(res.json).toStrictEqual({ status: 'unauthorized' });
  }, T);

  it('the bearer prefix is case-insensitive (§0)', async () => {
    const sealed = spec.sealRequest(client.clientSecret!, { email: `indep-${rnd()}@example.com` });
    const res = await fetch(new URL('/v2/token/generate', client.baseUrl), {
      method: 'POST',
      headers: { Authorization: `  bEaReR ${client.apiKey}  `, 'Content-Type': 'text/plain' },
      body: sealed.body,
    });
    expect(res.status).toBe(200);
    const opened = spec.openResponse(client.clientSecret!, Buffer.from(await res.text(), 'base64'), sealed.nonce);
    expect((opened.json as { status: string }).status).toBe('success');
  }, T);

  it('logout with the normal (non-OPTOUT) key answers 401 unauthorized', async () => {
    const res = await spec.logout(client, { email: `indep-${rnd()}@example.com` });
    expectPlainJson(res, 401);
    expect(res.json).toStrictEqual({ status: 'unauthorized' });
  }, T);

  it('the OPTOUT key cannot generate (wrong role → 401)', async () => {
    const res = await spec.generate(optoutClient, { email: `indep-${rnd()}@example.com` });
    expectPlainJson(res, 401);
    expect(res.json).toStrictEqual({ status: 'unauthorized' });
  }, T);

  it('a garbage body answers 400 client_error as plain JSON', async () => {
    const res = await spec.postRaw(client, '/v2/token/generate', 'this is not an envelope!!', {
      Authorization: `Bearer ${client.apiKey}`,
      'Content-Type': 'text/plain',
    });
    expectClientError(res, 'Invalid body:');
  }, T);

  it('an unencrypted JSON body answers 400 client_error', async () => {
    const res = await spec.postRaw(client, '/v2/token/generate', '{"email":"user@example.com"}', {
      Authorization: `Bearer ${client.apiKey}`,
      'Content-Type': 'application/json',
    });
    expectClientError(res, 'Invalid body:');
  }, T);

  it('a wrong client secret answers 400 client_error "Invalid body: Check encryption key (ClientSecret)."', async () => {
    const res = await spec.generate(client, { email: 'user@example.com' }, {
      clientSecret: crypto.randomBytes(32).toString('base64'),
    });
    expectClientError(res, 'Invalid body: Check encryption key (ClientSecret).');
  }, T);

  it('a request timestamp 5 minutes old answers 400 client_error "Invalid timestamp"', async () => {
    const res = await spec.generate(client, { email: 'user@example.com' }, { timestamp: Date.now() - 300_000 });
    expectClientError(res, 'Invalid timestamp');
  }, T);

  it('generate with two DII fields answers 400 "Required Parameter Missing: exactly one of …"', async () => {
    const res = await spec.generate(client, { email: 'user@example.com', phone: '+12345678901' });
    expectClientError(res, 'Required Parameter Missing: exactly one of [email, email_hash, phone, phone_hash]');
  }, T);

  it('generate with an invalid email answers 400 "Invalid Identifier"', async () => {
    const res = await spec.generate(client, { email: 'a@b@example.com' });
    expectClientError(res, 'Invalid Identifier');
  }, T);

  it('identity map edge cases: v2 empty array → {"mapped":[]}; v3 {"email":[]} → four empty arrays; v3 {} → 400 (§1.3, §9)', async () => {
    const v2 = await spec.identityMapV2(client, { email: [] });
    expect(v2.httpStatus).toBe(200);
    expect(v2.json).toStrictEqual({ status: 'success', body: { mapped: [] } });
    const v3 = await spec.identityMapV3(client, { email: [] });
    expect(v3.httpStatus).toBe(200);
    expect(v3.json).toStrictEqual({ status: 'success', body: { email: [], email_hash: [], phone: [], phone_hash: [] } });
    const none = await spec.identityMapV3(client, {});
    expectClientError(none, 'Required Parameter Missing: one or more of [email, email_hash, phone, phone_hash]');
  }, T);

  it('an envelope with version byte 2 answers 400 client_error "Invalid body: Invalid request envelope format version" (§2.3)', async () => {
    const sealed = spec.sealRequest(client.clientSecret!, { email: 'user@example.com' });
    const env = Buffer.from(sealed.envelope);
    env[0] = 0x02;
    const res = await spec.postRaw(client, '/v2/token/generate', env.toString('base64'), {
      Authorization: `Bearer ${client.apiKey}`,
      'Content-Type': 'text/plain',
    });
    expectClientError(res, 'Invalid body: Invalid request envelope format version');
  }, T);

  it('optout/status accepts 5,000 IDs and refuses 5,001 with 400 "Request payload is too large" (§1.4)', async () => {
    const ids = Array.from({ length: 5001 }, () => crypto.randomBytes(32).toString('base64'));
    const ok = await spec.optoutStatus(client, ids.slice(0, 5000));
    expect(ok.httpStatus).toBe(200);
    expect(ok.json).toStrictEqual({ status: 'success', body: { opted_out: [] } });
    const tooMany = await spec.optoutStatus(client, ids);
    expectClientError(tooMany, 'Request payload is too large');
  }, T);

  it('optout/status without advertising_ids answers 400 client_error (§1.4)', async () => {
    const res = await spec.postEncrypted(client, '/v2/optout/status', {});
    expectClientError(res, 'Required Parameter Missing: advertising_ids');
  }, T);

  it('logout without a DII answers 400 invalid_token (§5.2)', async () => {
    const res = await spec.logout(optoutClient, {});
    expectPlainJson(res, 400);
    expect(res.json.status).toBe('invalid_token');
    expect(typeof res.json.message).toBe('string');
  }, T);

  it('refresh of a garbage token without an API key answers 400 {"status":"error"} (§1.2)', async () => {
    const res = await spec.postRaw(client, '/v2/token/refresh', 'not-a-token', { 'Content-Type': 'text/plain' });
    expectPlainJson(res, 400);
    expect(res.json.status).toBe('error');
  }, T);

  it('refresh of a 388-char non-base64 body answers 400 client_error "Invalid body: Body is not valid base64."', async () => {
    const res = await spec.postRaw(client, '/v2/token/refresh', '!'.repeat(388), { 'Content-Type': 'text/plain' });
    expectClientError(res, 'Invalid body: Body is not valid base64.');
  }, T);
});

describe('client-side token generation (§1.6)', () => {
  it('CSTG for a fresh email hash answers a token identity, and that token refreshes', async () => {
    const hash = spec.emailHashBase64(`indep-cstg-${rnd()}@example.com`);
    const res = await spec.clientGenerate(client, { email_hash: hash }, cstg);
    const id = expectIdentity(res, Date.now());
    const ref = await spec.refresh(client, id.refresh_token, id.refresh_response_key);
    expectIdentity(ref, Date.now());
  }, T);

  it('CSTG for a fresh phone hash answers a token identity', async () => {
    const hash = spec.phoneHashBase64(`+1555${String(crypto.randomInt(1_000_000, 9_999_999))}`);
    expectIdentity(await spec.clientGenerate(client, { phone_hash: hash }, cstg), Date.now());
  }, T);

  it('CSTG for optout@example.com\'s hash (and +00000000000\'s) answers optout', async () => {
    expectOptout(await spec.clientGenerate(client, { email_hash: 'DYsnJ8r5+cjRDHue98gIGDKvLIMuqAm/RRLODrjqK50=' }, cstg));
    expectOptout(await spec.clientGenerate(client, { phone_hash: '313yQvZOTb0vjjEU7sTO/UWxGPzVppIbCyQEJEnfxLo=' }, cstg));
  }, T);

  it('CSTG binds the timestamp into the AAD: a different request timestamp fails decryption with 400 (§1.6)', async () => {
    const ts = Date.now();
    const res = await spec.clientGenerate(client, { email_hash: spec.emailHashBase64(`indep-${rnd()}@example.com`) }, {
      ...cstg,
      timestamp: ts,
      requestTimestamp: ts + 1,
    });
    expectClientError(res);
  }, T);

  it('CSTG rejects a plain email (only hashes) and a wrong subscription_id with 400 client_error', async () => {
    const plain = await spec.clientGenerate(client, { email: 'user@example.com' } as unknown as { email_hash: string }, cstg);
    expectClientError(plain);
    const badSub = await spec.clientGenerate(client, { email_hash: spec.emailHashBase64('user@example.com') }, {
      ...cstg,
      subscriptionId: `${cstg.subscriptionId}-nope`,
    });
    expectClientError(badSub);
  }, T);
});

describe('shutdown (PROTOCOL.md §1)', () => {
  it('SIGTERM stops the operator cleanly within a few seconds, having printed exactly one stdout line', async () => {
    op.child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 4000).unref());
    const result = await Promise.race([op.exited, timeout]);
    expect(result, `stderr tail: ${op.stderr().slice(-1000)}`).not.toBe('timeout');
    const { code, signal } = result as { code: number | null; signal: NodeJS.Signals | null };
    expect(code === 0 || signal === 'SIGTERM', `exit code ${code}, signal ${signal}`).toBe(true);
    expect(op.stdout().split('\n').filter((l) => l.length > 0)).toHaveLength(1);
  }, T);
});
