/**
 * A source of random bytes: `n` fresh bytes per call.
 *
 * Production code never passes one: every engine and channel that takes an `Rng` (the
 * DKLs23 DKG and signer, the ceremony channels) defaults to `cryptoRng`, the platform's
 * CSPRNG. The parameter exists only so that tests can inject a seeded deterministic stream
 * and record reproducible known-answer vectors (test/vectors/, made by
 * test/vectors/generate.ts); a fixed or seeded source anywhere else would make every key,
 * nonce and ephemeral secret predictable.
 */
export type Rng = (n: number) => Uint8Array;

/**
 * WebCrypto's `crypto.getRandomValues` (a global in Node 20 and in browsers; under Node it
 * is OpenSSL's CSPRNG), the same source as @noble/hashes' `randomBytes`.
 */
export const cryptoRng: Rng = (n) => {
  const c = (globalThis as { crypto?: { getRandomValues<T extends Uint8Array>(a: T): T } }).crypto;
  if (typeof c?.getRandomValues !== 'function') throw new Error('crypto.getRandomValues is not available');
  return c.getRandomValues(new Uint8Array(n));
};
