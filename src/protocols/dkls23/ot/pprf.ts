import type { PartyId } from '../../../core/ids.js';
import { abort } from '../errors.js';
import { TAGS, xof } from '../hash/oracle.js';
import { PARAMS } from '../params.js';
import { BASE_OT_COUNT, BASE_OT_KEY_BYTES, type BaseOtReceiverKeys, type BaseOtSenderKeys } from './base-ot.js';
import { assertSid } from '../session/ids.js';
import { bitMask, eqMask, expectBytes } from './util.js';

/**
 * All-but-one OT from base OTs: a punctured PRF on a GGM tree per block of k base OTs
 * (SoftSpokenOT, eprint 2022/192 Figs. 13–14; sl-crypto `all_but_one.rs`; design note §4.2).
 *
 * Per block j (64 blocks of k = 4 base OTs, 16 leaves of 32 bytes):
 * - Bob (base-OT sender) puts level 1 = (ρ_0, ρ_1) of OT 4j, and expands each node y of level i
 *   into children 2y, 2y+1 (PRG(osid, j, y) split in two halves). For i = 1..k−1 he sends
 *   t_{i,b} = ρ_b(OT 4j+i) ⊕ XOR_y child(2y+b). Leaf indices thus read the path MSB first.
 * - Alice (base-OT receiver, choices c_0..c_3 of the block's OTs) knows the level-1 node c_0,
 *   misses node p = 1−c_0, and at each level rebuilds child 2p+c_i from t_{i,c_i} ⊕ ρ_{c_i} ⊕
 *   the other children of that parity; she misses 2p + (1 − c_i). Her missing leaf
 *   Δ_j = Σ_i (1−c_i)·2^(k−1−i) is her secret.
 * - Proof: Bob sends t̃ = XOR_y Hp(osid, j, y, leaf_y) and s̃ = Hs(osid, j, Hp_0 ‖ .. ‖ Hp_15)
 *   (64 bytes each); Alice fills in Hp_Δ from t̃ and checks s̃. A failure aborts naming Bob.
 *
 * Alice's side never branches on or indexes by Δ_j or her choice bits: unknown nodes are
 * zeroed through masks, the rebuilt node is placed by an equality mask over all positions.
 */

export const PPRF_K = PARAMS.k;
export const PPRF_LEAVES = 1 << PPRF_K;
export const PPRF_BLOCKS = PARAMS.kappa / PARAMS.k;
export const PPRF_SEED_BYTES = BASE_OT_KEY_BYTES;
const HASH_BYTES = 64;
/** Per block: t_{i,b} for i = 1..k−1, b = 0,1 (32 B each), t̃ (64 B), s̃ (64 B): 320 B. */
export const PPRF_BLOCK_BYTES = (PPRF_K - 1) * 2 * PPRF_SEED_BYTES + 2 * HASH_BYTES;
/** 64 × 320 = 20,480 B. */
export const PPRF_MSG_BYTES = PPRF_BLOCKS * PPRF_BLOCK_BYTES;
/** Leaf seeds of one party: 64 blocks × 16 leaves × 32 B = 32,768 B; leaf (j, y) at 32·(16j + y). */
export const PPRF_LEAF_BYTES = PPRF_BLOCKS * PPRF_LEAVES * PPRF_SEED_BYTES;

const T_TILDE_OFF = (PPRF_K - 1) * 2 * PPRF_SEED_BYTES;
const S_TILDE_OFF = T_TILDE_OFF + HASH_BYTES;

/** Bob → Alice: corrections and proofs of all 64 blocks, block after block. */
export interface PprfMsg {
  readonly type: 'dkls23/pprf';
  readonly bytes: Uint8Array;
}

function expand(osid: Uint8Array, block: number, node: Uint8Array): Uint8Array {
  return xof(TAGS.pprfPrg, 2 * PPRF_SEED_BYTES, osid, block, node);
}

function leafHash(osid: Uint8Array, block: number, y: number, leaf: Uint8Array): Uint8Array {
  return xof(TAGS.pprfLeafHash, HASH_BYTES, osid, block, y, leaf);
}

function proofHash(osid: Uint8Array, block: number, leafHashes: Uint8Array): Uint8Array {
  return xof(TAGS.pprfProof, HASH_BYTES, osid, block, leafHashes);
}

