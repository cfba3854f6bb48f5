// Redaction of everything a report or a log line could leak: DII and their hashes, raw UID2s, tokens,
// keys. Each value becomes a stable per-run pseudonym, so an auditor can follow one person through a
// transcript: every form of the same DII (email, its hashes, other spellings) gets the same `dii#N`.
// Each value it names is also registered with the run's Scrubber, with its pseudonym, so the value is
// replaced wherever else it shows up (a target's error message echoing the request, a check message).
import { hashDii, kindOf, normalizeEmail, personKey, type DiiField } from '../wire/dii.ts';
import { looksSecret, Scrubber } from './scrub.ts';

const DII_KEYS = new Set<string>(['email', 'email_hash', 'phone', 'phone_hash']);
const UID_KEYS = new Set(['advertising_id', 'advertising_ids', 'u', 'p', 'raw_uid2s', 'shared']);
const TOKEN_KEYS = new Set(['advertising_token', 'token']);
const REFRESH_KEYS = new Set(['refresh_token']);
const SECRET_KEYS = new Set(['refresh_response_key', 'secret', 'public_key', 'payload', 'iv', 'client_secret', 'api_key']);
/** Free text, kept after scrubbing: statuses, messages, reasons, bucket ids. */
const TEXT_KEYS = new Set(['status', 'message', 'reason', 'e', 'bucket_id', 'optout', 'identity_scope']);
const MAX_ARRAY = 12;
/** Characters of free text kept (clipped after scrubbing, so no secret is cut in two). */
const MAX_TEXT = 200;
/** Nesting kept; deeper values are summarized (a hostile answer cannot exhaust the stack). */
const MAX_DEPTH = 32;

export class Redactor {
  private readonly persons = new Map<string, number>();
  /** Exact strings already seen as a DII form, for echoes such as v2 map `identifier`. */
  private readonly byText = new Map<string, string>();
  private readonly uids = new Map<string, number>();
  private readonly tokens = new Map<string, number>();

  /** `scrubber` is the run's: every value named here is registered there. */
  constructor(readonly scrubber: Scrubber = new Scrubber()) {}

  /** `email dii#3`: the same person for every equivalent form of the DII. */
  dii(field: DiiField, value: unknown): string {
    if (typeof value !== 'string') return `<${field} (not a string)>`;
    const known = this.byText.get(`${field}\u0000${value}`);
    if (known) return known;
    let label: string;
    try {
      const hashed = hashDii(field, value);
      const n = this.number(this.persons, personKey(hashed));
      label = `<${field} dii#${n}>`;
      this.registerForms(field, value, hashed.hash, n);
    } catch {
      label = `<invalid ${field}>`;
    }
    this.byText.set(`${field}\u0000${value}`, label);
    this.byText.set(`*\u0000${value}`, label);
    return label;
  }

  uid(value: unknown): string {
    return typeof value === 'string' ? this.named(value, `<uid2#${this.number(this.uids, value)}>`) : '<uid2 (not a string)>';
  }

  token(kind: 'token' | 'refresh', value: unknown): string {
    return typeof value === 'string' ? this.named(value, `<${kind}#${this.number(this.tokens, value)}>`) : `<${kind} (not a string)>`;
  }

  /** A JSON value with every sensitive field replaced, free text scrubbed; long arrays are cut. */
  value(value: unknown, key?: string, depth = 0): unknown {
    if (depth > MAX_DEPTH && value !== null && typeof value === 'object') return '<nested too deep>';
    if (Array.isArray(value)) {
      const shown = value.slice(0, MAX_ARRAY).map((v) => this.value(v, key, depth + 1));
      return value.length > MAX_ARRAY ? [...shown, `… ${value.length - MAX_ARRAY} more`] : shown;
    }
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.text(k, 40), this.value(v, k, depth + 1)]));
    }
    if (typeof value !== 'string') return value;
    if (key === undefined) return this.loose(value);
    if (TEXT_KEYS.has(key)) return this.text(value);
    if (DII_KEYS.has(key)) return this.dii(key as DiiField, value);
    if (key === 'identifier') return this.byText.get(`*\u0000${value}`) ?? '<dii>';
    if (UID_KEYS.has(key)) return this.uid(value);
    if (TOKEN_KEYS.has(key)) return this.token('token', value);
    if (REFRESH_KEYS.has(key)) return this.token('refresh', value);
    if (SECRET_KEYS.has(key)) return this.named(value, '<secret>');
    return this.loose(value);
  }

  /** Free text: scrubbed, then clipped. */
  private text(text: string, max = MAX_TEXT): string {
    const clean = this.scrubber.scrub(text);
    return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
  }

  /** A string of unknown meaning: kept only when short and plainly not an identifier. */
  private loose(text: string): string {
    if (text.length <= 40 && !/@|^\+?\d{7,}$|^[A-Za-z0-9+/_-]{24,}={0,2}$/.test(text)) return this.scrubber.scrub(text);
    return this.byText.get(`*\u0000${text}`) ?? `<redacted ${text.length} chars>`;
  }

  /** Registers a token, raw UID2 or key (only one shaped like one: a target cannot register `pass`). */
  private named(value: string, label: string): string {
    if (looksSecret(value)) this.scrubber.add(value, label);
    return label;
  }

  /** Every form of a valid DII the run used: as sent, normalized, and its hash in base64 and hex. */
  private registerForms(field: DiiField, value: string, hash: Buffer, n: number): void {
    const kind = kindOf(field);
    const plain = `<${kind} dii#${n}>`;
    const hashed = `<${kind}_hash dii#${n}>`;
    this.scrubber.add(value, field === kind ? plain : hashed);
    if (field === 'email') this.scrubber.add(normalizeEmail(value), plain);
    this.scrubber.add(hash.toString('base64'), hashed);
    this.scrubber.add(hash.toString('hex'), hashed);
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
