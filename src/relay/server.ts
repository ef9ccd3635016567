import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge } from 'prom-client';
import { Metrics } from '../observability/metrics.js';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { RelayAdmission, type RelayNode, type Sender } from './admission.js';
import { BUFFERS_FULL, MemoryBackplane, RelayRefusal, SENDER_BUFFER_FULL, type Backplane, type BackplaneLimits, type Envelope, type PartySubscription } from './backplane.js';
import { DEFAULT_SEND_QUOTAS, SenderQuotas, type SendQuotas } from './quotas.js';
import { SocketReadLimit } from './read-limit.js';
import { RecentSends } from './recent-sends.js';
import { connectNatsBackplane, type NatsBackplaneOptions } from './nats-backplane.js';
import {
  HEARTBEAT_INTERVAL_MS,
  MAX_FRAME_BYTES,
  RELAY_PARTY_RE,
  RELAY_CLOSE_BACKPLANE_LOST,
  ROOM_RE,
  type ClientFrame,
  type RelayFrame,
} from './protocol.js';

/** Where messages wait between send and delivery: this process's memory (the default), or NATS JetStream shared by several relays. */
export type RelayBackplaneConfig = { type: 'memory' } | ({ type: 'nats' } & NatsBackplaneOptions);

export interface RelayOptions {
  host?: string;
  port: number;
  /**
   * The cluster's nodes and their Ed25519 signing keys: who may join as a node, and whose
   * capabilities admit room clients (admission.ts). Required: a relay admits nobody without evidence.
   */
  nodes: Iterable<RelayNode>;
  roomTtlMs?: number;
  maxBufferedPerRoom?: number;
  /** Characters of undelivered messages a room may hold (oldest dropped beyond it). */
  maxRoomBufferBytes?: number;
  /** Characters of undelivered messages in all rooms (new ones refused beyond it). */
  maxTotalBufferBytes?: number;
  /** Rooms one connection may be joined to at once (further joins refused); default 1024. */
  maxJoinsPerConnection?: number;
  /** Joins the relay may refuse on one connection before it closes it (code 1008); default 32. */
  maxRefusedJoinsPerConnection?: number;
  /** Characters of undelivered messages one sender (a node, or one client of a room) may have held; default 32 MiB. */
  maxSenderBufferBytes?: number;
  /** Per-sender message and byte rates (quotas.ts); default DEFAULT_SEND_QUOTAS. */
  sendQuotas?: SendQuotas;
  /** Defaults to memory: one relay process, exactly as without a backplane. */
  backplane?: RelayBackplaneConfig;
  log?: (msg: string) => void;
}

export interface RelayHandle {
  port: number;
  /** 'memory' or 'nats'. */
  readonly backplane: Backplane['kind'];
  /** Whether the backplane can carry messages now (always true in memory). */
  readonly connected: boolean;
  /**
   * Told at every change of `connected`. While false the relay answers every send and join with
   * an `error` frame, and it closed the sockets it had (code RELAY_CLOSE_BACKPLANE_LOST).
   */
  onStatus(cb: (connected: boolean, reason: string) => void): void;
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
  /** Sent in this socket's `hello`; a node's join signature covers it, so it is good on this socket only. */
  challenge: string;
  refusedJoins: number;
  /** Cleared at each ping, set by the pong; still cleared at the next ping means dead. */
  alive: boolean;
  /** Parties this socket may send as (joined, or with its join under way), and who it was admitted as. */
  joins: Map<string, { room: string; party: string; sender: Sender }>;
  /** Set at its first join as a node: it is then read at a node's rate. */
  node: boolean;
  readLimit: SocketReadLimit;
  /** Sends not yet accepted by an asynchronous backplane; a later join is answered after them. */
  inflight: Set<Promise<void>>;
}

