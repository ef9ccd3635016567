import { createPublicKey, type KeyObject } from 'node:crypto';

/** A raw 32-byte Ed25519 public key as Node's KeyObject, for `crypto.verify` (OpenSSL refuses a key of another length). */
export function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}
