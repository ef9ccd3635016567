/**
 * GF(2^128) = GF(2)[x] / (x^128 + x^7 + x^2 + x + 1), the field of the SoftSpokenOT
 * consistency check (design note §4.3).
 *
 * Elements are 16-byte Uint8Arrays in this fixed bit order (the order of sl-crypto's
 * `mul_poly.rs`; NOT the bit-reflected order of GCM's GHASH):
 *
 *   byte i (0..15), bit k (0..7, k = 0 the least significant bit) is the coefficient of x^(8·i + k).
 *
 * So the byte string 01 00 .. 00 is 1, 02 00 .. 00 is x, and 00 .. 00 80 is x^127. This is
 * also the order in which the OT extension packs bit vectors (bit j of a vector = byte j>>3,
 * bit j&7; see bitmatrix.ts), so a 128-bit chunk of a packed row is a field element as is.
 *
 * Addition is XOR. Multiplication is written without branches or table lookups indexed by
 * element bits: a·b = XOR over k of (a_k ? x^k·b : 0), with the selection done by masks and
 * x^k·b computed by shift-and-reduce (x^128 = x^7 + x^2 + x + 1 = 0x87). Internally an element
 * is four little-endian 32-bit words (word w, bit k = coefficient of x^(32·w + k)).
 */

export const GF128_BYTES = 16;

const REDUCTION = 0x87; // x^7 + x^2 + x + 1

function read32(a: Uint8Array, o: number): number {
  return (a[o]! | (a[o + 1]! << 8) | (a[o + 2]! << 16) | (a[o + 3]! << 24)) >>> 0;
}

function write32(a: Uint8Array, o: number, w: number): void {
  a[o] = w & 0xff;
  a[o + 1] = (w >>> 8) & 0xff;
  a[o + 2] = (w >>> 16) & 0xff;
  a[o + 3] = (w >>> 24) & 0xff;
}

function checkElement(a: Uint8Array, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== GF128_BYTES) {
    throw new RangeError(`gf128: ${what} must be a ${GF128_BYTES}-byte Uint8Array`);
  }
}

/**
 * Writes x^k·b for k = 0..127 into out[base + 4k .. base + 4k + 4) (four words each).
 * b is public in every use in the engine (a challenge), but nothing here branches on it.
 */
function writePowers(b: Uint8Array, bOff: number, out: Uint32Array, base: number): void {
  let w0 = read32(b, bOff);
  let w1 = read32(b, bOff + 4);
  let w2 = read32(b, bOff + 8);
  let w3 = read32(b, bOff + 12);
  for (let k = 0; k < 128; k++) {
    const o = base + 4 * k;
    out[o] = w0;
    out[o + 1] = w1;
    out[o + 2] = w2;
    out[o + 3] = w3;
    // Multiply by x: shift the 128-bit value left by one, fold x^128 back as 0x87.
    const carry = w3 >>> 31;
    w3 = ((w3 << 1) | (w2 >>> 31)) >>> 0;
    w2 = ((w2 << 1) | (w1 >>> 31)) >>> 0;
    w1 = ((w1 << 1) | (w0 >>> 31)) >>> 0;
    w0 = ((w0 << 1) ^ (REDUCTION & -carry)) >>> 0;
  }
}

/** a + b (XOR), a fresh element. */
export function gf128Add(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkElement(a, 'a');
  checkElement(b, 'b');
  const out = new Uint8Array(GF128_BYTES);
  for (let i = 0; i < GF128_BYTES; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** a · b mod x^128 + x^7 + x^2 + x + 1, a fresh element. Mask-selected, no data-dependent branches. */
export function gf128Mul(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkElement(a, 'a');
  checkElement(b, 'b');
  const dot = new Gf128Dot([b]);
  const out = new Uint8Array(GF128_BYTES);
  dot.dotInto(a, 0, out, 0);
  return out;
}

/**
 * Σ_m γ_m · a_m for fixed γ_0..γ_{M−1} and a vector (a_0, .., a_{M−1}) of M consecutive
 * 16-byte elements: the inner product the OT-extension check computes once per row.
 * The table x^k·γ_m (M·128 elements) is built once; each product then costs 128 masked
 * XORs per γ, with the mask taken from the (secret) bit of a and the table index public.
 */
export class Gf128Dot {
  readonly count: number;
  private readonly table: Uint32Array;

  constructor(gammas: readonly Uint8Array[]) {
    if (gammas.length === 0) throw new RangeError('gf128: at least one coefficient');
    this.count = gammas.length;
    this.table = new Uint32Array(this.count * 128 * 4);
    gammas.forEach((g, m) => {
      checkElement(g, `gamma[${m}]`);
      writePowers(g, 0, this.table, m * 512);
    });
  }

  /**
   * out[outOff .. outOff+16) = Σ_m γ_m · src[srcOff + 16m .. srcOff + 16m + 16).
   * (Overwrites out; src and out may not overlap.)
   */
  dotInto(src: Uint8Array, srcOff: number, out: Uint8Array, outOff: number): void {
    if (srcOff < 0 || srcOff + 16 * this.count > src.length || outOff < 0 || outOff + 16 > out.length) {
      throw new RangeError('gf128: dot product out of bounds');
    }
    const t = this.table;
    let r0 = 0;
    let r1 = 0;
    let r2 = 0;
    let r3 = 0;
    for (let wi = 0; wi < 4 * this.count; wi++) {
      const word = read32(src, srcOff + 4 * wi);
      let o = wi * 128; // = (32·wi) elements of 4 words
      for (let bit = 0; bit < 32; bit++, o += 4) {
        const mask = -((word >>> bit) & 1);
        r0 ^= mask & t[o]!;
        r1 ^= mask & t[o + 1]!;
        r2 ^= mask & t[o + 2]!;
        r3 ^= mask & t[o + 3]!;
      }
    }
    write32(out, outOff, r0);
    write32(out, outOff + 4, r1);
    write32(out, outOff + 8, r2);
    write32(out, outOff + 12, r3);
  }
}
