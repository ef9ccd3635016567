import { decodePointBytes, decompress, mulBaseBytes, sharedX } from '../math/native.js';
import type { PartyId } from '../../../core/ids.js';
import { cryptoRng, type Rng } from '../../../core/rng.js';
import { abort } from '../errors.js';
import { TAGS, hash, hashToCurve } from '../hash/oracle.js';
import { Point, encodePoint, randomSecretKeyBytes } from '../math/group.js';
import { PARAMS } from '../params.js';
import { assertSid } from '../session/ids.js';
import { expectBytes, maskSelectInto } from './util.js';

/**
 * Endemic base OT (Masny–Rindal, eprint 2019/706 Fig. 8), as sl-crypto `endemic_ot.rs` runs it
 * on secp256k1, batched over κ = 256 OTs under one session id `osid` (design note §4.1).
 *
 * Per OT ι, receiver with choice c:
 *   1. Receiver: random point Q_{1−c}, secret a; Q_c = a·G − H_c(osid, ι, Q_{1−c}); sends (Q_0, Q_1).
 *   2. Sender:   M_b = Q_b + H_b(osid, ι, Q_{1−b}) (M_b ≠ O); secret b_b; sends B_b = b_b·G;
 *                keys ρ_{ι,b} = H_key(osid, ι, b, x(b_b·M_b)).
 *   3. Receiver: ρ_{ι,c} = H_key(osid, ι, c, x(a·B_c))   (M_c = a·G, so a·B_c = b_c·M_c).
 * H_0, H_1 are RFC 9380 hash-to-curve with two distinct tags (nobody knows a discrete log of
 * their outputs); H_key is SHA-256 over the length-prefixed encoding of hash/oracle.ts.
 *
 * Implementation choice (measured): the scalar multiplications a·G, B_b = b_b·G, b_b·M_b and
 * a·B_c run in libsecp256k1 (math/native.ts; ≈ 0.3 ms variable-base, 0.13 ms fixed-base,
 * against ≈ 1.5 / 0.6 ms in OpenSSL's generic ECDH and ≈ 4.5 / 0.9 ms in noble). Keys use
 * only the x-coordinate of the shared point, which is all they need: a·B_c and b_c·M_c are
 * the same point. Points are decoded with OpenSSL's square root and noble's checks
 * (native.ts decodePointBytes); addition and hash-to-curve use @noble/curves; the secret
 * scalars are byte arrays, wiped after use.
 *
 * Messages are fixed-size byte strings; the length is checked when they are decoded and the
 * points (33-byte compressed, on curve, ≠ O) when they are used, with the peer named on failure.
 */

export const BASE_OT_COUNT = PARAMS.kappa;
export const BASE_OT_KEY_BYTES = 32;
const PT = 33;
/** (Q_{ι,0}, Q_{ι,1}) for ι = 0..255, 33 bytes each: 16,896 B. */
export const BASE_OT_MSG1_BYTES = BASE_OT_COUNT * 2 * PT;
/** (B_{ι,0}, B_{ι,1}) for ι = 0..255, 33 bytes each: 16,896 B. */
export const BASE_OT_MSG2_BYTES = BASE_OT_COUNT * 2 * PT;

/** Receiver → sender. */
export interface BaseOtMsg1 {
  readonly type: 'dkls23/base-ot/1';
  /** Q_{ι,0} ‖ Q_{ι,1} for ι = 0..κ−1. */
  readonly points: Uint8Array;
}

/** Sender → receiver. */
export interface BaseOtMsg2 {
  readonly type: 'dkls23/base-ot/2';
  /** B_{ι,0} ‖ B_{ι,1} for ι = 0..κ−1. */
  readonly points: Uint8Array;
}

/** Sender output: both keys of every OT. Secret. */
export interface BaseOtSenderKeys {
  /** ρ_{ι,0} at [32ι, 32ι+32). */
  readonly rho0: Uint8Array;
  /** ρ_{ι,1} at [32ι, 32ι+32). */
  readonly rho1: Uint8Array;
}

/** Receiver output: its choice bits and the chosen keys. Secret. */
export interface BaseOtReceiverKeys {
  /** κ choice bits, one per byte (0 or 1). */
  readonly choice: Uint8Array;
  /** ρ_{ι,c_ι} at [32ι, 32ι+32). */
  readonly rho: Uint8Array;
}

/**
 * Receiver state between its two steps. In memory only and single-use: the secrets a_ι are
 * wiped and the state consumed by baseOtReceiverFinish.
 */
