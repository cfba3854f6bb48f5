// A typed client for a participant's driver endpoint (PROTOCOL.md §3). It checks every answer's shape:
// a driver that is down, times out, answers an HTTP error or garbage raises DriverError, which the engine
// turns into an `error` result (the kit could not decide), never a pass or a fail.
import { request } from 'undici';
import { Budget, declaredLength, endpointUrl, parseBoundedJson, readCapped } from './bounded.ts';
import { validateDriverMessage, type DriverMessage } from '../engine/schemas.ts';
import type { ParticipantRole } from '../participants/role.ts';
import { PARTICIPANT_ROLES } from '../participants/role.ts';

export const MAX_DRIVER_BODY = 1 << 20;

export class DriverError extends Error {
  constructor(
    /** `journey`: a page driver's journey (or the page under it) failed; the message is the journey's, scrubbed. */
    readonly reason: 'unreachable' | 'timeout' | 'aborted' | 'http' | 'garbage' | 'too_large' | 'journey',
    message: string,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

export type DriverIdentity = { email: string } | { phone: string };

/**
 * The calls of PROTOCOL.md §3 as the checks make them, whoever answers them: a participant's driver endpoint
 * (DriverClient) or a driver inside the kit (harness/page/page-driver.ts drives a publisher's page). A failure
 * to act or answer is a DriverError (the check is `error`, never a pass or a fail).
 */
export interface ParticipantDriver {
  /** The roles the participant plays (the checks of the others are not_applicable). */
  roles(): Promise<ParticipantRole[]>;
  publisherLogin(identity: DriverIdentity): Promise<string | null>;
  publisherSiteOptout(identity: DriverIdentity): Promise<void>;
  publisherAdRequest(identity: DriverIdentity): Promise<string | null>;
  /** Runs due background work now; false when the participant does not offer it (the kit waits instead). */
  publisherTick(): Promise<boolean>;
  dspBid(advertisingToken: string): Promise<boolean>;
  advertiserSync(identities: DriverIdentity[]): Promise<string[]>;
  advertiserSiteOptout(identity: DriverIdentity): Promise<void>;
  sharerShare(rawUid2s: string[]): Promise<string[]>;
}

export class DriverClient implements ParticipantDriver {
  private readonly base: string;

  /** `timeoutMs` is the total budget of one call (connecting, headers, whole body); `signal` aborts calls in flight. */
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
    const budget = new Budget(this.options.timeoutMs, this.options.signal);
    let response;
    let bytes: Buffer | undefined;
    try {
      response = await request(endpointUrl(this.base, path), {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify(body) : undefined,
        signal: budget,
      });
      bytes = await readCapped(response.body, MAX_DRIVER_BODY, declaredLength(response.headers));
    } catch (e) {
      const { reason, detail } = budget.failure(e);
      if (reason === 'timeout') throw new DriverError('timeout', `${where} did not answer within ${this.options.timeoutMs} ms`);
      if (reason === 'aborted') throw new DriverError('aborted', `${where}: ${detail}`);
      throw new DriverError('unreachable', `${where} is unreachable (${detail})`);
    } finally {
      budget.done();
    }
    if (bytes === undefined) throw new DriverError('too_large', `${where} answered more than ${MAX_DRIVER_BODY} bytes`);
    if (response.statusCode !== 200) throw new DriverError('http', `${where} answered HTTP ${response.statusCode}`);
    const value = parseBoundedJson(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DriverError('garbage', `${where} answered something that is not a JSON object (or nests too deep)`);
    // Problems name places and schema words, never values: a message cannot carry a token or a DII.
    const problems = validateDriverMessage(answer, value);
    if (problems.length > 0) throw new DriverError('garbage', `${where} did not answer as schemas/driver.schema.json "${answer}" says: ${problems.join('; ')}`);
    return value;
  }
}
