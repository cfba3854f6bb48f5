// Shared helpers of the operator tests: a started operator, a fake clock, and supertest calls that seal
// requests and open answers with the real v2 envelope.
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { openBareResponse, openResponse, sealRequest } from '../../harness/wire/envelope.ts';
import { startOperator, type OperatorOptions, type RunningOperator } from '../../harness/operator/index.ts';

export class FakeClock {
  constructor(public nowMs = Date.UTC(2026, 10, 1, 12, 0, 0)) {}
  now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export interface Sealed {
  http: number;
  contentType: string;
  /** Decrypted JSON for a 200, plain JSON otherwise. */
  json: unknown;
  text: string;
}

/** POSTs a sealed payload with the given credentials through supertest and opens the answer. */
export async function postSealed(op: RunningOperator, path: string, payload: unknown, who: 'client' | 'optout' = 'client', options: { nowMs?: number; octetStream?: boolean } = {}): Promise<Sealed> {
  const apiKey = who === 'client' ? op.credentials.apiKey : op.credentials.optoutApiKey;
  const secret = Buffer.from(who === 'client' ? op.credentials.clientSecret : op.credentials.optoutClientSecret, 'base64');
  const sealed = sealRequest(secret, payload, { nowMs: options.nowMs ?? op.operator.config.now() });
  const body = options.octetStream ? sealed.bytes : sealed.bytes.toString('base64');
  const answer = await postRaw(op, path, body, { Authorization: `Bearer ${apiKey}`, 'Content-Type': options.octetStream ? 'application/octet-stream' : 'text/plain' });
  const { raw, contentType } = answer;
  if (answer.http === 200) {
    const opened = openResponse(secret, contentType.startsWith('application/octet-stream') ? raw : raw.toString('latin1'), sealed.nonce);
    return { http: 200, contentType, json: opened, text: '' };
  }
  const text = raw.toString('utf8');
  return { http: answer.http, contentType, json: text ? JSON.parse(text) : undefined, text };
}

/** POSTs a raw body (for envelope error paths) and parses the plain JSON answer. */
export async function postRaw(op: RunningOperator, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ http: number; json: unknown; raw: Buffer; contentType: string }> {
  let call = request(op.server).post(path);
  for (const [name, value] of Object.entries(headers)) call = call.set(name, value);
  const response = await call
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    })
    .send(body);
  const raw = response.body as Buffer;
  const contentType = String(response.headers['content-type'] ?? '');
  let json: unknown;
  if (contentType.startsWith('application/json')) json = JSON.parse(raw.toString('utf8'));
  return { http: response.status, json, raw, contentType };
}

/** Refreshes through supertest; the answer opens with the refresh response key. */
export async function postRefresh(op: RunningOperator, token: string, responseKey: string, options: { apiKey?: string; octetStream?: boolean } = {}) {
  const headers: Record<string, string> = { 'Content-Type': options.octetStream ? 'application/octet-stream' : 'text/plain' };
  if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`;
  const answer = await postRaw(op, '/v2/token/refresh', token, headers);
  if (answer.http !== 200) return { ...answer, opened: undefined };
  const key = Buffer.from(responseKey, 'base64');
  const opened = openBareResponse(key, answer.contentType.startsWith('application/octet-stream') ? answer.raw : answer.raw.toString('latin1'));
  return { ...answer, opened: opened as { status: string; body?: Record<string, unknown> } };
}

export function withOperator(options: OperatorOptions = {}) {
  let op: RunningOperator | undefined;
  return {
    async start(extra: OperatorOptions = {}): Promise<RunningOperator> {
      op = await startOperator({ ...options, ...extra });
      return op;
    },
    async stop(): Promise<void> {
      await op?.close();
      op = undefined;
    },
  };
}

export const syntheticEmail = (domain = 'example.com') => `t-${randomBytes(5).toString('hex')}@${domain}`;
export const syntheticPhone = () => `+1555${Math.floor(1e6 + Math.random() * 8e6)}`;
