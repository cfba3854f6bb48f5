// The reference advertiser / data provider (PROTOCOL.md §3 `/advertiser/*`; RULES.md ADV-*). It maps its
// users' DII to raw UID2s with POST /v3/identity/map (UID2-SPEC §1.3), keeps the raw UID2 per person (keyed
// by normalized DII), re-maps on every sync and drops a raw UID2 as soon as a re-map says `optout` (§6.3).
// A user who opted out of this participant is never mapped again, in any spelling (§7).
import type { MapRequest } from '../client/operator-client.ts';
import { hashDii, InvalidDiiError, personKey } from '../wire/dii.ts';
import { batches, malformed, successBody } from './operator-answer.ts';
import { DriverRequestError, identityOf, type DriverCall, type ParticipantContext, type ParticipantFault, type RoleHandler } from './role.ts';

export const ADVERTISER_FAULTS: readonly ParticipantFault[] = [
  {
    name: 'adv-keeps-stale-uid',
    role: 'advertiser',
    breaks: ['ADV-MAP-OPTOUT'],
    description:
      'when a re-map answers optout it keeps the raw UID2 it stored for that user earlier (it only writes on success); a user first mapped after opting out is handled right',
  },
  {
    name: 'adv-v3-misaligned-after-invalid',
    role: 'advertiser',
    breaks: ['ADV-MAP-OPTOUT'],
    description:
      'reads the v3 identity map arrays as if invalid identifiers had no entry (v2 habit): after an invalid identifier the answers shift, so a user who opted out since the last sync can read an "invalid identifier" entry and keep the raw UID2 stored earlier; batches without invalid identifiers are right',
  },
  {
    name: 'adv-maps-site-optout',
    role: 'advertiser',
    breaks: ['ADV-SITE-OPTOUT'],
    description: 'applies its site opt-out list to what it uses, not to what it maps: site-opted-out users still go to identity map, though their raw UID2 is never answered',
  },
  {
    name: 'adv-site-optout-by-spelling',
    role: 'advertiser',
    breaks: ['ADV-SITE-OPTOUT'],
    description:
      'keeps its site opt-out list by address as written (trimmed, lowercased), not by normalized DII: a gmail.com user who opted out as Jane.Doe+news@gmail.com is mapped again as janedoe@gmail.com',
  },
];

/** At most this many identifiers in one identity map request, all arrays together (UID2-SPEC §8). */
export const MAP_BATCH = 5_000;

type Identity = ReturnType<typeof identityOf>;

/** One identity of a driver call: as written (sent to the operator as given) and the person it is. */
interface Entry {
  field: 'email' | 'phone';
  value: string;
  /** `<kind>:<base64 SHA-256 of the normalized DII>`; undefined when the DII is invalid (nobody to keep state for). */
  person: string | undefined;
}

function entryOf(identity: Identity): Entry {
  const [field, value] = 'email' in identity ? (['email', identity.email] as const) : (['phone', identity.phone] as const);
  try {
    return { field, value, person: personKey(hashDii(field, value)) };
  } catch (e) {
    if (e instanceof InvalidDiiError) return { field, value, person: undefined };
    throw e;
  }
}

function identitiesOf(body: unknown): Identity[] {
  const identities = (body as { identities?: unknown } | undefined)?.identities;
  if (typeof body !== 'object' || body === null || !Array.isArray(identities)) throw new DriverRequestError(400, 'expected {"identities": [identity, ...]}');
  return identities.map((identity, i) => {
    try {
      return identityOf(identity);
    } catch (e) {
      if (e instanceof DriverRequestError) throw new DriverRequestError(400, `identities[${i}]: ${e.message}`);
      throw e;
    }
  });
}

export function createAdvertiser(context: ParticipantContext): RoleHandler {
  const { client, fault } = context;
  /** The local store: the raw UID2 this participant uses for each person. */
  const store = new Map<string, string>();
  /** Users who opted out of this participant (§7), by person; the spelling fault keys them by address as written. */
  const siteOptouts = new Set<string>();
  const suppressionKey = (entry: Entry): string | undefined =>
    fault === 'adv-site-optout-by-spelling' ? `${entry.field}:${entry.value.trim().toLowerCase()}` : entry.person;
  const suppressed = (entry: Entry): boolean => {
    const key = suppressionKey(entry);
    return key !== undefined && siteOptouts.has(key);
  };

  /** One v3 entry for a person (§1.3): `u` replaces the stored UID2, `optout` removes it (§6.3, ADV-MAP-OPTOUT). */
  function remember(person: string | undefined, result: unknown): void {
    if (person === undefined) return;
    const { u, e } = (typeof result === 'object' && result !== null ? result : {}) as { u?: unknown; e?: unknown };
    if (typeof u === 'string') store.set(person, u);
    else if (e === 'optout' && fault !== 'adv-keeps-stale-uid') store.delete(person);
    // Any other reason says nothing about the user's choice: the last good mapping stays.
  }

  /** One identity map request: emails and phones together, each as given; the operator judges validity (§3). */
  async function remap(entries: readonly Entry[]): Promise<void> {
    const request: MapRequest = {};
    const sent: Record<'email' | 'phone', Entry[]> = { email: [], phone: [] };
    for (const entry of entries) {
      (request[entry.field] ??= []).push(entry.value);
      sent[entry.field].push(entry);
    }
    const body = (await successBody('identity map', () => client.mapV3(request))) as Record<string, unknown> | undefined;
    for (const field of ['email', 'phone'] as const) {
      if (sent[field].length === 0) continue;
      const results = body?.[field];
      if (!Array.isArray(results) || results.length !== sent[field].length) throw malformed('identity map', `${field} is not index-aligned with the request`);
      // §1.3: each array is index-aligned with the request, invalid identifiers included. The fault reads it
      // against the identifiers it could key only, so every answer after an invalid one shifts.
      const readers = fault === 'adv-v3-misaligned-after-invalid' ? sent[field].filter((entry) => entry.person !== undefined) : sent[field];
      readers.forEach((entry, i) => remember(entry.person, results[i]));
    }
  }

  async function sync(body: unknown): Promise<{ raw_uid2s: string[] }> {
    const entries = identitiesOf(body).map(entryOf);
    const wanted = entries.filter((entry) => !suppressed(entry));
    // ADV-SITE-OPTOUT: a site-opted-out user is not mapped at all; the fault filters only the answer.
    const toMap = fault === 'adv-maps-site-optout' ? entries : wanted;
    for (const batch of batches(toMap, MAP_BATCH)) await remap(batch);
    const uids = wanted.flatMap((entry) => {
      const uid = entry.person === undefined ? undefined : store.get(entry.person);
      return uid === undefined ? [] : [uid];
    });
    return { raw_uid2s: [...new Set(uids)] };
  }

  function siteOptout(body: unknown): object {
    const entry = entryOf(identityOf(body));
    if (entry.person === undefined) throw new DriverRequestError(400, `not a valid ${entry.field}: there is no user to opt out`);
    siteOptouts.add(suppressionKey(entry)!);
    store.delete(entry.person);
    return {};
  }

  return {
    role: 'advertiser',
    async handle(call: DriverCall): Promise<unknown> {
      if (call.action === 'sync') return sync(call.body);
      if (call.action === 'site-optout') return siteOptout(call.body);
      throw new DriverRequestError(404, `no advertiser action ${call.action}`);
    },
  };
}
