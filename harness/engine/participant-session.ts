// One participant conformance session: the kit plays the participant's operator (its simulated operator,
// listening where the participant's staging points its UID2 base URL, with short token lifetimes so refresh
// and propagation happen in seconds) and the opt-out service (global opt-outs registered in its own store,
// the DSP's webhook called). It drives the participant's users through the driver (PROTOCOL.md §3) and
// judges from the driver's answers and the operator's call log.
import type { DriverIdentity, ParticipantDriver } from '../client/driver-client.ts';
import { DriverClient, DriverError } from '../client/driver-client.ts';
import type { OperatorCall } from '../operator/call-log.ts';
import type { RunningOperator } from '../operator/index.ts';
import type { TokenLifetimes } from '../operator/tokens.ts';
import type { ParticipantRole } from '../participants/role.ts';
import type { Progress } from '../progress.ts';
import { encodeAdvertisingToken, type AdvertisingTokenFields, type DecodedToken } from '../wire/advertising-token.ts';
import { hashDii, personKey } from '../wire/dii.ts';
import type { Capability, Check } from './check.ts';
import type { CheckResult, Screenshot, Status } from './result.ts';
import { runChecks } from './runner.ts';
import { SyntheticIdentities } from './synthetic.ts';
import { Redactor } from './redact.ts';
import type { Scrubber } from './scrub.ts';
import type { Webhook, WebhookCall } from './webhook.ts';
import { EvidenceLog } from './recording.ts';

export interface ParticipantSettings {
  seed: number;
  runs: number;
  lifetimes: TokenLifetimes;
  pollIntervalMs: number;
  /** How long a participant may take to act on something (refresh a due token, stop using an opt-out). */
  actWithinMs: number;
}

/** The driver as checks use it: every call kept, redacted, as the check's evidence; driver failures → error. */
export class RecordingDriver {
  constructor(
    private readonly driver: ParticipantDriver,
    private readonly redactor: Redactor,
    private readonly log: EvidenceLog,
    /** Once aborted (the check timed out, the run stopped), no new call goes out: it throws the reason. */
    private readonly signal?: AbortSignal,
  ) {}

  /** `answerKey` names the answer as the driver protocol does, so its values get the right pseudonyms. */
  private async record<T>(path: string, request: unknown, call: () => Promise<T>, answerKey?: string): Promise<T> {
    this.signal?.throwIfAborted();
    // Redacted before it is sent: its values are registered with the run's scrubber before the driver can echo them.
    const redacted = this.redactor.value(request);
    const started = performance.now();
    const answer = await call();
    const response = answerKey === undefined ? {} : this.redactor.value({ [answerKey]: answer });
    this.log.push({ path, http: 200, request: redacted, response, ms: Math.round(performance.now() - started) });
    return answer;
  }

  login = (identity: DriverIdentity) => this.record('/publisher/login', identity, () => this.driver.publisherLogin(identity), 'advertising_token');
  siteOptout = (identity: DriverIdentity) => this.record('/publisher/site-optout', identity, () => this.driver.publisherSiteOptout(identity));
  adRequest = (identity: DriverIdentity) => this.record('/publisher/ad-request', identity, () => this.driver.publisherAdRequest(identity), 'advertising_token');
  tick = () => this.record('/publisher/tick', {}, () => this.driver.publisherTick(), 'offered');
  bid = (token: string) => this.record('/dsp/bid', { advertising_token: token }, () => this.driver.dspBid(token), 'uses_uid2');
  sync = (identities: DriverIdentity[]) => this.record('/advertiser/sync', { identities }, () => this.driver.advertiserSync(identities), 'raw_uid2s');
  advertiserSiteOptout = (identity: DriverIdentity) => this.record('/advertiser/site-optout', identity, () => this.driver.advertiserSiteOptout(identity));
  share = (uids: string[]) => this.record('/sharer/share', { raw_uid2s: uids }, () => this.driver.sharerShare(uids), 'shared');

  note(text: string): void {
    this.log.note(text);
  }
}

/** The opt-out service's webhook as checks use it: every call kept, redacted, in the check's evidence. */
export class RecordingWebhook {
  constructor(
    private readonly webhook: Webhook,
    private readonly redactor: Redactor,
    private readonly log: EvidenceLog,
    private readonly signal?: AbortSignal,
  ) {}

