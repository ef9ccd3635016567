import { DKLS23_VERSION } from '../params.js';
import { abort } from '../errors.js';
import { hash, TAGS } from '../hash/oracle.js';

/**
 * Session identifiers (design note §4.5). Every id is a 32-byte tagged hash that binds the
 * wire version, so ids of different versions, kinds or parameters never collide; every later
 * id binds the DKG's (TOB-SILA-10), and a sign id binds epoch, signer set, derivation path
 * and a fresh coordinator nonce, so two signing sessions never share pads, zero shares or
 * gadget vectors.
 *
 * Party indices are the Shamir x-coordinates 1..n. Everything here is computed from local
 * (already validated or self-chosen) data, so a bad input is a local error: a Dkls23Error
 * without culprit.
 */

export const SID_BYTES = 32;
/** Upper bound for a party index (Shamir x-coordinate); both reference implementations use u8. */
export const MAX_PARTY_INDEX = 0xffff;
/** A signing session's coordinator nonce must carry at least this many (random) bytes. */
export const MIN_NONCE_BYTES = 16;

export function isPartyIndex(i: unknown): i is number {
  return typeof i === 'number' && Number.isSafeInteger(i) && i >= 1 && i <= MAX_PARTY_INDEX;
}

export function assertPartyIndex(i: number, what = 'party index'): void {
  if (!isPartyIndex(i)) throw abort(`${what}: expected an integer in [1, ${MAX_PARTY_INDEX}]`);
}

/** A sorted copy of a signer set; rejects an empty set, invalid indices and duplicates. */
export function sortedSignerSet(signers: readonly number[]): number[] {
  if (signers.length === 0) throw abort('signer set: empty');
  for (const i of signers) assertPartyIndex(i, 'signer set');
  const sorted = [...signers].sort((a, b) => a - b);
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k] === sorted[k - 1]) throw abort(`signer set: duplicate index ${sorted[k]}`);
  }
  return sorted;
}

/** A local argument check: a bad sid is our own caller's bug, so no culprit. */
export function assertSid(sid: Uint8Array, what: string): void {
  if (!(sid instanceof Uint8Array) || sid.length !== SID_BYTES) throw abort(`${what}: expected ${SID_BYTES} bytes`);
}

/** Fixed-width big-endian encoding of a list of non-negative 32-bit integers (count first). */
function u32List(xs: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * xs.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, xs.length);
  xs.forEach((x, k) => {
    if (!Number.isSafeInteger(x) || x < 0 || x > 0xffffffff) throw abort('id encoding: not a 32-bit integer');
    view.setUint32(4 + 4 * k, x);
  });
  return out;
}

export interface DkgSidInput {
  t: number;
  n: number;
  /** Participating indices, strictly increasing, each in [1, n]. */
  indices: readonly number[];
  /** One 32-byte random contribution per index, in the order of `indices`. */
  contributions: readonly Uint8Array[];
}

/** dkgSid = H(version, t, n, indices, sidContrib_1..n) (design note §2, R1). */
export function dkgSid({ t, n, indices, contributions }: DkgSidInput): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_PARTY_INDEX) throw abort('dkgSid: invalid n');
  if (!Number.isSafeInteger(t) || t < 2 || t > n) throw abort('dkgSid: invalid t (need 2 ≤ t ≤ n)');
  if (indices.length !== n || contributions.length !== n) throw abort('dkgSid: need exactly n indices and contributions');
  indices.forEach((i, k) => {
    assertPartyIndex(i);
    if (i > n) throw abort('dkgSid: index above n');
    if (k > 0 && i <= indices[k - 1]!) throw abort('dkgSid: indices must be strictly increasing');
  });
  for (const c of contributions) assertSid(c, 'dkgSid contribution');
  return hash(TAGS.dkgSid, DKLS23_VERSION, t, n, u32List(indices), ...contributions);
}

/** A derivation path as the list of child numbers (non-hardened, see protocols/derivation/bip32.ts). */
export type PathIndices = readonly number[];

export interface SignSidInput {
  dkgSid: Uint8Array;
  /** Key epoch, bumped by every refresh. */
  epoch: number;
  /** Signer set S (any order; it is sorted here). */
  signers: readonly number[];
  /** Derivation path child numbers, [] for the root key. */
  path: PathIndices;
  /** Fresh random bytes from the coordinator (≥ 16). */
  nonce: Uint8Array;
}

/** signSid = H(version, dkgSid, epoch, sorted S, path, coordinator nonce) (design note §4.5). */
export function signSid({ dkgSid, epoch, signers, path, nonce }: SignSidInput): Uint8Array {
  assertSid(dkgSid, 'signSid: dkgSid');
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw abort('signSid: invalid epoch');
  const s = sortedSignerSet(signers);
  if (s.length < 2) throw abort('signSid: need at least two signers');
  for (const c of path) {
    if (!Number.isSafeInteger(c) || c < 0 || c >= 0x80000000) throw abort('signSid: path must be non-hardened child numbers');
  }
  if (!(nonce instanceof Uint8Array) || nonce.length < MIN_NONCE_BYTES) throw abort(`signSid: nonce needs ≥ ${MIN_NONCE_BYTES} bytes`);
  return hash(TAGS.signSid, DKLS23_VERSION, dkgSid, epoch, u32List(s), u32List(path), nonce);
}

/** mulSid for the directed multiplication sender (Alice) → receiver (Bob) inside a signing session. */
export function mulSid(sid: Uint8Array, sender: number, receiver: number): Uint8Array {
  assertSid(sid, 'mulSid: signSid');
  assertPartyIndex(sender, 'mulSid: sender');
  assertPartyIndex(receiver, 'mulSid: receiver');
  if (sender === receiver) throw abort('mulSid: sender equals receiver');
  return hash(TAGS.mulSid, DKLS23_VERSION, sid, sender, receiver);
}

/** Per-instance OT session id H(dkgSid, sender, receiver, label) (TOB-SILA-5). */
export function osid(dkg: Uint8Array, sender: number, receiver: number, label: string): Uint8Array {
  assertSid(dkg, 'osid: dkgSid');
  assertPartyIndex(sender, 'osid: sender');
  assertPartyIndex(receiver, 'osid: receiver');
  if (sender === receiver) throw abort('osid: sender equals receiver');
  if (label.length === 0) throw abort('osid: empty label');
  return hash(TAGS.otSid, DKLS23_VERSION, dkg, sender, receiver, label);
}
