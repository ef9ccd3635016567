import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort, ban } from '../errors.js';
import { TAGS, xof } from '../hash/oracle.js';
import { transposeBits, unpackBits } from '../math/bitmatrix.js';
import { GF128_BYTES, Gf128Dot } from '../math/gf128.js';
import { reduceWide } from '../math/group.js';
import { PARAMS } from '../params.js';
import { PPRF_BLOCKS, PPRF_K, PPRF_LEAVES, PPRF_SEED_BYTES } from './pprf.js';
import { checkOteReceiverSeed, checkOteSenderSeed, type OteReceiverSeed, type OteSenderSeed } from './setup.js';
import type { OtReceiverOutput, OtSenderOutput } from './types.js';
import { assertSid, SID_BYTES } from '../session/ids.js';
import { ctEqual, expectBytes } from './util.js';
import { XofScratch } from './xof-scratch.js';

/**
 * SoftSpokenOT extension (k = 4) with the KOS-style Fiat–Shamir consistency check, one run
 * per multiplication under its session id mulSid (design note §4.3; sl-crypto
 * `soft_spoken_ot.rs`; SoftSpokenOT eprint 2022/192, KOS eprint 2015/546 Fig. 10, DKLs23 §5.1).
 *
 * Sizes: κ = 256 rows (one per base OT, row 4b+m = bit m of block b), 640 columns = ξ = 512
 * OTs + 128 check columns; rows are packed 80-byte bit vectors (bitmatrix.ts order).
 *
 * Bob (OTE receiver, seed = all leaves s_{b,y}):
 *   x' = β ‖ 128 random bits;  r_{b,y} = PRG(mulSid, b, y, s_{b,y}) ∈ {0,1}^640;
 *   u_b = x' ⊕ XOR_y r_{b,y};  V_{4b+m} = XOR_{y: bit m of y = 1} r_{b,y}.
 *   γ_0..γ_3 = XOF(mulSid, u) (4 × 16 bytes, GF(2^128) elements);
 *   x̂ = Σ_m γ_m·x'_m ⊕ x'_4 and t̂_i = Σ_m γ_m·V_{i,m} ⊕ V_{i,4} (128-bit chunks m = 0..4).
 *   Sends (mulSid, u, x̂, t̂); outputs ω_j = Hx(mulSid, j, column j of V), j < ξ.
 * Alice (OTE sender, seed = Δ_b and all leaves but s_{b,Δ_b}):
 *   W_{4b+m} = XOR_y bit_m(Δ_b ⊕ y)·r_{b,y} ⊕ bit_m(Δ_b)·u_b  (= V_{4b+m} ⊕ Δ_{4b+m}·x');
 *   the unknown r_{b,Δ_b} always has coefficient bit_m(0) = 0, so all 16 PRG outputs are
 *   computed and mask-combined with no branch or index on Δ.
 *   Check Σ_m γ_m·W_{i,m} ⊕ W_{i,4} = t̂_i ⊕ Δ_i·x̂ for all 256 rows (accumulated, one decision);
 *   any mismatch ⇒ ban(Bob). Outputs α⁰_j = Hx(mulSid, j, col_j(W)), α¹_j = Hx(mulSid, j, col_j(W) ⊕ Δ).
 * Since col_j(W) = col_j(V) ⊕ β_j·Δ: ω_j = α^{β_j}_j. Hx yields ℓ+ρ = 3 scalars, each 48 XOF
 * bytes reduced mod q.
 *
 * The message carries mulSid, and Alice compares it with hers BEFORE the check: an honest Bob
 * in a different session gets a plain abort, never a ban (TOB-SILA-8). A Bob who announces the
 * right mulSid but computed with another one fails the check and is banned.
 */