  /** `what` says whose opt-out this is, in the check's words (never a DII or raw UID2). */
  async call(rawUid2: string, optoutEpochSeconds: number, what: string): Promise<WebhookCall> {
    this.signal?.throwIfAborted();
    const call = await this.webhook.call(rawUid2, optoutEpochSeconds);
    this.log.push({
      path: 'webhook',
      http: call.http,
      request: { method: this.webhook.options.method, uid2: this.redactor.uid(rawUid2), timestamp: optoutEpochSeconds },
      ms: call.ms,
      note: call.failure ? `opt-out of ${what}: no answer (${call.failure})` : `opt-out of ${what}`,
    });
    return call;
  }
}

export interface ParticipantCheckContext {
  driver: RecordingDriver;
  /** The kit's operator: its call log, tokens, keys. */
  operator: RunningOperator;
  /** Registers a global opt-out as the Transparency and Control Portal would (through the kit's own store). */
  optOutGlobally(identity: DriverIdentity): Promise<{ ackMs: number }>;
  /** The operator's calls since a time, concerning a person (any DII form). */
  callsAbout(identity: DriverIdentity, sinceMs: number): readonly OperatorCall[];
  /** Every call the operator logged since a time. */
  calls(sinceMs: number): readonly OperatorCall[];
  /** The sequence number of the last call logged so far (OperatorCall.seq). */
  lastCallSeq(): number;
  /** The kit operator's advertising tokens: decode what it issued; mint one as it would (with its keys). */
  tokens: {
    decode(token: string): DecodedToken;
    mint(fields: AdvertisingTokenFields): string;
    /** How long the tokens it issues live. */
    identityLifetimeMs: number;
  };
  /** The person key of an identity, as the call log writes it. */
  person(identity: DriverIdentity): string;
  /** The raw UID2 the kit's operator maps this identity to. */
  rawUid(identity: DriverIdentity): string;
  webhook?: RecordingWebhook;
  /** Whether the participant offers /publisher/tick. */
  hasTick: boolean;
  identities: SyntheticIdentities;
  settings: ParticipantSettings;
  capabilities: ReadonlySet<Capability>;
  /** Replay of a property failure: the fast-check path to rerun. */
  replayPath?: string;
  /** When the check's timeout ends it (ms since the epoch). */
  stopsAt: number;
  note(text: string): void;
}

/** What a driver inside the kit gets for one check: the check's stop, its evidence log, the run's redactor. */
export interface CheckScope {
  check: string;
  signal: AbortSignal;
  log: EvidenceLog;
  redactor: Redactor;
  /** The kit operator's call log: the calls a driver's users caused, for the check's evidence. */
  calls?: Pick<RunningOperator['operator']['calls'], 'lastSeq' | 'list'>;
}

/** A driver of one check alone; `end` runs when the check has its verdict (screenshots of a failed check's pages). */
export interface CheckDriver extends ParticipantDriver {
  end(status: Status): Promise<Screenshot[]>;
}

/** A driver that keeps state per check (the page driver: each check's users and their browser contexts). */
export interface ScopedDriver extends ParticipantDriver {
  forCheck(scope: CheckScope): CheckDriver;
}

const isScoped = (driver: ParticipantDriver): driver is ScopedDriver => typeof (driver as Partial<ScopedDriver>).forCheck === 'function';

export interface ParticipantTarget {
  /** A participant's driver endpoint (PROTOCOL.md §3), or a driver inside the kit (the page driver). */
  driver: string | ParticipantDriver | ScopedDriver;
  operator: RunningOperator;
  webhook?: Webhook;
  /** Restrict to these roles (default: every role the driver plays). */
  roles?: readonly ParticipantRole[];
  requestTimeoutMs: number;
}

export interface ParticipantSessionOptions {
  checks: readonly Check<ParticipantCheckContext>[];
  settings: ParticipantSettings;
  checkTimeoutMs: number;
  concurrency: number;
  deadlineMs: number;
  signal?: AbortSignal;
  progress?: Progress;
  onResult?: (result: CheckResult) => void;
  /** Replay: the fast-check path per check id. */
  replayPaths?: ReadonlyMap<string, string>;
  /** The run's scrubber: the session registers the kit operator's credentials and every value its checks see. */
  scrubber?: Scrubber;
}

