/**
 * What the protocol engines and the ceremony rounds take from their platform, imported as
 * '#protocols/platform'. package.json "imports" resolves it to node.ts under Node (the
 * "default" condition) and to browser.ts in any bundler that sets the "browser" condition
 * (esbuild with platform 'browser', webpack, Vite, Rollup's node-resolve). The split exists
 * for speed, not for behaviour: both give the same bytes for the same inputs, and the nodes
 * keep OpenSSL's hashing and libsecp256k1 in the hot loops, several times faster than the
 * pure-JS equivalents a browser gets (measured in bench/engines-bench.ts).
 *
 * Randomness is not here: both platforms use WebCrypto's `crypto.getRandomValues` (through
 * core/rng.ts's `cryptoRng` or @noble/hashes' `randomBytes`; Node 20 has it as a global too),
 * which draws from the same OpenSSL CSPRNG as node:crypto's `randomBytes` does.
 */

/** SHA-256 of the concatenation of `parts`. */
export type Sha256 = (...parts: Uint8Array[]) => Uint8Array;
/** SHAKE256 of `data`, `outputLength` bytes. */
export type Shake256 = (data: Uint8Array, outputLength: number) => Uint8Array;
/** HMAC-SHA512 under `key` of the concatenation of `parts`. */
export type HmacSha512 = (key: Uint8Array, ...parts: Uint8Array[]) => Uint8Array;

/**
 * The secp256k1 operations the engines run outside @noble/curves (math/native.ts). The two
 * multiplications have tiny-secp256k1's signatures: SEC1 encodings in and out, 32-byte
 * big-endian scalars, `compressed` defaulting to 33-byte output for pointFromScalar and to
 * the input's form for pointMultiply; a TypeError for a scalar that is 0 (pointFromScalar)
 * or not below the group order.
 *
 * Callers pass pointMultiply only points that noble has already decoded and checked:
 * tiny-secp256k1 reports an invalid point by throwing from inside its WebAssembly, which
 * leaks the module's stack, and after a few thousand such throws it fails with "memory
 * access out of bounds". That is also why decompress, which does see invalid encodings, is
 * not tiny-secp256k1's pointCompress.
 */
export interface Secp256k1Ops {
  pointFromScalar(d: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointMultiply(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  /** The 65-byte uncompressed form of a 33-byte compressed encoding; undefined if it encodes no point. */
  decompress(p: Uint8Array): Uint8Array | undefined;
}

/** Standard base64 with padding; decode returns undefined (or throws) for what it can't read. */
export type ToBase64 = (data: Uint8Array) => string;
export type FromBase64 = (text: string) => Uint8Array | undefined;