export const OTE_ROWS = PARAMS.kappa;
export const OTE_XI = PARAMS.xi;
export const OTE_COLS = PARAMS.xi + PARAMS.checkColumns;
export const OTE_ROW_BYTES = OTE_COLS / 8;
export const OTE_WIDTH = PARAMS.ell + PARAMS.rho;
const CHALLENGES = PARAMS.xi / 128;
const CHECK_OFF = CHALLENGES * GF128_BYTES; // byte offset of the 128 check columns in a row
/** u: 64 blocks × 80 B = 5,120 B. */
export const OTE_U_BYTES = PPRF_BLOCKS * OTE_ROW_BYTES;
/** t̂: 256 rows × 16 B = 4,096 B. */
export const OTE_THAT_BYTES = OTE_ROWS * GF128_BYTES;
/** mulSid ‖ u ‖ x̂ ‖ t̂ = 32 + 5,120 + 16 + 4,096 = 9,264 B. */
export const OTE_MSG_BYTES = SID_BYTES + OTE_U_BYTES + GF128_BYTES + OTE_THAT_BYTES;
const SCALAR_XOF_BYTES = 48;

/** Bob → Alice, one per multiplication. */
export interface OteExtensionMsg {
  readonly type: 'dkls23/ote';
  readonly mulSid: Uint8Array;
  /** u_b for b = 0..63, 80 B each. */
  readonly u: Uint8Array;
  readonly xHat: Uint8Array;
  /** t̂_i for i = 0..255, 16 B each. */
  readonly tHat: Uint8Array;
}

if (PARAMS.k !== PPRF_K || OTE_ROWS !== PPRF_BLOCKS * PPRF_K || PARAMS.xi % 128 !== 0 || PARAMS.checkColumns !== 128) {
  throw new Error('softspoken: parameter record does not match this implementation');
}

/** r_{b,y} = PRG(mulSid, b, y, s_{b,y}) = xof(oteExpand, 80, mulSid, b, y, s_{b,y}) for y = 0..15 into r. */
function expandBlock(prg: XofScratch, r: Uint8Array, leaves: Uint8Array, block: number): void {
  for (let y = 0; y < PPRF_LEAVES; y++) {
    const o = (block * PPRF_LEAVES + y) * PPRF_SEED_BYTES;
    const out = prg.reset().num(block).num(y).bytes(leaves.subarray(o, o + PPRF_SEED_BYTES)).digest(OTE_ROW_BYTES);
    r.set(out, y * OTE_ROW_BYTES);
    out.fill(0);
  }
}

function challenges(mulSid: Uint8Array, u: Uint8Array): Gf128Dot {
  const g = xof(TAGS.oteChallenge, CHALLENGES * GF128_BYTES, mulSid, u);
  return new Gf128Dot(Array.from({ length: CHALLENGES }, (_, m) => g.subarray(m * GF128_BYTES, (m + 1) * GF128_BYTES)));
}

/** Σ_m γ_m·row_m ⊕ row_4 into out[outOff ..). */
function checkValue(dot: Gf128Dot, src: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
  dot.dotInto(src, off, out, outOff);
  for (let k = 0; k < GF128_BYTES; k++) out[outOff + k]! ^= src[off + CHECK_OFF + k]!;
}

/** Hx(mulSid, j, column) = xof(oteOutput, 144, mulSid, j, column) → ℓ+ρ scalars (48 bytes each, mod q). */
function outputScalars(hx: XofScratch, j: number, column: Uint8Array): bigint[] {
  const h = hx.reset().num(j).bytes(column).digest(OTE_WIDTH * SCALAR_XOF_BYTES);
  const out: bigint[] = [];
  for (let k = 0; k < OTE_WIDTH; k++) {
    out.push(reduceWide(h, k * SCALAR_XOF_BYTES));
  }
  h.fill(0);
  return out;
}

const W32 = OTE_ROW_BYTES / 4; // words per row

/**
 * Bob, as OT-extension receiver: fresh random β ∈ {0,1}^ξ → the extension message for Alice
 * and his outputs (β one bit per byte, ω_j for j < ξ).
 */
