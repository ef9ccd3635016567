import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  HEARTBEAT_INTERVAL_MS,
  MAX_FRAME_BYTES,
  RELAY_PARTY_RE,
  ROOM_RE,
  type ClientFrame,
  type RelayFrame,
} from './protocol.js';

export interface RelayOptions {
  host?: string;
  port: number;
  roomTtlMs?: number;
  maxBufferedPerRoom?: number;
  /** Characters of undelivered messages a room may hold (oldest dropped beyond it). */
  maxRoomBufferBytes?: number;
  /** Characters of undelivered messages in all rooms (new ones refused beyond it). */
  maxTotalBufferBytes?: number;
  log?: (msg: string) => void;
}

export interface RelayHandle {
  port: number;
  close(): Promise<void>;
}

/**
 * ws closes a socket (code 1009) on a frame above `maxPayload` before we could answer it,
 * so that hard cap sits above MAX_FRAME_BYTES: a frame slightly too large gets an `error`
 * the client can act on, while ws still refuses to buffer anything absurd.
 */
const HARD_PAYLOAD_LIMIT = 2 * MAX_FRAME_BYTES;

interface Conn {
  ws: WebSocket;
  /** Cleared at each ping, set by the pong; still cleared at the next ping means dead. */
  alive: boolean;
  joins: Map<string, { room: string; party: string }>;
}

interface Buffered {
  from: string;
  to: string;
  data: string;
}

interface Room {
  members: Map<string, Set<Conn>>;
  /** Messages whose recipient had no open socket when they arrived, oldest first. */
  buffer: Buffered[];
  /** Characters held in `buffer`. */
  bytes: number;
  lastActive: number;
}

/** Defaults for what undelivered messages may hold, so no sender can exhaust the relay's memory. */
const MAX_ROOM_BUFFER_BYTES = 32 * 1024 * 1024;
const MAX_TOTAL_BUFFER_BYTES = 256 * 1024 * 1024;

type Parsed = { ok: true; frame: ClientFrame } | { ok: false; reason: string; req?: number };

