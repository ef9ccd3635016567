import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PartyId } from '../core/ids.js';
import type { Rng } from '../core/rng.js';
import { toHex } from '../core/hex.js';

/**
 * A party's long-term X25519 identity. Peers know each other's public halves from the
 * cluster configuration; every end-to-end channel key is derived from them, so only
 * the real holder of an identity can read or write its messages.
 */
export interface Identity {
  partyId: PartyId;
  publicKey: Uint8Array;
  /** X25519 with this identity's private key. */
  agree(peerPublicKey: Uint8Array | KeyObject): Uint8Array;
  /** The same, for a peer's long-term key (its key object is kept for reuse). */
  agreeStatic(peerPublicKey: Uint8Array): Uint8Array;
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new Error('X25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Peers' static keys are used in every ceremony: convert each to a KeyObject once. */
const staticKeys = new Map<string, KeyObject>();
export function staticKeyObject(raw: Uint8Array): KeyObject {
  const id = toHex(raw);
  let k = staticKeys.get(id);
  if (!k) {
    k = x25519PublicKeyObject(raw);
    if (staticKeys.size < 1024) staticKeys.set(id, k);
  }
  return k;
}

function rawPublic(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function x25519(privateKey: KeyObject, peerPublicKey: Uint8Array | KeyObject): Uint8Array {
  return dh(privateKey, peerPublicKey instanceof Uint8Array ? x25519PublicKeyObject(peerPublicKey) : peerPublicKey);
}

function dh(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  const shared = new Uint8Array(diffieHellman({ privateKey, publicKey }));
  // RFC 7748 §6.1: an all-zero result means a low-order peer key; refuse it.
  if (shared.every((b) => b === 0)) throw new Error('X25519 produced the all-zero secret');
  return shared;
}

export function identityFromPrivateKey(partyId: PartyId, privateKey: KeyObject): Identity {
  const publicKey = rawPublic(createPublicKey(privateKey));
  return { partyId, publicKey, agree: (peer) => x25519(privateKey, peer), agreeStatic: (peer) => dh(privateKey, staticKeyObject(peer)) };
}

/**
 * A fresh X25519 key pair from OpenSSL; with `rng` (tests only: known-answer vectors, see
 * core/rng.ts), the private key is rng's next 32 bytes, as the portable channel makes it.
 */
export function generateEphemeral(rng?: Rng): { privateKey: KeyObject; publicKey: Uint8Array } {
  if (rng) {
    const raw = rng(32);
    const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    raw.fill(0);
    return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublic(publicKey) };
}

/**
 * Loads the identity private key (raw 32 bytes) from `file`, creating it with mode 0600
 * at first start. A key file readable by group or others is refused.
 */
export async function loadOrCreateIdentity(partyId: PartyId, file: string): Promise<Identity> {
  let raw: Buffer;
  try {
    const st = await stat(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new Error(`identity key file ${file} must not be accessible by group or others (chmod 600)`);
    }
    raw = await readFile(file);
    if (raw.length !== 32) throw new Error(`identity key file ${file} is not 32 bytes`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const { privateKey } = generateKeyPairSync('x25519');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    raw = Buffer.from(der.subarray(der.length - 32));
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, raw, { mode: 0o600, flag: 'wx' });
  }
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  raw.fill(0);
  return identityFromPrivateKey(partyId, privateKey);
}
