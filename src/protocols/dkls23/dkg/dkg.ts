import { concatBytes } from '@noble/hashes/utils.js';
import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { checkOpening, commit, COMMIT_SALT_BYTES, COMMITMENT_BYTES, type Commitment } from '../commit.js';
import { abort, Dkls23Error } from '../errors.js';
import { Steps } from '../../steps.js';
import { chunks, packFields, unpackFields } from '../encoding/fields.js';
import { hash, TAGS } from '../hash/oracle.js';
import { evaluateCommitment, evaluatePolynomial, feldmanCommit, randomPolynomial, sumCommitments, verifyFeldmanShare } from '../math/feldman.js';
import { decodePoint, decodeScalar, encodePoint, encodeScalar, Fn, G, type Point } from '../math/group.js';
import {
  decodeOtSetupMsg1,
  decodeOtSetupMsg2,
  encodeOtSetupMsg1,
  encodeOtSetupMsg2,
  otSetupAliceFinish,
  otSetupAliceStart,
  otSetupBob,
  type OtSetupAliceState,
} from '../ot/setup.js';
import { DKLS23_VERSION } from '../params.js';
import { decodeSchnorrProof, encodeSchnorrProof, proveDlog, SCHNORR_PROOF_BYTES, verifyDlog } from '../proofs/schnorr.js';
import { dkgSid as computeDkgSid, osid } from '../session/ids.js';
import { randomZeroSeed, ZERO_SEED_BYTES } from '../zero/zero-share.js';
import { ctEqual } from '../ot/util.js';
import type { Dkls23KeyShare, Dkls23PeerSecrets } from '../keyshare/keyshare.js';

/**
 * DKLs23 distributed key generation for one party (design note §2; SL's audited 4-round
 * flow): Feldman VSS with committed coefficients and proofs of knowledge, a jointly
 * chosen chain code, pairwise zero-sharing seeds, and the OT setup (base OT + PPRF) of
 * every directed pair, which all later signatures reuse.
 *
 *   round1()          → to all: sid contribution, commitment to our Feldman vector
 *   round2(r1s)       → to each j: an echo of all round-1 messages, the vector opened with
 *                       proofs, chain-code commitment, OT setup message 1 of instance
 *                       self→j (we are Alice)
 *   round3(r2s)       → to each j: our share f(j), an echo of all round-1 and round-2
 *                       broadcast content, the chain-code opening, the zero seed (lower
 *                       index chooses), OT setup message 2 of instance j→self (we are Bob)
 *   round4(r3s)       → to all: PK, our public share and a proof of our share bound to the
 *                       chain code
 *   finish(r4s)       → the key share
 *
 * Input maps hold one raw message per other party; every message is checked, and a bad
 * one aborts naming its sender. What a party broadcasts reaches each peer over its own
 * channel, so a cheater can show peers different broadcasts; each round's echo is compared
 * before anything that depends on broadcast content is checked, and a mismatch names nobody:
 * the echoing peer or the broadcaster may be the liar. Checks that come after an echo
 * matched name the sender, because both sides then hold the same reference data. No I/O.
 */
type Step = 'start' | 'r1' | 'r2' | 'r3' | 'r4' | 'done' | 'failed';

/**
 * Round tags of wire layout 2 (layout 1 used tags 1-4 and echoed only the Feldman vectors):
 * a peer running the other layout is refused at its first message.
 */
const TAG = { r1: 5, r2: 6, r3: 7, r4: 8 } as const;

/** One party's round-2 broadcast, kept as received: it is all in the round-3 echo. */
interface Round2Broadcast {
  vector: Uint8Array;
  salt: Uint8Array;
  proofs: Uint8Array;
  ccCommit: Uint8Array;
}

export class Dkls23Dkg {
  readonly #self: PartyId;
  readonly #parties: PartyId[];
  readonly #idx: number;
  readonly #t: number;
  readonly #steps = new Steps<Step>('start', 'done', 'failed', 'DKG', (e) => (e instanceof Dkls23Error ? e : abort((e as Error).message)));
  readonly #poly: bigint[];
  readonly #feldman: Point[];
  readonly #rng: Rng;
  readonly #sidContrib: Uint8Array;
  readonly #ccContrib: Uint8Array;
  #feldmanCommit: Commitment | undefined;
  #ccCommit: Commitment | undefined;
  #sid: Uint8Array = new Uint8Array(0);
  #otAlice = new Map<PartyId, OtSetupAliceState>();
  readonly #peerCommits = new Map<PartyId, { sidContrib: Uint8Array; feldman: Uint8Array }>();
  readonly #peerVectors = new Map<PartyId, { vector: Point[]; ccCommit: Uint8Array; otMsg1: Uint8Array }>();
  readonly #broadcasts = new Map<PartyId, Round2Broadcast>();
  #vectors: Point[][] = [];
  #echo1: Uint8Array = new Uint8Array(0);
  #echo2: Uint8Array = new Uint8Array(0);
  readonly #peers = new Map<PartyId, Partial<Dkls23PeerSecrets>>();
  #x = 0n;
  #chainCode: Uint8Array = new Uint8Array(0);
  #pk: Point | undefined;

