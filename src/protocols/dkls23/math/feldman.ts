import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort } from '../errors.js';
import { assertPartyIndex } from '../session/ids.js';
import { Fn, G, Point, randomScalar } from './group.js';

/**
 * Shamir polynomials and Feldman commitments (design note §2): f(x) = Σ_k a_k·x^k of degree
 * t−1 (t coefficients), party i's share f(i), commitment vector F = (a_0·G, …, a_{t−1}·G);
 * a share verifies iff f(i)·G = Σ_k i^k·F_k.
 *
 * Points are kept as noble Point objects: a commitment of a refresh polynomial (a_0 = 0)
 * legitimately has F_0 = O, so the identity is allowed here; the wire codecs refuse it where
 * the protocol does (group.ts).
 */

/** Coefficients a_0..a_{t−1}, lowest degree first. Secret. */
export type Polynomial = bigint[];

function assertThreshold(t: number): void {
  if (!Number.isSafeInteger(t) || t < 1) throw abort('polynomial: threshold must be a positive integer');
}

/** s·G for a secret scalar s (noble's multiply refuses 0, which is a valid coefficient here). */
export function mulBase(s: bigint): Point {
  if (!Fn.isValid(s)) throw abort('scalar out of range');
  return Fn.is0(s) ? Point.ZERO : G.multiply(s);
}

/**
 * A random polynomial of degree t−1 (t coefficients from the CSPRNG, all non-zero). With
 * `constant` given, a_0 = constant: 0 for a complete refresh, the old share for a re-key.
 */
export function randomPolynomial(t: number, constant?: bigint, rng: Rng = cryptoRng): Polynomial {
  assertThreshold(t);
  const poly = Array.from({ length: t }, () => randomScalar(rng));
  if (constant !== undefined) {
    if (!Fn.isValid(constant)) throw abort('polynomial: constant term out of range');
    poly[0] = constant;
  }
  return poly;
}

/** f(x) by Horner's rule, x a party index (or any scalar). */
export function evaluatePolynomial(poly: readonly bigint[], x: number | bigint): bigint {
  if (poly.length === 0) throw abort('polynomial: no coefficients');
  const xs = toScalar(x);
  let acc = Fn.ZERO;
  for (let k = poly.length - 1; k >= 0; k--) acc = Fn.add(Fn.mul(acc, xs), Fn.create(poly[k]!));
  return acc;
}

/** Feldman vector F_k = a_k·G. */
export function feldmanCommit(poly: readonly bigint[]): Point[] {
  if (poly.length === 0) throw abort('polynomial: no coefficients');
  return poly.map(mulBase);
}

/** Σ_k x^k·F_k by Horner's rule on points (x is public). This is X_j = x_j·G for x = j. */
export function evaluateCommitment(commitment: readonly Point[], x: number | bigint): Point {
  if (commitment.length === 0) throw abort('feldman: empty commitment vector');
  const xs = toScalar(x);
  let acc = Point.ZERO;
  for (let k = commitment.length - 1; k >= 0; k--) acc = acc.multiplyUnsafe(xs).add(commitment[k]!);
  return acc;
}

/**
 * f(i)·G = Σ_k i^k·F_k for the share f(i) of party i. The caller must already have checked
 * |F| = t (TOB-SILA-1: a shorter vector would commit to a lower-degree polynomial).
 */
export function verifyFeldmanShare(share: bigint, index: number, commitment: readonly Point[]): boolean {
  assertPartyIndex(index);
  if (!Fn.isValid(share)) return false;
  return mulBase(share).equals(evaluateCommitment(commitment, index));
}

/** Component-wise sum of Feldman vectors (all of the same length): the joint polynomial's vector. */
export function sumCommitments(vectors: readonly (readonly Point[])[]): Point[] {
  const first = vectors[0];
  if (first === undefined || first.length === 0) throw abort('feldman: nothing to sum');
  for (const v of vectors) if (v.length !== first.length) throw abort('feldman: vectors of different lengths');
  return first.map((_, k) => vectors.reduce((acc, v) => acc.add(v[k]!), Point.ZERO));
}

function toScalar(x: number | bigint): bigint {
  const b = typeof x === 'number' ? (Number.isSafeInteger(x) && x >= 0 ? BigInt(x) : -1n) : x;
  if (!Fn.isValid(b)) throw abort('polynomial: evaluation point out of range');
  return b;
}
