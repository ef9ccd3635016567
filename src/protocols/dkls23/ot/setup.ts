import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort } from '../errors.js';
import { DKLS23_VERSION } from '../params.js';
import { unpackBits } from '../math/bitmatrix.js';
import {
  BASE_OT_COUNT,
  BASE_OT_MSG1_BYTES,
  BASE_OT_MSG2_BYTES,
  baseOtReceiverFinish,
  baseOtReceiverStart,
  baseOtSend,
  type BaseOtReceiverState,
} from './base-ot.js';
import { PPRF_BLOCKS, PPRF_LEAF_BYTES, PPRF_MSG_BYTES, pprfBuild, pprfEval } from './pprf.js';
import { assertSid } from '../session/ids.js';
import { expectBytes } from './util.js';

/**
 * The OT setup of one directed pair (instance i→j, design note §1, §2, §4.1–4.2), run once in
 * the DKG under its instance session id osid = H(dkgSid, sender, receiver, label):
 *
 *   Alice = P_i: future OT-extension SENDER / RVOLE sender; base-OT RECEIVER; PPRF evaluator.
 *   Bob   = P_j: future OT-extension RECEIVER / RVOLE receiver; base-OT SENDER; PPRF builder.
 *
 *   1. Alice: otSetupAliceStart(osid)           → OtSetupMsg1 (base-OT msg 1, 16,896 B)  Alice → Bob  (DKG R2, P2P)
 *   2. Bob:   otSetupBob(osid, msg1, alice)     → OtSetupMsg2 (base-OT msg 2 16,896 B + PPRF 20,480 B = 37,376 B)
 *                                                 Bob → Alice (DKG R3, P2P); Bob keeps OteReceiverSeed.
 *   3. Alice: otSetupAliceFinish(state, msg2, bob) → OteSenderSeed (or abort naming Bob).
 *
 * Alice's base-OT choice bits are uniformly random; they fix Δ: Δ_j (block j) has the bits
 * 1 − c_{4j}, .., 1 − c_{4j+3}, most significant first. Failures here abort the DKG with blame
 * (no reusable OT state exists yet), they are never bans.
 */

export const OT_SETUP_MSG1_BYTES = BASE_OT_MSG1_BYTES;
export const OT_SETUP_MSG2_BYTES = BASE_OT_MSG2_BYTES + PPRF_MSG_BYTES;

export interface OtSetupMsg1 {
  readonly type: 'dkls23/ot-setup/1';
  /** Base-OT message 1 (Q_{ι,0} ‖ Q_{ι,1})_ι. */
  readonly baseOt: Uint8Array;
}

export interface OtSetupMsg2 {
  readonly type: 'dkls23/ot-setup/2';
  /** Base-OT message 2 (B_{ι,0} ‖ B_{ι,1})_ι. */
  readonly baseOt: Uint8Array;
  /** PPRF corrections and proofs, 64 blocks. */
  readonly pprf: Uint8Array;
}

/**
 * Alice's persistent OT-extension sender state (SL `ReceiverOTSeed`): Δ as 64 nibbles and the
 * 64 × 16 leaf seeds with leaf (j, Δ_j) zeroed. Secret; store sealed.
 */
export interface OteSenderSeed {
  readonly type: 'dkls23/ote-sender-seed';
  /** Δ_j ∈ [0, 16) for j = 0..63, one per byte. */
  readonly delta: Uint8Array;
  /** Leaf (j, y) at [32·(16j + y), +32); zero at y = Δ_j. */
  readonly leaves: Uint8Array;
}

/** Bob's persistent OT-extension receiver state (SL `SenderOTSeed`): all 64 × 16 leaf seeds. Secret. */
export interface OteReceiverSeed {
  readonly type: 'dkls23/ote-receiver-seed';
  /** Leaf (j, y) at [32·(16j + y), +32). */
  readonly leaves: Uint8Array;
}

/** Alice's in-memory state between her two steps (single-use, not serializable). */
export interface OtSetupAliceState {
  readonly osid: Uint8Array;
  readonly baseOt: BaseOtReceiverState;
}

