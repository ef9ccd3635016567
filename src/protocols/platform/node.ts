import { createHash, createHmac, ECDH } from 'node:crypto';
import * as tiny from 'tiny-secp256k1';
import type { FromBase64, HmacSha512, Secp256k1Ops, Sha256, Shake256, ToBase64 } from './contract.js';

/**
 * '#protocols/platform' under Node (see contract.ts): OpenSSL for hashing and point
 * decompression, libsecp256k1 (tiny-secp256k1's WebAssembly) for scalar multiplications,
 * Buffer for base64. One update() per input where possible: every call into OpenSSL has a
 * fixed cost that dominates the OT extension's ~100-byte inputs.
 */

// A plain Uint8Array over the digest's memory: no copy, and .slice() copies as callers expect
// (Buffer's slice would share memory).
const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export const sha256: Sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return view(h.digest());
};

export const shake256: Shake256 = (data, outputLength) => view(createHash('shake256', { outputLength }).update(data).digest());

export const hmacSha512: HmacSha512 = (key, ...parts) => {
  const h = createHmac('sha512', key);
  for (const p of parts) h.update(p);
  return view(h.digest());
};

export const secp256k1: Secp256k1Ops = {
  pointFromScalar: tiny.pointFromScalar,
  pointMultiply: tiny.pointMultiply,
  decompress(p) {
    // OpenSSL throws for x ≥ p or x³ + 7 not a square, safely (see contract.ts on tiny-secp256k1).
    try {
      return view(ECDH.convertKey(p, 'secp256k1', undefined, undefined, 'uncompressed') as Buffer);
    } catch {
      return undefined;
    }
  },
};

export const toBase64: ToBase64 = (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

// A copy: a decoded Buffer may be a slice of Node's shared pool, which callers must not see through `.buffer`.
export const fromBase64: FromBase64 = (text) => new Uint8Array(Buffer.from(text, 'base64'));
