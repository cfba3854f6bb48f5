// A check's evidence, and the operator client as checks use it: each call is recorded, redacted, as the
// check's evidence. The driver and the webhook record into the same kind of log (participant-session.ts).
import type { ClientOptions, DiiInput, Exchange, MapRequest, OperatorClient } from '../client/operator-client.ts';
import type { Evidence } from './result.ts';
import type { AnswerLedger } from './ledger.ts';
import type { Redactor } from './redact.ts';

/** Evidence kept per check; a property check makes hundreds of calls, the report keeps the last ones. */
export const MAX_EVIDENCE = 60;

/** The last MAX_EVIDENCE entries of a check's transcript, after a note of how many came before. */
export class EvidenceLog {
  private readonly kept: Evidence[] = [];
  private dropped = 0;

  push(entry: Evidence): void {
    this.kept.push(entry);
    if (this.kept.length > MAX_EVIDENCE) {
      this.kept.shift();
      this.dropped += 1;
    }
  }

  note(text: string): void {
    this.push({ path: '', http: 0, note: text });
  }

  get entries(): Evidence[] {
    return this.dropped > 0 ? [{ path: '', http: 0, note: `… ${this.dropped} earlier entries not kept` }, ...this.kept] : [...this.kept];
  }
}

export class RecordingApi {
  private readonly log = new EvidenceLog();

  constructor(
    readonly client: OperatorClient,
    readonly redactor: Redactor,
    /** When given, every answer is also validated against its schema, in the name of this check. */
    private readonly ledger?: { book: AnswerLedger; check: string },
    /** Once aborted (the check timed out, the run stopped), no new request goes out: it throws the reason. */
    private readonly signal?: AbortSignal,
  ) {}

  get options(): ClientOptions {
    return this.client.options;
  }

  generate(input: DiiInput & { optout_check?: number }): Promise<Exchange> {
    return this.record(input, () => this.client.generate(input));
  }
  validate(token: string, dii: DiiInput): Promise<Exchange> {
    return this.record({ token, ...dii }, () => this.client.validate(token, dii));
  }
  logout(dii: DiiInput): Promise<Exchange> {
    return this.record(dii, () => this.client.logout(dii));
  }
  mapV2(request: MapRequest): Promise<Exchange> {
    return this.record(request, () => this.client.mapV2(request));
  }
  mapV3(request: MapRequest): Promise<Exchange> {
    return this.record(request, () => this.client.mapV3(request));
  }
  optoutStatus(ids: string[]): Promise<Exchange> {
    return this.record({ advertising_ids: ids }, () => this.client.optoutStatus(ids));
  }
  encrypted(path: string, payload: unknown): Promise<Exchange> {
    return this.record(payload, () => this.client.encrypted(path, payload));
  }
  refresh(token: string, key: string, options: { authenticated?: boolean } = {}): Promise<Exchange> {
    return this.record(undefined, () => this.client.refresh(token, key, options), this.redactor.token('refresh', token));
  }
  clientGenerate(input: Parameters<OperatorClient['clientGenerate']>[0]): Promise<Exchange> {
    return this.record(input.dii, () => this.client.clientGenerate(input));
  }

  /** The transcript, redacted: the last MAX_EVIDENCE entries, after a note of how many came before. */
  get evidence(): Evidence[] {
    return this.log.entries;
  }

  note(text: string): void {
    this.log.note(text);
  }

  /**
   * The request is redacted before it is sent, so every value in it is registered with the run's scrubber
   * before the target can echo it; `request` is given when the caller redacted it already.
   */
  private async record(payload: unknown, send: () => Promise<Exchange>, request = this.redactor.value(payload)): Promise<Exchange> {
    this.signal?.throwIfAborted();
    const x = await send();
    this.ledger?.book.record(this.ledger.check, x);
    const body = x.body as { status?: unknown } | undefined;
    this.log.push({
      path: x.path,
      http: x.http,
      ...(typeof body?.status === 'string' ? { status: this.redactor.value(body.status, 'status') as string } : {}),
      request,
      response: x.envelopeError ? `<${x.envelopeError.reason}: ${x.envelopeError.message}>` : this.redactor.value(x.body),
      ms: Math.round(x.durationMs),
    });
    return x;
  }
}