export class DriverUnavailableError extends Error {}

/** The person key of an identity, as the call log writes it (every spelling of one DII is one person). */
export function identityPerson(identity: DriverIdentity): string {
  const [field, value] = Object.entries(identity)[0]!;
  return personKey(hashDii(field as 'email' | 'phone', value));
}

/** Asks the driver which roles it plays; a driver that is down or answers garbage stops the session (exit 2). */
export async function driverRoles(driver: ParticipantDriver): Promise<ParticipantRole[]> {
  try {
    return await driver.roles();
  } catch (e) {
    if (e instanceof DriverError) throw new DriverUnavailableError(`cannot use the driver: ${e.message}`);
    throw e;
  }
}

export async function runParticipantSession(target: ParticipantTarget, options: ParticipantSessionOptions): Promise<{ results: CheckResult[]; roles: ParticipantRole[] }> {
  const driver = typeof target.driver === 'string' ? new DriverClient({ baseUrl: target.driver, timeoutMs: target.requestTimeoutMs, signal: options.signal }) : target.driver;
  const played = await driverRoles(driver);
  const roles = target.roles ? played.filter((r) => target.roles!.includes(r)) : played;
  const capabilities = new Set<Capability>(roles);
  if (target.webhook) capabilities.add('webhook');
  const hasTick = roles.includes('publisher') ? await driver.publisherTick().catch(() => false) : false;
  const http = typeof target.driver === 'string';
  const tick = `${http ? '/publisher/tick' : "tick (the pages' clocks catch up with the kit operator's)"} ${hasTick ? 'offered' : 'not offered: the kit waits'}`;
  options.progress?.phase(`participant ${http ? 'driver' : 'page driver'} plays ${played.join(', ') || 'no role'}${roles.includes('publisher') ? `; ${tick}` : ''}`);
  const redactor = new Redactor(options.scrubber);
  redactor.scrubber.addCredentials(target.operator.credentials);
  const identities = new SyntheticIdentities();
  const { operator } = target.operator;
  const results = await runChecks<ParticipantCheckContext>({
    checks: options.checks,
    capabilities,
    contextFor: (check, signal, stopsAt) => {
      const log = new EvidenceLog();
      const own = isScoped(driver) ? driver.forCheck({ check: check.id, signal, log, redactor, calls: operator.calls }) : undefined;
      const recording = new RecordingDriver(own ?? driver, redactor, log, signal);
      const ctx: ParticipantCheckContext = {
        driver: recording,
        operator: target.operator,
        async optOutGlobally(identity) {
          const reply = operator.logout(identity);
          if (reply.kind !== 'sealed') throw new Error('the kit could not register a global opt-out in its own operator');
          return { ackMs: operator.config.now() };
        },
        callsAbout: (identity, sinceMs) => {
          const key = identityPerson(identity);
          return operator.calls.list(sinceMs).filter((c) => c.persons.includes(key));
        },
        calls: (sinceMs) => operator.calls.list(sinceMs),
        lastCallSeq: () => operator.calls.lastSeq,
        tokens: {
          decode: (token) => operator.tokens.decodeAdvertising(token),
          mint: (fields) => encodeAdvertisingToken(fields, operator.tokens.masterKey, operator.tokens.siteKey),
          identityLifetimeMs: operator.tokens.lifetimes.identityExpiresAfterMs,
        },
        person: identityPerson,
        rawUid: (identity) => {
          const [field, value] = Object.entries(identity)[0]!;
          const dii = hashDii(field as 'email' | 'phone', value);
          return operator.identities.rawUid(dii.kind, operator.identities.firstLevelHash(dii)).toString('base64');
        },
        webhook: target.webhook && new RecordingWebhook(target.webhook, redactor, log, signal),
        hasTick,
        identities,
        settings: options.settings,
        capabilities,
        replayPath: options.replayPaths?.get(check.id),
        stopsAt,
        note: (text) => recording.note(text),
      };
      return { ctx, evidence: () => log.entries, end: own && ((status: Status) => own.end(status)) };
    },
    concurrency: options.concurrency,
    checkTimeoutMs: options.checkTimeoutMs,
    deadlineMs: options.deadlineMs,
    signal: options.signal,
    onResult: options.onResult,
  });
  return { results, roles };
}
