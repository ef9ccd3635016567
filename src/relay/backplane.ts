/**
 * Where a relay's messages live between `send` and delivery. The relay server (server.ts) keeps
 * the WebSockets, parses frames, checks who joined as whom, and fans a party's messages out to
 * the party's sockets on this process; the backplane accepts messages (`publish`), holds those
 * whose recipient is not joined, and hands each (room, party) subscription the messages
 * addressed to it, in the order they were accepted.
 *
 * - MemoryBackplane (here): one relay process, everything in memory, exactly the relay's
 *   original behaviour (per-room and global byte caps, a room TTL).
 * - NatsBackplane (nats-backplane.ts): any number of relay processes sharing a NATS JetStream
 *   stream, so that parties joined to different relays reach each other.
 *
 * Another store (Redis streams, say) would implement the same interface.
 */

/** A message as the relay carries it: `data` is the base64 text of the send frame, untouched. */
export interface Envelope {
  from: string;
  data: string;
}

/**
 * Hands one message to the party's sockets on this relay; false when none could take it (all
 * closing), so the backplane keeps it for a later join.
 */
export type Deliver = (m: Envelope) => boolean;

/** A refusal to tell the client: its message is the `reason` of the relay's `error` frame. */
export class RelayRefusal extends Error {
  override readonly name = 'RelayRefusal';
}

/** What the backplane reports as the frame's answer when it cannot carry traffic. */
export const BACKPLANE_UNAVAILABLE = 'relay backplane unavailable; message not accepted';
export const BUFFERS_FULL = 'relay buffers are full; message not accepted';

/** Delivery of the messages addressed to one (room, party) to this relay's sockets of that party. */
export interface PartySubscription {
  /**
   * Starts delivery of what is held for the party (and, after that, of what arrives), or
   * resumes it when another socket of the party joined. The server calls it right after its
   * `joined` frame, so held messages follow the acknowledgement.
   */
  resume(): void;
  /** Stops delivery to this relay; later messages for the party are held for its next join. */
  close(): void;
}

export interface Backplane {
  readonly kind: 'memory' | 'nats';
  /** Whether messages can be accepted and delivered now (always true in memory). */
  readonly connected: boolean;
  /** Told of every change of `connected`, with a reason for the log. */
  onStatus(cb: (connected: boolean, reason: string) => void): void;
  /**
   * Starts holding-or-delivering for (room, party) on this relay. The in-memory backplane
   * answers at once; NATS answers once its consumer exists, or throws a RelayRefusal.
   * `onFail` is told if delivery stops by itself (never after close()); the server then
   * closes the party's sockets, so its clients see the failure and reconnect.
   */
  subscribe(room: string, party: string, deliver: Deliver, onFail: (reason: string) => void): PartySubscription | Promise<PartySubscription>;
  /**
   * Accepts a message for (room, to): delivered to the party's subscriptions, or held until
   * one exists (bounded, expiring). Throws or rejects with a RelayRefusal when not accepted.
   * Messages from one caller are accepted in call order even when the calls overlap.
   */
  publish(room: string, from: string, to: string, data: string): void | Promise<void>;
  close(): Promise<void>;
}

export interface BackplaneLimits {
  /** In memory: an idle room without members expires with what it holds. NATS: a held message's max age. */
  roomTtlMs: number;
  /** In memory: messages held per room (oldest dropped). NATS: per (room, party) (oldest dropped). */
  maxBufferedPerRoom: number;
  /** In memory: characters held per room (oldest dropped). NATS: not enforced per room (see nats-backplane.ts). */
  maxRoomBufferBytes: number;
  /** In memory: characters held in all rooms. NATS: the stream's max_bytes. New messages refused beyond it. */
  maxTotalBufferBytes: number;
}

interface Held extends Envelope {
  to: string;
}

interface Room {
  subscribers: Map<string, Deliver>;
  /** Messages whose recipient had no open socket when they arrived, oldest first. */
  buffer: Held[];
  /** Characters held in `buffer`. */
  bytes: number;
  lastActive: number;
}

/** One relay process: rooms in memory, swept after their TTL once no party is joined. */
export class MemoryBackplane implements Backplane {
  readonly kind = 'memory';
  readonly connected = true;
  private readonly rooms = new Map<string, Room>();
  private buffered = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: BackplaneLimits,
    private readonly log: (msg: string) => void,
  ) {
    // Half the TTL keeps expiry within 1.5 TTL without spinning on tiny test TTLs.
    const sweepMs = Math.min(Math.max(limits.roomTtlMs / 2, 10), 10_000);
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepMs).unref();
  }

  onStatus(): void {
    // Never changes.
  }

  subscribe(roomName: string, party: string, deliver: Deliver): PartySubscription {
    const room = this.room(roomName);
    room.lastActive = Date.now();
    room.subscribers.set(party, deliver);
    let closed = false;
    return {
      resume: () => {
        if (closed) return;
        room.lastActive = Date.now();
        const mine = room.buffer.filter((m) => m.to === party);
        if (mine.length === 0) return;
        room.buffer = room.buffer.filter((m) => m.to !== party);
        for (const m of mine) this.release(room, m);
        // Put back (in order, ahead of anything newer) what no socket could take.
        const kept = mine.filter((m) => !deliver({ from: m.from, data: m.data }));
        if (kept.length === 0) return;
        room.buffer = [...kept, ...room.buffer];
        for (const m of kept) this.hold(room, m);
      },
      close: () => {
        if (closed) return;
        closed = true;
        room.lastActive = Date.now();
        if (room.subscribers.get(party) === deliver) room.subscribers.delete(party);
      },
    };
  }

  publish(roomName: string, from: string, to: string, data: string): void {
    const room = this.room(roomName);
    room.lastActive = Date.now();
    if (room.subscribers.get(to)?.({ from, data })) return;
    if (this.buffered + data.length > this.limits.maxTotalBufferBytes) {
      this.log(`room ${roomName}: relay buffers full, refused a message ${from} -> ${to}`);
      throw new RelayRefusal(BUFFERS_FULL);
    }
    const m = { from, to, data };
    room.buffer.push(m);
    this.hold(room, m);
    while (room.buffer.length > this.limits.maxBufferedPerRoom || room.bytes > this.limits.maxRoomBufferBytes) {
      const dropped = room.buffer.shift()!;
      this.release(room, dropped);
      this.log(`room ${roomName}: buffer full, dropped oldest message ${dropped.from} -> ${dropped.to}`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = { subscribers: new Map(), buffer: [], bytes: 0, lastActive: 0 };
      this.rooms.set(name, room);
    }
    return room;
  }

  private hold(room: Room, m: Held): void {
    room.bytes += m.data.length;
    this.buffered += m.data.length;
  }

  private release(room: Room, m: Held): void {
    room.bytes -= m.data.length;
    this.buffered -= m.data.length;
  }

  private sweep(now: number): void {
    for (const [name, room] of this.rooms) {
      if (room.subscribers.size > 0 || now - room.lastActive < this.limits.roomTtlMs) continue;
      this.rooms.delete(name);
      this.buffered -= room.bytes;
      if (room.buffer.length > 0) this.log(`room ${name} expired with ${room.buffer.length} undelivered messages`);
    }
  }
}
