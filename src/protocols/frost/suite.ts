import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr_FROST, secp256k1 } from '@noble/curves/secp256k1.js';
import type { PartyId } from '../../core/ids.js';
import { ckdPub } from '../derivation/bip32.js';
import { ProtocolError } from '../errors.js';
import { ed25519Step } from '../derivation/ed25519.js';

// Both suites come from the same generic createFROST, so they share one API type.
type FrostLib = typeof schnorr_FROST;

/** A FROST ciphersuite as the engine needs it: the library plus how its keys are shown. */
export interface FrostSuite {
  name: string;
  lib: FrostLib;
  /** The group public key as the API returns it, from the group's first VSS commitment. */
  publicKey(groupCommitment: Uint8Array): Uint8Array;
  /** An encoded group element that decodes and is not the identity. */
  isValidPoint(bytes: Uint8Array): boolean;
  /** An encoded scalar below the group order (never reduced). */
  isValidScalar(bytes: Uint8Array): boolean;
  /** point + tweak·G, encoded; throws if the result is the identity. */
  addTweak(point: Uint8Array, tweak: bigint): Uint8Array;
  /** One non-hardened derivation step from an encoded public key (see derive.ts). */
  deriveStep(parent: Uint8Array, chainCode: Uint8Array, index: number): { tweak: bigint; chainCode: Uint8Array };
}

/**
 * FROST(secp256k1, SHA-256) with the BIP340/Taproot adjustments from @noble/curves. Its
 * DKG output is tweaked with the empty Taproot merkle root (the BIP341 key-path output
 * key), as frost-secp256k1-tr does; public keys are x-only.
 */
export const bip340Suite: FrostSuite = {
  name: 'FROST-secp256k1-SHA256-TR-v1',
  lib: schnorr_FROST,
  publicKey: (c) => c.subarray(1),
  isValidPoint: (bytes) => {
    try {
      return bytes.length === 33 && !secp256k1.Point.fromBytes(bytes).is0();
    } catch {
      return false;
    }
  },
  isValidScalar: (bytes) => validScalar(secp256k1.Point.Fn, bytes),
  addTweak: (point, tweak) => {
    const p = secp256k1.Point.fromBytes(point).add(secp256k1.Point.BASE.multiplyUnsafe(tweak));
    if (p.is0()) throw new ProtocolError('derived key is the identity; use another path');
    return p.toBytes(true);
  },
  // BIP32 CKDpub on the compressed key: the same child as any wallet derives from the xpub.
  deriveStep: (parent, chainCode, index) => {
    const step = ckdPub(secp256k1.Point.fromBytes(parent), chainCode, index);
    return { tweak: step.tweak, chainCode: step.chainCode };
  },
};

/** Field.fromBytes refuses a wrong length and a value at or above the order. */
function validScalar(Fn: { fromBytes(b: Uint8Array): bigint }, bytes: Uint8Array): boolean {
  try {
    Fn.fromBytes(bytes);
    return true;
  } catch {
    return false;
  }
}

/** FROST(Ed25519, SHA-512), RFC 9591 §6.1: signatures are plain RFC 8032 Ed25519 ones. */
export const ed25519Suite: FrostSuite = {
  name: 'FROST-ED25519-SHA512-v1',
  lib: ed25519_FROST,
  publicKey: (c) => c,
  isValidPoint: (bytes) => {
    try {
      const p = ed25519.Point.fromBytes(bytes);
      return bytes.length === 32 && !p.is0() && p.isTorsionFree();
    } catch {
      return false;
    }
  },
  isValidScalar: (bytes) => validScalar(ed25519.Point.Fn, bytes),
  addTweak: (point, tweak) => {
    const p = ed25519.Point.fromBytes(point).add(ed25519.Point.BASE.multiplyUnsafe(tweak));
    if (p.is0()) throw new ProtocolError('derived key is the identity; use another path');
    return p.toBytes();
  },
  deriveStep: (parent, chainCode, index) => ed25519Step(parent, chainCode, index, ed25519.Point.Fn.ORDER),
};

/** Tandem's key families whose ceremonies are FROST, with the suite each uses (nodes and the SDK's device party alike). */
export type FrostFamily = 'bip340' | 'ed25519';
export const FROST_SUITES: Readonly<Record<FrostFamily, FrostSuite>> = { bip340: bip340Suite, ed25519: ed25519Suite };

/** FROST identifiers are scalars; a party's is derived from its id, so no ordering is needed. */
export function frostIdentifier(suite: FrostSuite, party: PartyId): string {
  return suite.lib.Identifier.derive(party);
}
