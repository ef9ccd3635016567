import { bytesToNumberBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { hmacSha512 } from '#protocols/platform';
import { ProtocolError } from '../errors.js';
import type { FrostKeyShare } from './key-share.js';
import type { FrostPublicPackage } from './messages.js';
import type { FrostSuite } from './suite.js';

/**
 * Non-hardened child keys of a FROST key, derived by every party on its own from public
 * data: the child is the parent plus δ·G, and each party adds δ to its secret share
 * (Σ λ_i = 1, so the group secret moves by δ), each verifying share and the group
 * commitment move by δ·G. No party ever needs another's share.
 *
 * The chain code is not agreed in the DKG: it is a hash of the suite and the group's
 * public key, so anyone who knows the public key can compute it (as with any xpub,
 * non-hardened children are public knowledge anyway).
 */
export function frostChainCode(suite: FrostSuite, pkg: FrostPublicPackage): Uint8Array {
  return sha256(new TextEncoder().encode(`tandem/frost/chain-code/v1\0${suite.name}\0${pkg.commitments[0]?.toLowerCase()}`));
}

export interface FrostDerivation {
  publicPackage: FrostPublicPackage;
  chainCode: Uint8Array;
  /** δ, the sum of every step's tweak, mod the group order. */
  tweak: bigint;
}

const HARDENED = 0x80000000;

/** Child numbers of `m/…` (only non-hardened steps: a threshold key has no parent private key). */
export function parseDerivationPath(path: string): number[] {
  if (path === 'm' || path === '') return [];
  const parts = path.split('/');
  if (parts[0] === 'm') parts.shift();
  if (parts.length > 255) throw new ProtocolError('derivation path deeper than 255');
  return parts.map((p) => {
    if (/^\d+['hH]$/.test(p)) throw new ProtocolError(`hardened step ${p}: a threshold key can only derive non-hardened children`);
    if (!/^(0|[1-9]\d{0,9})$/.test(p) || Number(p) >= HARDENED) throw new ProtocolError(`malformed derivation step ${JSON.stringify(p)}`);
    return Number(p);
  });
}

export function deriveFrostPublic(suite: FrostSuite, pkg: FrostPublicPackage, path: number[]): FrostDerivation {
  let chainCode = frostChainCode(suite, pkg);
  let groupKey: Uint8Array = hexToBytes(pkg.commitments[0]!);
  let tweak = 0n;
  for (const index of path) {
    const step = suite.deriveStep(groupKey, chainCode, index);
    groupKey = suite.addTweak(groupKey, step.tweak);
    chainCode = step.chainCode;
    tweak = suite.lib.utils.Fn.add(tweak, step.tweak);
  }
  const shift = (hex: string) => bytesToHex(suite.addTweak(hexToBytes(hex), tweak));
  const publicPackage: FrostPublicPackage = {
    ...pkg,
    commitments: [bytesToHex(groupKey), ...pkg.commitments.slice(1)],
    verifyingShares: Object.fromEntries(Object.entries(pkg.verifyingShares).map(([p, v]) => [p, shift(v)])),
  };
  return { publicPackage, chainCode, tweak };
}

/** The share of the child key; the caller zeroes both shares when done. */
export function deriveFrostShare(suite: FrostSuite, share: FrostKeyShare, path: number[]): FrostKeyShare {
  if (path.length === 0) return { ...share, secretShare: Uint8Array.from(share.secretShare) };
  const { publicPackage, tweak } = deriveFrostPublic(suite, share.publicPackage, path);
  const Fn = suite.lib.utils.Fn;
  const secret = Fn.add(Fn.fromBytes(share.secretShare), tweak);
  return { party: share.party, publicPackage, secretShare: Fn.toBytes(secret) };
}

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