export async function startRelay(opts: RelayOptions): Promise<RelayHandle> {
  const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: opts.port, maxPayload: HARD_PAYLOAD_LIMIT });
  await once(wss, 'listening');
  const relay = new Relay(
    opts.roomTtlMs ?? 60_000,
    opts.maxBufferedPerRoom ?? 1024,
    opts.log ?? (() => {}),
    opts.maxRoomBufferBytes ?? MAX_ROOM_BUFFER_BYTES,
    opts.maxTotalBufferBytes ?? MAX_TOTAL_BUFFER_BYTES,
  );
  wss.on('connection', (ws) => relay.attach(ws));
  wss.on('error', (err) => relay.log(`server error: ${err.message}`));
  return {
    port: (wss.address() as AddressInfo).port,
    async close() {
      relay.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

class Relay {
  private readonly rooms = new Map<string, Room>();
  private readonly conns = new Set<Conn>();
  private buffered = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly roomTtlMs: number,
    private readonly maxBuffered: number,
    readonly log: (msg: string) => void,
    private readonly maxRoomBytes: number,
    private readonly maxTotalBytes: number,
  ) {
    this.heartbeat = setInterval(() => this.pingAll(), HEARTBEAT_INTERVAL_MS).unref();
    // Half the TTL keeps expiry within 1.5 TTL without spinning on tiny test TTLs.
    const sweepMs = Math.min(Math.max(this.roomTtlMs / 2, 10), 10_000);
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepMs).unref();
  }

  attach(ws: WebSocket): void {
    const conn: Conn = { ws, alive: true, joins: new Map() };
    this.conns.add(conn);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (raw, isBinary) => this.onMessage(conn, raw, isBinary));
    ws.on('close', () => this.detach(conn));
    ws.on('error', (err) => this.log(`socket error: ${err.message}`));
  }

  stop(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.sweeper);
    for (const conn of this.conns) conn.ws.terminate();
  }

  private onMessage(conn: Conn, raw: RawData, isBinary: boolean): void {
    if (isBinary) return reply(conn, { t: 'error', reason: 'binary frames are not supported' });
    const bytes = toBuffer(raw);
    if (bytes.length > MAX_FRAME_BYTES) return reply(conn, { t: 'error', reason: 'frame too large' });
    const parsed = parseClientFrame(bytes.toString('utf8'));
    if (!parsed.ok) {
      const { reason, req } = parsed;
      return reply(conn, req === undefined ? { t: 'error', reason } : { t: 'error', reason, req });
    }
    // A throw here would escape into ws's event emitter and take the whole relay down.
    try {
      this.handle(conn, parsed.frame);
    } catch (err) {
      this.log(`internal error on ${parsed.frame.t}: ${err instanceof Error ? err.message : String(err)}`);
      reply(conn, { t: 'error', reason: 'internal error' });
    }
  }

  private handle(conn: Conn, frame: ClientFrame): void {
    switch (frame.t) {
      case 'join':
        return this.join(conn, frame.room, frame.party, frame.req);
      case 'leave':
        return this.leave(conn, frame.room, frame.party);
      case 'send':
        return this.send(conn, frame);
    }
  }

  private join(conn: Conn, roomName: string, party: string, req: number): void {
    let room = this.rooms.get(roomName);
    if (!room) {
      room = { members: new Map(), buffer: [], bytes: 0, lastActive: 0 };
      this.rooms.set(roomName, room);
    }
    room.lastActive = Date.now();
    let sockets = room.members.get(party);
    if (!sockets) {
      sockets = new Set();
      room.members.set(party, sockets);
    }
    sockets.add(conn);
    conn.joins.set(joinKey(roomName, party), { room: roomName, party });
    reply(conn, { t: 'joined', room: roomName, party, req });

    const mine = room.buffer.filter((m) => m.to === party);
    if (mine.length === 0) return;
    room.buffer = room.buffer.filter((m) => m.to !== party);
    for (const m of mine) this.release(room, m);
    for (const m of mine) reply(conn, { t: 'msg', room: roomName, from: m.from, to: m.to, data: m.data });
  }

  private leave(conn: Conn, roomName: string, party: string): void {
    if (!conn.joins.delete(joinKey(roomName, party))) return;
    const room = this.rooms.get(roomName);
    if (!room) return;
    room.lastActive = Date.now();
    const sockets = room.members.get(party);
    sockets?.delete(conn);
    if (sockets?.size === 0) room.members.delete(party);
  }

  private send(conn: Conn, frame: Extract<ClientFrame, { t: 'send' }>): void {
    const room = this.rooms.get(frame.room);
    // Only a socket speaking as `from` may send as `from`; the payload's seal is the real
    // authentication, this just keeps strangers from filling buffers under others' names.
    if (!room || !conn.joins.has(joinKey(frame.room, frame.from))) {
      return reply(conn, { t: 'error', reason: `not joined as ${frame.from} in ${frame.room}` });
    }
    room.lastActive = Date.now();
    const { from, to, data } = frame;
    const targets = [...(room.members.get(to) ?? [])].filter((c) => c.ws.readyState === WebSocket.OPEN);
    if (targets.length > 0) {
      for (const target of targets) reply(target, { t: 'msg', room: frame.room, from, to, data });
      return;
    }
    if (this.buffered + data.length > this.maxTotalBytes) {
      this.log(`room ${frame.room}: relay buffers full, refused a message ${from} -> ${to}`);
      return reply(conn, { t: 'error', reason: 'relay buffers are full; message not accepted' });
    }
    const m = { from, to, data };
    room.buffer.push(m);
    room.bytes += data.length;
    this.buffered += data.length;
    while (room.buffer.length > this.maxBuffered || room.bytes > this.maxRoomBytes) {
      const dropped = room.buffer.shift()!;
      this.release(room, dropped);
      this.log(`room ${frame.room}: buffer full, dropped oldest message ${dropped.from} -> ${dropped.to}`);
    }
  }

  private release(room: Room, m: Buffered): void {
    room.bytes -= m.data.length;
    this.buffered -= m.data.length;
  }

  private detach(conn: Conn): void {
    for (const { room, party } of [...conn.joins.values()]) this.leave(conn, room, party);
    this.conns.delete(conn);
  }

  private pingAll(): void {
    for (const conn of this.conns) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  private sweep(now: number): void {
    for (const [name, room] of this.rooms) {
      if (room.members.size > 0 || now - room.lastActive < this.roomTtlMs) continue;
      this.rooms.delete(name);
      this.buffered -= room.bytes;
      if (room.buffer.length > 0) this.log(`room ${name} expired with ${room.buffer.length} undelivered messages`);
    }
  }
}

function reply(conn: Conn, frame: RelayFrame): void {
  if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame));
}

/** Neither ROOM_RE nor RELAY_PARTY_RE admits '/', so the key is unambiguous. */
function joinKey(room: string, party: string): string {
  return `${room}/${party}`;
}

function toBuffer(raw: RawData): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  return Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
}

function parseClientFrame(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'frame must be a JSON object' };
  }
  const f = value as Record<string, unknown>;
  const req = typeof f.req === 'number' ? f.req : undefined;
  const fail = (reason: string): Parsed => (req === undefined ? { ok: false, reason } : { ok: false, reason, req });
  switch (f.t) {
    case 'join':
    case 'leave': {
      const { room, party } = f;
      if (!isRoom(room)) return fail('invalid room');
      if (!isParty(party)) return fail('invalid party');
      if (f.t === 'leave') return { ok: true, frame: { t: 'leave', room, party } };
      if (req === undefined || !Number.isSafeInteger(req) || req < 0) return fail('invalid req');
      return { ok: true, frame: { t: 'join', room, party, req } };
    }
    case 'send': {
      const { room, from, to, data } = f;
      if (!isRoom(room)) return fail('invalid room');
      if (!isParty(from)) return fail('invalid from');
      if (!isParty(to)) return fail('invalid to');
      if (typeof data !== 'string') return fail('data must be a string');
      return { ok: true, frame: { t: 'send', room, from, to, data } };
    }
    default:
      return fail('unknown frame type');
  }
}

function isRoom(v: unknown): v is string {
  return typeof v === 'string' && ROOM_RE.test(v);
}

function isParty(v: unknown): v is string {
  return typeof v === 'string' && RELAY_PARTY_RE.test(v);
}
