// Starting and stopping a simulated operator: credentials, defaults, listening address.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createOperatorServer } from './http.ts';
import type { OperatorFaultName } from './faults.ts';
import { SimulatedOperator, cstgKeyPairFromSecret, type Caller, type CstgKeyPair, type OperatorBehaviour, type OperatorConfig, type Role } from './operator.ts';
import type { IssuedIdentity, TokenLifetimes } from './tokens.ts';

export const DEFAULT_SITE_ID = 123;

/** Token lifetimes of the operator's local configuration (UID2-SPEC §8). */
export const DEFAULT_LIFETIMES: TokenLifetimes = {
  refreshAfterMs: 900_000,
  identityExpiresAfterMs: 3_600_000,
  refreshExpiresAfterMs: 86_400_000,
};

export interface OperatorCredentials {
  apiKey: string;
  clientSecret: string;
  optoutApiKey: string;
  optoutClientSecret: string;
  cstgPublicKey: string;
  cstgSubscriptionId: string;
}

export interface OperatorOptions {
  host?: string;
  port?: number;
  apiKey?: string;
  clientSecret?: string;
  optoutApiKey?: string;
  optoutClientSecret?: string;
  cstg?: CstgKeyPair;
  cstgOrigins?: readonly string[];
  propagationDelayMs?: number;
  lifetimes?: Partial<TokenLifetimes>;
  fault?: OperatorFaultName;
  /** Conformant behaviours of real operators (the named variants of variants.ts). */
  behaviour?: OperatorBehaviour;
  now?: () => number;
  /** Keep a log of every call with the persons it concerns (participant sessions judge from it). */
  recordCalls?: boolean;
  onRequest?: (path: string, status: number) => void;
  /** Told every identity (tokens, refresh response key) the operator issues. */
  onIssued?: (identity: IssuedIdentity) => void;
  /**
   * Fleet mode: this many instances behind the one port, a request each in turn, sharing the opt-out service
   * and the token keys. Each syncs its own snapshot of the opt-outs every `syncIntervalMs`, the phases
   * staggered evenly, so they disagree for up to one interval after an opt-out appears (UID2-SPEC §1.4, §5.2).
   */
  instances?: number;
  syncIntervalMs?: number;
}

export interface RunningOperator {
  url: string;
  credentials: OperatorCredentials;
  /** Which credentials were generated here rather than given (to print them once, for the user). */
  generated: ReadonlySet<keyof OperatorCredentials>;
  /** The first instance (the only one unless fleet mode): the call log and the stores are shared by all. */
  operator: SimulatedOperator;
  instances: readonly SimulatedOperator[];
  server: Server;
  close(): Promise<void>;
}

const newApiKey = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;
const newSecret = () => randomBytes(32).toString('base64');

export async function startOperator(options: OperatorOptions = {}): Promise<RunningOperator> {
  const generated = new Set<keyof OperatorCredentials>();
  const pick = (name: keyof OperatorCredentials, given: string | undefined, make: () => string) => {
    if (given !== undefined) return given;
    generated.add(name);
    return make();
  };
  const apiKey = pick('apiKey', options.apiKey, () => newApiKey('UID2-C-L'));
  const clientSecret = pick('clientSecret', options.clientSecret, newSecret);
  // Unless given, the CSTG key pair follows from the client secret: serve-pages derives the same public key.
  const cstg = options.cstg ?? cstgKeyPairFromSecret(clientSecret);
  if (!options.cstg) generated.add('cstgPublicKey').add('cstgSubscriptionId');
  const credentials: OperatorCredentials = {
    apiKey,
    clientSecret,
    optoutApiKey: pick('optoutApiKey', options.optoutApiKey, () => newApiKey('UID2-O-L')),
    optoutClientSecret: pick('optoutClientSecret', options.optoutClientSecret, newSecret),
    cstgPublicKey: cstg.publicKey,
    cstgSubscriptionId: cstg.subscriptionId,
  };
  if (credentials.apiKey === credentials.optoutApiKey) throw new Error('the API key and the opt-out API key must differ');
  const callers = new Map<string, Caller>([
    [credentials.apiKey, caller(credentials.apiKey, credentials.clientSecret, ['GENERATOR', 'MAPPER', 'SHARER', 'ID_READER'])],
    [credentials.optoutApiKey, caller(credentials.optoutApiKey, credentials.optoutClientSecret, ['OPTOUT'])],
  ]);
  const config: OperatorConfig = {
    propagationDelayMs: options.propagationDelayMs ?? 0,
    lifetimes: withDefaults(DEFAULT_LIFETIMES, options.lifetimes),
    fault: options.fault,
    behaviour: options.behaviour,
    cstg,
    cstgOrigins: options.cstgOrigins ?? [],
    now: options.now ?? Date.now,
    recordCalls: options.recordCalls,
  };
  const count = options.instances ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error('instances must be a positive integer');
  const interval = options.syncIntervalMs;
  const configOf = (i: number): OperatorConfig => (interval === undefined ? config : { ...config, syncedAt: lastSync(interval, (i * interval) / count) });
  const operator = new SimulatedOperator(configOf(0));
  const instances = [operator, ...Array.from({ length: count - 1 }, (_, i) => new SimulatedOperator(configOf(i + 1), operator))];
  operator.tokens.onIssued = options.onIssued; // the instances share one token service
  const server = createOperatorServer({ operator, instances, callers, cstgSiteId: DEFAULT_SITE_ID, onRequest: options.onRequest });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    credentials,
    generated,
    operator,
    instances,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * An instance's sync timer: it syncs at `phaseMs` and every `intervalMs` after, and answers from the opt-outs
 * as they were at its last sync. Derived from the clock rather than a timer, so a fake clock drives it too.
 */
function lastSync(intervalMs: number, phaseMs: number): (nowMs: number) => number {
  if (intervalMs <= 0) return (nowMs) => nowMs;
  return (nowMs) => nowMs - ((((nowMs - phaseMs) % intervalMs) + intervalMs) % intervalMs);
}

/** Fills what is not given; an option given as undefined keeps its default. */
function withDefaults<T extends object>(defaults: T, given: Partial<T> | undefined): T {
  const entries = Object.entries(given ?? {}).filter(([, value]) => value !== undefined);
  return { ...defaults, ...Object.fromEntries(entries) };
}

function caller(apiKey: string, secretBase64: string, roles: Role[]): Caller {
  const secret = Buffer.from(secretBase64, 'base64');
  if (secret.length !== 32) throw new Error('a client secret must be base64 of 32 bytes (UID2-SPEC §2.1)');
  return { apiKey, secret, roles: new Set(roles), siteId: DEFAULT_SITE_ID };
}
