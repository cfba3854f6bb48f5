// Redaction of everything a report or a log line could leak: DII and their hashes, raw UID2s, tokens,
// keys. Each value becomes a stable per-run pseudonym, so an auditor can follow one person through a
// transcript: every form of the same DII (email, its hashes, other spellings) gets the same `dii#N`.
import { hashDii, personKey, type DiiField } from '../wire/dii.ts';

const DII_KEYS = new Set<string>(['email', 'email_hash', 'phone', 'phone_hash']);
const UID_KEYS = new Set(['advertising_id', 'advertising_ids', 'u', 'p', 'raw_uid2s', 'shared']);
const TOKEN_KEYS = new Set(['advertising_token', 'token']);
const REFRESH_KEYS = new Set(['refresh_token']);
const SECRET_KEYS = new Set(['refresh_response_key', 'secret', 'public_key', 'payload', 'iv', 'client_secret', 'api_key']);
/** Kept as they are: statuses, messages, reasons, numbers, bucket ids. */
const SAFE_KEYS = new Set(['status', 'message', 'reason', 'e', 'bucket_id', 'optout', 'identity_scope']);
const MAX_ARRAY = 12;

export class Redactor {
  private readonly persons = new Map<string, number>();
  /** Exact strings already seen as a DII form, for echoes such as v2 map `identifier`. */
  private readonly byText = new Map<string, string>();
  private readonly uids = new Map<string, number>();
  private readonly tokens = new Map<string, number>();

  /** `email dii#3`: the same person for every equivalent form of the DII. */
  dii(field: DiiField, value: unknown): string {
    if (typeof value !== 'string') return `<${field} (not a string)>`;
    const known = this.byText.get(`${field}\u0000${value}`);
    if (known) return known;
    let label: string;
    try {
      label = `<${field} dii#${this.number(this.persons, personKey(hashDii(field, value)))}>`;
    } catch {
      label = `<invalid ${field}>`;
    }
    this.byText.set(`${field}\u0000${value}`, label);
    this.byText.set(`*\u0000${value}`, label);
    return label;
  }

  uid(value: unknown): string {
    return typeof value === 'string' ? `<uid2#${this.number(this.uids, value)}>` : '<uid2 (not a string)>';
  }

  token(kind: 'token' | 'refresh', value: unknown): string {
    return typeof value === 'string' ? `<${kind}#${this.number(this.tokens, value)}>` : `<${kind} (not a string)>`;
  }

  /** A JSON value with every sensitive field replaced; long arrays are cut. */
  value(value: unknown, key?: string): unknown {
    if (Array.isArray(value)) {
      const shown = value.slice(0, MAX_ARRAY).map((v) => this.value(v, key));
      return value.length > MAX_ARRAY ? [...shown, `… ${value.length - MAX_ARRAY} more`] : shown;
    }
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.value(v, k)]));
    }
    if (typeof value !== 'string') return value;
    if (key === undefined) return this.loose(value);
    if (SAFE_KEYS.has(key)) return value;
    if (DII_KEYS.has(key)) return this.dii(key as DiiField, value);
    if (key === 'identifier') return this.byText.get(`*\u0000${value}`) ?? '<dii>';
    if (UID_KEYS.has(key)) return this.uid(value);
    if (TOKEN_KEYS.has(key)) return this.token('token', value);
    if (REFRESH_KEYS.has(key)) return this.token('refresh', value);
    if (SECRET_KEYS.has(key)) return '<secret>';
    return this.loose(value);
  }

  /** A string of unknown meaning: kept only when short and plainly not an identifier. */
  private loose(text: string): string {
    if (text.length <= 40 && !/@|^\+?\d{7,}$|^[A-Za-z0-9+/_-]{24,}={0,2}$/.test(text)) return text;
    return this.byText.get(`*\u0000${text}`) ?? `<redacted ${text.length} chars>`;
  }

  private number(map: Map<string, number>, key: string): number {
    let n = map.get(key);
    if (n === undefined) {
      n = map.size + 1;
      map.set(key, n);
    }
    return n;
  }
}
