// How the simulated operator turns a hashed DII into the values it keys on and hands out (UID2-SPEC §5.1):
// the first-level hash (opt-out key, stable) and the raw UID2 (salted per bucket).
import { randomBytes } from 'node:crypto';
import { sha256, type DiiKind, type HashedDii } from '../wire/dii.ts';

export type TestIdentityBehavior = 'always-optout' | 'refresh-optout' | 'never-optout';

/** The documented test identities, by the SHA-256 of their normalized form (UID2-SPEC §4, following the code). */
const TEST_IDENTITIES: ReadonlyArray<[DiiKind, string, TestIdentityBehavior]> = [
  ['email', 'optout@example.com', 'always-optout'],
  ['phone', '+00000000000', 'always-optout'],
  ['email', 'refresh-optout@example.com', 'refresh-optout'],
  ['phone', '+00000000002', 'refresh-optout'],
  ['email', 'validate@example.com', 'never-optout'],
  ['phone', '+12345678901', 'never-optout'],
];

const BUCKET_COUNT = 1024;

export class IdentityService {
  private readonly firstLevelSalt = randomBytes(32).toString('base64');
  private readonly bucketSalts = Array.from({ length: BUCKET_COUNT }, () => randomBytes(32));
  private readonly testIdentities: Map<string, TestIdentityBehavior>;
  private readonly testByFirstLevel: Map<string, TestIdentityBehavior>;

  constructor(options: { docsTableTestPhones?: boolean } = {}) {
    this.testIdentities = new Map(
      TEST_IDENTITIES.map(([kind, dii, behavior]) => {
        // The docs' conflicting table swaps the two phones (UID2-SPEC §4 CONFLICT); only a named fault uses it.
        if (options.docsTableTestPhones && kind === 'phone' && behavior !== 'never-optout') {
          behavior = behavior === 'always-optout' ? 'refresh-optout' : 'always-optout';
        }
        return [identityKey(kind, sha256(dii)), behavior];
      }),
    );
    this.testByFirstLevel = new Map(
      TEST_IDENTITIES.map(([kind, dii]) => {
        const hash = sha256(dii);
        return [identityKey(kind, this.firstLevelHash({ kind, hash })), this.testIdentities.get(identityKey(kind, hash))!];
      }),
    );
  }

  /** SHA-256 of (base64 of the DII hash) followed by the first-level salt: the opt-out key. */
  firstLevelHash(dii: HashedDii): Buffer {
    return sha256(dii.hash.toString('base64') + this.firstLevelSalt);
  }

  bucketOf(firstLevel: Buffer): number {
    return firstLevel.readUInt16BE(0) % BUCKET_COUNT;
  }

  bucketId(firstLevel: Buffer): string {
    return `b${this.bucketOf(firstLevel).toString(36).padStart(9, '0')}`;
  }

  /** 33 bytes: a type byte (scope 0 = UID2, identity type in bits 2–3) then SHA-256(first-level ‖ bucket salt). */
  rawUid(kind: DiiKind, firstLevel: Buffer): Buffer {
    const raw = Buffer.allocUnsafe(33);
    raw[0] = kind === 'phone' ? 0x04 : 0x00;
    sha256(Buffer.concat([firstLevel, this.bucketSalts[this.bucketOf(firstLevel)]!])).copy(raw, 1);
    return raw;
  }

  testBehavior(dii: HashedDii): TestIdentityBehavior | undefined {
    return this.testIdentities.get(identityKey(dii.kind, dii.hash));
  }

  /** The same, from the first-level hash a refresh token carries. */
  testBehaviorByFirstLevel(kind: DiiKind, firstLevel: Buffer): TestIdentityBehavior | undefined {
    return this.testByFirstLevel.get(identityKey(kind, firstLevel));
  }
}

function identityKey(kind: DiiKind, hash: Buffer): string {
  return `${kind}:${hash.toString('base64')}`;
}
