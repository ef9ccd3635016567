import { abort } from '../errors.js';
import { assertPartyIndex, sortedSignerSet } from '../session/ids.js';
import { Fn } from './group.js';

/**
 * Lagrange coefficient at 0 for party `i` in signer set S (party indices = Shamir
 * x-coordinates, distinct, non-zero): λ_i = Π_{j∈S∖i} j / (j − i) mod q, so that
 * f(0) = Σ_{i∈S} λ_i·f(i) for every polynomial of degree < |S|.
 */
export function lagrangeAtZero(signers: readonly number[], i: number): bigint {
  assertPartyIndex(i);
  const s = sortedSignerSet(signers);
  if (!s.includes(i)) throw abort(`lagrange: party ${i} is not in the signer set`);
  let num = Fn.ONE;
  let den = Fn.ONE;
  const xi = BigInt(i);
  for (const j of s) {
    if (j === i) continue;
    const xj = BigInt(j);
    num = Fn.mul(num, xj);
    den = Fn.mul(den, Fn.sub(xj, xi));
  }
  return Fn.div(num, den);
}

/** All coefficients λ_i (i ∈ S) at once; Σ λ_i = 1. */
export function lagrangeCoefficients(signers: readonly number[]): Map<number, bigint> {
  const s = sortedSignerSet(signers);
  return new Map(s.map((i) => [i, lagrangeAtZero(s, i)]));
}