function xorInto(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i]! ^= src[sOff + i]!;
}

/**
 * Bob: builds the 64 trees from his base-OT keys → the message to Alice and all his leaves
 * (the future OTE-receiver seed).
 */
export function pprfBuild(osid: Uint8Array, keys: BaseOtSenderKeys): { msg: PprfMsg; leaves: Uint8Array } {
  assertSid(osid, 'osid');
  expectBytes(keys?.rho0, BASE_OT_COUNT * BASE_OT_KEY_BYTES, 'base OT keys ρ_0');
  expectBytes(keys?.rho1, BASE_OT_COUNT * BASE_OT_KEY_BYTES, 'base OT keys ρ_1');
  const S = PPRF_SEED_BYTES;
  const out = new Uint8Array(PPRF_MSG_BYTES);
  const leaves = new Uint8Array(PPRF_LEAF_BYTES);
  let nodes = new Uint8Array(PPRF_LEAVES * S);
  let next = new Uint8Array(PPRF_LEAVES * S);
  for (let j = 0; j < PPRF_BLOCKS; j++) {
    const blk = out.subarray(j * PPRF_BLOCK_BYTES, (j + 1) * PPRF_BLOCK_BYTES);
    const ot0 = j * PPRF_K * S;
    nodes.set(keys.rho0.subarray(ot0, ot0 + S), 0);
    nodes.set(keys.rho1.subarray(ot0, ot0 + S), S);
    for (let i = 1; i < PPRF_K; i++) {
      const size = 1 << i;
      for (let y = 0; y < size; y++) next.set(expand(osid, j, nodes.subarray(y * S, (y + 1) * S)), 2 * y * S);
      const oti = (j * PPRF_K + i) * S;
      const t0 = (i - 1) * 2 * S;
      blk.set(keys.rho0.subarray(oti, oti + S), t0);
      blk.set(keys.rho1.subarray(oti, oti + S), t0 + S);
      for (let y = 0; y < size; y++) {
        xorInto(blk, t0, next, 2 * y * S, S);
        xorInto(blk, t0 + S, next, (2 * y + 1) * S, S);
      }
      [nodes, next] = [next, nodes];
    }
    leaves.set(nodes, j * PPRF_LEAVES * S);
    const hashes = new Uint8Array(PPRF_LEAVES * HASH_BYTES);
    for (let y = 0; y < PPRF_LEAVES; y++) {
      const h = leafHash(osid, j, y, nodes.subarray(y * S, (y + 1) * S));
      hashes.set(h, y * HASH_BYTES);
      xorInto(blk, T_TILDE_OFF, h, 0, HASH_BYTES);
    }
    blk.set(proofHash(osid, j, hashes), S_TILDE_OFF);
  }
  nodes.fill(0);
  next.fill(0);
  return { msg: { type: 'dkls23/pprf', bytes: out }, leaves };
}

/**
 * Alice: rebuilds every leaf but her punctured one from her base-OT keys and Bob's message,
 * and checks Bob's proof. Returns Δ (64 nibbles, Δ_j = her punctured leaf of block j) and the
 * leaves with leaf (j, Δ_j) zeroed. Throws abort(sender) if the proof fails.
 */
