import { shake256 } from '@noble/hashes/sha3.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import type { Rng } from '../../src/core/rng.js';

/**
 * A seeded deterministic byte stream for known-answer vectors (tests only, never production:
 * see src/core/rng.ts). The stream of (seed, label) is SHAKE256 of
 *
 *   "tandem-test-rng/v1" ‖ 0x00 ‖ seed ‖ 0x00 ‖ label      (seed and label as UTF-8)
 *
 * read in order: each call returns the next `n` bytes, as a fresh array (the engines wipe
 * what they draw). One stream per party and phase, so the order in which a test runs the
 * parties does not change any party's draws.
 */
export function seededRng(seed: string, label: string): Rng {
  const xof = shake256.create({}).update(utf8ToBytes(`tandem-test-rng/v1\0${seed}\0${label}`));
  return (n) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`seededRng: bad length ${n}`);
    return n === 0 ? new Uint8Array(0) : xof.xof(n);
  };
}

/** An Rng that returns exactly these bytes, then fails: for a value a vector fixes (e.g. an ephemeral key). */
export function fixedRng(...chunks: Uint8Array[]): Rng {
  const queue = chunks.map((c) => Uint8Array.from(c));
  return (n) => {
    const next = queue.shift();
    if (!next || next.length !== n) throw new Error(`fixedRng: asked for ${n} bytes, has ${next ? next.length : 'none'}`);
    return next;
  };
}
