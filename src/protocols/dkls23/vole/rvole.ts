import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { DKLS23_VERSION, PARAMS } from '../params.js';
import { abort, ban } from '../errors.js';
import { hashToScalar, TAGS, xof } from '../hash/oracle.js';
import { decodeScalar, encodeScalar, Fn, q, randomScalar, reduceWide } from '../math/group.js';
import type { OtReceiverOutput, OtSenderOutput } from '../ot/types.js';
import { assertSid } from '../session/ids.js';
import { ctEqual } from '../ot/util.js';

/**
 * OT-based random vector OLE, DKLs23 Protocol 5.2 (eprint 2023/765), ℓ = 2 inputs, ρ = 1
 * check column, ξ = κ + 2λ_s OTs (design note §3.1). Indices are the consistent form (Trail
 * of Bits, Silent Shard assessment, appendix F: θ_{k,i} in μ, â_k (our η_k) in ã), as in SL
 * `sl-oblivious/src/rvole.rs`:
 *
 * - gadget g_j, j < ξ: block j of one XOF_gadget(version, mulSid, ξ) call, reduced mod q.
 * - Bob: OT choice bits β (from the OT extension), ω_j = α^{β_j}_j ∈ Z_q^{ℓ+ρ}; χ = Σ_j β_j·g_j.
 * - Alice on (a_1..a_ℓ), knowing α⁰_j, α¹_j: c_i = −Σ_j g_j·α⁰_{j,i}; fresh η ∈ Z_q^ρ;
 *   ã_{j,i} = α⁰_{j,i} − α¹_{j,i} + a_i (i < ℓ), ã_{j,ℓ+k} = α⁰_{j,ℓ+k} − α¹_{j,ℓ+k} + η_k;
 *   θ_{k,i} = H_θ(version, mulSid, k, i, ã) (binds the whole ã, check column included);
 *   η'_k = η_k + Σ_i θ_{k,i}·a_i; μ = H_μ(version, mulSid, (α⁰_{j,ℓ+k} + Σ_i θ_{k,i}·α⁰_{j,i})_{j,k})
 *   (64 bytes). Sends (ã, η', μ); outputs c.
 * - Bob: d̄_{j,i} = ω_{j,i} + β_j·ã_{j,i} (= α⁰_{j,i} + β_j·(a_i or η)); requires
 *   μ = H_μ(version, mulSid, (d̄_{j,ℓ+k} + Σ_i θ_{k,i}·d̄_{j,i} − β_j·η'_k)_{j,k}), else bans Alice;
 *   d_i = Σ_j g_j·d̄_{j,i}. Then c_i + d_i = a_i·χ.
 *
 * A failed μ check means Alice deviated in a way whose detection can depend on Bob's secret
 * β, hence on the OT-extension correlation that serves every later signature: ban, never retry
 * (design note §4.3, §6). Malformed messages (lengths, scalars ≥ q) are aborts naming the sender.
 *
 * Single use: one (mulSid, OT output) pair feeds exactly one Alice step and one Bob step; the
 * caller must never reuse OT outputs, β or a mulSid (same pads ⇒ Alice's inputs leak).
 * Secrets are bigints and cannot be wiped; no branch or index depends on β (β_j enters as a
 * 0n/1n factor; BigInt timing itself is not constant, design note §6).
 */

export const RVOLE_XI = PARAMS.xi;
export const RVOLE_ELL = PARAMS.ell;
export const RVOLE_RHO = PARAMS.rho;
/** Scalars per OT: ℓ + ρ. */
export const RVOLE_WIDTH = PARAMS.ell + PARAMS.rho;
export const RVOLE_MU_BYTES = 64;
/** ã (ξ·(ℓ+ρ) scalars) ‖ η' (ρ scalars) ‖ μ (64 bytes) = 49,248 bytes for the SL parameters. */
export const RVOLE_MESSAGE_BYTES = RVOLE_XI * RVOLE_WIDTH * 32 + RVOLE_RHO * 32 + RVOLE_MU_BYTES;

/** Alice's single message to Bob. */
export interface RvoleMessage {
  /** ξ rows of ℓ+ρ scalars. */
  aTilde: bigint[][];
  /** ρ scalars η'. */
  etaPrime: bigint[];
  /** 64-byte check hash. */
  mu: Uint8Array;
  /** ã as encoded on the wire, when already at hand (saves encoding 1,536 scalars twice). */
  aTildeBytes?: Uint8Array;
}

