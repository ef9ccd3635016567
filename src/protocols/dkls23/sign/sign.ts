import { bytesToNumberBE } from '@noble/curves/utils.js';
import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { checkOpening, commit, COMMIT_SALT_BYTES, COMMITMENT_BYTES, type Commitment } from '../commit.js';
import { abort, ban, Dkls23Error } from '../errors.js';
import { Steps } from '../../steps.js';
import { packFields, unpackFields } from '../encoding/fields.js';
import { decodePoint, decodeScalar, encodePoint, encodeScalar, Fn, G, q, randomScalar, type Point } from '../math/group.js';
import { lagrangeAtZero } from '../math/lagrange.js';
import { mulBase, mulPoint } from '../math/native.js';
import { decodeOteExtensionMsg, encodeOteExtensionMsg, oteReceive, oteSend } from '../ot/softspoken.js';
import type { OtReceiverOutput } from '../ot/types.js';
import { aliceRespond, decodeRvoleMessage, encodeRvoleMessage, RvoleBob } from '../vole/rvole.js';
import { mulSid } from '../session/ids.js';
import { zeroShare } from '../zero/zero-share.js';
import { indexOf, type Dkls23KeyShare } from '../keyshare/keyshare.js';

/**
 * DKLs23 signing (Protocol 3.6, design note §3) for one signer of the set S, |S| = t.
 *
 *   round1()      → to each j ∈ S: commitment to R_i; OT-extension message of instance j→i
 *                   (we are Bob, with a fresh χ_{i,j})
 *   round2(r1s)   → to each j: RVOLE message of instance i→j on inputs (r_i, sk_i) (we are
 *                   Alice), Γ^u, Γ^v, ψ_{i,j} = φ_i − χ_{i,j}, the opening of R_i, pk_i
 *   round3(r2s)   → to the combiner: (R, u_i, w_i)
 *   combine(...)  → (r, s, recovery id), low-S, verified
 *
 * r_i, φ_i, β and all round state live in this object only: never serialized, used once.
 * Failures of the OT-extension check, μ or the Γ checks are bans: the peer tried to learn
 * our secrets through selective failure and must never be run with again.
 */
export interface SignRound3 {
  R: Point;
  u: bigint;
  w: bigint;
}

type Step = 'start' | 'r1' | 'r2' | 'r3' | 'failed';

export class Dkls23Signer {
  readonly #share: Dkls23KeyShare;
  readonly #signers: PartyId[];
  readonly #idx: number;
  readonly #sid: Uint8Array;
  readonly #e: bigint;
  readonly #pkDerived: Point;
  readonly #steps = new Steps<Step>('start', 'r3', 'failed', 'signing', (e) => (e instanceof Dkls23Error ? e : abort((e as Error).message)));
  readonly #rng: Rng;
  readonly #r: bigint;
  readonly #phi: bigint;
  readonly #sk: bigint;
  /** R_i = r_i·G and pk_i = sk_i·G, computed once. */
  readonly #R: Point;
  readonly #pk: Point;
  #commitR: Commitment | undefined;
  readonly #bob = new Map<PartyId, RvoleBob>();
  readonly #bobOt = new Map<PartyId, OtReceiverOutput>();
  readonly #c = new Map<PartyId, bigint[]>();
  readonly #peerCommit = new Map<PartyId, Uint8Array>();

  /**
   * `sid` must be fresh for this party (it includes a contribution of its own), `msgHash`
   * is the 32-byte hash being signed and `tweak` the derivation δ (0n for the root key).
   * `rng` is every random draw of this signer (r_i, φ_i, salts, β, η). Production code never
   * passes it (the default is the platform's CSPRNG: a predictable r_i gives away the share);
   * it exists so that tests can record reproducible known-answer vectors with a seeded
   * stream (test/vectors/dkls23-*.json).
   */
  constructor(share: Dkls23KeyShare, signers: PartyId[], sid: Uint8Array, msgHash: Uint8Array, tweak: bigint, rng: Rng = cryptoRng) {
    const set = [...new Set(signers)].sort();
    if (set.length !== signers.length || set.length !== share.pub.threshold || !set.includes(share.self)) {
      throw abort(`signing set must be ${share.pub.threshold} distinct holders including us`);
    }
    for (const p of set) indexOf(share.pub, p);
    if (msgHash.length !== 32) throw abort('message hash must be 32 bytes');
    this.#share = share;
    this.#signers = set;
    this.#rng = rng;
    this.#r = randomScalar(rng);
    this.#phi = randomScalar(rng);
    this.#idx = indexOf(share.pub, share.self);
    this.#sid = sid;
    this.#e = Fn.create(bytesToNumberBE(msgHash));
    const indices = set.map((p) => indexOf(share.pub, p));
    const seeds = new Map(set.filter((p) => p !== share.self).map((p) => [indexOf(share.pub, p), share.peers.get(p)!.zeroSeed]));
    const x = Fn.add(share.secret, tweak);
    this.#sk = Fn.add(Fn.mul(lagrangeAtZero(indices, this.#idx), x), zeroShare(sid, this.#idx, indices, seeds));
    this.#pkDerived = share.pub.publicKey.add(G.multiplyUnsafe(tweak));
    this.#R = mulBase(this.#r);
    this.#pk = mulBase(this.#sk);
  }

