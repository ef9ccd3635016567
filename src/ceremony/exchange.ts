import { fromBase64, toBase64 } from '#protocols/platform';
import type { PartyId } from '../shared/ids.js';
import { ProtocolError } from '../protocols/errors.js';
import type { CeremonySession } from './session.js';

/**
 * One all-to-all round: sends each peer its message (or the same one to all) and waits
 * for every peer's message of the same step. Messages are byte arrays, one per item of a
 * batch, carried as base64 in the sealed envelope.
 */
export async function exchange(
  s: CeremonySession,
  peers: PartyId[],
  step: string,
  out: ReadonlyMap<PartyId, Uint8Array[]> | Uint8Array[],
  timeoutMs: number,
  count: number,
): Promise<Map<PartyId, Uint8Array[]>> {
  for (const p of peers) {
    const items: Uint8Array[] | undefined = out instanceof Map ? out.get(p) : (out as Uint8Array[]);
    if (!items) throw new Error(`no ${step} message for ${p}`);
    s.step(p, step, items.map(toBase64));
  }
  const entries = await Promise.all(peers.map(async (p) => [p, decodeItems(await s.expect(p, step, timeoutMs), count, p, step)] as const));
  return new Map(entries);
}

export function decodeItems(body: unknown, count: number, from: PartyId, step: string): Uint8Array[] {
  if (!Array.isArray(body) || body.length !== count || !body.every((b) => typeof b === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(b))) {
    throw new ProtocolError(`malformed ${step} message`, from);
  }
  return body.map((b: string) => {
    const bytes = fromBase64(b);
    if (!bytes) throw new ProtocolError(`malformed ${step} message`, from);
    return bytes;
  });
}

/** Per-message view of a batch round: the k-th item of every peer's message. */
export function column(m: ReadonlyMap<PartyId, Uint8Array[]>, k: number): Map<PartyId, Uint8Array> {
  return new Map([...m].map(([p, items]) => [p, items[k]!]));
}
