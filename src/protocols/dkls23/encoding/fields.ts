import type { PartyId } from '../../../core/ids.js';
import { DKLS23_VERSION } from '../params.js';
import { abort } from '../errors.js';

/**
 * Round messages on the wire: version(1) | round tag(1) | field count(2) | (length(4) |
 * bytes)*. Fixed by round: a message of another version, round or shape is refused before
 * any field is interpreted, naming its sender.
 */
export function packFields(round: number, fields: readonly Uint8Array[]): Uint8Array {
  const total = 4 + fields.reduce((n, f) => n + 4 + f.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = DKLS23_VERSION;
  out[1] = round;
  view.setUint16(2, fields.length);
  let o = 4;
  for (const f of fields) {
    view.setUint32(o, f.length);
    out.set(f, o + 4);
    o += 4 + f.length;
  }
  return out;
}

/** The fields of a round message; `lengths[k]` is field k's exact length (undefined: any). */
export function unpackFields(bytes: Uint8Array, round: number, lengths: ReadonlyArray<number | undefined>, from: PartyId): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => abort(`round ${round} message: ${why}`, from);
  if (bytes.length < 4) throw bad('truncated');
  if (bytes[0] !== DKLS23_VERSION) throw bad(`version ${bytes[0]}, expected ${DKLS23_VERSION}`);
  if (bytes[1] !== round) throw bad(`carries round ${bytes[1]}`);
  if (view.getUint16(2) !== lengths.length) throw bad(`has ${view.getUint16(2)} fields, expected ${lengths.length}`);
  const out: Uint8Array[] = [];
  let o = 4;
  for (const expected of lengths) {
    if (o + 4 > bytes.length) throw bad('truncated');
    const len = view.getUint32(o);
    if (o + 4 + len > bytes.length) throw bad('truncated');
    if (expected !== undefined && len !== expected) throw bad(`field ${out.length} has ${len} bytes, expected ${expected}`);
    out.push(new Uint8Array(bytes.subarray(o + 4, o + 4 + len)));
    o += 4 + len;
  }
  if (o !== bytes.length) throw bad('trailing bytes');
  return out;
}

/** Splits `bytes` into `count` chunks of `size` (caller checked the total length). */
export function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  return Array.from({ length: bytes.length / size }, (_, k) => bytes.subarray(k * size, (k + 1) * size));
}
