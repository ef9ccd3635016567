/**
 * Bit vectors and bit matrices for the OT extension (design note §4.3).
 *
 * Bit order, used everywhere in the OT layer and matching gf128.ts: bit j of a packed
 * vector is bit (j & 7) of byte (j >> 3), bit 0 being the least significant bit of a byte.
 * A matrix of R rows × C columns (R, C multiples of 8) is R packed rows of C/8 bytes each,
 * row after row; a row may sit in a wider stride (extra bytes are ignored).
 */

function checkBits(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n % 8 !== 0) throw new RangeError(`bitmatrix: ${what} must be a multiple of 8`);
}

/** One bit per byte (each 0 or 1) → packed. The bits are used as values only (no indexing on them). */
export function packBits(bits: Uint8Array): Uint8Array {
  checkBits(bits.length, 'bit count');
  const out = new Uint8Array(bits.length >> 3);
  for (let j = 0; j < bits.length; j++) out[j >> 3]! |= (bits[j]! & 1) << (j & 7);
  return out;
}

/** Packed → one bit per byte (0 or 1); the first nBits bits. */
export function unpackBits(packed: Uint8Array, nBits = packed.length * 8): Uint8Array {
  if (!Number.isSafeInteger(nBits) || nBits < 0 || nBits > packed.length * 8) throw new RangeError('bitmatrix: bit count');
  const out = new Uint8Array(nBits);
  for (let j = 0; j < nBits; j++) out[j] = (packed[j >> 3]! >>> (j & 7)) & 1;
  return out;
}

/** Bit j of a packed vector (0 or 1). */
export function getBit(packed: Uint8Array, j: number): number {
  return (packed[j >> 3]! >>> (j & 7)) & 1;
}

/**
 * Transposes an R × C bit matrix (rows of `srcStride` bytes, of which the first C/8 are
 * used) into the C × R matrix whose row c holds column c of the input: out bit (c, r) = in
 * bit (r, c). The output rows are R/8 bytes, contiguous.
 *
 * Works on 8 × 8 blocks: the 8 bytes of one block, as a 64-bit word (byte i = bits 8i..8i+7,
 * held as two 32-bit halves), are transposed by the three delta swaps of Hacker's Delight
 * §7-3 (bit 8i+j ↔ bit 8j+i). No branches on the data.
 */
export function transposeBits(src: Uint8Array, rows: number, cols: number, srcStride = cols >> 3): Uint8Array {
  checkBits(rows, 'rows');
  checkBits(cols, 'cols');
  if (!Number.isSafeInteger(srcStride) || srcStride < cols >> 3) throw new RangeError('bitmatrix: stride too small');
  if (rows > 0 && src.length < (rows - 1) * srcStride + (cols >> 3)) throw new RangeError('bitmatrix: source too short');
  const outStride = rows >> 3;
  const out = new Uint8Array(cols * outStride);
  for (let rb = 0; rb < outStride; rb++) {
    const r0 = rb * 8 * srcStride;
    for (let cb = 0; cb < cols >> 3; cb++) {
      const s = r0 + cb;
      let lo =
        (src[s]! | (src[s + srcStride]! << 8) | (src[s + 2 * srcStride]! << 16) | (src[s + 3 * srcStride]! << 24)) >>> 0;
      let hi =
        (src[s + 4 * srcStride]! |
          (src[s + 5 * srcStride]! << 8) |
          (src[s + 6 * srcStride]! << 16) |
          (src[s + 7 * srcStride]! << 24)) >>>
        0;
      // Swap within 2×2 blocks: bit (i, j) ↔ (i+1, j−1) for i even, j odd (distance 7).
      let t = (lo ^ (lo >>> 7)) & 0x00aa00aa;
      lo = lo ^ t ^ (t << 7);
      t = (hi ^ (hi >>> 7)) & 0x00aa00aa;
      hi = hi ^ t ^ (t << 7);
      // 2×2 blocks of 2×2: (i, j) ↔ (i+2, j−2) for i mod 4 < 2, j mod 4 ≥ 2 (distance 14).
      t = (lo ^ (lo >>> 14)) & 0x0000cccc;
      lo = lo ^ t ^ (t << 14);
      t = (hi ^ (hi >>> 14)) & 0x0000cccc;
      hi = hi ^ t ^ (t << 14);
      // 4×4 quadrants: (i, j) ↔ (i+4, j−4) for i < 4, j ≥ 4 (across the two halves).
      t = ((lo >>> 4) ^ hi) & 0x0f0f0f0f;
      hi ^= t;
      lo ^= t << 4;
      const d = cb * 8 * outStride + rb;
      out[d] = lo & 0xff;
      out[d + outStride] = (lo >>> 8) & 0xff;
      out[d + 2 * outStride] = (lo >>> 16) & 0xff;
      out[d + 3 * outStride] = (lo >>> 24) & 0xff;
      out[d + 4 * outStride] = hi & 0xff;
      out[d + 5 * outStride] = (hi >>> 8) & 0xff;
      out[d + 6 * outStride] = (hi >>> 16) & 0xff;
      out[d + 7 * outStride] = (hi >>> 24) & 0xff;
    }
  }
  return out;
}
