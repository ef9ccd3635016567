import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

/**
 * The one hex codec: lower-case hex without 0x, as every API field and wire message uses
 * it. Portable (no Buffer), so the engines, the SDK and the device party in a browser use
 * the same functions as the node.
 */
export type Hex = string & { readonly __hex: true };

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function isHex(s: unknown): s is Hex {
  return typeof s === 'string' && HEX_RE.test(s);
}

export function toHex(bytes: Uint8Array): Hex {
  return bytesToHex(bytes) as Hex;
}

/** Strict: throws on odd length or non-hex characters (Buffer.from would silently truncate). */
export function fromHex(s: string, expectedLength?: number): Uint8Array {
  if (!isHex(s)) throw new Error('not a hex string');
  const out = hexToBytes(s);
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new Error(`expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}
