// What the reference-participant tests share: a simulated operator with short token lifetimes, the driver
// server playing one role (conformant or with a fault), driver calls through the kit's driver client or raw,
// and the kit's own operator clients to map synthetic DII and register global opt-outs (logout, OPTOUT role).
import { request } from 'undici';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DriverClient } from '../../harness/client/driver-client.ts';
import { OperatorClient } from '../../harness/client/operator-client.ts';
import { startOperator, type RunningOperator } from '../../harness/operator/index.ts';
import type { Endpoint, OperatorCall } from '../../harness/operator/call-log.ts';
import { startReferenceParticipants, type RoleFactory, type RunningParticipants } from '../../harness/participants/driver-server.ts';
import type { ParticipantRole } from '../../harness/participants/role.ts';
import { sha256 } from '../../harness/wire/dii.ts';

export type Identity = { email: string } | { phone: string };

export function startTestOperator(): Promise<RunningOperator> {
  return startOperator({ lifetimes: { refreshAfterMs: 300, identityExpiresAfterMs: 2000, refreshExpiresAfterMs: 4000 }, propagationDelayMs: 0, recordCalls: true });
}

/** The kit's clients of an operator: `kit` with the participant's credentials, `optout` with the OPTOUT role. */
export function kitClients(op: RunningOperator): { kit: OperatorClient; optout: OperatorClient } {
  const { apiKey, clientSecret, optoutApiKey, optoutClientSecret } = op.credentials;
  return {
    kit: new OperatorClient({ baseUrl: op.url, apiKey, clientSecret }),
    optout: new OperatorClient({ baseUrl: op.url, apiKey: optoutApiKey, clientSecret: optoutClientSecret }),
  };
}

/** The driver server with one role; `driver` is the kit's driver client for it. Close every one you start. */
export async function startRole(
  op: RunningOperator,
  role: ParticipantRole,
  factory: RoleFactory,
  fault?: string,
): Promise<RunningParticipants & { driver: DriverClient }> {
  const { apiKey, clientSecret } = op.credentials;
  const running = await startReferenceParticipants({ operator: { url: op.url, apiKey, clientSecret }, roles: { [role]: factory }, faults: fault ? { [role]: fault } : {} });
  return { ...running, driver: new DriverClient({ baseUrl: running.url, timeoutMs: 5_000 }) };
}

/**
 * One role under test for a whole test file: registers the hooks that start the test operator before the
 * file, close every driver server after each test, and stop the operator after the file.
 */
export function roleUnderTest(role: ParticipantRole, factory: RoleFactory) {
  let op: RunningOperator | undefined;
  let clients: ReturnType<typeof kitClients> | undefined;
  const running: RunningParticipants[] = [];
  beforeAll(async () => {
    op = await startTestOperator();
    clients = kitClients(op);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  afterAll(() => op?.close());
  return {
    get op(): RunningOperator {
      return op!;
    },
    get kit(): ReturnType<typeof kitClients> {
      return clients!;
    },
    /** Keeps a driver server to close after the test. */
    track<T extends RunningParticipants>(started: T): T {
      running.push(started);
      return started;
    },
    /** The role's driver server on the test operator, conformant or with a fault. */
    start(fault?: string) {
      return startRole(op!, role, factory, fault).then((started) => this.track(started));
    },
  };
}

/** A driver call whatever its status (for the error paths); a string body is sent as is. */
export async function postDriver(url: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.statusCode, json: await response.body.json() };
}

/** The raw UID2 the operator maps each identity to now (one v3 request). */
export async function rawUids(kit: OperatorClient, identities: readonly Identity[]): Promise<string[]> {
  const exchange = await kit.mapV3({ email: identities.flatMap((i) => ('email' in i ? [i.email] : [])), phone: identities.flatMap((i) => ('phone' in i ? [i.phone] : [])) });
  const body = (exchange.body as { body: Record<'email' | 'phone', Array<{ u?: string }>> }).body;
  const next = { email: 0, phone: 0 };
  return identities.map((i) => {
    const field = 'email' in i ? 'email' : 'phone';
    const uid = body[field][next[field]++]?.u;
    if (uid === undefined) throw new Error('the test identity did not map');
    return uid;
  });
}

/** Registers a global opt-out as the Transparency and Control Portal does (UID2-SPEC §5.2). */
export async function optOut(optout: OperatorClient, identity: Identity): Promise<void> {
  const answer = await optout.logout(identity);
  if (answer.http !== 200) throw new Error(`logout answered HTTP ${answer.http}`);
}

/** The call log's person key, computed here from the normalized DII the test knows. */
export const personKey = (normalized: string, kind: 'email' | 'phone' = normalized.startsWith('+') ? 'phone' : 'email'): string =>
  `${kind}:${sha256(normalized).toString('base64')}`;

/** The operator's calls to one endpoint since `sinceMs`. */
export const callsTo = (op: RunningOperator, endpoint: Endpoint, sinceMs: number): readonly OperatorCall[] =>
  op.operator.calls.list(sinceMs).filter((c) => c.endpoint === endpoint);

/** Synthetic people, unique per test run: example.com/.org addresses, gmail.com for its normalization, +1555 phones. */
export class People {
  private n = 0;
  private readonly run = Math.floor(Math.random() * 1e6);

  private next(): number {
    return ++this.n;
  }
  email(domain = 'example.com'): string {
    return `p${this.run}-${this.next()}@${domain}`;
  }
  /** A gmail.com user: the normalized address and another spelling of the same person. */
  gmail(): { normalized: string; variant: string } {
    const n = this.next();
    return { normalized: `janedoe${this.run}x${n}@gmail.com`, variant: ` Jane.Doe${this.run}x${n}+News@GMAIL.com` };
  }
  phone(): string {
    return `+1555${String((this.run * 1000 + this.next()) % 1e7).padStart(7, '0')}`;
  }
}
