import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort } from '../errors.js';
import { hashToScalar, TAGS } from '../hash/oracle.js';
import { Fn } from '../math/group.js';
import { assertPartyIndex, assertSid, sortedSignerSet } from '../session/ids.js';

/**
 * Zero sharing from pairwise seeds (DKLs23 Functionality 3.4 as both implementations realise
 * it; design note §3): every unordered pair {i, j} shares a secret 32-byte seed from the DKG,
 * Fz(seed) = H_zero(signSid, min(i,j), max(i,j), seed) ∈ Z_q, and
 *
 *   ζ_i = Σ_{j∈S, j<i} Fz(seed_ij) − Σ_{j∈S, j>i} Fz(seed_ij),
 *
 * i.e. the lower index of a pair subtracts and the higher adds (SL `get_zeta_i`, 0xCarbon
 * `ZeroShare::compute`: `lowest_index ⇒ share -= fragment`), so Σ_{i∈S} ζ_i = 0 for every S.
 * A fresh signSid makes the shares of two sessions independent.
 */

export const ZERO_SEED_BYTES = 32;

/** A fresh pairwise seed (chosen by one party of the pair in the DKG, or XOR of both parties' seeds). */
export function randomZeroSeed(rng: Rng = cryptoRng): Uint8Array {
  return rng(ZERO_SEED_BYTES);
}

/**
 * ζ_self for signer set `signers` (which must contain `self`); `seeds` maps each peer index
 * to the seed shared with it (peers outside the signer set are ignored). Secret.
 */
export function zeroShare(
  signSid: Uint8Array,
  self: number,
  signers: readonly number[],
  seeds: ReadonlyMap<number, Uint8Array>,
): bigint {
  assertSid(signSid, 'zero share: signSid');
  assertPartyIndex(self, 'zero share: self');
  const s = sortedSignerSet(signers);
  if (!s.includes(self)) throw abort('zero share: self is not a signer');
  let zeta = Fn.ZERO;
  for (const j of s) {
    if (j === self) continue;
    const seed = seeds.get(j);
    if (!(seed instanceof Uint8Array) || seed.length !== ZERO_SEED_BYTES) throw abort(`zero share: no valid seed for peer ${j}`);
    const lo = Math.min(self, j);
    const hi = Math.max(self, j);
    const fragment = hashToScalar(TAGS.zero, signSid, lo, hi, seed);
    zeta = j < self ? Fn.add(zeta, fragment) : Fn.sub(zeta, fragment);
  }
  return zeta;
}