function assertMulSid(mulSid: Uint8Array): void {
  assertSid(mulSid, 'rvole: mulSid');
}

/**
 * g_j for j < ξ: the j-th 48-byte block of XOF_gadget(version, mulSid, ξ), reduced mod q (the
 * oracle's hash-to-scalar rule, bias < 2^-128). One XOF call instead of ξ hashToScalar calls:
 * the same random-oracle distribution, ~20× faster (512 separate calls cost ~25 ms). Public.
 */
export function gadgetVector(mulSid: Uint8Array): bigint[] {
  assertMulSid(mulSid);
  const wide = xof(TAGS.gadget, 48 * RVOLE_XI, DKLS23_VERSION, mulSid, RVOLE_XI);
  return Array.from({ length: RVOLE_XI }, (_, j) => reduceWide(wide, 48 * j));
}

// ---- local input checks (our own OT outputs: a mismatch is a local bug, no culprit) ----

function assertMatrix(m: unknown, what: string): asserts m is bigint[][] {
  if (!Array.isArray(m) || m.length !== RVOLE_XI) throw abort(`rvole: ${what} must have ${RVOLE_XI} rows`);
  for (const row of m) {
    if (!Array.isArray(row) || row.length !== RVOLE_WIDTH) throw abort(`rvole: ${what} rows must have ${RVOLE_WIDTH} scalars`);
    for (const x of row) if (typeof x !== 'bigint' || !Fn.isValid(x)) throw abort(`rvole: ${what} holds a non-scalar`);
  }
}

function assertReceiverOutput(ot: OtReceiverOutput): void {
  if (!(ot.beta instanceof Uint8Array) || ot.beta.length !== RVOLE_XI) throw abort(`rvole: β must have ${RVOLE_XI} bits`);
  let bad = 0;
  for (const b of ot.beta) bad |= b & 0xfe;
  if (bad !== 0) throw abort('rvole: β entries must be 0 or 1');
  assertMatrix(ot.omega, 'ω');
}

function assertSenderOutput(ot: OtSenderOutput): void {
  assertMatrix(ot.alpha0, 'α⁰');
  assertMatrix(ot.alpha1, 'α¹');
}

// ---- oracles ----

function encodeATilde(aTilde: readonly (readonly bigint[])[]): Uint8Array {
  const out = new Uint8Array(RVOLE_XI * RVOLE_WIDTH * 32);
  let off = 0;
  for (const row of aTilde) {
    for (const x of row) {
      out.set(encodeScalar(x), off);
      off += 32;
    }
  }
  return out;
}

/** θ ∈ Z_q^{ρ×ℓ}, θ[k][i] = H_θ(version, mulSid, k, i, ã). */
function thetaMatrix(mulSid: Uint8Array, aTildeBytes: Uint8Array): bigint[][] {
  return Array.from({ length: RVOLE_RHO }, (_, k) =>
    Array.from({ length: RVOLE_ELL }, (_, i) => hashToScalar(TAGS.theta, DKLS23_VERSION, mulSid, k, i, aTildeBytes)),
  );
}

/** μ = H_μ(version, mulSid, v_{0,0} ‖ … ‖ v_{ξ−1,ρ−1}), 64 bytes, v given row by row. */
function muHash(mulSid: Uint8Array, values: readonly bigint[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 32);
  values.forEach((v, n) => bytes.set(encodeScalar(v), 32 * n));
  return xof(TAGS.mu, RVOLE_MU_BYTES, DKLS23_VERSION, mulSid, bytes);
}

// ---- Bob, round 1 ----

/** Bob's random RVOLE input χ = Σ_j β_j·g_j (secret). */
export function bobChi(mulSid: Uint8Array, ot: OtReceiverOutput, gadget: readonly bigint[] = gadgetVector(mulSid)): bigint {
  assertMulSid(mulSid);
  assertReceiverOutput(ot);
  if (gadget.length !== RVOLE_XI) throw abort('rvole: gadget vector length');
  let chi = 0n;
  for (let j = 0; j < RVOLE_XI; j++) chi += gadget[j]! * BigInt(ot.beta[j]!);
  return chi % q;
}

// ---- Alice ----

