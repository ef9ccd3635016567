import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { toHex } from '../src/core/hex.js';

/**
 * Independent checks of the signatures the bench gets back, none of them the code that
 * made them: libsecp256k1 (tiny-secp256k1) for BIP340 and ECDSA, Node's OpenSSL for
 * Ed25519, and ethers' address recovery for ECDSA's recovery id. A malformed signature is
 * a failed one, never an exception.
 */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const safely = (check: () => boolean): boolean => {
  try {
    return check();
  } catch {
    return false;
  }
};

/** An Ed25519 public key as OpenSSL takes it: the raw 32 bytes behind the fixed SPKI DER prefix. */
export function ed25519KeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

export const verifyBip340 = (msg: Uint8Array, xOnly: Uint8Array, sig: Uint8Array): boolean => safely(() => ecc.verifySchnorr(msg, xOnly, sig));

export const verifyEd25519 = (msg: Uint8Array, key: KeyObject, sig: Uint8Array): boolean => safely(() => verify(null, msg, key, sig));

/** libsecp256k1 in strict mode: a high-S signature fails. */
export const verifyEcdsa = (hash: Uint8Array, pub33: Uint8Array, sig64: Uint8Array): boolean => safely(() => ecc.verify(hash, pub33, sig64, true));

/** The Ethereum address of a compressed secp256k1 key. */
export const ethAddress = (pub33: Uint8Array): string => computeAddress('0x' + toHex(pub33));

/** ethers recovers, from (r, s, v = 27 + recovery id), the address of the key that signed. */
export function recoversTo(hash: Uint8Array, sig64: Uint8Array, recoveryId: number, address: string): boolean {
  return safely(() => {
    if (sig64.length !== 64 || !Number.isInteger(recoveryId)) return false;
    const r = '0x' + toHex(sig64.subarray(0, 32));
    const s = '0x' + toHex(sig64.subarray(32));
    return recoverAddress(hash, Signature.from({ r, s, v: 27 + recoveryId })) === address;
  });
}
