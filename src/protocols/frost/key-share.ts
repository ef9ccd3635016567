import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../../core/hex.js';
import type { PartyId } from '../../core/ids.js';
import type { FrostPublicPackage } from './messages.js';
import { frostIdentifier, type FrostSuite } from './suite.js';

/** One party's result of a FROST key generation: public package plus its secret share. */
export interface FrostKeyShare {
  party: PartyId;
  publicPackage: FrostPublicPackage;
  /** 32-byte scalar; seal it before it leaves memory, zero it when done. */
  secretShare: Uint8Array;
}

/** The library's view of a public package (identifiers instead of party ids, bytes instead of hex). */
export function toLibraryPublic(suite: FrostSuite, pkg: FrostPublicPackage) {
  return {
    signers: { min: pkg.threshold, max: pkg.parties.length },
    commitments: pkg.commitments.map((c) => fromHex(c)),
    verifyingShares: Object.fromEntries(
      pkg.parties.map((p) => {
        const share = pkg.verifyingShares[p];
        if (!share) throw new Error(`public package lacks the verifying share of ${p}`);
        return [frostIdentifier(suite, p as PartyId), fromHex(share)];
      }),
    ),
  };
}

export function groupPublicKey(suite: FrostSuite, pkg: FrostPublicPackage): Uint8Array {
  const first = pkg.commitments[0];
  if (!first) throw new Error('public package has no commitments');
  return suite.publicKey(fromHex(first));
}

/** Order-independent digest, so parties can confirm they computed the same public package. */
export function publicPackageDigest(pkg: FrostPublicPackage): Uint8Array {
  const parties = [...pkg.parties].sort();
  const canonical = {
    v: pkg.v,
    suite: pkg.suite,
    threshold: pkg.threshold,
    parties,
    commitments: pkg.commitments.map((c) => c.toLowerCase()),
    verifyingShares: parties.map((p) => [p, (pkg.verifyingShares[p] ?? '').toLowerCase()]),
  };
  return sha256(new TextEncoder().encode(JSON.stringify(canonical)));
}
