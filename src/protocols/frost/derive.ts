import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, fromHex } from '../../core/hex.js';
import type { FrostKeyShare } from './key-share.js';
import type { FrostPublicPackage } from './messages.js';
import type { FrostSuite } from './suite.js';

/**
 * Non-hardened child keys of a FROST key, derived by every party on its own from public
 * data: the child is the parent plus δ·G, and each party adds δ to its secret share
 * (Σ λ_i = 1, so the group secret moves by δ), each verifying share and the group
 * commitment move by δ·G. No party ever needs another's share.
 *
 * The chain code is not agreed in the DKG: it is a hash of the suite and the group's
 * public key, so anyone who knows the public key can compute it (as with any xpub,
 * non-hardened children are public knowledge anyway).
 */
export function frostChainCode(suite: FrostSuite, pkg: FrostPublicPackage): Uint8Array {
  return sha256(new TextEncoder().encode(`tandem/frost/chain-code/v1\0${suite.name}\0${pkg.commitments[0]?.toLowerCase()}`));
}

export interface FrostDerivation {
  publicPackage: FrostPublicPackage;
  chainCode: Uint8Array;
  /** δ, the sum of every step's tweak, mod the group order. */
  tweak: bigint;
}

export function deriveFrostPublic(suite: FrostSuite, pkg: FrostPublicPackage, path: number[]): FrostDerivation {
  let chainCode = frostChainCode(suite, pkg);
  let groupKey: Uint8Array = fromHex(pkg.commitments[0]!);
  let tweak = 0n;
  for (const index of path) {
    const step = suite.deriveStep(groupKey, chainCode, index);
    groupKey = suite.addTweak(groupKey, step.tweak);
    chainCode = step.chainCode;
    tweak = suite.lib.utils.Fn.add(tweak, step.tweak);
  }
  const shift = (hex: string) => toHex(suite.addTweak(fromHex(hex), tweak));
  const publicPackage: FrostPublicPackage = {
    ...pkg,
    commitments: [toHex(groupKey), ...pkg.commitments.slice(1)],
    verifyingShares: Object.fromEntries(Object.entries(pkg.verifyingShares).map(([p, v]) => [p, shift(v)])),
  };
  return { publicPackage, chainCode, tweak };
}

/** The share of the child key; the caller zeroes both shares when done. */
export function deriveFrostShare(suite: FrostSuite, share: FrostKeyShare, path: number[]): FrostKeyShare {
  if (path.length === 0) return { ...share, secretShare: Uint8Array.from(share.secretShare) };
  const { publicPackage, tweak } = deriveFrostPublic(suite, share.publicPackage, path);
  const Fn = suite.lib.utils.Fn;
  const secret = Fn.add(Fn.fromBytes(share.secretShare), tweak);
  return { party: share.party, publicPackage, secretShare: Fn.toBytes(secret) };
}