/** The sockets of this process joined as one party of one room, and their subscription. */
interface LocalParty {
  key: string;
  room: string;
  party: string;
  /** Joined: the party's messages go to these sockets. */
  members: Set<Conn>;
  /** Join under way (asynchronous backplane): not yet told `joined`. */
  waiting: Set<Conn>;
  sub: PartySubscription | undefined;
  opening: Promise<PartySubscription> | undefined;
}

/** Defaults for what undelivered messages may hold, so no sender can exhaust the relay's memory. */
const MAX_ROOM_BUFFER_BYTES = 32 * 1024 * 1024;
const MAX_TOTAL_BUFFER_BYTES = 256 * 1024 * 1024;
/** Far above a node's need (its inbox and one room per live ceremony on its one connection). */
const MAX_JOINS_PER_CONNECTION = 1024;
/** An honest party's joins are admitted; a socket that keeps presenting bad evidence is dropped. */
const MAX_REFUSED_JOINS_PER_CONNECTION = 32;
const MAX_SENDER_BUFFER_BYTES = 32 * 1024 * 1024;
/** WebSocket close code "policy violation": too many refused joins. */
const CLOSE_POLICY = 1008;

type Parsed = { ok: true; frame: ClientFrame } | { ok: false; reason: string; req?: number };

export async function startRelay(opts: RelayOptions): Promise<RelayHandle> {
  const log = opts.log ?? (() => {});
  // Before anything listens: a bad node list is a start-up error, not a relay that admits nobody.
  const admission = new RelayAdmission(opts.nodes);
  if (admission.nodeCount === 0) throw new Error('a relay needs the list of its nodes (their signing keys) to admit anyone');
  const maxTotalBufferBytes = opts.maxTotalBufferBytes ?? MAX_TOTAL_BUFFER_BYTES;
  const maxSenderBufferBytes = opts.maxSenderBufferBytes ?? MAX_SENDER_BUFFER_BYTES;
  const limits: BackplaneLimits = {
    roomTtlMs: opts.roomTtlMs ?? 60_000,
    maxBufferedPerRoom: opts.maxBufferedPerRoom ?? 1024,
    maxRoomBufferBytes: opts.maxRoomBufferBytes ?? MAX_ROOM_BUFFER_BYTES,
    maxTotalBufferBytes,
    maxSenderBufferBytes,
    // Each node's share is kept free of clients; never more than half of everything, so clients keep room too.
    nodeReserveBytes: Math.min(admission.nodeCount * maxSenderBufferBytes, Math.floor(maxTotalBufferBytes / 2)),
  };
  // The backplane first: a relay that cannot reach NATS fails to start rather than listen in vain.
  const config = opts.backplane ?? { type: 'memory' };
  const backplane: Backplane = config.type === 'nats' ? await connectNatsBackplane(config, limits, log) : new MemoryBackplane(limits, log);
  const metrics = new Metrics('relay');
  const frames = new Counter({ name: 'tandem_relay_frames_total', help: 'Frames received from parties, by type', labelNames: ['type'], registers: [metrics.registry] });
  // One HTTP server: WebSocket upgrades for parties, GET /health and /metrics for operators.
  const http = createServer((req, res) => void probe(req, res));
  const wss = new WebSocketServer({ server: http, maxPayload: HARD_PAYLOAD_LIMIT });
  try {
    http.listen(opts.port, opts.host ?? '127.0.0.1');
    await once(http, 'listening');
  } catch (err) {
    await backplane.close();
    throw err;
  }
  const relay = new Relay(backplane, log, frames, {
    admission,
    sendQuotas: opts.sendQuotas ?? DEFAULT_SEND_QUOTAS,
    // The in-memory backplane counts what each sender holds; NATS cannot, so this relay counts what clients sent within the TTL.
    recent: backplane.kind === 'nats' ? new RecentSends(limits.roomTtlMs, limits.maxSenderBufferBytes, limits.maxTotalBufferBytes - limits.nodeReserveBytes) : undefined,
    maxJoins: opts.maxJoinsPerConnection ?? MAX_JOINS_PER_CONNECTION,
    maxRefusedJoins: opts.maxRefusedJoinsPerConnection ?? MAX_REFUSED_JOINS_PER_CONNECTION,
  });
  new Gauge({ name: 'tandem_relay_connections', help: 'Open party connections', registers: [metrics.registry], collect() { this.set(relay.connections); } });
  new Gauge({ name: 'tandem_relay_backplane_up', help: '1 while the backplane carries messages', registers: [metrics.registry], collect() { this.set(backplane.connected ? 1 : 0); } });
  async function probe(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      const ok = backplane.connected;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'backplane_unavailable', backplane: backplane.kind, connections: relay.connections }));
    } else if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    } else {
      res.writeHead(426, { 'content-type': 'application/json' }).end('{"error":"this is a relay: connect with a WebSocket"}');
    }
  }
  wss.on('connection', (ws) => relay.attach(ws));
  wss.on('error', (err) => relay.log(`server error: ${err.message}`));
  http.on('error', (err) => relay.log(`server error: ${err.message}`));
  return {
    port: (http.address() as AddressInfo).port,
    backplane: backplane.kind,
    get connected() {
      return backplane.connected;
    },
    onStatus(cb) {
      backplane.onStatus(cb);
    },
    async close() {
      relay.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await backplane.close();
    },
  };
}

