import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { DKLS23_VERSION } from '../params.js';
import { abort } from '../errors.js';
import { hashToScalar, TAGS } from '../hash/oracle.js';
import { decodePoint, decodeScalar, encodePoint, encodeScalar, Fn, G, Point, randomScalar } from '../math/group.js';
import { assertPartyIndex } from '../session/ids.js';

/**
 * Non-interactive Schnorr proof of knowledge of x with X = x·G (Fiat–Shamir, design note §2):
 * A = k·G, c = H_schnorr(version, sid, prover, purpose, X, A), z = k + c·x; verify z·G = A + c·X.
 * The challenge binds the session, the prover's index and the purpose, so a proof cannot be
 * replayed in another session, by another party, or for another statement slot (e.g. a
 * coefficient proof as a key-share proof), and it binds the statement X itself.
 *
 * Wire form: A (33 bytes, compressed, ≠ O) ‖ z (32 bytes, < q) = 65 bytes.
 */

export const SCHNORR_PROOF_BYTES = 65;

export interface SchnorrContext {
  /** The session id (dkgSid, or a derived sid such as H(dkgSid, chainCode)). */
  sid: Uint8Array;
  /** The prover's party index. */
  prover: number;
  /** What is being proven, e.g. `dkg/coeff/0` or `dkg/share`; non-empty. */
  purpose: string;
}

export interface SchnorrProof {
  A: Point;
  z: bigint;
}

function challenge(ctx: SchnorrContext, X: Point, A: Point): bigint {
  if (!(ctx.sid instanceof Uint8Array) || ctx.sid.length === 0) throw abort('schnorr: empty sid');
  assertPartyIndex(ctx.prover, 'schnorr: prover');
  if (ctx.purpose.length === 0) throw abort('schnorr: empty purpose');
  return hashToScalar(TAGS.schnorr, DKLS23_VERSION, ctx.sid, ctx.prover, ctx.purpose, encodePoint(X), encodePoint(A));
}

/** Proves knowledge of x ≠ 0 (statement X = x·G, returned alongside). */
export function proveDlog(ctx: SchnorrContext, x: bigint, rng: Rng = cryptoRng): { statement: Point; proof: SchnorrProof } {
  if (!Fn.isValidNot0(x)) throw abort('schnorr: witness must be a non-zero scalar');
  const X = G.multiply(x);
  const k = randomScalar(rng);
  const A = G.multiply(k);
  const c = challenge(ctx, X, A);
  const z = Fn.add(k, Fn.mul(c, x));
  return { statement: X, proof: { A, z } };
}

/** True iff `proof` proves knowledge of dlog(X) in context `ctx`. Never throws on bad proofs. */
export function verifyDlog(ctx: SchnorrContext, X: Point, proof: SchnorrProof): boolean {
  if (X.is0() || proof.A.is0() || !Fn.isValid(proof.z)) return false;
  try {
    X.assertValidity();
    proof.A.assertValidity();
  } catch {
    return false;
  }
  const c = challenge(ctx, X, proof.A);
  return G.multiplyUnsafe(proof.z).equals(proof.A.add(X.multiplyUnsafe(c)));
}

export function encodeSchnorrProof(proof: SchnorrProof): Uint8Array {
  const out = new Uint8Array(SCHNORR_PROOF_BYTES);
  out.set(encodePoint(proof.A), 0);
  out.set(encodeScalar(proof.z), 33);
  return out;
}

/** Decodes exactly 65 bytes; any malformation is an abort naming `from`. */
export function decodeSchnorrProof(bytes: Uint8Array, from?: PartyId): SchnorrProof {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SCHNORR_PROOF_BYTES) {
    throw abort(`schnorr proof: expected ${SCHNORR_PROOF_BYTES} bytes`, from);
  }
  return {
    A: decodePoint(bytes.subarray(0, 33), from, 'schnorr proof A'),
    z: decodeScalar(bytes.subarray(33), from, 'schnorr proof z'),
  };
}
