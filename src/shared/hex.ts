/** Lower-case hex strings without 0x, as every API field and wire message uses them. */
export type Hex = string & { readonly __hex: true };

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function isHex(s: unknown): s is Hex {
  return typeof s === 'string' && HEX_RE.test(s);
}

export function toHex(bytes: Uint8Array): Hex {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') as Hex;
}

/** Strict: throws on odd length or non-hex characters (Buffer.from would silently truncate). */
export function fromHex(s: string, expectedLength?: number): Uint8Array {
  if (!isHex(s)) throw new Error('not a hex string');
  const out = new Uint8Array(Buffer.from(s, 'hex'));
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new Error(`expected ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}