/** Step 1 (Alice): fresh random choice bits → message 1 for Bob. */
export function otSetupAliceStart(osid: Uint8Array, rng: Rng = cryptoRng): { state: OtSetupAliceState; msg: OtSetupMsg1 } {
  assertSid(osid, 'osid');
  const packed = rng(BASE_OT_COUNT / 8);
  const choice = unpackBits(packed);
  packed.fill(0);
  const { state, msg } = baseOtReceiverStart(osid, choice, rng);
  choice.fill(0);
  return { state: { osid: Uint8Array.from(osid), baseOt: state }, msg: { type: 'dkls23/ot-setup/1', baseOt: msg.points } };
}

/** Step 2 (Bob): message 1 from Alice → message 2 for her and his OT-extension receiver seed. */
export function otSetupBob(
  osid: Uint8Array,
  msg1: OtSetupMsg1,
  alice: PartyId,
  rng: Rng = cryptoRng,
): { msg: OtSetupMsg2; seed: OteReceiverSeed } {
  assertSid(osid, 'osid');
  expectBytes(msg1?.baseOt, OT_SETUP_MSG1_BYTES, 'OT setup message 1', alice);
  const base = baseOtSend(osid, { type: 'dkls23/base-ot/1', points: msg1.baseOt }, alice, rng);
  const pprf = pprfBuild(osid, base.keys);
  base.keys.rho0.fill(0);
  base.keys.rho1.fill(0);
  return {
    msg: { type: 'dkls23/ot-setup/2', baseOt: base.msg.points, pprf: pprf.msg.bytes },
    seed: { type: 'dkls23/ote-receiver-seed', leaves: pprf.leaves },
  };
}

/** Step 3 (Alice): message 2 from Bob → her OT-extension sender seed. Consumes the state. */
export function otSetupAliceFinish(state: OtSetupAliceState, msg2: OtSetupMsg2, bob: PartyId): OteSenderSeed {
  expectBytes(msg2?.baseOt, BASE_OT_MSG2_BYTES, 'OT setup message 2 (base OT)', bob);
  expectBytes(msg2?.pprf, PPRF_MSG_BYTES, 'OT setup message 2 (PPRF)', bob);
  const keys = baseOtReceiverFinish(state.baseOt, { type: 'dkls23/base-ot/2', points: msg2.baseOt }, bob);
  try {
    const { delta, leaves } = pprfEval(state.osid, keys, { type: 'dkls23/pprf', bytes: msg2.pprf }, bob);
    return { type: 'dkls23/ote-sender-seed', delta, leaves };
  } finally {
    keys.rho.fill(0);
    keys.choice.fill(0);
  }
}

// ---- message codecs (fixed sizes; the envelope adds version, sid, round, from, to) ----

export function encodeOtSetupMsg1(msg: OtSetupMsg1): Uint8Array {
  expectBytes(msg?.baseOt, OT_SETUP_MSG1_BYTES, 'OT setup message 1');
  return Uint8Array.from(msg.baseOt);
}

export function decodeOtSetupMsg1(bytes: Uint8Array, from: PartyId): OtSetupMsg1 {
  expectBytes(bytes, OT_SETUP_MSG1_BYTES, 'OT setup message 1', from);
  return { type: 'dkls23/ot-setup/1', baseOt: Uint8Array.from(bytes) };
}

export function encodeOtSetupMsg2(msg: OtSetupMsg2): Uint8Array {
  expectBytes(msg?.baseOt, BASE_OT_MSG2_BYTES, 'OT setup message 2 (base OT)');
  expectBytes(msg?.pprf, PPRF_MSG_BYTES, 'OT setup message 2 (PPRF)');
  const out = new Uint8Array(OT_SETUP_MSG2_BYTES);
  out.set(msg.baseOt, 0);
  out.set(msg.pprf, BASE_OT_MSG2_BYTES);
  return out;
}