  get others(): PartyId[] {
    return this.#signers.filter((p) => p !== this.#share.self);
  }

  get publicKey(): Point {
    return this.#pkDerived;
  }

  round1(): Map<PartyId, Uint8Array> {
    this.#steps.advance('start', 'r1');
    return this.#steps.run(() => {
      this.#commitR = commit({ sid: this.#sid, sender: this.#idx, label: 'sign/R' }, [encodePoint(this.#R)], this.#rng);
      const out = new Map<PartyId, Uint8Array>();
      for (const p of this.others) {
        const j = indexOf(this.#share.pub, p);
        const sid = mulSid(this.#sid, j, this.#idx);
        const { msg, output } = oteReceive(this.#share.peers.get(p)!.oteReceiver, sid, this.#rng);
        this.#bobOt.set(p, output);
        this.#bob.set(p, new RvoleBob(sid, output));
        out.set(p, packFields(11, [this.#commitR.commitment, encodeOteExtensionMsg(msg)]));
      }
      return out;
    }, () => this.destroy());
  }

  round2(r1: ReadonlyMap<PartyId, Uint8Array>): Map<PartyId, Uint8Array> {
    this.#steps.advance('r1', 'r2');
    return this.#steps.run(() => {
      const out = new Map<PartyId, Uint8Array>();
      for (const p of this.others) {
        const j = indexOf(this.#share.pub, p);
        const [com, ote] = unpackFields(need(r1, p), 11, [COMMITMENT_BYTES, undefined], p);
        this.#peerCommit.set(p, com!);
        const sid = mulSid(this.#sid, this.#idx, j);
        // A failed check here is a ban (selective failure would leak bits of Δ).
        const alpha = oteSend(this.#share.peers.get(p)!.oteSender, sid, decodeOteExtensionMsg(ote!, p), p);
        const { message, shares } = aliceRespond(sid, [this.#r, this.#sk], alpha, this.#rng);
        this.#c.set(p, shares);
        const psi = Fn.sub(this.#phi, this.#bob.get(p)!.chi);
        out.set(
          p,
          packFields(12, [
            encodeRvoleMessage(message),
            encodePoint(mulBase(nonZero(shares[0]!))),
            encodePoint(mulBase(nonZero(shares[1]!))),
            encodeScalar(psi),
            encodePoint(this.#R),
            this.#commitR!.salt,
            encodePoint(this.#pk),
          ]),
        );
      }
      return out;
    }, () => this.destroy());
  }

  round3(r2: ReadonlyMap<PartyId, Uint8Array>): SignRound3 {
    this.#steps.advance('r2', 'r3');
    return this.#steps.run(() => {
      let R = this.#R;
      let pkSum = this.#pk;
      let psiSum = Fn.ZERO;
      let uCross = Fn.ZERO;
      let vCross = Fn.ZERO;
      for (const p of this.others) {
        const j = indexOf(this.#share.pub, p);
        const [rvole, gammaU, gammaV, psi, Rj, salt, pkj] = unpackFields(need(r2, p), 12, [undefined, 33, 33, 32, 33, COMMIT_SALT_BYTES, 33], p);
        checkOpening({ sid: this.#sid, sender: j, label: 'sign/R' }, this.#peerCommit.get(p)!, salt!, [Rj!], p);
        const RjPoint = decodePoint(Rj!, p, 'R_j');
        const pkjPoint = decodePoint(pkj!, p, 'pk_j');
        const d = this.#bob.get(p)!.finish(decodeRvoleMessage(rvole!, p), p);
        const chi = this.#bob.get(p)!.chi;
        // Γ binds p's RVOLE inputs to its public R_j and pk_j.
        if (!mulPoint(RjPoint, chi).equals(decodePoint(gammaU!, p, 'Γu').add(mulBase(d[0]!)))) throw ban('Γu check failed', p);
        if (!mulPoint(pkjPoint, chi).equals(decodePoint(gammaV!, p, 'Γv').add(mulBase(d[1]!)))) throw ban('Γv check failed', p);
        const c = this.#c.get(p)!;
        uCross = Fn.add(uCross, Fn.add(c[0]!, d[0]!));
        vCross = Fn.add(vCross, Fn.add(c[1]!, d[1]!));
        psiSum = Fn.add(psiSum, decodeScalar(psi!, p, 'ψ'));
        R = R.add(RjPoint);
        pkSum = pkSum.add(pkjPoint);
      }
      // Not attributable: any signer's pk_j could be the wrong one.
      if (!pkSum.equals(this.#pkDerived)) throw abort('signers\' public key shares do not add up to the key');
      if (R.is0()) throw abort('R is the identity');
      const rx = Fn.create(R.toAffine().x);
      if (rx === 0n) throw abort('r is zero');
      const phiTotal = Fn.add(this.#phi, psiSum);
      const u = Fn.add(Fn.mul(this.#r, phiTotal), uCross);
      const v = Fn.add(Fn.mul(this.#sk, phiTotal), vCross);
      const w = Fn.add(Fn.mul(this.#e, this.#phi), Fn.mul(rx, v));
      this.destroy();
      return { R, u, w };
    }, () => this.destroy());
  }

  /** Erases what JS lets us erase; the OT outputs' BigInts can only be dropped. */
  destroy(): void {
    for (const ot of this.#bobOt.values()) ot.beta.fill(0);
    this.#bobOt.clear();
    this.#bob.clear();
    this.#c.clear();
    this.#steps.fail();
  }

}

export const encodeRound3 = (m: SignRound3) => packFields(13, [encodePoint(m.R), encodeScalar(m.u), encodeScalar(m.w)]);
export function decodeRound3(bytes: Uint8Array, from: PartyId): SignRound3 {
  const [R, u, w] = unpackFields(bytes, 13, [33, 32, 32], from);
  return { R: decodePoint(R!, from, 'R'), u: decodeScalar(u!, from, 'u'), w: decodeScalar(w!, from, 'w') };
}

export interface EcdsaSignature {
  r: bigint;
  s: bigint;
  /** 0..3: bit 0 = parity of R's y (after low-S), bit 1 = x(R) ≥ q. */
  recovery: number;
}

/**
 * s = Σw / Σu, made low-S (flipping the recovery parity), and verified against the
 * (derived) public key before it is returned. A bad partial can't be pinned on its sender
 * (round-3 values are not individually checkable), so a failure names no one.
 */
export function combine(publicKey: Point, msgHash: Uint8Array, partials: SignRound3[]): EcdsaSignature {
  const R = partials[0]!.R;
  for (const p of partials) if (!p.R.equals(R)) throw abort('signers computed different R');
  const uSum = partials.reduce((a, p) => Fn.add(a, p.u), Fn.ZERO);
  const wSum = partials.reduce((a, p) => Fn.add(a, p.w), Fn.ZERO);
  if (uSum === 0n) throw abort('Σu is zero');
  const { x, y } = R.toAffine();
  const r = Fn.create(x);
  let s = Fn.div(wSum, uSum);
  let parity = Number(y & 1n);
  if (s > q >> 1n) {
    s = Fn.neg(s);
    parity ^= 1;
  }
  const recovery = parity + (x >= q ? 2 : 0);
  const e = Fn.create(bytesToNumberBE(msgHash));
  // s·R = e·G + r·PK, the ECDSA equation, with R recovered from (r, recovery).
  const sInv = Fn.inv(s);
  const check = G.multiplyUnsafe(Fn.mul(e, sInv)).add(publicKey.multiplyUnsafe(Fn.mul(r, sInv)));
  if (check.is0() || Fn.create(check.toAffine().x) !== r) throw abort('combined signature does not verify');
  return { r, s, recovery };
}

function nonZero(x: bigint): bigint {
  // c = 0 happens with probability 2^-256; Γ = O would not encode, so treat it as a failure.
  if (x === 0n) throw abort('zero RVOLE share');
  return x;
}

function need(m: ReadonlyMap<PartyId, Uint8Array>, p: PartyId): Uint8Array {
  const v = m.get(p);
  if (!v) throw abort('missing message', p);
  return v;
}

