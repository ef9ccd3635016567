import { ProtocolError } from '../errors.js';

export const HARDENED_OFFSET = 0x80000000;
/** BIP32 serialises depth in one byte. */
export const MAX_DEPTH = 255;

/**
 * The one parser of derivation paths, for every family, the HTTP routes, the SDK and the
 * device party: `m/0/1`, `0/1`, `m` or `''` (both the key itself, as the API has always
 * taken them), or child numbers as an array. Only non-hardened steps: a threshold key has
 * no parent private key, so a hardened child can't be derived; hardened markers (`'`,
 * `h`, `H`) and numbers ≥ 2^31 are refused saying so. Leading zeros, signs, empty steps
 * and anything but plain decimals are refused, and so is a path deeper than 255.
 */
export function parseDerivationPath(path: string | readonly number[]): number[] {
  const steps = typeof path === 'string' ? stepsOf(path) : path.map(childNumber);
  if (steps.length > MAX_DEPTH) throw new ProtocolError(`derivation path deeper than ${MAX_DEPTH}`);
  return steps;
}

function stepsOf(path: string): number[] {
  if (path === 'm' || path === '') return [];
  const parts = path.split('/');
  if (parts[0] === 'm') parts.shift();
  return parts.map((p, k) => {
    if (/^\d+['hH]$/.test(p)) throw hardened(`step ${k} (${p})`);
    if (!/^(0|[1-9]\d{0,9})$/.test(p)) throw new ProtocolError(`malformed derivation step ${JSON.stringify(p)}`);
    return childNumber(Number(p), k);
  });
}

function childNumber(i: number, k: number): number {
  if (!Number.isSafeInteger(i) || i < 0 || i > 0xffffffff) throw new ProtocolError(`derivation step ${k} is not a 32-bit child number`);
  if (i >= HARDENED_OFFSET) throw hardened(`step ${k} (${i})`);
  return i;
}

const hardened = (what: string) =>
  new ProtocolError(`derivation ${what} is hardened: a threshold key has no parent private key, so only non-hardened steps (below 2^31) can be derived`);
