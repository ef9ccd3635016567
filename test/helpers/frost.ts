import { FrostDkg } from '../../src/protocols/frost/dkg.js';
import type { FrostKeyShare } from '../../src/protocols/frost/key-share.js';
import type { DkgRound2 } from '../../src/protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import { bip340Suite, type FrostSuite } from '../../src/protocols/frost/suite.js';
import { asPartyId, type PartyId } from '../../src/core/ids.js';

export const parties = (n: number): PartyId[] => Array.from({ length: n }, (_, i) => asPartyId(`node-${i + 1}`));

/** Runs a whole DKG in memory, with an optional hook to tamper with round-2 messages. */
export function runDkg(ids: PartyId[], t: number, tamper?: (m: DkgRound2) => DkgRound2, suite: FrostSuite = bip340Suite): FrostKeyShare[] {
  const dkgs = ids.map((p) => new FrostDkg(suite, p, t, ids.length));
  const set = { v: 2 as const, packages: dkgs.map((d) => d.round1()) };
  const r2 = dkgs.flatMap((d) => d.round2(set)).map((m) => (tamper ? tamper(m) : m));
  return dkgs.map((d, i) => d.round3(r2.filter((m) => m.to === ids[i])).share);
}

export function runSign(shares: FrostKeyShare[], msg: Uint8Array, suite: FrostSuite = bip340Suite): Uint8Array {
  const agg = new FrostAggregator(suite, shares[0]!.publicPackage, msg);
  const signers = shares.map((s) => new FrostSigner(suite, s, msg));
  for (const s of signers) agg.addCommitment(s.commit());
  const pkg = agg.signingPackage(shares.map((s) => s.party));
  return agg.aggregate(signers.map((s) => s.sign(pkg)));
}