export function oteReceive(seed: OteReceiverSeed, mulSid: Uint8Array, rng: Rng = cryptoRng): { msg: OteExtensionMsg; output: OtReceiverOutput } {
  assertSid(mulSid, 'mulSid');
  checkOteReceiverSeed(seed);
  const xp = rng(OTE_ROW_BYTES); // β (first ξ bits) ‖ 128 check bits
  const xp32 = new Uint32Array(xp.buffer, xp.byteOffset, W32);
  const V = new Uint8Array(OTE_ROWS * OTE_ROW_BYTES);
  const V32 = new Uint32Array(V.buffer);
  const u = new Uint8Array(OTE_U_BYTES);
  const u32 = new Uint32Array(u.buffer);
  const r = new Uint8Array(PPRF_LEAVES * OTE_ROW_BYTES);
  const r32 = new Uint32Array(r.buffer);
  const prg = new XofScratch(TAGS.oteExpand, [mulSid]);
  for (let b = 0; b < PPRF_BLOCKS; b++) {
    expandBlock(prg, r, seed.leaves, b);
    const ub = b * W32;
    for (let w = 0; w < W32; w++) u32[ub + w] = xp32[w]!;
    for (let y = 0; y < PPRF_LEAVES; y++) {
      const ry = y * W32;
      for (let w = 0; w < W32; w++) u32[ub + w]! ^= r32[ry + w]!;
      // y and m are public loop indices: Bob knows every leaf, nothing to hide here.
      for (let m = 0; m < PPRF_K; m++) {
        if (((y >> m) & 1) === 0) continue;
        const vr = (b * PPRF_K + m) * W32;
        for (let w = 0; w < W32; w++) V32[vr + w]! ^= r32[ry + w]!;
      }
    }
  }
  const dot = challenges(mulSid, u);
  const xHat = new Uint8Array(GF128_BYTES);
  checkValue(dot, xp, 0, xHat, 0);
  const tHat = new Uint8Array(OTE_THAT_BYTES);
  for (let i = 0; i < OTE_ROWS; i++) checkValue(dot, V, i * OTE_ROW_BYTES, tHat, i * GF128_BYTES);

  const psi = transposeBits(V, OTE_ROWS, OTE_XI, OTE_ROW_BYTES); // ξ rows of 32 B
  const colBytes = OTE_ROWS / 8;
  const hx = new XofScratch(TAGS.oteOutput, [mulSid]);
  const omega: bigint[][] = [];
  for (let j = 0; j < OTE_XI; j++) omega.push(outputScalars(hx, j, psi.subarray(j * colBytes, (j + 1) * colBytes)));
  hx.wipe();
  prg.wipe();
  const beta = unpackBits(xp, OTE_XI);
  xp.fill(0);
  V.fill(0);
  r.fill(0);
  psi.fill(0);
  return {
    msg: { type: 'dkls23/ote', mulSid: Uint8Array.from(mulSid), u, xHat, tHat },
    output: { beta, omega },
  };
}

function checkMsgShape(msg: OteExtensionMsg, from?: PartyId): void {
  expectBytes(msg?.mulSid, SID_BYTES, 'OT extension message: mulSid', from);
  expectBytes(msg?.u, OTE_U_BYTES, 'OT extension message: u', from);
  expectBytes(msg?.xHat, GF128_BYTES, 'OT extension message: x̂', from);
  expectBytes(msg?.tHat, OTE_THAT_BYTES, 'OT extension message: t̂', from);
}

/**
 * Alice, as OT-extension sender: Bob's extension message → α⁰, α¹ for j < ξ.
 * Throws abort(bob) on a malformed message or a mulSid other than ours (checked first), and
 * ban(bob) if the consistency check fails: its outcome depends on Δ, so Bob must never get
 * a second try against this seed.
 */