export interface BaseOtReceiverState {
  readonly osid: Uint8Array;
  readonly choice: Uint8Array;
  scalars: Uint8Array[] | undefined;
}

/**
 * The receiver picks H_c by its secret c (a two-entry table of tag strings). Both tags have the
 * same length and RFC 9380 hashing runs the same steps for either, so unlike sl-crypto's
 * try-and-increment oracle (which evaluates a dummy H_{1−c} to hide its loop count) no dummy
 * evaluation is made; BigInt timing is not constant anyway (design note §6).
 */
const H_TAGS = [TAGS.baseOtH0, TAGS.baseOtH1] as const;

/**
 * A uniformly random point ≠ O (every such point has exactly one compressed encoding), as its
 * 33-byte encoding: random (x, parity) until it decodes. Under Node, OpenSSL decompresses
 * (≈ 45 µs instead of noble's ≈ 100 µs square root; a browser bundle uses noble) and noble
 * then validates the uncompressed point (on curve, coordinates < p), so the peer's
 * decodePointBytes accepts it. About two tries; the number of tries is independent of every secret.
 */
function randomPointBytes(rng: Rng): Uint8Array {
  for (;;) {
    const b = rng(PT);
    b[0] = 0x02 | (b[0]! & 1);
    const full = decompress(b); // undefined: x ≥ p or x³ + 7 not a square
    if (!full || Point.fromBytes(full).is0()) continue;
    return b;
  }
}

/** A uniformly random non-zero scalar below q, as bytes the caller wipes. */
function randomScalarBytes(rng: Rng): Uint8Array {
  return randomSecretKeyBytes(rng);
}

function baseOtKey(osid: Uint8Array, iota: number, bit: number, sharedX: Uint8Array): Uint8Array {
  return hash(TAGS.baseOtKey, osid, iota, bit, sharedX);
}

function checkChoice(choice: Uint8Array): void {
  if (!(choice instanceof Uint8Array) || choice.length !== BASE_OT_COUNT) {
    throw abort(`base OT: expected ${BASE_OT_COUNT} choice bits`);
  }
  let bad = 0;
  for (let i = 0; i < choice.length; i++) bad |= choice[i]! & 0xfe;
  if (bad !== 0) throw abort('base OT: choice bits must be 0 or 1');
}

/**
 * Receiver step 1: κ choice bits (one per byte) → message 1 and the state for step 2.
 * The placement of Q_c and Q_{1−c} in the message is mask-selected, not indexed by c.
 */
export function baseOtReceiverStart(
  osid: Uint8Array,
  choice: Uint8Array,
  rng: Rng = cryptoRng,
): { state: BaseOtReceiverState; msg: BaseOtMsg1 } {
  assertSid(osid, 'osid');
  checkChoice(choice);
  const points = new Uint8Array(BASE_OT_MSG1_BYTES);
  const scalars: Uint8Array[] = [];
  for (let iota = 0; iota < BASE_OT_COUNT; iota++) {
    const c = choice[iota]!;
    const other = randomPointBytes(rng); // Q_{1−c}
    const h = hashToCurve(H_TAGS[c]!, osid, iota, other); // H_c(osid, ι, Q_{1−c})
    const a = randomScalarBytes(rng);
    const aG = mulBaseBytes(a);
    const mine = encodePoint(aG.subtract(h)); // Q_c; = O only with probability ~2^-256
    const o = iota * 2 * PT;
    // slot 0 = c ? other : mine; slot 1 = c ? mine : other.
    maskSelectInto(points, o, mine, other, c);
    maskSelectInto(points, o + PT, other, mine, c);
    scalars.push(a);
  }
  return {
    state: { osid: Uint8Array.from(osid), choice: Uint8Array.from(choice), scalars },
    msg: { type: 'dkls23/base-ot/1', points },
  };
}

/**
 * Sender step: message 1 from `receiver` → message 2 and both keys of every OT.
 * Throws abort(receiver) on a malformed message (length, encoding, off-curve point) or a
 * degenerate one (M_b = O, which would make ρ_{ι,b} known to anyone).
 */
