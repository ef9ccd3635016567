import { secp256k1 as noble } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { shake256 as nobleShake256 } from '@noble/hashes/sha3.js';
import { fromBase64 as portableFromBase64, toBase64 as portableToBase64 } from '../../core/base64.js';
import type { FromBase64, HmacSha512, Secp256k1Ops, Sha256, Shake256, ToBase64 } from './contract.js';

/**
 * '#protocols/platform' in a browser bundle (see contract.ts): @noble/hashes and
 * @noble/curves, no Node built-ins and no WebAssembly.
 *
 * Why noble and not tiny-secp256k1 here: its browser build imports `secp256k1.wasm` as an ES
 * module (WebAssembly ESM integration), which esbuild can't bundle without a plugin and every
 * app's bundler would need its own setup for; the module is 1.2 MB (1.16 MB gzipped: mostly
 * precomputed tables), more than the rest of the device party together; and its speed matters
 * only for the DKLs23 DKG's base OTs (~1,500 multiplications per party and peer, once per
 * key), while a signature takes a handful. noble's multiply is constant-time too.
 */

export const sha256: Sha256 = (...parts) => {
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
};

export const shake256: Shake256 = (data, outputLength) => nobleShake256(data, { dkLen: outputLength });

export const hmacSha512: HmacSha512 = (key, ...parts) => {
  const h = hmac.create(sha512, key);
  for (const p of parts) h.update(p);
  return h.digest();
};

const { Point } = noble;
const n = Point.Fn.ORDER;

/** tiny-secp256k1's contract (contract.ts): TypeErrors with its messages, so callers can't tell the two apart. */
function scalar(k: Uint8Array, what: 'Private' | 'Tweak'): bigint {
  const x = k instanceof Uint8Array && k.length === 32 ? bytesToNumberBE(k) : n;
  if (x >= n || (what === 'Private' && x === 0n)) throw new TypeError(`Expected ${what}`);
  return x;
}

function point(p: Uint8Array) {
  try {
    return Point.fromBytes(p);
  } catch {
    throw new TypeError('Expected Point');
  }
}

export const secp256k1: Secp256k1Ops = {
  pointFromScalar(d, compressed = true) {
    return Point.BASE.multiply(scalar(d, 'Private')).toBytes(compressed);
  },
  pointMultiply(p, tweak, compressed = p.length === 33) {
    const P = point(p);
    const t = scalar(tweak, 'Tweak');
    if (t === 0n) return null;
    const R = P.multiply(t);
    return R.is0() ? null : R.toBytes(compressed);
  },
  decompress(p) {
    if (p.length !== 33) return undefined;
    try {
      return Point.fromBytes(p).toBytes(false);
    } catch {
      return undefined;
    }
  },
};

export const toBase64: ToBase64 = portableToBase64;
export const fromBase64: FromBase64 = portableFromBase64;
