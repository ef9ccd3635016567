import { fromBase64, toBase64 } from '#protocols/platform';
import type { PartyId } from '../core/ids.js';
import { ProtocolError } from '../protocols/errors.js';
import type { CeremonySession } from './session.js';

/**
 * A value every party of a round must hold identically (a digest of the session and the
 * operation), checked before anything else in the peer's message. `blame` says whom a
 * mismatch proves faulty from our seat, if anyone: a coordinator that told us one thing
 * and says another is, but two participants that disagree can't tell which of them (or
 * the coordinator who told them) lies.
 */
export interface Agreement {
  agree: string;
  blame(peer: PartyId): PartyId | undefined;
}

/**
 * One all-to-all round: sends each peer its message (or the same one to all) and waits
 * for every peer's message of the same step. Messages are byte arrays, one per item of a
 * batch, carried as base64 in the sealed envelope; with an agreement, as `{ agree, items }`.
 */
export async function exchange(
  s: CeremonySession,
  peers: PartyId[],
  step: string,
  out: ReadonlyMap<PartyId, Uint8Array[]> | Uint8Array[],
  timeoutMs: number,
  count: number,
  agreement?: Agreement,
): Promise<Map<PartyId, Uint8Array[]>> {
  for (const p of peers) {
    const items: Uint8Array[] | undefined = out instanceof Map ? out.get(p) : (out as Uint8Array[]);
    if (!items) throw new Error(`no ${step} message for ${p}`);
    const encoded = items.map(toBase64);
    s.step(p, step, agreement ? { agree: agreement.agree, items: encoded } : encoded);
  }
  const entries = await Promise.all(
    peers.map(async (p) => {
      let body = await s.expect(p, step, timeoutMs);
      if (agreement) body = agreed(body, agreement, p, step);
      return [p, decodeItems(body, count, p, step)] as const;
    }),
  );
  return new Map(entries);
}

function agreed(body: unknown, a: Agreement, from: PartyId, step: string): unknown {
  const b = body as { agree?: unknown; items?: unknown } | null;
  if (typeof b !== 'object' || b === null || typeof b.agree !== 'string') throw new ProtocolError(`malformed ${step} message`, from);
  if (b.agree !== a.agree) throw new ProtocolError(`signers disagree on the session or the messages (seen at ${from})`, a.blame(from));
  return b.items;
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
