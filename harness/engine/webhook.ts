// The kit as the opt-out service calling a DSP's webhook (UID2-SPEC §6.1): the raw UID2 (standard base64,
// URL-encoded) and the opt-out time in Unix seconds fill the template's placeholders; no body; 200 and 204
// are success. Each call's outcome is returned for the checks to judge (DSP-WEBHOOK-ACK).
import { request } from 'undici';

export interface WebhookCall {
  http: number;
  ms: number;
  /** Set when there was no HTTP answer (unreachable, timeout). */
  failure?: string;
}

export class Webhook {
  constructor(
    readonly template: string,
    readonly options: { method: 'GET' | 'POST'; timeoutMs: number },
  ) {
    if (!template.includes('{uid2}')) throw new Error('the webhook template needs a {uid2} placeholder');
  }

  url(rawUid2: string, optoutEpochSeconds: number): string {
    return this.template.replaceAll('{uid2}', encodeURIComponent(rawUid2)).replaceAll('{timestamp}', String(optoutEpochSeconds));
  }

  async call(rawUid2: string, optoutEpochSeconds: number): Promise<WebhookCall> {
    const started = performance.now();
    try {
      const response = await request(this.url(rawUid2, optoutEpochSeconds), { method: this.options.method, headersTimeout: this.options.timeoutMs, bodyTimeout: this.options.timeoutMs });
      await response.body.dump();
      return { http: response.statusCode, ms: Math.round(performance.now() - started) };
    } catch (e) {
      return { http: 0, ms: Math.round(performance.now() - started), failure: (e as { code?: string }).code ?? (e as Error).message };
    }
  }
}

export const webhookAcknowledged = (call: WebhookCall): boolean => call.http === 200 || call.http === 204;
