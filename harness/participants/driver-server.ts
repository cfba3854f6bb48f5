// The reference participants behind one driver endpoint (PROTOCOL.md §3): `GET /` says which roles it plays,
// `POST /<role>/<action>` drives a user, and the DSP's opt-out webhook is `/dsp/optout?uid2=…&timestamp=…`
// (GET or POST). This is the embedded default that `uid2-conformance run` with no target tests.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperatorClient } from '../client/operator-client.ts';
import { DriverRequestError, type ParticipantContext, type ParticipantRole, type RoleHandler } from './role.ts';

export type RoleFactory = (context: ParticipantContext) => RoleHandler;

export interface ReferenceParticipantsOptions {
  operator: { url: string; apiKey: string; clientSecret: string };
  /** The roles to play, each with its handler factory. */
  roles: Partial<Record<ParticipantRole, RoleFactory>>;
  /** Named faults by role (at most one per role). */
  faults?: Partial<Record<ParticipantRole, string>>;
  host?: string;
  port?: number;
  now?: () => number;
}

export interface RunningParticipants {
  url: string;
  /** The DSP's webhook as the opt-out service calls it, with `{uid2}` and `{timestamp}` placeholders. */
  webhookTemplate: string;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new DriverRequestError(413, 'body over 1 MiB'));
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new DriverRequestError(400, 'the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

export async function startReferenceParticipants(options: ReferenceParticipantsOptions): Promise<RunningParticipants> {
  const client = new OperatorClient({ baseUrl: options.operator.url, apiKey: options.operator.apiKey, clientSecret: options.operator.clientSecret });
  const now = options.now ?? Date.now;
  const handlers = new Map<ParticipantRole, RoleHandler>();
  for (const [role, factory] of Object.entries(options.roles) as Array<[ParticipantRole, RoleFactory]>) {
    handlers.set(role, factory({ client, fault: options.faults?.[role], now }));
  }
  const server = createServer((req, res) => {
    const answer = (status: number, value: unknown) => {
      const json = JSON.stringify(value);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) }).end(json);
    };
    const url = new URL(req.url ?? '/', 'http://driver');
    if (url.pathname === '/' && req.method === 'GET') return answer(200, { roles: [...handlers.keys()] });
    const [, role, action, ...rest] = url.pathname.split('/');
    const handler = handlers.get(role as ParticipantRole);
    const webhook = role === 'dsp' && action === 'optout';
    if (!handler || !action || rest.length > 0) return answer(404, { error: `no such driver path ${url.pathname}` });
    if (req.method !== 'POST' && !(webhook && req.method === 'GET')) return answer(405, { error: 'use POST' });
    readJson(req)
      .then((body) => handler.handle({ action, method: req.method ?? 'POST', body, query: url.searchParams }))
      .then((value) => answer(200, value ?? {}))
      .catch((e: unknown) => {
        if (e instanceof DriverRequestError) answer(e.status, { error: e.message });
        else answer(500, { error: `the reference ${role} failed: ${(e as Error).message}` });
      });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  const url = `http://${address.address}:${address.port}`;
  return {
    url,
    webhookTemplate: `${url}/dsp/optout?uid2={uid2}&timestamp={timestamp}`,
    close: async () => {
      await Promise.all([...handlers.values()].map((h) => h.close?.()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
