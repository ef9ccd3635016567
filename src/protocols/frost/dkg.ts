import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, fromHex } from '../../core/hex.js';
import type { PartyId } from '../../core/ids.js';
import { ProtocolError } from '../errors.js';
import { Steps } from '../steps.js';
import { groupPublicKey, publicPackageDigest, type FrostKeyShare } from './key-share.js';
import type { DkgConfirm, DkgRound1, DkgRound1Set, DkgRound2, FrostPublicPackage } from './messages.js';
import { frostIdentifier, type FrostSuite } from './suite.js';

type Step = 'start' | 'round1' | 'round2' | 'done' | 'failed';
type LibDkg = FrostSuite['lib']['DKG'];
type LibSecret = ReturnType<LibDkg['round1']>['secret'];
type LibRound1 = ReturnType<LibDkg['round1']>['public'];

/**
 * One party's side of a FROST distributed key generation (Pedersen DKG with proofs of
 * knowledge, as in RFC 9591's companion frost-core `keys/dkg`):
 *
 *   round1()        → broadcast: VSS commitment + proof of knowledge of the secret term
 *   round2(set)     → one private share per other party, each echoing a hash of the
 *                     round-1 set this party saw (so an equivocating relay or
 *                     coordinator is caught: broadcast consistency); a participant
 *                     passes who relayed the set, and a bad set names that relayer
 *   round3(shares)  → this party's key share + a confirmation of the public result
 *
 * No I/O: the caller moves messages. Every input is checked, and a check that fails
 * names the party that sent the bad message where that is possible.
 */
export class FrostDkg {
  readonly #suite: FrostSuite;
  readonly #self: PartyId;
  readonly #threshold: number;
  readonly #n: number;
  readonly #steps = new Steps<Step>('start', 'done', 'failed', 'DKG', (e) => (e instanceof ProtocolError ? e : new ProtocolError((e as Error).message)));
  #secret: LibSecret | undefined;
  #own: DkgRound1 | undefined;
  #set: DkgRound1[] = [];
  #transcript = '';

  constructor(suite: FrostSuite, self: PartyId, threshold: number, n: number) {
    if (!Number.isInteger(threshold) || !Number.isInteger(n) || threshold < 2 || threshold > n) {
      throw new ProtocolError(`bad threshold ${threshold} of ${n}`);
    }
    this.#suite = suite;
    this.#self = self;
    this.#threshold = threshold;
    this.#n = n;
  }

