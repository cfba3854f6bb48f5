// A typed client for a participant's driver endpoint (PROTOCOL.md §3). It checks every answer's shape:
// a driver that is down, times out, answers an HTTP error or garbage raises DriverError, which the engine
// turns into an `error` result (the kit could not decide), never a pass or a fail.
import { request } from 'undici';
import { validateDriverMessage, type DriverMessage } from '../engine/schemas.ts';
import type { ParticipantRole } from '../participants/role.ts';
import { PARTICIPANT_ROLES } from '../participants/role.ts';

export const MAX_DRIVER_BODY = 1 << 20;

export class DriverError extends Error {
  constructor(
    readonly reason: 'unreachable' | 'timeout' | 'http' | 'garbage' | 'too_large',
    message: string,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

export type DriverIdentity = { email: string } | { phone: string };

export class DriverClient {
  private readonly base: string;

  /** `signal`: the run's stop; aborts calls under way and refuses new ones, throwing the signal's reason. */
  constructor(readonly options: { baseUrl: string; timeoutMs: number; signal?: AbortSignal }) {
    this.base = options.baseUrl.replace(/\/$/, '');
  }

  /** `GET /`: the roles the participant plays (unknown names are ignored). */
  async roles(): Promise<ParticipantRole[]> {
    const { roles } = (await this.call('GET', '/', undefined, 'roles-answer')) as { roles: string[] };
    return PARTICIPANT_ROLES.filter((r) => roles.includes(r));
  }

  publisherLogin(identity: DriverIdentity): Promise<string | null> {
    return this.token('/publisher/login', identity);
  }
  async publisherSiteOptout(identity: DriverIdentity): Promise<void> {
    await this.call('POST', '/publisher/site-optout', identity, 'ack-answer');
  }
  publisherAdRequest(identity: DriverIdentity): Promise<string | null> {
    return this.token('/publisher/ad-request', identity);
  }
  /** `/publisher/tick`; false when the participant does not offer it (404), so the kit waits instead. */
  async publisherTick(): Promise<boolean> {
    try {
      await this.call('POST', '/publisher/tick', {}, 'ack-answer');
      return true;
    } catch (e) {
      if (e instanceof DriverError && e.reason === 'http' && /HTTP 404/.test(e.message)) return false;
      throw e;
    }
  }
  async dspBid(advertisingToken: string): Promise<boolean> {
    return ((await this.call('POST', '/dsp/bid', { advertising_token: advertisingToken }, 'bid-answer')) as { uses_uid2: boolean }).uses_uid2;
  }
  async advertiserSync(identities: DriverIdentity[]): Promise<string[]> {
    return ((await this.call('POST', '/advertiser/sync', { identities }, 'sync-answer')) as { raw_uid2s: string[] }).raw_uid2s;
  }
  async advertiserSiteOptout(identity: DriverIdentity): Promise<void> {
    await this.call('POST', '/advertiser/site-optout', identity, 'ack-answer');
  }
  async sharerShare(rawUid2s: string[]): Promise<string[]> {
    return ((await this.call('POST', '/sharer/share', { raw_uid2s: rawUid2s }, 'share-answer')) as { shared: string[] }).shared;
  }

  private async token(path: string, identity: DriverIdentity): Promise<string | null> {
    return ((await this.call('POST', path, identity, 'token-answer')) as { advertising_token: string | null }).advertising_token;
  }

  /** One driver call; the answer must match its definition in schemas/driver.schema.json. */
  private async call(method: 'GET' | 'POST', path: string, body: unknown, answer: DriverMessage): Promise<unknown> {
    const where = `${method} ${this.base}${path}`;
    let response;
    try {
      response = await request(`${this.base}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify(body) : undefined,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: this.options.signal,
      });
    } catch (e) {
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      const code = (e as { code?: string }).code ?? (e as Error).message;
      if (/TIMEOUT/.test(code)) throw new DriverError('timeout', `${where} did not answer within ${this.options.timeoutMs} ms`);
      throw new DriverError('unreachable', `${where} is unreachable (${code})`);
    }
    const declared = Number(response.headers['content-length'] ?? 0);
    if (declared > MAX_DRIVER_BODY) {
      response.body.destroy();
      throw new DriverError('too_large', `${where} answered ${declared} bytes (limit ${MAX_DRIVER_BODY})`);
    }
    let text: string;
    try {
      text = await readCapped(response.body);
    } catch (e) {
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      if (e instanceof DriverError) throw new DriverError(e.reason, `${where}: ${e.message}`);
      throw new DriverError('timeout', `${where} stopped sending its answer (${(e as { code?: string }).code ?? (e as Error).message})`);
    }
    if (response.statusCode !== 200) throw new DriverError('http', `${where} answered HTTP ${response.statusCode}`);
    let value: unknown;
    try {
      value = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    } catch {
      throw new DriverError('garbage', `${where} answered something that is not a JSON object`);
    }
    // Problems name places and schema words, never values: a message cannot carry a token or a DII.
    const problems = validateDriverMessage(answer, value);
    if (problems.length > 0) throw new DriverError('garbage', `${where} did not answer as schemas/driver.schema.json "${answer}" says: ${problems.join('; ')}`);
    return value;
  }
}

async function readCapped(body: AsyncIterable<Buffer | Uint8Array> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_DRIVER_BODY) {
      body.destroy();
      throw new DriverError('too_large', `answered more than ${MAX_DRIVER_BODY} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}