export function baseOtSend(
  osid: Uint8Array,
  msg1: BaseOtMsg1,
  receiver: PartyId,
  rng: Rng = cryptoRng,
): { msg: BaseOtMsg2; keys: BaseOtSenderKeys } {
  assertSid(osid, 'osid');
  expectBytes(msg1?.points, BASE_OT_MSG1_BYTES, 'base OT message 1', receiver);
  const out = new Uint8Array(BASE_OT_MSG2_BYTES);
  const rho0 = new Uint8Array(BASE_OT_COUNT * BASE_OT_KEY_BYTES);
  const rho1 = new Uint8Array(BASE_OT_COUNT * BASE_OT_KEY_BYTES);
  for (let iota = 0; iota < BASE_OT_COUNT; iota++) {
    const o = iota * 2 * PT;
    const q0b = msg1.points.subarray(o, o + PT);
    const q1b = msg1.points.subarray(o + PT, o + 2 * PT);
    const q0 = decodePointBytes(q0b, receiver, `base OT ${iota}: Q_0`);
    const q1 = decodePointBytes(q1b, receiver, `base OT ${iota}: Q_1`);
    const m = [q0.add(hashToCurve(TAGS.baseOtH0, osid, iota, q1b)), q1.add(hashToCurve(TAGS.baseOtH1, osid, iota, q0b))];
    for (let b = 0; b < 2; b++) {
      const mb = m[b]!;
      if (mb.is0()) throw abort(`base OT ${iota}: degenerate receiver points (M_${b} = O)`, receiver);
      const sk = randomScalarBytes(rng);
      out.set(encodePoint(mulBaseBytes(sk)), o + b * PT);
      const shared = sharedX(mb.toBytes(false), sk);
      (b === 0 ? rho0 : rho1).set(baseOtKey(osid, iota, b, shared), iota * BASE_OT_KEY_BYTES);
      shared.fill(0);
      sk.fill(0);
    }
  }
  return { msg: { type: 'dkls23/base-ot/2', points: out }, keys: { rho0, rho1 } };
}

/**
 * Receiver step 2: message 2 from `sender` → the chosen keys. Both B_{ι,0} and B_{ι,1} are
 * decoded and checked; B_{ι,c} is mask-selected. Consumes the state.
 */
export function baseOtReceiverFinish(state: BaseOtReceiverState, msg2: BaseOtMsg2, sender: PartyId): BaseOtReceiverKeys {
  const scalars = state.scalars;
  if (!scalars || scalars.length !== BASE_OT_COUNT) throw abort('base OT: receiver state already used');
  expectBytes(msg2?.points, BASE_OT_MSG2_BYTES, 'base OT message 2', sender);
  state.scalars = undefined;
  const rho = new Uint8Array(BASE_OT_COUNT * BASE_OT_KEY_BYTES);
  const chosen = new Uint8Array(PT);
  for (let iota = 0; iota < BASE_OT_COUNT; iota++) {
    const o = iota * 2 * PT;
    const b0 = msg2.points.subarray(o, o + PT);
    const b1 = msg2.points.subarray(o + PT, o + 2 * PT);
    decodePointBytes(b0, sender, `base OT ${iota}: B_0`);
    decodePointBytes(b1, sender, `base OT ${iota}: B_1`);
    const c = state.choice[iota]!;
    maskSelectInto(chosen, 0, b0, b1, c);
    let shared: Uint8Array;
    try {
      shared = sharedX(chosen, scalars[iota]!);
    } catch {
      throw abort(`base OT ${iota}: sender point rejected`, sender);
    }
    rho.set(baseOtKey(state.osid, iota, c, shared), iota * BASE_OT_KEY_BYTES);
    shared.fill(0);
    scalars[iota]!.fill(0);
  }
  chosen.fill(0);
  const choice = Uint8Array.from(state.choice);
  state.choice.fill(0);
  return { choice, rho };
}

export function encodeBaseOtMsg1(msg: BaseOtMsg1): Uint8Array {
  expectBytes(msg?.points, BASE_OT_MSG1_BYTES, 'base OT message 1');
  return Uint8Array.from(msg.points);
}

export function decodeBaseOtMsg1(bytes: Uint8Array, from: PartyId): BaseOtMsg1 {
  expectBytes(bytes, BASE_OT_MSG1_BYTES, 'base OT message 1', from);
  return { type: 'dkls23/base-ot/1', points: Uint8Array.from(bytes) };
}

export function encodeBaseOtMsg2(msg: BaseOtMsg2): Uint8Array {
  expectBytes(msg?.points, BASE_OT_MSG2_BYTES, 'base OT message 2');
  return Uint8Array.from(msg.points);
}

export function decodeBaseOtMsg2(bytes: Uint8Array, from: PartyId): BaseOtMsg2 {
  expectBytes(bytes, BASE_OT_MSG2_BYTES, 'base OT message 2', from);
  return { type: 'dkls23/base-ot/2', points: Uint8Array.from(bytes) };
}