class Relay {
  private readonly parties = new Map<string, LocalParty>();
  private readonly conns = new Set<Conn>();
  private readonly heartbeat: NodeJS.Timeout;

  private readonly admission: RelayAdmission;
  private readonly quotas: SenderQuotas;
  private readonly sendQuotas: SendQuotas;
  private readonly recent: RecentSends | undefined;
  private readonly maxJoins: number;
  private readonly maxRefusedJoins: number;

  constructor(
    private readonly backplane: Backplane,
    readonly log: (msg: string) => void,
    private readonly frames: Counter<'type'>,
    opts: { admission: RelayAdmission; sendQuotas: SendQuotas; recent: RecentSends | undefined; maxJoins: number; maxRefusedJoins: number },
  ) {
    this.admission = opts.admission;
    this.sendQuotas = opts.sendQuotas;
    this.quotas = new SenderQuotas(opts.sendQuotas);
    this.recent = opts.recent;
    this.maxJoins = opts.maxJoins;
    this.maxRefusedJoins = opts.maxRefusedJoins;
    this.heartbeat = setInterval(() => this.pingAll(), HEARTBEAT_INTERVAL_MS).unref();
    backplane.onStatus((connected, reason) => {
      this.log(`backplane ${connected ? 'up' : 'down'}: ${reason}`);
      if (connected) return;
      // Parties must not wait on a relay that can neither accept nor deliver: they reconnect.
      for (const conn of this.conns) conn.ws.close(RELAY_CLOSE_BACKPLANE_LOST, 'relay backplane unavailable');
    });
  }

