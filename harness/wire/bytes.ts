// Byte helpers for the hot paths of the wire format. Buffer.alloc takes a fresh ArrayBuffer each call
// (~0.9 µs); allocUnsafe takes a slice of a shared pool (~0.06 µs), so zeroed buffers are filled explicitly.
// 64-bit millisecond fields are written as two 32-bit halves: BigInt round trips cost ~4x more.

const TWO_32 = 0x1_0000_0000;

/** A zero-filled buffer from the shared pool. */
export function zeroed(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

/** Writes an integer (such as a time in ms) as a big-endian int64; returns the offset after it. */
export function writeInt64BE(buf: Buffer, value: number, offset: number): number {
  const high = Math.floor(value / TWO_32);
  buf.writeInt32BE(high, offset);
  buf.writeUInt32BE(value - high * TWO_32, offset + 4);
  return offset + 8;
}

/** Reads a big-endian int64 as a number (exact up to 2^53, like Number(readBigInt64BE)). */
export function readInt64BE(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}