export function decodeOtSetupMsg2(bytes: Uint8Array, from: PartyId): OtSetupMsg2 {
  expectBytes(bytes, OT_SETUP_MSG2_BYTES, 'OT setup message 2', from);
  return {
    type: 'dkls23/ot-setup/2',
    baseOt: bytes.slice(0, BASE_OT_MSG2_BYTES),
    pprf: bytes.slice(BASE_OT_MSG2_BYTES),
  };
}

// ---- persistent seeds: version ‖ kind ‖ payload (stored sealed by the keyshare layer) ----

const KIND_SENDER_SEED = 0x01;
const KIND_RECEIVER_SEED = 0x02;
/** 2 + 64 + 32,768 = 32,834 B. */
export const OTE_SENDER_SEED_BYTES = 2 + PPRF_BLOCKS + PPRF_LEAF_BYTES;
/** 2 + 32,768 = 32,770 B. */
export const OTE_RECEIVER_SEED_BYTES = 2 + PPRF_LEAF_BYTES;

/** Validates a seed's shape (lengths, Δ nibbles); throws a typed abort otherwise. */
export function checkOteSenderSeed(seed: OteSenderSeed): void {
  expectBytes(seed?.delta, PPRF_BLOCKS, 'OTE sender seed Δ');
  expectBytes(seed?.leaves, PPRF_LEAF_BYTES, 'OTE sender seed leaves');
  let bad = 0;
  for (let j = 0; j < PPRF_BLOCKS; j++) bad |= seed.delta[j]! & 0xf0;
  if (bad !== 0) throw abort('OTE sender seed: Δ nibble out of range');
}

export function checkOteReceiverSeed(seed: OteReceiverSeed): void {
  expectBytes(seed?.leaves, PPRF_LEAF_BYTES, 'OTE receiver seed leaves');
}

export function encodeOteSenderSeed(seed: OteSenderSeed): Uint8Array {
  checkOteSenderSeed(seed);
  const out = new Uint8Array(OTE_SENDER_SEED_BYTES);
  out[0] = DKLS23_VERSION;
  out[1] = KIND_SENDER_SEED;
  out.set(seed.delta, 2);
  out.set(seed.leaves, 2 + PPRF_BLOCKS);
  return out;
}

export function decodeOteSenderSeed(bytes: Uint8Array): OteSenderSeed {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) throw abort('OTE sender seed: truncated');
  if (bytes[0] !== DKLS23_VERSION) throw abort(`OTE sender seed: unsupported version ${bytes[0]}`);
  if (bytes[1] !== KIND_SENDER_SEED) throw abort('OTE sender seed: wrong record kind');
  expectBytes(bytes, OTE_SENDER_SEED_BYTES, 'OTE sender seed');
  const seed: OteSenderSeed = {
    type: 'dkls23/ote-sender-seed',
    delta: bytes.slice(2, 2 + PPRF_BLOCKS),
    leaves: bytes.slice(2 + PPRF_BLOCKS),
  };
  checkOteSenderSeed(seed);
  return seed;
}

export function encodeOteReceiverSeed(seed: OteReceiverSeed): Uint8Array {
  checkOteReceiverSeed(seed);
  const out = new Uint8Array(OTE_RECEIVER_SEED_BYTES);
  out[0] = DKLS23_VERSION;
  out[1] = KIND_RECEIVER_SEED;
  out.set(seed.leaves, 2);
  return out;
}

export function decodeOteReceiverSeed(bytes: Uint8Array): OteReceiverSeed {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) throw abort('OTE receiver seed: truncated');
  if (bytes[0] !== DKLS23_VERSION) throw abort(`OTE receiver seed: unsupported version ${bytes[0]}`);
  if (bytes[1] !== KIND_RECEIVER_SEED) throw abort('OTE receiver seed: wrong record kind');
  expectBytes(bytes, OTE_RECEIVER_SEED_BYTES, 'OTE receiver seed');
  return { type: 'dkls23/ote-receiver-seed', leaves: bytes.slice(2) };
}