  attach(ws: WebSocket): void {
    const conn: Conn = {
      ws,
      challenge: randomBytes(32).toString('base64'),
      refusedJoins: 0,
      alive: true,
      joins: new Map(),
      inflight: new Set(),
      node: false,
      readLimit: new SocketReadLimit(this.sendQuotas, ws),
    };
    this.conns.add(conn);
    reply(conn, { t: 'hello', challenge: conn.challenge });
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (raw, isBinary) => {
      const bytes = toBuffer(raw);
      conn.readLimit.read(bytes.length, conn.node);
      this.onMessage(conn, bytes, isBinary);
    });
    ws.on('close', () => this.detach(conn));
    ws.on('error', (err) => this.log(`socket error: ${err.message}`));
  }

  get connections(): number {
    return this.conns.size;
  }

  stop(): void {
    clearInterval(this.heartbeat);
    for (const conn of this.conns) conn.ws.terminate();
  }

  private onMessage(conn: Conn, bytes: Buffer, isBinary: boolean): void {
    if (isBinary) return reply(conn, { t: 'error', reason: 'binary frames are not supported' });
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
    this.frames.inc({ type: frame.t });
    switch (frame.t) {
      case 'join':
        return this.join(conn, frame);
      case 'leave':
        return this.leave(conn, frame.room, frame.party);
      case 'send':
        return this.send(conn, frame);
    }
  }

  private join(conn: Conn, frame: Extract<ClientFrame, { t: 'join' }>): void {
    const { room, party, req } = frame;
    const key = joinKey(room, party);
    // Every join holds a subscription: one socket joining without end (250,000 in 6 s grew a
    // relay by 300 MB) must not be able to take the relay's memory.
    if (!conn.joins.has(key) && conn.joins.size >= this.maxJoins) {
      return reply(conn, { t: 'error', reason: `more than ${this.maxJoins} rooms joined on one connection`, req });
    }
    // A node's seat only with its key, a client's only with its room's capability: no squatting
    // on a party's inbox or ceremony to take, drop or steer what is meant for it.
    const admitted = this.admission.check(frame, conn.challenge);
    if (!admitted.ok) return this.refuseJoin(conn, admitted.reason, req);
    // From now on this socket may send as the party, as it always could right after `join`.
    conn.joins.set(key, { room, party, sender: admitted.sender });
    if (admitted.sender.node) conn.node = true;
    const lp = this.parties.get(key) ?? this.newParty(key, room, party);
    if (!lp.sub && !lp.opening) this.subscribe(lp);
    // In memory all of this happens now, in frame order, as it always did.
    if (lp.sub && conn.inflight.size === 0) return this.joined(conn, lp, req);
    // Otherwise `joined` waits for the subscription, and for this socket's earlier sends to be
    // accepted or refused, so that a joined answer still means "everything before it was handled".
    lp.waiting.add(conn);
    const earlier = Promise.allSettled([...conn.inflight]);
    const ready = lp.sub ? Promise.resolve(lp.sub) : lp.opening!;
    Promise.all([ready, earlier]).then(
      () => {
        lp.waiting.delete(conn);
        if (!this.conns.has(conn)) return this.release(lp);
        if (!conn.joins.has(key)) {
          // Left before the join completed: answer it, deliver nothing.
          reply(conn, { t: 'joined', room, party, req });
          return this.release(lp);
        }
        this.joined(conn, lp, req);
      },
      (err: unknown) => {
        lp.waiting.delete(conn);
        // No longer allowed to send as the party (unless an earlier join of this socket stands).
        if (!lp.members.has(conn)) conn.joins.delete(key);
        if (!(err instanceof RelayRefusal)) this.log(`join ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
        reply(conn, { t: 'error', reason: err instanceof RelayRefusal ? err.message : 'internal error', req });
        this.release(lp);
      },
    );
  }

  private refuseJoin(conn: Conn, reason: string, req: number): void {
    reply(conn, { t: 'error', reason, req });
    // Each refusal may have cost a signature check: a socket that keeps guessing is dropped.
    if (++conn.refusedJoins >= this.maxRefusedJoins) conn.ws.close(CLOSE_POLICY, 'too many refused joins');
  }

  private newParty(key: string, room: string, party: string): LocalParty {
    const lp: LocalParty = { key, room, party, members: new Set(), waiting: new Set(), sub: undefined, opening: undefined };
    this.parties.set(key, lp);
    return lp;
  }

  /** Sets lp.sub at once (in memory), or lp.opening until the backplane has subscribed. */
  private subscribe(lp: LocalParty): void {
    const opened = this.backplane.subscribe(
      lp.room,
      lp.party,
      (m) => this.deliver(lp, m),
      (reason) => this.failed(lp, reason),
    );
    if (!(opened instanceof Promise)) {
      lp.sub = opened;
      return;
    }
    lp.opening = opened.then(
      (sub) => {
        lp.sub = sub;
        lp.opening = undefined;
        return sub;
      },
      (err: unknown) => {
        lp.opening = undefined;
        throw err;
      },
    );
  }

  private joined(conn: Conn, lp: LocalParty, req: number): void {
    lp.members.add(conn);
    reply(conn, { t: 'joined', room: lp.room, party: lp.party, req });
    // What was held for the party follows the acknowledgement.
    lp.sub?.resume();
  }

  private leave(conn: Conn, room: string, party: string): void {
    const key = joinKey(room, party);
    if (!conn.joins.delete(key)) return;
    const lp = this.parties.get(key);
    if (!lp) return;
    lp.members.delete(conn);
    this.release(lp);
  }

  /** Drops the party's subscription once no socket of this process is joined or joining as it. */
  private release(lp: LocalParty): void {
    if (lp.members.size > 0 || lp.waiting.size > 0) return;
    if (this.parties.get(lp.key) === lp) this.parties.delete(lp.key);
    lp.sub?.close();
    lp.sub = undefined;
  }

  private send(conn: Conn, frame: Extract<ClientFrame, { t: 'send' }>): void {
    // Only a socket speaking as `from` may send as `from`; the payload's seal is the real
    // authentication, this just keeps strangers from filling buffers under others' names.
    const joined = conn.joins.get(joinKey(frame.room, frame.from));
    if (!joined) {
      return reply(conn, { t: 'error', reason: `not joined as ${frame.from} in ${frame.room}` });
    }
    const { room, from, to, data } = frame;
    // Before the backplane: a sender over its rate costs nothing more than this check.
    if (!this.quotas.take(joined.sender, data.length)) {
      return reply(conn, { t: 'error', reason: 'send quota exceeded (messages or bytes per second); message not accepted' });
    }
    const share = this.recent?.admit(joined.sender, data.length);
    if (share) return reply(conn, { t: 'error', reason: share === 'sender' ? SENDER_BUFFER_FULL : BUFFERS_FULL });
    let accepted: void | Promise<void>;
    try {
      accepted = this.backplane.publish(room, from, to, data, joined.sender);
    } catch (err) {
      if (!(err instanceof RelayRefusal)) throw err;
      return reply(conn, { t: 'error', reason: err.message });
    }
    if (!(accepted instanceof Promise)) return;
    const p: Promise<void> = accepted.then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof RelayRefusal)) this.log(`send in ${room} failed: ${err instanceof Error ? err.message : String(err)}`);
        reply(conn, { t: 'error', reason: err instanceof RelayRefusal ? err.message : 'internal error' });
      },
    );
    conn.inflight.add(p);
    void p.finally(() => conn.inflight.delete(p));
  }

  /** Hands a message to every open socket joined as the party here; false if there is none. */
  private deliver(lp: LocalParty, m: Envelope): boolean {
    const targets = [...lp.members].filter((c) => c.ws.readyState === WebSocket.OPEN);
    for (const target of targets) reply(target, { t: 'msg', room: lp.room, from: m.from, to: lp.party, data: m.data });
    return targets.length > 0;
  }

  /** The backplane stopped delivering to this party: its sockets are closed so their owners notice and rejoin. */
  private failed(lp: LocalParty, reason: string): void {
    this.log(`delivery to ${lp.key} stopped: ${reason}; closing its sockets`);
    lp.sub = undefined;
    for (const conn of [...lp.members, ...lp.waiting]) conn.ws.close(RELAY_CLOSE_BACKPLANE_LOST, 'relay backplane unavailable');
  }

  private detach(conn: Conn): void {
    this.conns.delete(conn);
    for (const { room, party } of [...conn.joins.values()]) this.leave(conn, room, party);
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
      const { sig, cap } = f;
      // Evidence is short by construction (a 64-byte signature, a capability of ~170 characters).
      if (sig !== undefined && (typeof sig !== 'string' || sig.length > 128)) return fail('invalid sig');
      if (cap !== undefined && (typeof cap !== 'string' || cap.length > 256)) return fail('invalid cap');
      return { ok: true, frame: { t: 'join', room, party, req, ...(sig !== undefined ? { sig } : {}), ...(cap !== undefined ? { cap } : {}) } };
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
