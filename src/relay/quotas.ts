import type { Sender } from './admission.js';

/**
 * Per-sender send quotas of one relay process: a token bucket of messages and one of bytes
 * per sender (a node, or one client of one room: see Sender). What one sender may make the
 * relay carry per second is bounded whatever it sends, so one flooding party costs the relay
 * and the receivers a bounded share, and (with a backplane whose messages expire, NATS) what it
 * can have waiting at once is at most the burst plus the rate times the message lifetime.
 * Clients get smaller quotas than nodes: a device is one party of one ceremony.
 */
export interface SendQuota {
  messagesPerSecond: number;
  messageBurst: number;
  bytesPerSecond: number;
  byteBurst: number;
}

export interface SendQuotas {
  node: SendQuota;
  client: SendQuota;
}

/**
 * Far above what honest parties send (a node coordinating ~50 signatures/s sends a few hundred
 * messages a second, a DKLs23 keygen's largest messages are a few hundred KiB; a device takes
 * part in one ceremony at a time), far below a flood (6,500 messages/s from one socket were measured).
 */
export const DEFAULT_SEND_QUOTAS: SendQuotas = {
  node: { messagesPerSecond: 2000, messageBurst: 10_000, bytesPerSecond: 32 * 1024 * 1024, byteBurst: 64 * 1024 * 1024 },
  client: { messagesPerSecond: 200, messageBurst: 1000, bytesPerSecond: 4 * 1024 * 1024, byteBurst: 16 * 1024 * 1024 },
};

interface Buckets {
  messages: number;
  bytes: number;
  at: number;
}

/** Buckets refilled to full are forgotten on the next sweep, so idle senders cost nothing. */
const SWEEP_EVERY = 4096;

export class SenderQuotas {
  readonly #buckets = new Map<string, Buckets>();
  #calls = 0;

  constructor(
    private readonly quotas: SendQuotas,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Spends one message and `size` bytes of the sender's quota; false (nothing spent) when either is short. */
  take(sender: Sender, size: number): boolean {
    const q = sender.node ? this.quotas.node : this.quotas.client;
    const t = this.now();
    if (++this.#calls % SWEEP_EVERY === 0) this.#sweep(t);
    const b = this.#buckets.get(sender.key) ?? { messages: q.messageBurst, bytes: q.byteBurst, at: t };
    const seconds = Math.max(0, t - b.at) / 1000;
    b.messages = Math.min(q.messageBurst, b.messages + seconds * q.messagesPerSecond);
    b.bytes = Math.min(q.byteBurst, b.bytes + seconds * q.bytesPerSecond);
    b.at = t;
    this.#buckets.set(sender.key, b);
    if (b.messages < 1 || b.bytes < size) return false;
    b.messages -= 1;
    b.bytes -= size;
    return true;
  }

  #sweep(t: number): void {
    const full = (b: Buckets, q: SendQuota) => {
      const seconds = (t - b.at) / 1000;
      return b.messages + seconds * q.messagesPerSecond >= q.messageBurst && b.bytes + seconds * q.bytesPerSecond >= q.byteBurst;
    };
    for (const [key, b] of this.#buckets) {
      // Node keys carry no '/', client keys are room/party.
      if (full(b, key.includes('/') ? this.quotas.client : this.quotas.node)) this.#buckets.delete(key);
    }
  }
}
