// The reference sharer (PROTOCOL.md §3 `/sharer/share`; RULES.md SHR-STATUS-BEFORE-SHARE). Before it shares
// raw UID2s it asks POST /v2/optout/status about every one of them, in batches of at most 5,000 sent one after
// the other (UID2-SPEC §1.4, §8), and shares none the operator lists (§6.3). Nothing is cached: a raw UID2
// can opt out between two shares.
import { batches, malformed, STATUS_BATCH, successBody } from './operator-answer.ts';
import { DriverRequestError, type DriverCall, type ParticipantContext, type ParticipantFault, type RoleHandler } from './role.ts';

export const SHARER_FAULTS: readonly ParticipantFault[] = [
  {
    name: 'shr-never-checks',
    role: 'sharer',
    breaks: ['SHR-STATUS-BEFORE-SHARE'],
    description: 'shares every raw UID2 it is given without asking /v2/optout/status',
  },
  {
    name: 'shr-checks-first-batch-only',
    role: 'sharer',
    breaks: ['SHR-STATUS-BEFORE-SHARE'],
    description:
      'asks /v2/optout/status about the first batch of 5,000 distinct raw UID2s only and shares the rest unchecked: right for shares of up to 5,000, wrong past them',
  },
  {
    name: 'shr-caches-status',
    role: 'sharer',
    breaks: ['SHR-STATUS-BEFORE-SHARE'],
    description:
      'remembers forever every raw UID2 the operator did not list and never asks about it again: a UID2 that opts out after its first share keeps being shared',
  },
];

function rawUid2sOf(body: unknown): string[] {
  const ids = (body as { raw_uid2s?: unknown } | undefined)?.raw_uid2s;
  if (typeof body !== 'object' || body === null || !Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw new DriverRequestError(400, 'expected {"raw_uid2s": [string, ...]}');
  }
  return ids;
}

export function createSharer(context: ParticipantContext): RoleHandler {
  const { client, fault } = context;
  /** Fault `shr-caches-status` only: raw UID2s the operator once did not list. */
  const cleared = new Set<string>();

  /** The raw UID2s among `ids` the operator lists as opted out, asked batch by batch on one connection. */
  async function optedOut(ids: readonly string[]): Promise<Set<string>> {
    const listed = new Set<string>();
    const all = batches(ids, STATUS_BATCH);
    for (const batch of fault === 'shr-checks-first-batch-only' ? all.slice(0, 1) : all) {
      const body = await successBody('opt-out status', () => client.optoutStatus(batch));
      const entries = (body as { opted_out?: unknown } | undefined)?.opted_out;
      if (!Array.isArray(entries)) throw malformed('opt-out status', 'no opted_out list');
      for (const entry of entries) {
        const id = (entry as { advertising_id?: unknown } | null)?.advertising_id;
        if (typeof id === 'string') listed.add(id);
      }
      if (fault === 'shr-caches-status') for (const id of batch) if (!listed.has(id)) cleared.add(id);
    }
    return listed;
  }

  async function share(body: unknown): Promise<{ shared: string[] }> {
    const ids = rawUid2sOf(body);
    const distinct = [...new Set(ids)];
    // SHR-STATUS-BEFORE-SHARE: every raw UID2 about to be shared is asked about now.
    const toCheck = fault === 'shr-never-checks' ? [] : fault === 'shr-caches-status' ? distinct.filter((id) => !cleared.has(id)) : distinct;
    const listed = toCheck.length === 0 ? new Set<string>() : await optedOut(toCheck);
    return { shared: ids.filter((id) => !listed.has(id)) };
  }

  return {
    role: 'sharer',
    async handle(call: DriverCall): Promise<unknown> {
      if (call.action === 'share') return share(call.body);
      throw new DriverRequestError(404, `no sharer action ${call.action}`);
    },
  };
}