export function pprfEval(
  osid: Uint8Array,
  keys: BaseOtReceiverKeys,
  msg: PprfMsg,
  sender: PartyId,
): { delta: Uint8Array; leaves: Uint8Array } {
  assertSid(osid, 'osid');
  expectBytes(keys?.choice, BASE_OT_COUNT, 'base OT choice bits');
  expectBytes(keys?.rho, BASE_OT_COUNT * BASE_OT_KEY_BYTES, 'base OT keys');
  expectBytes(msg?.bytes, PPRF_MSG_BYTES, 'PPRF message', sender);
  const S = PPRF_SEED_BYTES;
  const delta = new Uint8Array(PPRF_BLOCKS);
  const leaves = new Uint8Array(PPRF_LEAF_BYTES);
  let nodes = new Uint8Array(PPRF_LEAVES * S);
  let next = new Uint8Array(PPRF_LEAVES * S);
  const acc = new Uint8Array(S);
  const hashes = new Uint8Array(PPRF_LEAVES * HASH_BYTES);
  const missing = new Uint8Array(HASH_BYTES);
  let failed = 0;
  for (let j = 0; j < PPRF_BLOCKS; j++) {
    const blk = msg.bytes.subarray(j * PPRF_BLOCK_BYTES, (j + 1) * PPRF_BLOCK_BYTES);
    // Level 1: node c_0 = ρ_{c_0}, node 1−c_0 unknown (zero).
    const c0 = keys.choice[j * PPRF_K]! & 1;
    const m0 = bitMask(c0);
    const k0 = j * PPRF_K * S;
    for (let b = 0; b < S; b++) {
      const v = keys.rho[k0 + b]!;
      nodes[b] = v & ~m0;
      nodes[S + b] = v & m0;
    }
    let p = 1 - c0; // secret; only used in arithmetic and masks
    for (let i = 1; i < PPRF_K; i++) {
      const size = 1 << i;
      for (let y = 0; y < size; y++) {
        const keep = ~eqMask(y, p) & 0xff;
        const ch = expand(osid, j, nodes.subarray(y * S, (y + 1) * S));
        for (let b = 0; b < 2 * S; b++) next[2 * y * S + b] = ch[b]! & keep;
      }
      const ci = keys.choice[j * PPRF_K + i]! & 1;
      const mc = bitMask(ci);
      const ki = (j * PPRF_K + i) * S;
      const t0 = (i - 1) * 2 * S;
      // acc = t_{i,c_i} ⊕ ρ_{c_i} ⊕ XOR_{y≠p} child(2y + c_i)   (child(2p + c_i) is zero here)
      for (let b = 0; b < S; b++) acc[b] = ((blk[t0 + b]! & ~mc) | (blk[t0 + S + b]! & mc)) ^ keys.rho[ki + b]!;
      for (let y = 0; y < size; y++) {
        const l = 2 * y * S;
        for (let b = 0; b < S; b++) acc[b]! ^= (next[l + b]! & ~mc) | (next[l + S + b]! & mc);
      }
      const target = 2 * p + ci;
      for (let z = 0; z < 2 * size; z++) {
        const em = eqMask(z, target);
        for (let b = 0; b < S; b++) next[z * S + b]! ^= acc[b]! & em;
      }
      p = 2 * p + 1 - ci;
      [nodes, next] = [next, nodes];
    }
    // Proof: Hp of every known leaf; Hp_Δ = t̃ ⊕ XOR_{y≠Δ} Hp_y; then s̃ must match.
    missing.set(blk.subarray(T_TILDE_OFF, T_TILDE_OFF + HASH_BYTES));
    for (let y = 0; y < PPRF_LEAVES; y++) {
      const keep = ~eqMask(y, p) & 0xff;
      const h = leafHash(osid, j, y, nodes.subarray(y * S, (y + 1) * S));
      for (let b = 0; b < HASH_BYTES; b++) {
        const v = h[b]! & keep;
        hashes[y * HASH_BYTES + b] = v;
        missing[b]! ^= v;
      }
    }
    for (let y = 0; y < PPRF_LEAVES; y++) {
      const em = eqMask(y, p);
      for (let b = 0; b < HASH_BYTES; b++) hashes[y * HASH_BYTES + b]! ^= missing[b]! & em;
    }
    const s = proofHash(osid, j, hashes);
    for (let b = 0; b < HASH_BYTES; b++) failed |= s[b]! ^ blk[S_TILDE_OFF + b]!;
    delta[j] = p;
    leaves.set(nodes, j * PPRF_LEAVES * S);
  }
  nodes.fill(0);
  next.fill(0);
  acc.fill(0);
  hashes.fill(0);
  if (failed !== 0) {
    leaves.fill(0);
    delta.fill(0);
    throw abort('PPRF proof does not verify', sender);
  }
  return { delta, leaves };
}

export function encodePprfMsg(msg: PprfMsg): Uint8Array {
  expectBytes(msg?.bytes, PPRF_MSG_BYTES, 'PPRF message');
  return Uint8Array.from(msg.bytes);
}

export function decodePprfMsg(bytes: Uint8Array, from: PartyId): PprfMsg {
  expectBytes(bytes, PPRF_MSG_BYTES, 'PPRF message', from);
  return { type: 'dkls23/pprf', bytes: Uint8Array.from(bytes) };
}
