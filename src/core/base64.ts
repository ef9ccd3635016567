/**
 * Standard base64 without Buffer or atob, so the same bytes come out under Node, in a
 * browser and in a bundle: the relay's frames and the ceremony rounds' payloads use it.
 */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));
const ASCII = new TextDecoder();

/** Standard base64 with padding, as Buffer's `toString('base64')` writes it. */
export function toBase64(data: Uint8Array): string {
  // Written as ASCII bytes and decoded in one go: several times faster than joining strings.
  const out = new Uint8Array(Math.ceil(data.length / 3) * 4);
  const full = data.length - (data.length % 3);
  let o = 0;
  for (let i = 0; i < full; i += 3, o += 4) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out[o] = B64_CODES[n >> 18]!;
    out[o + 1] = B64_CODES[(n >> 12) & 63]!;
    out[o + 2] = B64_CODES[(n >> 6) & 63]!;
    out[o + 3] = B64_CODES[n & 63]!;
  }
  const rest = data.length - full;
  if (rest > 0) {
    const n = (data[full]! << 16) | (rest === 2 ? data[full + 1]! << 8 : 0);
    out[o] = B64_CODES[n >> 18]!;
    out[o + 1] = B64_CODES[(n >> 12) & 63]!;
    out[o + 2] = rest === 2 ? B64_CODES[(n >> 6) & 63]! : 61; // '='
    out[o + 3] = 61;
  }
  return ASCII.decode(out);
}

/** Standard base64, padding optional; undefined on anything else (Buffer would skip bad characters). */
export function fromBase64(text: string): Uint8Array | undefined {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 61) end--;
  if (text.length % 4 !== 0 && end !== text.length) return undefined; // padded, but to the wrong length
  if (end % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c]! : -1;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}
