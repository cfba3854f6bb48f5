// Named conformant variants of the simulated operator: behaviours real operators show that the rules allow.
// Beside the faults (faults.ts), they are what calibration proves the other way round: the kit must pass each
// with nothing failed, warned or undecided, or it would fail a conformant deployment.
import type { CheckSettings } from '../engine/check.ts';
import type { OperatorOptions } from './index.ts';

/** The `Origin` the kit's own runs send on client-generate, and the one site domain of their operator (a reserved name). */
export const KIT_CSTG_ORIGIN = 'https://publisher.example';

export interface OperatorVariant {
  name: string;
  description: string;
  /** What startOperator() needs to show the behaviour. */
  operator: Omit<OperatorOptions, 'fault' | 'host' | 'port' | 'now' | 'onRequest'>;
  /** What a run against it needs: the `Origin` of client-generate, check settings (bounds, polling). */
  run?: { cstgOrigin?: string; settings?: Partial<CheckSettings> };
}

export const OPERATOR_VARIANTS = [
  {
    name: 'latest-time',
    description: 'repeated opt-outs of one UTC day report the latest time in /v2/optout/status, as the reference operator merges a day (UID2-SPEC §1.4)',
    operator: { behaviour: { sameDayLatest: true } },
  },
  {
    name: 'throttle',
    description: 'a gateway in front: past 100 requests a second, HTTP 429 with Retry-After and no body (UID2-SPEC §1.3, §8)',
    operator: { behaviour: { throttle: { requests: 100, windowMs: 1000 } } },
  },
  {
    name: 'empty-error-message',
    description: 'HTTP 500 answers carry "message": "", as the reference operator\'s internal errors do',
    operator: { behaviour: { emptyServerErrorMessage: true } },
  },
  {
    name: 'short-refresh-lifetime',
    description: 'refresh tokens expire 0.8 s after issue, so the run\'s pre-opt-out tokens run out while the checks use them (UID2-SPEC §1.2: expiry before opt-out)',
    operator: { lifetimes: { refreshAfterMs: 200, identityExpiresAfterMs: 400, refreshExpiresAfterMs: 800 } },
  },
  {
    name: 'cstg-origin',
    description: 'client-generate checks the Origin against the site\'s domains: 403 invalid_http_origin without a listed one (UID2-SPEC §1.6)',
    operator: { cstgOrigins: [KIT_CSTG_ORIGIN] },
    run: { cstgOrigin: KIT_CSTG_ORIGIN },
  },
  {
    name: 'fleet',
    description: 'three instances behind one port, a request each in turn, each syncing its own opt-out snapshot every second on a staggered timer: right after an opt-out they disagree for up to a second (UID2-SPEC §1.4, §5.2)',
    operator: { instances: 3, syncIntervalMs: 1000 },
    // The settle window must outlast one sync interval, or a disagreement after the first report would count.
    run: { settings: { settleMs: 1500, propagationTimeoutMs: 5000 } },
  },
] as const satisfies readonly OperatorVariant[];

export type OperatorVariantName = (typeof OPERATOR_VARIANTS)[number]['name'];

export function findOperatorVariant(name: string): OperatorVariant | undefined {
  return OPERATOR_VARIANTS.find((v) => v.name === name);
}
