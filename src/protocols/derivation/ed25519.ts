import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmacSha512 } from '#protocols/platform';

/**
 * One BIP32-style step on an Ed25519 key (Tandem's scheme; Ed25519 has no standard
 * non-hardened derivation): I = HMAC-SHA512(chain code, parent key ‖ ser32(index)),
 * tweak = IL mod L, child chain code = IR.
 */
export function ed25519Step(parent: Uint8Array, chainCode: Uint8Array, index: number, order: bigint) {
  const I = hmacSha512(chainCode, parent, ser32(index));
  const tweak = bytesToNumberBE(I.subarray(0, 32)) % order;
  return { tweak, chainCode: I.slice(32) };
}

/** ser32(i) of BIP32: 4 bytes, big-endian. */
function ser32(i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i > 0xffffffff) throw new RangeError(`child number ${i} out of range`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}