export interface AliceResult {
  message: RvoleMessage;
  /** c_1..c_ℓ with c_i + d_i = a_i·χ. Secret. */
  shares: bigint[];
}

/** Alice's only step: inputs a_1..a_ℓ (secret scalars) and her OT-extension output. */
export function aliceRespond(mulSid: Uint8Array, inputs: readonly bigint[], ot: OtSenderOutput, rng: Rng = cryptoRng): AliceResult {
  assertMulSid(mulSid);
  if (inputs.length !== RVOLE_ELL) throw abort(`rvole: Alice needs exactly ${RVOLE_ELL} inputs`);
  for (const a of inputs) if (typeof a !== 'bigint' || !Fn.isValid(a)) throw abort('rvole: Alice input is not a scalar');
  assertSenderOutput(ot);
  const { alpha0, alpha1 } = ot;
  const g = gadgetVector(mulSid);

  // Sums are reduced once at the end (lazy reduction): inputs are all < q, so every
  // intermediate stays a few hundred bits and one final `% q` gives the field result.
  const shares = Array.from({ length: RVOLE_ELL }, (_, i) => {
    let acc = 0n;
    for (let j = 0; j < RVOLE_XI; j++) acc += g[j]! * alpha0[j]![i]!;
    return Fn.neg(acc % q);
  });

  const eta = Array.from({ length: RVOLE_RHO }, () => randomScalar(rng));
  // x0 − x1 + a as x0 + (q − x1) + a: non-negative, below 3q, one reduction.
  const aTilde = alpha0.map((row0, j) =>
    row0.map((x0, col) => (x0 + (q - alpha1[j]![col]!) + (col < RVOLE_ELL ? inputs[col]! : eta[col - RVOLE_ELL]!)) % q),
  );
  const aTildeBytes = encodeATilde(aTilde);
  const theta = thetaMatrix(mulSid, aTildeBytes);

  const etaPrime = eta.map((e, k) => {
    let acc = e;
    for (let i = 0; i < RVOLE_ELL; i++) acc += theta[k]![i]! * inputs[i]!;
    return acc % q;
  });

  const checkValues: bigint[] = [];
  for (let j = 0; j < RVOLE_XI; j++) {
    for (let k = 0; k < RVOLE_RHO; k++) {
      let v = alpha0[j]![RVOLE_ELL + k]!;
      for (let i = 0; i < RVOLE_ELL; i++) v += theta[k]![i]! * alpha0[j]![i]!;
      checkValues.push(v % q);
    }
  }
  return { message: { aTilde, etaPrime, mu: muHash(mulSid, checkValues), aTildeBytes }, shares };
}

// ---- Bob, round 2 ----

/** Shape and range of a typed message from Alice: a malformed one aborts naming her. */
function assertMessage(m: RvoleMessage, alice: PartyId): void {
  const bad = (what: string) => abort(`rvole message: ${what}`, alice);
  if (!Array.isArray(m.aTilde) || m.aTilde.length !== RVOLE_XI) throw bad(`ã must have ${RVOLE_XI} rows`);
  for (const row of m.aTilde) {
    if (!Array.isArray(row) || row.length !== RVOLE_WIDTH) throw bad(`ã rows must have ${RVOLE_WIDTH} scalars`);
    for (const x of row) if (typeof x !== 'bigint' || !Fn.isValid(x)) throw bad('ã entry not below the group order');
  }
  if (!Array.isArray(m.etaPrime) || m.etaPrime.length !== RVOLE_RHO) throw bad(`η' must have ${RVOLE_RHO} scalars`);
  for (const x of m.etaPrime) if (typeof x !== 'bigint' || !Fn.isValid(x)) throw bad("η' entry not below the group order");
  if (!(m.mu instanceof Uint8Array) || m.mu.length !== RVOLE_MU_BYTES) throw bad(`μ must be ${RVOLE_MU_BYTES} bytes`);
}

/**
 * Bob's final step: checks μ (failure ⇒ `ban(…, alice)`) and returns d_1..d_ℓ (secret) with
 * c_i + d_i = a_i·χ. `gadget` may be passed from round 1 to save recomputing it.
 */
