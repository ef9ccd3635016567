import type { PartyId } from '../../../core/ids.js';
import { abort } from '../errors.js';

/** Exact-length check of a received (from ≠ undefined) or local byte field; typed error only. */
export function expectBytes(x: unknown, length: number, what: string, from?: PartyId): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array)) throw abort(`${what}: not a byte string`, from);
  if (x.length !== length) throw abort(`${what}: expected ${length} bytes, got ${x.length}`, from);
}

/** 0xff if bit = 1, 0x00 if bit = 0 (bit must be 0 or 1). */
export function bitMask(bit: number): number {
  return -(bit & 1) & 0xff;
}

/** 0xff if a = b, else 0x00, for small non-negative integers (< 2^31), without a branch. */
export function eqMask(a: number, b: number): number {
  return (((a ^ b) - 1) >> 31) & 0xff;
}

/** out[off ..) = bit ? y : x, byte by byte through a mask (x, y of equal length). */
export function maskSelectInto(out: Uint8Array, off: number, x: Uint8Array, y: Uint8Array, bit: number): void {
  const m = bitMask(bit);
  for (let i = 0; i < x.length; i++) out[off + i] = (x[i]! & ~m) | (y[i]! & m);
}

/** Constant-time equality of two equal-length byte strings (lengths are public). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
