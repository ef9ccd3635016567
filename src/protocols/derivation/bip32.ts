import { ripemd160 } from '@noble/hashes/legacy.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmacSha512, sha256 } from '#protocols/platform';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ProtocolError } from '../errors.js';
import { HARDENED_OFFSET, MAX_DEPTH, parseDerivationPath } from './path.js';

// secp256k1 as BIP32 uses it: compressed SEC1 points, scalars mod q (noble does the arithmetic).
const Point = secp256k1.Point;
type Point = InstanceType<typeof secp256k1.Point>;
const Fn = Point.Fn;
const G = Point.BASE;
const q = Fn.ORDER;
const abort = (reason: string) => new ProtocolError(reason);

function decodePoint(bytes: Uint8Array, what: string): Point {
  if (bytes.length !== 33) throw abort(`${what}: expected 33 bytes`);
  let p: Point;
  try {
    p = Point.fromBytes(bytes);
  } catch {
    throw abort(`${what}: not a curve point`);
  }
  if (p.is0()) throw abort(`${what}: identity point`);
  return p;
}

function encodePoint(p: Point): Uint8Array {
  if (p.is0()) throw abort('cannot encode the identity point');
  return p.toBytes(true);
}

/**
 * BIP32 non-hardened public derivation for a threshold key (design note §5). Hardened
 * children need the parent private key, which no party has, so they are refused.
 *
 * Per step (index < 2^31): I = HMAC-SHA512(cc, ser33(K) ‖ ser32(index)); IL ≥ q or
 * K' = K + IL·G = O makes the child invalid (BIP32 says to skip to the next index; we refuse
 * the path and let the caller choose another); cc' = IR; the tweak δ = Σ IL mod q over the
 * path is what every party adds to its Shamir share (Σ λ_i = 1 ⇒ the key moves by δ):
 * x'_i = x_i + δ, PK' = PK + δ·G, X'_j = X_j + δ·G.
 *
 * Everything here is public data: the tweak is computable by anyone holding the xpub.
 */

export const CHAIN_CODE_BYTES = 32;

const hardenedError = (what: string) =>
  abort(`bip32: ${what} is hardened; a threshold key has no parent private key, so only non-hardened steps (index < 2^31) can be derived`);

export { HARDENED_OFFSET };

/** One non-hardened CKDpub step; `tweak` = IL. */
export interface ChildStep {
  publicKey: Point;
  chainCode: Uint8Array;
  tweak: bigint;
}

/** ser32(i) of BIP32: 4 bytes, big-endian. */
function ser32(i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i > 0xffffffff) throw new RangeError(`child number ${i} out of range`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

export function ckdPub(parent: Point, chainCode: Uint8Array, index: number): ChildStep {
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== CHAIN_CODE_BYTES) throw abort('bip32: chain code must be 32 bytes');
  if (!Number.isSafeInteger(index) || index < 0) throw abort('bip32: invalid child number');
  if (index >= HARDENED_OFFSET) throw hardenedError(`child number ${index}`);
  const I = hmacSha512(chainCode, encodePoint(parent), ser32(index));
  const il = bytesToNumberBE(I.subarray(0, 32));
  if (il >= q) throw abort(`bip32: child ${index} is invalid (IL ≥ q); use another index`);
  const child = parent.add(G.multiplyUnsafe(il));
  if (child.is0()) throw abort(`bip32: child ${index} is invalid (point at infinity); use another index`);
  return { publicKey: child, chainCode: I.slice(32), tweak: il };
}

export interface Derivation {
  /** Child public key K' = K + δ·G. */
  publicKey: Point;
  chainCode: Uint8Array;
  /** δ = Σ IL mod q: add to the Shamir share x_i (and δ·G to PK and every X_j). */
  tweak: bigint;
  path: number[];
  /** Root depth + path length. */
  depth: number;
  /** First 4 bytes of HASH160(ser33(parent)) for the last step; zeros for an empty path (then the root's). */
  parentFingerprint: Uint8Array;
  /** Last child number (the root's for an empty path). */
  childNumber: number;
}

export interface ExtendedPublicKey {
  publicKey: Point;
  chainCode: Uint8Array;
  depth: number;
  parentFingerprint: Uint8Array;
  childNumber: number;
}