export function bobFinish(
  mulSid: Uint8Array,
  ot: OtReceiverOutput,
  message: RvoleMessage,
  alice: PartyId,
  gadget: readonly bigint[] = gadgetVector(mulSid),
): bigint[] {
  assertMulSid(mulSid);
  assertReceiverOutput(ot);
  if (gadget.length !== RVOLE_XI) throw abort('rvole: gadget vector length');
  assertMessage(message, alice);
  const { beta, omega } = ot;
  const { aTilde, etaPrime } = message;

  const theta = thetaMatrix(mulSid, message.aTildeBytes ?? encodeATilde(aTilde));
  // d̄ stays unreduced (< 2q); the check values and d are reduced once each.
  const dBar = omega.map((row, j) => {
    const b = BigInt(beta[j]!);
    return row.map((w, col) => w + b * aTilde[j]![col]!);
  });

  const checkValues: bigint[] = [];
  for (let j = 0; j < RVOLE_XI; j++) {
    const b = BigInt(beta[j]!);
    for (let k = 0; k < RVOLE_RHO; k++) {
      let v = dBar[j]![RVOLE_ELL + k]! + (q - b * etaPrime[k]!);
      for (let i = 0; i < RVOLE_ELL; i++) v += theta[k]![i]! * dBar[j]![i]!;
      checkValues.push(v % q);
    }
  }
  if (!ctEqual(muHash(mulSid, checkValues), message.mu)) {
    throw ban('rvole: consistency check (μ) failed', alice);
  }

  return Array.from({ length: RVOLE_ELL }, (_, i) => {
    let acc = 0n;
    for (let j = 0; j < RVOLE_XI; j++) acc += gadget[j]! * dBar[j]![i]!;
    return acc % q;
  });
}

/**
 * Bob as a single-use state machine: `chi` is his RVOLE input, available after construction
 * (round 1); `finish` runs once, whatever its outcome.
 */
export class RvoleBob {
  readonly chi: bigint;
  private readonly gadget: bigint[];
  private done = false;

  constructor(
    private readonly mulSid: Uint8Array,
    private readonly ot: OtReceiverOutput,
  ) {
    this.gadget = gadgetVector(mulSid);
    this.chi = bobChi(mulSid, ot, this.gadget);
  }

  finish(message: RvoleMessage, alice: PartyId): bigint[] {
    if (this.done) throw abort('rvole: Bob already finished this multiplication');
    this.done = true;
    return bobFinish(this.mulSid, this.ot, message, alice, this.gadget);
  }
}

// ---- codec ----

export function encodeRvoleMessage(m: RvoleMessage): Uint8Array {
  if (m.aTilde.length !== RVOLE_XI || m.aTilde.some((r) => r.length !== RVOLE_WIDTH)) throw abort('rvole encode: bad ã shape');
  if (m.etaPrime.length !== RVOLE_RHO) throw abort("rvole encode: bad η' length");
  if (m.mu.length !== RVOLE_MU_BYTES) throw abort('rvole encode: bad μ length');
  const out = new Uint8Array(RVOLE_MESSAGE_BYTES);
  out.set(m.aTildeBytes ?? encodeATilde(m.aTilde), 0);
  let off = RVOLE_XI * RVOLE_WIDTH * 32;
  for (const e of m.etaPrime) {
    out.set(encodeScalar(e), off);
    off += 32;
  }
  out.set(m.mu, off);
  return out;
}

/** Exactly RVOLE_MESSAGE_BYTES; scalars are 32-byte big-endian and < q (never reduced). */
export function decodeRvoleMessage(bytes: Uint8Array, from?: PartyId): RvoleMessage {
  if (!(bytes instanceof Uint8Array) || bytes.length !== RVOLE_MESSAGE_BYTES) {
    throw abort(`rvole message: expected ${RVOLE_MESSAGE_BYTES} bytes`, from);
  }
  let off = 0;
  const next = (what: string) => {
    const x = decodeScalar(bytes.subarray(off, off + 32), from, what);
    off += 32;
    return x;
  };
  const aTilde = Array.from({ length: RVOLE_XI }, () => Array.from({ length: RVOLE_WIDTH }, () => next('rvole ã')));
  const etaPrime = Array.from({ length: RVOLE_RHO }, () => next("rvole η'"));
  const mu = bytes.slice(off, off + RVOLE_MU_BYTES);
  return { aTilde, etaPrime, mu, aTildeBytes: bytes.slice(0, RVOLE_XI * RVOLE_WIDTH * 32) };
}
