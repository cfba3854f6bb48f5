// Synthetic identities: reserved domains (example.com, example.org), gmail.com only for its normalization
// rules, and phones under +999 (an ITU code assigned to no country). A per-run nonce keeps two runs against
// the same staging operator from sharing identities.
import { createHash, randomBytes } from 'node:crypto';
import { sha256 } from '../wire/dii.ts';

export class SyntheticIdentities {
  private counter = 0;

  constructor(readonly nonce: string = randomBytes(4).toString('hex')) {}

  private next(): string {
    this.counter += 1;
    return `${this.nonce}${this.counter.toString(36)}`;
  }

  /** A plain address at a reserved domain. */
  email(domain = 'example.com'): string {
    return `uid2c-${this.next()}@${domain}`;
  }

  /** A non-gmail address with dots and a +tag, whose gmail-style look-alikes are other people. */
  dottedEmail(): string {
    const id = this.next();
    return `iso.${id.slice(0, 4)}.${id.slice(4)}+news@example.org`;
  }

  /** A gmail address in its normalized form (no dots, no +tag). */
  gmail(): string {
    return `uid2c${this.next()}@gmail.com`;
  }

  /** `+999` and 11 digits derived from the nonce and a counter. */
  phone(): string {
    const digest = createHash('sha256').update(this.next()).digest();
    const digits = (digest.readUInt32BE(0) % 1e6).toString().padStart(6, '0') + (digest.readUInt32BE(4) % 1e5).toString().padStart(5, '0');
    return `+999${digits}`;
  }
}

export const base64Hash = (normalized: string): string => sha256(normalized).toString('base64');
export const hexHash = (normalized: string): string => sha256(normalized).toString('hex');
