import type { Sender } from './admission.js';

/**
 * Buffer shares for a backplane that cannot say what a sender has waiting (NATS: the stream
 * is shared by all relays, and messages are deleted by whichever relay delivers them). A
 * message lives there at most the room TTL, so what a client sent through this relay in the
 * last TTL, delivered or not, bounds what it can have waiting: that is capped per client and
 * for all clients together, as the in-memory backplane caps what they hold. Conservative (a
 * delivered message still counts until the TTL has passed), so it applies to clients only,
 * whose traffic is one ceremony's; nodes are bounded by their send quotas (quotas.ts).
 */
const SLOTS = 30;

interface Window {
  /** Bytes per slot, oldest first; each slot is ttl / SLOTS wide. */
  slots: number[];
  slot: number;
  total: number;
}

export class RecentSends {
  readonly #bySender = new Map<string, Window>();
  #allClients = 0;
  readonly #slotMs: number;

  constructor(
    ttlMs: number,
    private readonly perSender: number,
    private readonly clientsTotal: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#slotMs = Math.max(1, Math.ceil(ttlMs / SLOTS));
  }

  /** Counts `size` for the client and answers undefined, or the refusal's reason (nothing counted). */
  admit(sender: Sender, size: number): 'sender' | 'total' | undefined {
    if (sender.node) return undefined;
    const slot = Math.floor(this.now() / this.#slotMs);
    this.#expire(slot);
    const w = this.#bySender.get(sender.key) ?? { slots: [], slot, total: 0 };
    this.#advance(w, slot);
    if (w.total + size > this.perSender) return 'sender';
    if (this.#allClients + size > this.clientsTotal) return 'total';
    w.slots[w.slots.length - 1]! += size;
    w.total += size;
    this.#allClients += size;
    this.#bySender.set(sender.key, w);
    return undefined;
  }

  /** Moves a window to `slot`, dropping what is older than the TTL. */
  #advance(w: Window, slot: number): void {
    const shift = Math.min(slot - w.slot, SLOTS);
    if (w.slots.length === 0) w.slots.push(0);
    for (let i = 0; i < shift; i++) w.slots.push(0);
    w.slot = slot;
    while (w.slots.length > SLOTS) {
      const gone = w.slots.shift()!;
      w.total -= gone;
      this.#allClients -= gone;
    }
  }

  /** Each call moves every window that fell behind: a sender that stopped sending frees its share. */
  #lastSweep = 0;
  #expire(slot: number): void {
    if (slot === this.#lastSweep) return;
    this.#lastSweep = slot;
    for (const [key, w] of this.#bySender) {
      this.#advance(w, slot);
      if (w.total === 0) this.#bySender.delete(key);
    }
  }
}
