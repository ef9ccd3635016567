import { secp256k1 } from '@noble/curves/secp256k1.js';
import { numberToBytesBE } from '@noble/curves/utils.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort } from '../errors.js';
import type { PartyId } from '../../../core/ids.js';

/**
 * secp256k1 scalars and points as the engine exchanges them, with every check of design
 * note §6: points are 33-byte compressed SEC1, on the curve, not the identity; scalars are
 * exactly 32 bytes big-endian and below q, never silently reduced.
 */
export const Point = secp256k1.Point;
export type Point = InstanceType<typeof secp256k1.Point>;
export const Fn = secp256k1.Point.Fn;
export const G = Point.BASE;
export const q = Fn.ORDER;

export function decodePoint(bytes: Uint8Array, from?: PartyId, what = 'point'): Point {
  if (bytes.length !== 33) throw abort(`${what}: expected 33 bytes`, from);
  let p: Point;
  try {
    p = Point.fromBytes(bytes);
  } catch {
    throw abort(`${what}: not a curve point`, from);
  }
  if (p.is0()) throw abort(`${what}: identity point`, from);
  return p;
}

export function encodePoint(p: Point): Uint8Array {
  if (p.is0()) throw abort('cannot encode the identity point');
  return p.toBytes(true);
}

export function decodeScalar(bytes: Uint8Array, from?: PartyId, what = 'scalar', nonZero = false): bigint {
  if (bytes.length !== 32) throw abort(`${what}: expected 32 bytes`, from);
  // Four 64-bit words: this runs ~1,500 times per multiplication (the RVOLE message).
  const d = new DataView(bytes.buffer, bytes.byteOffset, 32);
  const x = (((((d.getBigUint64(0) << 64n) | d.getBigUint64(8)) << 64n) | d.getBigUint64(16)) << 64n) | d.getBigUint64(24);
  if (x >= q) throw abort(`${what}: not below the group order`, from);
  if (nonZero && x === 0n) throw abort(`${what}: zero`, from);
  return x;
}

export function encodeScalar(x: bigint): Uint8Array {
  return numberToBytesBE(x >= 0n && x < q ? x : Fn.create(x), 32);
}

/**
 * 48 bytes from `offset`, big-endian, reduced mod q: the oracle's hash-to-scalar rule (bias
 * below 2^-128). Six 64-bit words, as fast as Node's hex decoding and portable: this runs
 * ~3,000 times per multiplication (the OT extension's outputs).
 */
export function reduceWide(bytes: Uint8Array, offset = 0): bigint {
  const d = new DataView(bytes.buffer, bytes.byteOffset + offset, 48);
  let x = d.getBigUint64(0);
  for (let o = 8; o < 48; o += 8) x = (x << 64n) | d.getBigUint64(o);
  return x % q;
}

/**
 * A uniformly random non-zero scalar: noble maps 48 bytes of `rng` (the CSPRNG unless a test
 * injects a seeded one, see core/rng.ts) into [1, q), with bias below 2^-128.
 */
export function randomScalar(rng: Rng = cryptoRng): bigint {
  return Fn.fromBytes(randomSecretKeyBytes(rng));
}

/** The same as a 32-byte big-endian secret key (noble's randomSecretKey on `rng`'s bytes). */
export function randomSecretKeyBytes(rng: Rng = cryptoRng): Uint8Array {
  return secp256k1.utils.randomSecretKey(rng(KEY_SEED_BYTES));
}

/** What noble's randomSecretKey draws by default for secp256k1: 48 bytes. */
const KEY_SEED_BYTES = secp256k1.lengths.seed ?? 48;
