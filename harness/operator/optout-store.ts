// The simulated operator's opt-out store (UID2-SPEC §5). Keyed by the first-level hash for generate, refresh,
// CSTG and map, and by raw UID2 for /v2/optout/status; the earliest record wins (or, as the reference
// operator merges one day's partition, the latest of the same UTC day); a record becomes visible only after the
// configured propagation delay (§5.2).

interface OptOutRecord {
  /** When the opt-out was recorded, whole seconds in ms (§1.4). */
  recordedMs: number;
  /** When the other endpoints start to see it. */
  visibleFromMs: number;
}

export interface OptOutStoreOptions {
  propagationDelayMs: number;
  /** Variant `latest-time` (UID2-SPEC §1.4): a repeat on the same UTC day keeps the latest time, across days the earliest. */
  sameDayLatest?: boolean;
  /** Fault `propagation-repeat-resets`: a repeat keeps the earliest time but restarts the propagation delay. */
  repeatResetsVisibility?: boolean;
}

export class OptOutStore {
  private readonly byFirstLevel = new Map<string, OptOutRecord>();
  private readonly byRawUid = new Map<string, OptOutRecord>();
  /** First-level hashes whose opt-out was delivered more than once. */
  private readonly redelivered = new Set<string>();

  constructor(private readonly options: OptOutStoreOptions) {}

  record(firstLevel: Buffer, rawUidBase64: string, nowMs: number): void {
    const recordedMs = Math.floor(nowMs / 1000) * 1000;
    const fresh = { recordedMs, visibleFromMs: nowMs + this.options.propagationDelayMs };
    for (const [map, key] of [
      [this.byFirstLevel, firstLevel.toString('base64')],
      [this.byRawUid, rawUidBase64],
    ] as const) {
      const existing = map.get(key);
      if (existing && map === this.byFirstLevel) this.redelivered.add(key);
      if (!existing) map.set(key, fresh);
      else if (this.options.sameDayLatest && utcDay(existing.recordedMs) === utcDay(recordedMs)) map.set(key, { recordedMs, visibleFromMs: existing.visibleFromMs });
      else if (this.options.repeatResetsVisibility) map.set(key, { recordedMs: existing.recordedMs, visibleFromMs: fresh.visibleFromMs });
    }
  }

  /** Whether a record exists at all, visible yet or not. */
  isRecorded(firstLevel: Buffer): boolean {
    return this.byFirstLevel.has(firstLevel.toString('base64'));
  }

  isRedelivered(firstLevel: Buffer): boolean {
    return this.redelivered.has(firstLevel.toString('base64'));
  }

  isOptedOut(firstLevel: Buffer, nowMs: number): boolean {
    return this.visible(this.byFirstLevel.get(firstLevel.toString('base64')), nowMs) !== undefined;
  }

  /** `opted_out_since` in ms for a raw UID2 as sent, or undefined when it is not (yet) opted out. */
  optedOutSince(rawUidBase64: string, nowMs: number): number | undefined {
    return this.visible(this.byRawUid.get(rawUidBase64), nowMs)?.recordedMs;
  }

  private visible(record: OptOutRecord | undefined, nowMs: number): OptOutRecord | undefined {
    return record && nowMs >= record.visibleFromMs ? record : undefined;
  }
}

const utcDay = (ms: number) => Math.floor(ms / 86_400_000);
