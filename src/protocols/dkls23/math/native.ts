import { secp256k1 as secp } from '#protocols/platform';
import { abort } from '../errors.js';
import { encodeScalar, Point, type Point as P } from './group.js';
import type { PartyId } from '../../../core/ids.js';

/**
 * Scalar multiplications on libsecp256k1 (Bitcoin Core's audited, constant-time library,
 * as WebAssembly via tiny-secp256k1) for the engine's hot paths: 256 base OTs per pair in
 * the DKG and the Γ checks of every signature. It is 3-10× faster than the pure-JS
 * equivalents here (≈ 0.23 ms per variable-base and 0.14 ms per fixed-base multiplication,
 * against ≈ 2.2 / 0.45 ms in noble), and results come back uncompressed so noble reads them
 * without a square root. A browser bundle gets noble behind the same calls instead
 * (platform/browser.ts says why).
 *
 * Scalars go in as 32-byte arrays that the caller can wipe; points only once noble has
 * decoded and checked them (platform/contract.ts says why).
 */
function isZero(k: Uint8Array): boolean {
  let acc = 0;
  for (const b of k) acc |= b;
  return acc === 0;
}

/** k·G; k = 0 gives the identity. */
export function mulBaseBytes(k: Uint8Array): P {
  if (k.length !== 32) throw abort('native: scalar must be 32 bytes');
  if (isZero(k)) return Point.ZERO;
  const out = secp.pointFromScalar(k, false);
  if (!out) throw abort('native: scalar out of range');
  return Point.fromBytes(out);
}

/** k·P as a point; k = 0 or P = O gives the identity. */
export function mulPointBytes(p: Uint8Array | P, k: Uint8Array): P {
  if (k.length !== 32) throw abort('native: scalar must be 32 bytes');
  const enc = p instanceof Uint8Array ? p : p.is0() ? undefined : p.toBytes(false);
  if (!enc || isZero(k)) return Point.ZERO;
  const out = secp.pointMultiply(enc, k, false);
  if (!out) return Point.ZERO;
  return Point.fromBytes(out);
}

/** x-coordinate of k·P (32 bytes), for keys derived from a Diffie-Hellman value. */
export function sharedX(p: Uint8Array, k: Uint8Array): Uint8Array {
  const out = secp.pointMultiply(p, k, true);
  if (!out) throw new Error('invalid point or scalar');
  return out.subarray(1);
}

/** The 65-byte uncompressed form of a 33-byte compressed point; undefined if it encodes no point. */
export const decompress = (p: Uint8Array): Uint8Array | undefined => secp.decompress(p);

/**
 * decodePoint (group.ts) for the base OT's 1,024 points per pair: the same points are
 * accepted and the same errors thrown, but the square root is OpenSSL's under Node (≈ 47 µs
 * per point against noble's ≈ 117 µs), and noble then checks the uncompressed point.
 */
export function decodePointBytes(bytes: Uint8Array, from?: PartyId, what = 'point'): P {
  if (bytes.length !== 33) throw abort(`${what}: expected 33 bytes`, from);
  const full = decompress(bytes);
  if (!full) throw abort(`${what}: not a curve point`, from);
  try {
    return Point.fromBytes(full);
  } catch {
    throw abort(`${what}: not a curve point`, from);
  }
}

export const mulBase = (k: bigint): P => {
  const b = encodeScalar(k);
  try {
    return mulBaseBytes(b);
  } finally {
    b.fill(0);
  }
};

export const mulPoint = (p: P, k: bigint): P => {
  const b = encodeScalar(k);
  try {
    return mulPointBytes(p, b);
  } finally {
    b.fill(0);
  }
};
