/**
 * Where a relay's messages live between `send` and delivery. The relay server (server.ts) keeps
 * the WebSockets, parses frames, checks who joined as whom, and fans a party's messages out to
 * the party's sockets on this process; the backplane accepts messages (`publish`), holds those
 * whose recipient is not joined, and hands each (room, party) subscription the messages
 * addressed to it, in the order they were accepted.
 *
 * - MemoryBackplane (here): one relay process, everything in memory: per-room, per-sender and
 *   global byte caps, with space reserved for nodes, and a room TTL.
 * - NatsBackplane (nats-backplane.ts): any number of relay processes sharing a NATS JetStream
 *   stream, so that parties joined to different relays reach each other.
 *
 * Another store (Redis streams, say) would implement the same interface.
 */

import type { Sender } from './admission.js';

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

export const SENDER_BUFFER_FULL = 'your undelivered messages fill your share of the relay buffers; message not accepted';
export const ROOM_BUFFER_FULL = 'room buffer is full; message not accepted';

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
   * `sender` is who the relay admitted `from` as (see admission.ts), for per-sender buffer shares.
   */
  publish(room: string, from: string, to: string, data: string, sender: Sender): void | Promise<void>;
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
  /**
   * In memory: characters one sender may have held at once (new ones refused beyond it).
   * NATS: not counted per sender; the relay's per-sender rate quotas bound it (quotas.ts).
   */
  maxSenderBufferBytes: number;
  /**
   * In memory: of maxTotalBufferBytes, the part only nodes may use (the relay gives each node
   * maxSenderBufferBytes of it, so clients together, however many, never take a node's share).
   */
  nodeReserveBytes: number;
}

interface Held extends Envelope {
  to: string;
  sender: Sender;
}

interface Room {
  subscribers: Map<string, Deliver>;
  /** Messages whose recipient had no open socket when they arrived, oldest first. */
  buffer: Held[];
  /** Characters held in `buffer`. */
  bytes: number;
  lastActive: number;
}

/**
 * One relay process: rooms in memory, swept after their TTL once no party is joined.
 *
 * Buffer shares. A message is held only while its recipient has no socket here. What a sender
 * has held is capped (maxSenderBufferBytes), clients together may hold at most the total less
 * the nodes' reserve, and nodes (each capped like any sender) use the reserve first. So one
 * client, or a compromised node, fills at most its own share: the others' messages are still
 * held for their recipients, and nodes can always reach each other (the inbox, ceremonies).
 * A room over its own caps drops the oldest message of the sender that overflowed it, never
 * another sender's (a flood into the inbox does not push out other nodes' invitations).
 */
export class MemoryBackplane implements Backplane {
  readonly kind = 'memory';
  readonly connected = true;
  private readonly rooms = new Map<string, Room>();
  private buffered = 0;
  /** Characters held by clients (all of them) and by each sender. */
  private clientBytes = 0;
  private readonly bySender = new Map<string, number>();
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

  publish(roomName: string, from: string, to: string, data: string, sender: Sender): void {
    const room = this.room(roomName);
    room.lastActive = Date.now();
    if (room.subscribers.get(to)?.({ from, data })) return;
    const size = data.length;
    const refuse = (reason: string, why: string): never => {
      this.log(`room ${roomName}: ${why}, refused a message ${from} -> ${to}`);
      throw new RelayRefusal(reason);
    };
    if ((this.bySender.get(sender.key) ?? 0) + size > this.limits.maxSenderBufferBytes) refuse(SENDER_BUFFER_FULL, `sender ${sender.key} holds its whole buffer share`);
    if (!sender.node && this.clientBytes + size > this.limits.maxTotalBufferBytes - this.limits.nodeReserveBytes) refuse(BUFFERS_FULL, 'client buffers full');
    if (this.buffered + size > this.limits.maxTotalBufferBytes) refuse(BUFFERS_FULL, 'relay buffers full');
    const m: Held = { from, to, data, sender };
    room.buffer.push(m);
    this.hold(room, m);
    while (room.buffer.length > this.limits.maxBufferedPerRoom || room.bytes > this.limits.maxRoomBufferBytes) {
      const i = room.buffer.findIndex((h) => h.sender.key === sender.key);
      if (i === room.buffer.length - 1) {
        // Only the new message is this sender's: others filled the room, and it is refused, not them.
        room.buffer.pop();
        this.release(room, m);
        refuse(ROOM_BUFFER_FULL, 'buffer full');
      }
      const [dropped] = room.buffer.splice(i, 1);
      this.release(room, dropped!);
      this.log(`room ${roomName}: buffer full, dropped oldest message ${dropped!.from} -> ${dropped!.to}`);
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
    this.count(m, m.data.length);
    room.bytes += m.data.length;
  }

  private release(room: Room, m: Held): void {
    this.count(m, -m.data.length);
    room.bytes -= m.data.length;
  }

  private count(m: Held, delta: number): void {
    this.buffered += delta;
    if (!m.sender.node) this.clientBytes += delta;
    const left = (this.bySender.get(m.sender.key) ?? 0) + delta;
    if (left > 0) this.bySender.set(m.sender.key, left);
    else this.bySender.delete(m.sender.key);
  }

  private sweep(now: number): void {
    for (const [name, room] of this.rooms) {
      if (room.subscribers.size > 0 || now - room.lastActive < this.limits.roomTtlMs) continue;
      this.rooms.delete(name);
      for (const m of room.buffer) this.count(m, -m.data.length);
      if (room.buffer.length > 0) this.log(`room ${name} expired with ${room.buffer.length} undelivered messages`);
    }
  }
}
