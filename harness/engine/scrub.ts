// The one scrubber every output passes through (reports, console, progress, evidence): it replaces every
// sensitive value the run knows wherever it appears, also inside text the target wrote (an error message
// that echoes the request, an extra answer field), and removes terminal control characters. It does not
// trust where text came from: the run feeds it values as they are created or sent (credentials, DII in
// every form, tokens, raw UID2s) and the writers pass everything through it at the end.
//
// Matching is case-insensitive (a target may echo an email or a hex hash in another case) and uses an index
// keyed by each value's first PREFIX characters: at each position of the text a number computed from those
// characters is looked up, and only on a hit the index itself, whatever the number of values (a combined
// RegExp of thousands of alternatives is ten times slower).

/** Values shorter than this are not secrets worth a replacement (and would match ordinary words). */
const PREFIX = 6;
/** C0 and C1 controls except tab and newline, DEL, and the bidi controls that reorder what a terminal shows. */
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** How a received value must look to be registered: a target cannot make `pass` or `operator` a "token". */
const SECRET_SHAPE = /^[A-Za-z0-9+/=_-]{20,}$/;

/** Terminal control characters removed (not replaced: a secret split by them still matches afterwards). */
export function stripControls(text: string): string {
  return text.replace(CONTROLS, '');
}

/** ASCII-only lowercase keeps every index of the text (String#toLowerCase does not, for some letters). */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** A number from the PREFIX characters at `at` (equal prefixes, equal numbers; the converse is checked after). */
function prefixHash(text: string, at: number): number {
  let h = 0;
  for (let k = at; k < at + PREFIX; k++) h = Math.imul(h, 31) + text.charCodeAt(k);
  return h | 0;
}

/**
 * Whether a value received from the target looks like a token, raw UID2 or key (and may be registered): long,
 * base64 letters only, and not a one-case word such as the report's statuses, rule ids and check ids.
 */
export const looksSecret = (value: string): boolean =>
  SECRET_SHAPE.test(value) && (/[\d+/=]/.test(value) || (/[a-z]/.test(value) && /[A-Z]/.test(value)));

/**
 * Text the target wrote, for a check message: quoted as JSON data, control characters removed, and shown only
 * when short; longer text is summarized, never cut (a cut would leave part of a secret the scrubber cannot
 * recognize). The scrubber still replaces known values inside what is shown.
 */
export function quoteTarget(value: unknown, max = 60): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'a JSON array' : 'a JSON object';
  if (typeof value !== 'string') return JSON.stringify(value);
  const text = stripControls(value);
  return text.length <= max ? JSON.stringify(text) : `<${text.length} characters of target text>`;
}

export class Scrubber {
  /** Lowercased value → its replacement. */
  private readonly labels = new Map<string, string>();
  /** Lowercased first PREFIX characters → the values starting with them, longest first. */
  private readonly index = new Map<string, string[]>();
  /** prefixHash of every key of `index`: most positions of a text are ruled out without making a string. */
  private readonly prefixHashes = new Set<number>();

  get size(): number {
    return this.labels.size;
  }

  /**
   * Registers a value the run must never show, with its replacement: a pseudonym (`<uid2#5>`) or a kind label
   * (`<api-key>`). A pseudonym replaces a kind label given earlier; otherwise the first label stays. Its
   * URL-encoded spelling too (a base64 token or an email in a URL a target quotes back).
   */
  add(value: string | undefined, label: string): void {
    if (value === undefined || value.length < PREFIX) return;
    this.register(value, label);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) this.register(encoded, label);
  }

  private register(value: string, label: string): void {
    const key = asciiLower(value);
    const known = this.labels.get(key);
    if (known !== undefined && (known.includes('#') || !label.includes('#'))) return;
    this.labels.set(key, label);
    if (known !== undefined) return;
    const head = key.slice(0, PREFIX);
    const bucket = this.index.get(head);
    this.prefixHashes.add(prefixHash(head, 0));
    if (!bucket) this.index.set(head, [key]);
    else {
      bucket.push(key);
      bucket.sort((a, b) => b.length - a.length);
    }
  }

  /** Client credentials, by kind (a CSTG public key and subscription id are not secrets). */
  addCredentials(c: { apiKey?: string; clientSecret?: string; optoutApiKey?: string; optoutClientSecret?: string }): void {
    this.add(c.apiKey, '<api-key>');
    this.add(c.clientSecret, '<client-secret>');
    this.add(c.optoutApiKey, '<optout-api-key>');
    this.add(c.optoutClientSecret, '<optout-client-secret>');
  }

  /** The text with every registered value replaced and every control character removed. */
  scrub(text: string): string {
    const clean = stripControls(text);
    if (this.labels.size === 0 || clean.length < PREFIX) return clean;
    const lower = asciiLower(clean);
    let out = '';
    let copied = 0;
    for (let i = 0; i + PREFIX <= lower.length; i++) {
      if (!this.prefixHashes.has(prefixHash(lower, i))) continue;
      const bucket = this.index.get(lower.slice(i, i + PREFIX));
      if (!bucket) continue;
      const found = bucket.find((value) => lower.startsWith(value, i));
      if (found === undefined) continue;
      out += clean.slice(copied, i) + this.labels.get(found)!;
      copied = i + found.length;
      i = copied - 1;
    }
    return copied === 0 ? clean : out + clean.slice(copied);
  }

  /** A JSON value with every string (object keys included) scrubbed; a new value, the input is left as it is. */
  scrubDeep<T>(value: T): T {
    return this.deep(value) as T;
  }

  private deep(value: unknown): unknown {
    if (typeof value === 'string') return this.scrub(value);
    if (Array.isArray(value)) return value.map((v) => this.deep(v));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.scrub(k), this.deep(v)]));
    }
    return value;
  }
}
