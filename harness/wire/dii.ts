// DII (directly identifying information) normalization and hashing, UID2-SPEC §3.
import { hash } from 'node:crypto';

export type DiiKind = 'email' | 'phone';
export type DiiField = 'email' | 'email_hash' | 'phone' | 'phone_hash';
export const DII_FIELDS: readonly DiiField[] = ['email', 'email_hash', 'phone', 'phone_hash'];

export type InvalidReason =
  | 'email_no_at'
  | 'email_many_at'
  | 'email_empty_local'
  | 'email_empty_domain'
  | 'phone_not_e164'
  | 'hash_bad_length'
  | 'hash_not_decodable'
  | 'not_a_string';

export class InvalidDiiError extends Error {
  constructor(
    readonly reason: InvalidReason,
    readonly field: DiiField,
  ) {
    super(`invalid ${field}: ${reason}`);
    this.name = 'InvalidDiiError';
  }
}

/** A DII reduced to what identifies the person: its kind and the bytes the operator keys it on. */
export interface HashedDii {
  kind: DiiKind;
  /** SHA-256 of the normalized UTF-8 string (32 bytes), or the decoded bytes of a hash field (31–33 bytes). */
  hash: Buffer;
}

export function kindOf(field: DiiField): DiiKind {
  return field.startsWith('email') ? 'email' : 'phone';
}

const ASCII_UPPER = /[A-Z]/g;

/**
 * Normalizes an email as the operator does (§3.1, §3.2): ASCII A–Z lowercased; before the `@` every space is
 * dropped (leading or inner: `a b@x` is `ab@x`), after it only trailing spaces; exactly one `@`; and for
 * `gmail.com` only, dots removed and `+tag` dropped from the local part. Tabs and non-ASCII are kept as given.
 */
export function normalizeEmail(input: string): string {
  const lowered = input.replace(ASCII_UPPER, (c) => c.toLowerCase());
  const at = lowered.indexOf('@');
  if (at < 0) throw new InvalidDiiError('email_no_at', 'email');
  if (lowered.indexOf('@', at + 1) >= 0) throw new InvalidDiiError('email_many_at', 'email');
  let local = lowered.slice(0, at).replaceAll(' ', '');
  const domain = lowered.slice(at + 1).replace(/ +$/, '');
  if (domain.length === 0) throw new InvalidDiiError('email_empty_domain', 'email');
  if (domain === 'gmail.com') {
    const plus = local.indexOf('+');
    local = (plus >= 0 ? local.slice(0, plus) : local).replaceAll('.', '');
  }
  if (local.length === 0) throw new InvalidDiiError('email_empty_local', 'email');
  return `${local}@${domain}`;
}

const E164 = /^\+[0-9]{10,15}$/;

/** Phones are validated, never normalized: `+` and 10–15 ASCII digits (§3.3). */
export function validatePhone(input: string): string {
  if (!E164.test(input)) throw new InvalidDiiError('phone_not_e164', 'phone');
  return input;
}

/** SHA-256 of a UTF-8 string or of bytes (one-shot: a third of the cost of createHash for short input). */
export function sha256(data: string | Buffer): Buffer {
  return hash('sha256', data, 'buffer');
}

const HEX_64 = /^[0-9a-fA-F]{64}$/;
/**
 * The 44-character strings Java's basic Base64 decoder takes: 44 symbols (33 bytes), 43 and `=` (32 bytes) or
 * 42 and `==` (31 bytes). Only a 32-byte decode is a real SHA-256, but the operator checks no length (§3.4).
 */
const BASE64_44 = /^[A-Za-z0-9+/]{42}(?:[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]=|==)$/;

/**
 * Decodes a DII hash as the operator does (§3.4): 64 hex characters, or 44 characters of standard base64
 * whatever length they decode to (unused trailing bits ignored, as Java's decoder does). Anything else is invalid.
 */
export function decodeDiiHash(input: string, field: DiiField): Buffer {
  if (HEX_64.test(input)) return Buffer.from(input, 'hex');
  if (input.length !== 44 && input.length !== 64) throw new InvalidDiiError('hash_bad_length', field);
  if (!BASE64_44.test(input)) throw new InvalidDiiError('hash_not_decodable', field);
  return Buffer.from(input, 'base64');
}

/** Any of the four request forms to the hashed DII the operator keys everything on. */
export function hashDii(field: DiiField, value: unknown): HashedDii {
  if (typeof value !== 'string') throw new InvalidDiiError('not_a_string', field);
  switch (field) {
    case 'email':
      return { kind: 'email', hash: sha256(normalizeEmail(value)) };
    case 'phone':
      return { kind: 'phone', hash: sha256(validatePhone(value)) };
    case 'email_hash':
    case 'phone_hash':
      return { kind: kindOf(field), hash: decodeDiiHash(value, field) };
  }
}

/**
 * One person whatever the request form: `<kind>:<base64 of the keyed bytes>` (usually the SHA-256 of the
 * normalized DII). The oracle, the call log, redaction and the reference participants all key people this way.
 */
export const personKey = (dii: HashedDii): string => `${dii.kind}:${dii.hash.toString('base64')}`;

/** The two wire forms of a hash. */
export const hashToBase64 = (hash: Buffer): string => hash.toString('base64');
export const hashToHex = (hash: Buffer): string => hash.toString('hex');