  /**
   * `rng` is every random draw of this party's DKG. Production code never passes it (the
   * default is the platform's CSPRNG); it exists so that tests can record reproducible
   * known-answer vectors with a seeded stream (test/vectors/dkls23-*.json).
   */
  constructor(self: PartyId, parties: PartyId[], threshold: number, rng: Rng = cryptoRng) {
    const sorted = [...new Set(parties)].sort();
    if (sorted.length !== parties.length || !sorted.includes(self)) throw abort('DKG: parties must be distinct and include self');
    if (!Number.isInteger(threshold) || threshold < 2 || threshold > sorted.length) throw abort(`DKG: bad threshold ${threshold} of ${sorted.length}`);
    this.#self = self;
    this.#parties = sorted;
    this.#idx = sorted.indexOf(self) + 1;
    this.#t = threshold;
    this.#rng = rng;
    this.#sidContrib = rng(32);
    this.#ccContrib = rng(32);
    this.#poly = randomPolynomial(threshold, undefined, rng);
    this.#feldman = feldmanCommit(this.#poly);
  }

  get others(): PartyId[] {
    return this.#parties.filter((p) => p !== this.#self);
  }

  round1(): Uint8Array {
    this.#steps.advance('start', 'r1');
    this.#feldmanCommit = commit({ sid: this.#sidContrib, sender: this.#idx, label: 'dkg/feldman' }, this.#feldman.map(encodePoint), this.#rng);
    return packFields(TAG.r1, [this.#sidContrib, this.#feldmanCommit.commitment]);
  }

  round2(r1: ReadonlyMap<PartyId, Uint8Array>): Map<PartyId, Uint8Array> {
    this.#steps.advance('r1', 'r2');
    return this.#steps.run(() => {
      for (const p of this.others) {
        const [sidContrib, feldman] = unpackFields(this.#need(r1, p), TAG.r1, [32, COMMITMENT_BYTES], p);
        this.#peerCommits.set(p, { sidContrib: sidContrib!, feldman: feldman! });
      }
      this.#sid = computeDkgSid({
        t: this.#t,
        n: this.#parties.length,
        indices: this.#parties.map((_, k) => k + 1),
        contributions: this.#parties.map((p) => (p === this.#self ? this.#sidContrib : this.#peerCommits.get(p)!.sidContrib)),
      });
      this.#echo1 = hash(
        TAGS.dkgEcho,
        DKLS23_VERSION,
        'dkg/echo/r1',
        this.#sid,
        ...this.#parties.flatMap((p) => [this.#round1Of(p).sidContrib, this.#round1Of(p).feldman]),
      );
      const proofs = this.#poly.map((a, k) => encodeSchnorrProof(proveDlog({ sid: this.#sid, prover: this.#idx, purpose: `dkg/coeff/${k}` }, a, this.#rng).proof));
      this.#ccCommit = commit({ sid: this.#sid, sender: this.#idx, label: 'dkg/chain-code' }, [this.#ccContrib], this.#rng);
      const own: Round2Broadcast = {
        vector: concat(this.#feldman.map(encodePoint)),
        salt: this.#feldmanCommit!.salt,
        proofs: concat(proofs),
        ccCommit: this.#ccCommit.commitment,
      };
      this.#broadcasts.set(this.#self, own);
      const broadcast = [this.#echo1, own.vector, own.salt, own.proofs, own.ccCommit];
      const out = new Map<PartyId, Uint8Array>();
      for (const p of this.others) {
        // Per recipient by design (its instance's OT message), so not in any echo.
        const { state, msg } = otSetupAliceStart(osid(this.#sid, this.#idx, this.#index(p), 'dkg/ot'), this.#rng);
        this.#otAlice.set(p, state);
        out.set(p, packFields(TAG.r2, [...broadcast, encodeOtSetupMsg1(msg)]));
      }
      return out;
    }, () => this.destroy());
  }

  round3(r2: ReadonlyMap<PartyId, Uint8Array>): Map<PartyId, Uint8Array> {
    this.#steps.advance('r2', 'r3');
    return this.#steps.run(() => {
      const t = this.#t;
      const echoes = new Map<PartyId, Uint8Array>();
      const otMsgs = new Map<PartyId, Uint8Array>();
      for (const p of this.others) {
        const [echo, vector, salt, proofs, ccCommit, otMsg1] = unpackFields(
          this.#need(r2, p),
          TAG.r2,
          [32, 33 * t, COMMIT_SALT_BYTES, SCHNORR_PROOF_BYTES * t, COMMITMENT_BYTES, undefined],
          p,
        );
        echoes.set(p, echo!);
        this.#broadcasts.set(p, { vector: vector!, salt: salt!, proofs: proofs!, ccCommit: ccCommit! });
        otMsgs.set(p, otMsg1!);
      }
      // The sid and the commitments below come from everyone's round 1: a peer whose proof
      // fails under our sid may only have been shown another sid contribution.
      for (const p of this.others) {
        if (!ctEqual(echoes.get(p)!, this.#echo1)) throw abort(`${p} saw other round-1 messages than we did`);
      }
      for (const p of this.others) {
        const j = this.#index(p);
        const { vector: vec, salt, proofs, ccCommit } = this.#broadcasts.get(p)!;
        const committed = this.#peerCommits.get(p)!;
        checkOpening({ sid: committed.sidContrib, sender: j, label: 'dkg/feldman' }, committed.feldman, salt, chunks(vec, 33), p);
        const vector = chunks(vec, 33).map((b) => decodePoint(b, p, 'Feldman commitment'));
        chunks(proofs, SCHNORR_PROOF_BYTES).forEach((bytes, k) => {
          if (!verifyDlog({ sid: this.#sid, prover: j, purpose: `dkg/coeff/${k}` }, vector[k]!, decodeSchnorrProof(bytes, p))) {
            throw abort(`proof of knowledge of coefficient ${k} does not verify`, p);
          }
        });
        this.#peerVectors.set(p, { vector, ccCommit, otMsg1: otMsgs.get(p)! });
      }
      this.#vectors = this.#parties.map((p) => (p === this.#self ? this.#feldman : this.#peerVectors.get(p)!.vector));
      // Everything a party broadcast in rounds 1-2, so round 4 checks shares and chain-code
      // openings only against commitments every honest party holds alike.
      this.#echo2 = hash(
        TAGS.dkgEcho,
        DKLS23_VERSION,
        'dkg/echo/r2',
        this.#sid,
        ...this.#parties.flatMap((p) => {
          const b = this.#broadcasts.get(p)!;
          return [this.#round1Of(p).sidContrib, this.#round1Of(p).feldman, b.vector, b.salt, b.proofs, b.ccCommit];
        }),
      );
      const out = new Map<PartyId, Uint8Array>();
      for (const p of this.others) {
        const j = this.#index(p);
        // Instance p→self: p is Alice, we are Bob (base-OT sender and PPRF builder).
        const { msg, seed } = otSetupBob(osid(this.#sid, j, this.#idx, 'dkg/ot'), decodeOtSetupMsg1(this.#peerVectors.get(p)!.otMsg1, p), p, this.#rng);
        const zeroSeed = this.#idx < j ? randomZeroSeed(this.#rng) : new Uint8Array(0);
        this.#peers.set(p, { oteReceiver: seed, ...(zeroSeed.length ? { zeroSeed } : {}) });
        out.set(
          p,
          packFields(TAG.r3, [encodeScalar(evaluatePolynomial(this.#poly, j)), this.#echo2, this.#ccContrib, this.#ccCommit!.salt, zeroSeed, encodeOtSetupMsg2(msg)]),
        );
      }
      return out;
    }, () => this.destroy());
  }

  round4(r3: ReadonlyMap<PartyId, Uint8Array>): Uint8Array {
    this.#steps.advance('r3', 'r4');
    return this.#steps.run(() => {
      let x = evaluatePolynomial(this.#poly, this.#idx);
      const ccContribs = new Map<PartyId, Uint8Array>([[this.#self, this.#ccContrib]]);
      const msgs = new Map<PartyId, Uint8Array[]>();
      for (const p of this.others) {
        const zeroLen = this.#index(p) < this.#idx ? ZERO_SEED_BYTES : 0;
        msgs.set(p, unpackFields(this.#need(r3, p), TAG.r3, [32, 32, 32, COMMIT_SALT_BYTES, zeroLen, undefined], p));
      }
      // Either p or a broadcaster of rounds 1-2 lied (a chain-code commitment, say); we
      // can't tell which, and checking openings first would blame an honest party.
      for (const p of this.others) {
        if (!ctEqual(msgs.get(p)![1]!, this.#echo2)) throw abort(`${p} saw other round-1 or round-2 broadcasts than we did`);
      }
      for (const p of this.others) {
        const j = this.#index(p);
        const zeroLen = j < this.#idx ? ZERO_SEED_BYTES : 0;
        const [share, , cc, ccSalt, zeroSeed, otMsg2] = msgs.get(p)!;
        const f = decodeScalar(share!, p, 'Feldman share');
        if (!verifyFeldmanShare(f, this.#idx, this.#peerVectors.get(p)!.vector)) throw abort('share does not match its Feldman vector', p);
        checkOpening({ sid: this.#sid, sender: j, label: 'dkg/chain-code' }, this.#peerVectors.get(p)!.ccCommit, ccSalt!, [cc!], p);
        ccContribs.set(p, cc!);
        const peer = this.#peers.get(p)!;
        if (zeroLen) peer.zeroSeed = zeroSeed!;
        peer.oteSender = otSetupAliceFinish(this.#otAlice.get(p)!, decodeOtSetupMsg2(otMsg2!, p), p);
        x = Fn.add(x, f);
      }
      this.#otAlice.clear();
      if (x === 0n) throw abort('DKG produced a zero share');
      this.#x = x;
      this.#chainCode = hash(TAGS.chainCode, DKLS23_VERSION, this.#sid, ...this.#parties.map((p) => ccContribs.get(p)!));
      const pk = sumCommitments(this.#vectors)[0]!;
      if (pk.is0()) throw abort('DKG produced the identity as public key');
      this.#pk = pk;
      const { statement, proof } = proveDlog({ sid: this.#shareSid(), prover: this.#idx, purpose: 'dkg/share' }, x, this.#rng);
      return packFields(TAG.r4, [encodePoint(pk), encodePoint(statement), encodeSchnorrProof(proof)]);
    }, () => this.destroy());
  }

  finish(r4: ReadonlyMap<PartyId, Uint8Array>): Dkls23KeyShare {
    this.#steps.advance('r4', 'done');
    return this.#steps.run(() => {
      const pk = this.#pk!;
      const merged = sumCommitments(this.#vectors);
      const publicShares = this.#parties.map((_, k) => evaluateCommitment(merged, k + 1));
      if (!publicShares[this.#idx - 1]!.equals(G.multiply(this.#x))) throw abort('our share does not match the joint Feldman vector');
      for (const p of this.others) {
        const j = this.#index(p);
        const [pkBytes, xBytes, proof] = unpackFields(this.#need(r4, p), TAG.r4, [33, 33, SCHNORR_PROOF_BYTES], p);
        if (!decodePoint(pkBytes!, p, 'public key').equals(pk)) throw abort('computed another public key', p);
        const X = decodePoint(xBytes!, p, 'public share');
        if (!X.equals(publicShares[j - 1]!)) throw abort('public share does not match the joint Feldman vector', p);
        // A party that got another chain code can't make this proof verify (TOB-SILA-7).
        if (!verifyDlog({ sid: this.#shareSid(), prover: j, purpose: 'dkg/share' }, X, decodeSchnorrProof(proof!, p))) {
          throw abort('proof of its share does not verify (different chain code?)', p);
        }
      }
      const peers = new Map<PartyId, Dkls23PeerSecrets>();
      for (const [p, s] of this.#peers) {
        if (!s.zeroSeed || !s.oteSender || !s.oteReceiver) throw abort('DKG incomplete', p);
        peers.set(p, s as Dkls23PeerSecrets);
      }
      return {
        self: this.#self,
        pub: { v: 1, threshold: this.#t, parties: this.#parties, dkgSid: this.#sid, epoch: 0, publicKey: pk, publicShares, chainCode: this.#chainCode },
        secret: this.#x,
        peers,
      };
    }, () => this.destroy());
  }

  /** Erases what can be erased; call however the ceremony ends. */
  destroy(): void {
    for (let k = 0; k < this.#poly.length; k++) this.#poly[k] = 0n;
    this.#ccContrib.fill(0);
    this.#otAlice.clear();
    if (this.#steps.at !== 'done') {
      for (const s of this.#peers.values()) {
        s.zeroSeed?.fill(0);
        s.oteReceiver?.leaves.fill(0);
        s.oteSender?.leaves.fill(0);
      }
      this.#steps.fail();
    }
  }

  /** What p broadcast in round 1, as we received it (ours for self). */
  #round1Of(p: PartyId): { sidContrib: Uint8Array; feldman: Uint8Array } {
    return p === this.#self ? { sidContrib: this.#sidContrib, feldman: this.#feldmanCommit!.commitment } : this.#peerCommits.get(p)!;
  }

  #shareSid(): Uint8Array {
    return hash(TAGS.chainCode, DKLS23_VERSION, this.#sid, this.#chainCode, 'dkg/share-proof');
  }

  #index(p: PartyId): number {
    const k = this.#parties.indexOf(p);
    if (k < 0) throw abort(`${p} is not a party of this DKG`, p);
    return k + 1;
  }

  #need(m: ReadonlyMap<PartyId, Uint8Array>, p: PartyId): Uint8Array {
    const v = m.get(p);
    if (!v) throw abort('missing message', p);
    return v;
  }

}

function concat(parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}

