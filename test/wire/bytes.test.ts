// The hot-path byte helpers must write and read exactly what the BigInt-based Buffer methods do.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { readInt64BE, writeInt64BE, zeroed } from '../../harness/wire/bytes.ts';

describe('int64 helpers', () => {
  it('write the same bytes as writeBigInt64BE for every safe integer, and read them back', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), fc.maxSafeInteger(), fc.integer({ min: 0, max: 8 }), (value, junk, offset) => {
        const ours = Buffer.alloc(16, junk & 0xff);
        const theirs = Buffer.from(ours);
        expect(writeInt64BE(ours, value, offset)).toBe(offset + 8);
        theirs.writeBigInt64BE(BigInt(value), offset);
        expect(ours.equals(theirs)).toBe(true);
        expect(readInt64BE(ours, offset)).toBe(value);
      }),
      { seed: 640, numRuns: 2000 },
    );
  });

  it('read any 8 bytes as Number(readBigInt64BE) does', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (raw) => {
        const bytes = Buffer.from(raw);
        expect(readInt64BE(bytes, 0)).toBe(Number(bytes.readBigInt64BE(0)));
      }),
      { seed: 641, numRuns: 2000 },
    );
  });

  it('pins the edges: 0, -1, 2^32 and the millisecond clock', () => {
    const at = (value: number) => {
      const buf = Buffer.alloc(8);
      writeInt64BE(buf, value, 0);
      return buf.toString('hex');
    };
    expect(at(0)).toBe('0000000000000000');
    expect(at(-1)).toBe('ffffffffffffffff');
    expect(at(2 ** 32)).toBe('0000000100000000');
    expect(at(1_764_000_000_000)).toBe('0000019ab697e800');
  });
});

describe('zeroed', () => {
  it('is all zeros even when the pooled memory it gets held other bytes', () => {
    // Pool contents are not under the test's control, so hand zeroed() memory that is certainly dirty.
    const dirty = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => Buffer.alloc(size, 0xaa));
    try {
      for (const size of [1, 36, 126, 5000]) {
        const buf = zeroed(size);
        expect(buf.length).toBe(size);
        expect(buf.every((b) => b === 0)).toBe(true);
      }
      expect(dirty).toHaveBeenCalledTimes(4);
    } finally {
      dirty.mockRestore();
    }
  });
});
