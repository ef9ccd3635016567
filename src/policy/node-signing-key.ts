import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NodeSigningKey } from './types.js';

export { verifyNodeSignature } from './signatures.js';

/**
 * A node's Ed25519 signing identity towards Rule Servers and relays (separate from its X25519
 * channel identity in src/crypto/identity.ts). Relays admit a node's joins by it and check the
 * capabilities it issues to room clients (src/relay/admission.ts); every text it signs starts
 * with its own domain ("tandem-rule-request/v1", "tandem-relay-join/v1",
 * "tandem-relay-capability/v1"), so no signature of one kind passes for another. The private key file holds
 * the raw 32-byte RFC 8032 seed, mode 0600, created exclusively at first start; the node
 * publishes `publicKeyHex` so Rule Servers can check `x-tandem-signature`.
 */

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function rawPublic(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('hex');
}

export function signingKeyFromPrivateKey(nodeId: string, privateKey: KeyObject): NodeSigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the node signing key must be Ed25519');
  const publicKeyHex = rawPublic(createPublicKey(privateKey));
  return { nodeId, publicKeyHex, sign: (message) => new Uint8Array(sign(null, message, privateKey)) };
}

/** From a raw 32-byte seed (the copy passed in is not kept). */
export function signingKeyFromSeed(nodeId: string, seed: Uint8Array): NodeSigningKey {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
  try {
    return signingKeyFromPrivateKey(nodeId, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  } finally {
    der.fill(0);
  }
}

/** A fresh in-memory key (tests, throwaway Rule Servers). */
export function generateSigningKey(nodeId: string): NodeSigningKey {
  return signingKeyFromPrivateKey(nodeId, generateKeyPairSync('ed25519').privateKey);
}

/**
 * Loads the signing key (raw 32 bytes) from `file`, creating it with mode 0600 at first
 * start (exclusive create: of two processes racing on it, one writes and both use its key). A key file
 * readable by group or others is refused.
 */
export async function loadOrCreateSigningKey(nodeId: string, file: string): Promise<NodeSigningKey> {
  let raw: Buffer;
  try {
    const st = await stat(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new Error(`signing key file ${file} must not be accessible by group or others (chmod 600)`);
    }
    raw = await readFile(file);
    if (raw.length !== 32) throw new Error(`signing key file ${file} is not 32 bytes`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const { privateKey } = generateKeyPairSync('ed25519');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    raw = Buffer.from(der.subarray(der.length - 32));
    der.fill(0);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    try {
      await writeFile(file, raw, { mode: 0o600, flag: 'wx' });
    } catch (w) {
      raw.fill(0);
      // Another process created it first: use that one.
      if ((w as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSigningKey(nodeId, file);
      throw w;
    }
  }
  try {
    return signingKeyFromSeed(nodeId, raw);
  } finally {
    raw.fill(0);
  }
}