  round1(): DkgRound1 {
    this.#steps.advance('start', 'round1');
    const { public: pub, secret } = this.#suite.lib.DKG.round1(frostIdentifier(this.#suite, this.#self), this.#signers());
    this.#secret = secret;
    this.#own = {
      v: 1,
      from: this.#self,
      commitment: pub.commitment.map((c) => toHex(c)),
      proofOfKnowledge: toHex(pub.proofOfKnowledge),
    };
    return this.#own;
  }

  /**
   * `relayedBy`: the party the set came from, when this party did not build it from packages
   * each received from its author. A bad package in a relayed set is then the relayer's
   * fault, never the listed author's: the relayer could have altered it, and an honest one
   * checks every package before relaying (the coordinator runs round2 on its own set first).
   */
  round2(set: DkgRound1Set, relayedBy?: PartyId): DkgRound2[] {
    this.#steps.advance('round1', 'round2');
    return this.#steps.run(() => {
      const author = (p: DkgRound1) => (relayedBy === undefined ? (p.from as PartyId) : relayedBy);
      const packages = set.packages.map(lower);
      if (packages.length !== this.#n) throw new ProtocolError(`round-1 set has ${packages.length} packages, expected ${this.#n}`, relayedBy);
      const seen = new Set<string>();
      for (const p of packages) {
        if (seen.has(p.from)) throw new ProtocolError('duplicate party in round-1 set', author(p));
        seen.add(p.from);
        if (p.commitment.length !== this.#threshold) {
          throw new ProtocolError(`commitment has ${p.commitment.length} terms, expected ${this.#threshold}`, author(p));
        }
      }
      const mine = packages.find((p) => p.from === this.#self);
      if (!mine || JSON.stringify(mine) !== JSON.stringify(this.#own)) {
        throw new ProtocolError('round-1 set does not carry our own package unchanged', relayedBy);
      }
      const others = packages.filter((p) => p.from !== this.#self);
      const libOthers = others.map((p) => this.#toLib(p));
      let shares: Record<string, { signingShare: Uint8Array }>;
      try {
        shares = this.#suite.lib.DKG.round2(this.#secret!, libOthers);
      } catch (e) {
        throw new ProtocolError(`round-1 package rejected: ${(e as Error).message}`, relayedBy ?? this.#blameRound1(others));
      }
      this.#set = packages;
      this.#transcript = toHex(transcriptHash(this.#suite, packages, this.#threshold));
      return others.map((p) => {
        const share = shares[frostIdentifier(this.#suite, p.from as PartyId)];
        if (!share) throw new ProtocolError('library produced no share', p.from as PartyId);
        return { v: 1 as const, from: this.#self, to: p.from, signingShare: toHex(share.signingShare), transcript: this.#transcript };
      });
    }, () => this.destroy());
  }

  round3(received: DkgRound2[]): { share: FrostKeyShare; confirm: DkgConfirm } {
    this.#steps.advance('round2', 'done');
    return this.#steps.run(() => {
      const others = this.#set.filter((p) => p.from !== this.#self);
      const byFrom = new Map<string, DkgRound2>();
      for (const r of received) {
        const sender = r.from as PartyId;
        if (r.to !== this.#self) throw new ProtocolError('round-2 share addressed to another party', sender);
        if (byFrom.has(r.from)) throw new ProtocolError('two round-2 shares', sender);
        // Either the sender or whoever relayed round 1 lied; we can't tell which. Compared
        // before anything that reads our set: a relayer that left an honest sender out of it
        // must not get that sender named.
        if (r.transcript.toLowerCase() !== this.#transcript) throw new ProtocolError(`${sender} saw a different round-1 set`);
        if (!others.some((p) => p.from === r.from)) throw new ProtocolError('round-2 share from a party outside the set', sender);
        byFrom.set(r.from, r);
      }
      const missing = others.find((p) => !byFrom.has(p.from));
      if (missing) throw new ProtocolError('missing round-2 share', missing.from as PartyId);

      const signers = this.#signers();
      const selfId = frostIdentifier(this.#suite, this.#self);
      for (const p of others) {
        const share = fromHex(byFrom.get(p.from)!.signingShare);
        try {
          this.#suite.lib.validateSecret(
            { identifier: selfId, signingShare: share },
            { signers, commitments: p.commitment.map((c) => fromHex(c)), verifyingShares: {} },
          );
        } catch {
          throw new ProtocolError('round-2 share does not match its VSS commitment', p.from as PartyId);
        }
      }
      const key = this.#suite.lib.DKG.round3(
        this.#secret!,
        others.map((p) => this.#toLib(p)),
        others.map((p) => ({
          identifier: frostIdentifier(this.#suite, p.from as PartyId),
          signingShare: fromHex(byFrom.get(p.from)!.signingShare),
        })),
      );
      const parties = this.#set.map((p) => p.from as PartyId).sort();
      const publicPackage: FrostPublicPackage = {
        v: 1,
        suite: this.#suite.name,
        threshold: this.#threshold,
        parties,
        commitments: key.public.commitments.map((c) => toHex(c)),
        verifyingShares: Object.fromEntries(
          parties.map((party) => {
            const vs = key.public.verifyingShares[frostIdentifier(this.#suite, party)];
            if (!vs) throw new ProtocolError('library produced no verifying share', party);
            return [party, toHex(vs)];
          }),
        ),
      };
      const confirm: DkgConfirm = {
        v: 1,
        from: this.#self,
        transcript: this.#transcript,
        publicDigest: toHex(publicPackageDigest(publicPackage)),
        groupPublicKey: toHex(groupPublicKey(this.#suite, publicPackage)),
      };
      return { share: { party: this.#self, publicPackage, secretShare: key.secret.signingShare }, confirm };
    }, () => this.destroy());
  }

  /** Erases the polynomial; call when the ceremony ends, however it ends. */
  destroy(): void {
    if (this.#secret) this.#suite.lib.DKG.clean(this.#secret);
    this.#secret = undefined;
    this.#steps.fail();
  }

  #signers() {
    return { min: this.#threshold, max: this.#n };
  }

  #toLib(p: DkgRound1): LibRound1 {
    return {
      identifier: frostIdentifier(this.#suite, p.from as PartyId),
      commitment: p.commitment.map((c) => fromHex(c)),
      proofOfKnowledge: fromHex(p.proofOfKnowledge),
    } as LibRound1;
  }

  /**
   * The library checks all packages at once; to name the bad one, replay each package
   * alone against a throwaway secret and filler packages of our own making.
   */
  #blameRound1(others: DkgRound1[]): PartyId | undefined {
    const signers = this.#signers();
    const fillers = Array.from({ length: this.#n - 2 }, (_, i) =>
      this.#suite.lib.DKG.round1(this.#suite.lib.Identifier.derive(`tandem-blame-filler-${i}`), signers).public,
    );
    for (const p of others) {
      const probe = this.#suite.lib.DKG.round1(frostIdentifier(this.#suite, this.#self), signers).secret;
      try {
        this.#suite.lib.DKG.round2(probe, [this.#toLib(p), ...fillers]);
      } catch {
        return p.from as PartyId;
      } finally {
        this.#suite.lib.DKG.clean(probe);
      }
    }
    return undefined;
  }
}

function lower(p: DkgRound1): DkgRound1 {
  return {
    v: 1,
    from: p.from,
    commitment: p.commitment.map((c) => c.toLowerCase()),
    proofOfKnowledge: p.proofOfKnowledge.toLowerCase(),
  };
}

function transcriptHash(suite: FrostSuite, packages: DkgRound1[], threshold: number): Uint8Array {
  const sorted = [...packages].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  return sha256(new TextEncoder().encode(JSON.stringify({ suite: suite.name, threshold, packages: sorted })));
}
