import { toHex, fromHex } from '../../core/hex.js';
import type { PartyId } from '../../core/ids.js';
import { ProtocolError } from '../errors.js';
import { groupPublicKey, toLibraryPublic, type FrostKeyShare } from './key-share.js';
import type { FrostPublicPackage, SignatureShare, SignCommitment, SigningPackage } from './messages.js';
import { frostIdentifier, type FrostSuite } from './suite.js';

type Nonces = ReturnType<FrostSuite['lib']['commit']>['nonces'];

/**
 * One signer's side of FROST signing (RFC 9591 §5):
 *
 *   commit()      → round 1: fresh nonce commitments (the nonces stay in memory only)
 *   sign(package) → round 2: this party's signature share, after checking that the
 *                   package is for the message it agreed to sign, includes its own
 *                   commitment unchanged and names only holders of the key, once each
 *
 * A signer signs at most once: its nonces are erased by the first sign() or by
 * destroy(), so a nonce can't be used twice even if a package is replayed.
 */
export class FrostSigner {
  readonly #suite: FrostSuite;
  readonly #share: FrostKeyShare;
  readonly #msg: Uint8Array;
  #nonces: Nonces | undefined;
  #commitment: SignCommitment | undefined;
  #step: 'start' | 'committed' | 'signed' | 'failed' = 'start';

  constructor(suite: FrostSuite, share: FrostKeyShare, msg: Uint8Array) {
    this.#suite = suite;
    this.#share = share;
    this.#msg = msg;
  }

