import type { SendQuota, SendQuotas } from './quotas.js';

/**
 * How fast the relay reads one socket. The send quotas (quotas.ts) refuse a flooder's
 * messages, but only once each frame has been received and parsed: a client writing 1 MB
 * frames as fast as TCP takes them kept the relay's one thread busy parsing, and the other
 * parties' joins and messages waited seconds behind it. Here a socket that has sent more than
 * its byte budget is paused until the budget is back, so TCP makes the flooder wait instead of
 * the relay.
 *
 * The budget is twice the sender's byte quota (a frame is JSON around base64 data: 4/3 of the
 * bytes the quota counts, plus the envelope), so an honest party never reaches it before its
 * quota; a socket is read at a client's rate until it has joined as a node.
 */
export class SocketReadLimit {
  #bytes: number;
  #at: number;
  #paused = false;

  constructor(
    private readonly quotas: SendQuotas,
    private readonly socket: { pause(): void; resume(): void },
    private readonly now: () => number = () => Date.now(),
  ) {
    this.#bytes = budget(quotas.client).burst;
    this.#at = now();
  }

  /** Counts a frame of `size` bytes read from the socket (`node`: it has joined as a node); pauses the socket when its budget is spent. */
  read(size: number, node: boolean): void {
    const { rate, burst } = budget(node ? this.quotas.node : this.quotas.client);
    const t = this.now();
    this.#bytes = Math.min(burst, this.#bytes + (Math.max(0, t - this.#at) / 1000) * rate) - size;
    this.#at = t;
    if (this.#bytes >= 0 || this.#paused) return;
    this.#paused = true;
    this.socket.pause();
    setTimeout(() => {
      this.#paused = false;
      this.socket.resume();
    }, Math.ceil((-this.#bytes / rate) * 1000)).unref();
  }
}

function budget(q: SendQuota): { rate: number; burst: number } {
  return { rate: 2 * q.bytesPerSecond, burst: 2 * q.byteBurst };
}