/** Derives along `path` from a root (public key as Point or 33 bytes, chain code, optional xpub metadata). */
export function derivePublic(
  root: { publicKey: Point | Uint8Array; chainCode: Uint8Array; depth?: number; parentFingerprint?: Uint8Array; childNumber?: number },
  path: string | readonly number[],
): Derivation {
  const indices = parseDerivationPath(path);
  let key = root.publicKey instanceof Uint8Array ? decodePoint(root.publicKey, 'bip32 public key') : root.publicKey;
  if (key.is0()) throw abort('bip32: public key is the identity');
  try {
    key.assertValidity();
  } catch {
    throw abort('bip32: public key is not a valid curve point');
  }
  let chainCode = root.chainCode;
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== CHAIN_CODE_BYTES) throw abort('bip32: chain code must be 32 bytes');
  const depth0 = root.depth ?? 0;
  if (!Number.isSafeInteger(depth0) || depth0 < 0 || depth0 + indices.length > MAX_DEPTH) throw abort('bip32: depth above 255');
  let tweak = Fn.ZERO;
  let parentFingerprint = root.parentFingerprint ?? new Uint8Array(4);
  let childNumber = root.childNumber ?? 0;
  for (const index of indices) {
    parentFingerprint = fingerprint(key);
    const step = ckdPub(key, chainCode, index);
    key = step.publicKey;
    chainCode = step.chainCode;
    tweak = Fn.add(tweak, step.tweak);
    childNumber = index;
  }
  return { publicKey: key, chainCode: new Uint8Array(chainCode), tweak, path: indices, depth: depth0 + indices.length, parentFingerprint, childNumber };
}

/** First 4 bytes of HASH160(ser33(K)) = RIPEMD160(SHA256(ser33(K))). */
export function fingerprint(key: Point): Uint8Array {
  return ripemd160(sha256(encodePoint(key))).slice(0, 4);
}

// ---- xpub (Base58Check, BIP32 serialization) -------------------------------------------

export const XPUB_VERSION = 0x0488b21e;
export const TPUB_VERSION = 0x043587cf;
const PRIVATE_VERSIONS = new Set([0x0488ade4, 0x04358394]);
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function sha256d(b: Uint8Array): Uint8Array {
  return sha256(sha256(b));
}

function base58Encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let s = '';
  while (n > 0n) {
    s = B58[Number(n % 58n)]! + s;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    s = '1' + s;
  }
  return s;
}

function base58Decode(s: string): Uint8Array {
  let n = 0n;
  for (const ch of s) {
    const d = B58.indexOf(ch);
    if (d < 0) throw abort('xpub: not Base58');
    n = n * 58n + BigInt(d);
  }
  const body: number[] = [];
  while (n > 0n) {
    body.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  let zeros = 0;
  while (zeros < s.length && s[zeros] === '1') zeros++;
  return new Uint8Array([...new Array<number>(zeros).fill(0), ...body]);
}

export function encodeXpub(x: ExtendedPublicKey, version = XPUB_VERSION): string {
  if (x.chainCode.length !== CHAIN_CODE_BYTES || x.parentFingerprint.length !== 4) throw abort('xpub: bad field length');
  if (!Number.isSafeInteger(x.depth) || x.depth < 0 || x.depth > MAX_DEPTH) throw abort('xpub: bad depth');
  if (!Number.isSafeInteger(x.childNumber) || x.childNumber < 0 || x.childNumber > 0xffffffff) throw abort('xpub: bad child number');
  const payload = new Uint8Array(82);
  const view = new DataView(payload.buffer);
  view.setUint32(0, version);
  payload[4] = x.depth;
  payload.set(x.parentFingerprint, 5);
  view.setUint32(9, x.childNumber);
  payload.set(x.chainCode, 13);
  payload.set(encodePoint(x.publicKey), 45);
  payload.set(sha256d(payload.subarray(0, 78)).subarray(0, 4), 78);
  return base58Encode(payload);
}

/** Decodes a public extended key (xpub or tpub); refuses private keys, bad checksums and invalid points. */
export function decodeXpub(s: string): ExtendedPublicKey & { version: number } {
  if (typeof s !== 'string' || s.length > 120) throw abort('xpub: malformed');
  const raw = base58Decode(s);
  if (raw.length !== 82) throw abort('xpub: wrong length');
  const check = sha256d(raw.subarray(0, 78)).subarray(0, 4);
  let diff = 0;
  for (let k = 0; k < 4; k++) diff |= check[k]! ^ raw[78 + k]!;
  if (diff !== 0) throw abort('xpub: bad checksum');
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = view.getUint32(0);
  if (PRIVATE_VERSIONS.has(version)) throw abort('xpub: this is a private extended key');
  if (version !== XPUB_VERSION && version !== TPUB_VERSION) throw abort('xpub: unknown version');
  const depth = raw[4]!;
  const parentFingerprint = raw.slice(5, 9);
  const childNumber = view.getUint32(9);
  if (depth === 0 && (childNumber !== 0 || parentFingerprint.some((b) => b !== 0))) {
    throw abort('xpub: depth 0 with a parent fingerprint or child number');
  }
  return {
    version,
    depth,
    parentFingerprint,
    childNumber,
    chainCode: raw.slice(13, 45),
    publicKey: decodePoint(raw.subarray(45, 78), 'xpub key'),
  };
}