  commit(): SignCommitment {
    if (this.#step !== 'start') throw new ProtocolError('commit() called twice');
    const { nonces, commitments } = this.#suite.lib.commit(this.#libSecret());
    this.#nonces = nonces;
    this.#commitment = { v: 1, from: this.#share.party, hiding: toHex(commitments.hiding), binding: toHex(commitments.binding) };
    this.#step = 'committed';
    return this.#commitment;
  }

  /**
   * `from`: who sent the package (the coordinator). Whatever is wrong with it is named on
   * `from`, never on a party it lists: only `from` built it, from commitments it checked
   * itself (FrostAggregator.addCommitment).
   */
  sign(pkg: SigningPackage, from?: PartyId): SignatureShare {
    if (this.#step !== 'committed' || !this.#nonces || !this.#commitment) {
      throw new ProtocolError(`sign() at step ${this.#step}: a signer signs once`, this.#step === 'signed' ? from : undefined);
    }
    try {
      if (pkg.msg.toLowerCase() !== toHex(this.#msg)) throw new ProtocolError('signing package is for another message', from);
      // Points are validated by the library's signShare (subgroup included); checking them here
      // too doubled the cost of an Ed25519 share, whose torsion check is ~2.5 ms a point.
      const list = checkCommitmentList(this.#suite, this.#share.publicPackage, pkg.commitments, false, () => from);
      const mine = list.find((c) => c.from === this.#share.party);
      if (!mine || mine.hiding !== this.#commitment.hiding || mine.binding !== this.#commitment.binding) {
        throw new ProtocolError('signing package does not carry our commitment unchanged', from);
      }
      const share = this.#suite.lib.signShare(
        this.#libSecret(),
        toLibraryPublic(this.#suite, this.#share.publicPackage),
        this.#nonces,
        toLibraryCommitments(this.#suite, list),
        this.#msg,
      );
      this.#step = 'signed';
      return { v: 1, from: this.#share.party, share: toHex(share) };
    } catch (e) {
      this.#step = 'failed';
      throw e instanceof ProtocolError ? e : new ProtocolError((e as Error).message, from);
    } finally {
      this.destroy();
    }
  }

  destroy(): void {
    if (this.#nonces) {
      this.#nonces.hiding.fill(0);
      this.#nonces.binding.fill(0);
      this.#nonces = undefined;
    }
    if (this.#step === 'start' || this.#step === 'committed') this.#step = 'failed';
  }

  #libSecret() {
    return { identifier: frostIdentifier(this.#suite, this.#share.party), signingShare: this.#share.secretShare };
  }
}

/**
 * The coordinator's side: collects commitments, fixes the signing set, checks every
 * share against its signer's verifying share (naming a cheater) and aggregates.
 */
export class FrostAggregator {
  readonly #suite: FrostSuite;
  readonly #pub: FrostPublicPackage;
  readonly #msg: Uint8Array;
  readonly #commitments = new Map<PartyId, SignCommitment>();
  #package: SigningPackage | undefined;

  constructor(suite: FrostSuite, pub: FrostPublicPackage, msg: Uint8Array) {
    this.#suite = suite;
    this.#pub = pub;
    this.#msg = msg;
  }

  get threshold(): number {
    return this.#pub.threshold;
  }

  get committed(): PartyId[] {
    return [...this.#commitments.keys()];
  }

  addCommitment(c: SignCommitment): void {
    const from = c.from as PartyId;
    if (this.#package) throw new ProtocolError('commitment after the signing set was fixed', from);
    if (this.#commitments.has(from)) throw new ProtocolError('second commitment', from);
    checkCommitmentList(this.#suite, this.#pub, [c]);
    this.#commitments.set(from, lowerCommitment(c));
  }

  /** Fixes the signing set: the first `threshold` committed parties unless told otherwise. */
  signingPackage(signers: PartyId[] = this.committed.slice(0, this.#pub.threshold)): SigningPackage {
    if (signers.length < this.#pub.threshold) {
      throw new ProtocolError(`${signers.length} signers, the key needs ${this.#pub.threshold}`);
    }
    const commitments = signers.map((p) => {
      const c = this.#commitments.get(p);
      if (!c) throw new ProtocolError('no commitment', p);
      return c;
    });
    this.#package = { v: 1, msg: toHex(this.#msg), commitments };
    return this.#package;
  }

  /**
   * Returns the 64-byte BIP340 signature, verified against the group key. Shares are
   * checked one by one only when the sum fails to verify (RFC 9591 §5.4: the cheaper
   * path for the honest case), and then the parties whose shares fail are named.
   */
  aggregate(shares: SignatureShare[]): Uint8Array {
    const pkg = this.#package;
    if (!pkg) throw new ProtocolError('aggregate() before signingPackage()');
    const partyOf = new Map(pkg.commitments.map((c) => [frostIdentifier(this.#suite, c.from as PartyId), c.from as PartyId]));
    const byParty: Record<string, Uint8Array> = {};
    for (const s of shares) {
      const from = s.from as PartyId;
      const id = frostIdentifier(this.#suite, from);
      if (!partyOf.has(id)) throw new ProtocolError('share from a party outside the signing set', from);
      if (byParty[id]) throw new ProtocolError('second signature share', from);
      const share = fromHex(s.share);
      // The library would throw on it while summing, before it checks shares one by one.
      if (!this.#suite.isValidScalar(share)) throw new ProtocolError('signature share is not a scalar', from);
      byParty[id] = share;
    }
    const missing = [...partyOf].find(([id]) => !byParty[id]);
    if (missing) throw new ProtocolError('missing signature share', missing[1]);
    let sig: Uint8Array;
    try {
      sig = this.#suite.lib.aggregate(
        toLibraryPublic(this.#suite, this.#pub),
        toLibraryCommitments(this.#suite, pkg.commitments),
        this.#msg,
        byParty,
      );
    } catch (e) {
      const cheaters = (e as { cheaters?: unknown }).cheaters;
      const culprit = Array.isArray(cheaters) ? partyOf.get(String(cheaters[0])) : undefined;
      throw new ProtocolError(culprit ? 'signature share does not verify' : `aggregation failed: ${(e as Error).message}`, culprit);
    }
    if (!this.#suite.lib.verify(sig, this.#msg, groupPublicKey(this.#suite, this.#pub))) {
      throw new ProtocolError('aggregated signature does not verify');
    }
    return sig;
  }
}

function lowerCommitment(c: SignCommitment): SignCommitment {
  return { v: 1, from: c.from, hiding: c.hiding.toLowerCase(), binding: c.binding.toLowerCase() };
}

/**
 * Every entry from a distinct holder of the key, with points that decode (when `points`).
 * `blame` names who answers for a bad entry: by default its author, which is right only
 * where each entry came straight from its author.
 */
function checkCommitmentList(
  suite: FrostSuite,
  pub: FrostPublicPackage,
  list: SignCommitment[],
  points = true,
  blame: (c: SignCommitment) => PartyId | undefined = (c) => c.from as PartyId,
): SignCommitment[] {
  const seen = new Set<string>();
  return list.map((c) => {
    const from = c.from as PartyId;
    if (!pub.parties.includes(from)) throw new ProtocolError('commitment from a party that holds no share of this key', blame(c));
    if (seen.has(from)) throw new ProtocolError('duplicate commitment', blame(c));
    seen.add(from);
    if (points && (!suite.isValidPoint(fromHex(c.hiding)) || !suite.isValidPoint(fromHex(c.binding)))) {
      throw new ProtocolError('commitment is not a valid curve point', blame(c));
    }
    return lowerCommitment(c);
  });
}

function toLibraryCommitments(suite: FrostSuite, list: SignCommitment[]) {
  return list.map((c) => ({
    identifier: frostIdentifier(suite, c.from as PartyId),
    hiding: fromHex(c.hiding),
    binding: fromHex(c.binding),
  }));
}
