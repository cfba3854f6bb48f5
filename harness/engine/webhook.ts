// The kit as the opt-out service calling a DSP's webhook (UID2-SPEC §6.1): the raw UID2 (standard base64,
// URL-encoded) and the opt-out time in Unix seconds fill the template's placeholders; no body; 200 and 204
// are success. Each call's outcome is returned for the checks to judge (DSP-WEBHOOK-ACK).
import { undici } from '../lazy.ts';
import { Budget } from '../client/bounded.ts';

/** The most of a webhook's answer body the kit reads (and throws away): only the status counts. */
export const MAX_WEBHOOK_BODY = 64 << 10;

export interface WebhookCall {
  http: number;
  ms: number;
  /** Set when there was no HTTP answer (unreachable, timeout). */
  failure?: string;
}

export class Webhook {
  constructor(
    readonly template: string,
    /** `timeoutMs` is the total budget of one call; `signal` aborts calls in flight. */
    readonly options: { method: 'GET' | 'POST'; timeoutMs: number; signal?: AbortSignal },
  ) {
    if (!template.includes('{uid2}')) throw new Error('the webhook template needs a {uid2} placeholder');
  }

  url(rawUid2: string, optoutEpochSeconds: number): string {
    return this.template.replaceAll('{uid2}', encodeURIComponent(rawUid2)).replaceAll('{timestamp}', String(optoutEpochSeconds));
  }

  async call(rawUid2: string, optoutEpochSeconds: number): Promise<WebhookCall> {
    // undici loads on the first request: before the clock and the budget start, so loading it never counts as the target's time.
    const { request } = undici();
    const started = performance.now();
    const budget = new Budget(this.options.timeoutMs, this.options.signal);
    try {
      const response = await request(this.url(rawUid2, optoutEpochSeconds), { method: this.options.method, signal: budget });
      // dump() reads at most the limit, then closes the connection: a huge or endless body costs nothing.
      await response.body.dump({ limit: MAX_WEBHOOK_BODY });
      return { http: response.statusCode, ms: Math.round(performance.now() - started) };
    } catch (e) {
      const { reason, detail } = budget.failure(e);
      return { http: 0, ms: Math.round(performance.now() - started), failure: reason === 'timeout' ? `no answer within ${this.options.timeoutMs} ms` : detail };
    } finally {
      budget.done();
    }
  }
}

export const webhookAcknowledged = (call: WebhookCall): boolean => call.http === 200 || call.http === 204;