export function oteSend(seed: OteSenderSeed, mulSid: Uint8Array, msg: OteExtensionMsg, bob: PartyId): OtSenderOutput {
  assertSid(mulSid, 'mulSid');
  checkOteSenderSeed(seed);
  checkMsgShape(msg, bob);
  if (!ctEqual(msg.mulSid, mulSid)) throw abort('OT extension message: session id mismatch', bob);

  const u32 = new Uint32Array(Uint8Array.from(msg.u).buffer);
  const W = new Uint8Array(OTE_ROWS * OTE_ROW_BYTES);
  const W32a = new Uint32Array(W.buffer);
  const r = new Uint8Array(PPRF_LEAVES * OTE_ROW_BYTES);
  const r32 = new Uint32Array(r.buffer);
  const prg = new XofScratch(TAGS.oteExpand, [mulSid]);
  for (let b = 0; b < PPRF_BLOCKS; b++) {
    const d = seed.delta[b]! & 0xf; // secret: used in masks only
    // All 16 leaves, including the zeroed Δ_b one whose PRG output is masked out below.
    expandBlock(prg, r, seed.leaves, b);
    for (let m = 0; m < PPRF_K; m++) {
      const wr = (b * PPRF_K + m) * W32;
      for (let y = 0; y < PPRF_LEAVES; y++) {
        const mask = -(((d ^ y) >>> m) & 1);
        const ry = y * W32;
        for (let w = 0; w < W32; w++) W32a[wr + w]! ^= r32[ry + w]! & mask;
      }
      const dm = -((d >>> m) & 1);
      const ub = b * W32;
      for (let w = 0; w < W32; w++) W32a[wr + w]! ^= u32[ub + w]! & dm;
    }
  }
  r.fill(0);
  prg.wipe();

  const deltaPacked = new Uint8Array(OTE_ROWS / 8); // Δ_i = bit i, i = 4b + m
  for (let b = 0; b < PPRF_BLOCKS; b++) deltaPacked[b >> 1]! |= (seed.delta[b]! & 0xf) << (4 * (b & 1));

  const dot = challenges(mulSid, msg.u);
  const qRow = new Uint8Array(GF128_BYTES);
  let diff = 0;
  for (let i = 0; i < OTE_ROWS; i++) {
    checkValue(dot, W, i * OTE_ROW_BYTES, qRow, 0);
    const dmask = -((deltaPacked[i >> 3]! >>> (i & 7)) & 1) & 0xff;
    const t = i * GF128_BYTES;
    for (let k = 0; k < GF128_BYTES; k++) diff |= qRow[k]! ^ msg.tHat[t + k]! ^ (msg.xHat[k]! & dmask);
  }
  qRow.fill(0);
  if (diff !== 0) {
    W.fill(0);
    deltaPacked.fill(0);
    throw ban('OT extension consistency check failed', bob);
  }

  const zeta = transposeBits(W, OTE_ROWS, OTE_XI, OTE_ROW_BYTES);
  W.fill(0);
  const colBytes = OTE_ROWS / 8;
  const col1 = new Uint8Array(colBytes);
  const hx = new XofScratch(TAGS.oteOutput, [mulSid]);
  const alpha0: bigint[][] = [];
  const alpha1: bigint[][] = [];
  for (let j = 0; j < OTE_XI; j++) {
    const col0 = zeta.subarray(j * colBytes, (j + 1) * colBytes);
    for (let k = 0; k < colBytes; k++) col1[k] = col0[k]! ^ deltaPacked[k]!;
    alpha0.push(outputScalars(hx, j, col0));
    alpha1.push(outputScalars(hx, j, col1));
  }
  hx.wipe();
  zeta.fill(0);
  col1.fill(0);
  deltaPacked.fill(0);
  return { alpha0, alpha1 };
}

export function encodeOteExtensionMsg(msg: OteExtensionMsg): Uint8Array {
  checkMsgShape(msg);
  const out = new Uint8Array(OTE_MSG_BYTES);
  let o = 0;
  for (const part of [msg.mulSid, msg.u, msg.xHat, msg.tHat]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

export function decodeOteExtensionMsg(bytes: Uint8Array, from: PartyId): OteExtensionMsg {
  expectBytes(bytes, OTE_MSG_BYTES, 'OT extension message', from);
  let o = 0;
  const take = (n: number) => bytes.slice(o, (o += n));
  return {
    type: 'dkls23/ote',
    mulSid: take(SID_BYTES),
    u: take(OTE_U_BYTES),
    xHat: take(GF128_BYTES),
    tHat: take(OTE_THAT_BYTES),
  };
}
