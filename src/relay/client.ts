import { isIPv4, isIPv6 } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { HEARTBEAT_INTERVAL_MS, MAX_FRAME_BYTES, type ClientFrame, type RelayFrame } from './protocol.js';

/** Called for each message addressed to a joined party; must not throw (it runs in ws's event loop). */
export type MessageHandler = (from: string, data: Uint8Array) => void;

const DEFAULT_TIMEOUT_MS = 3000;
/** How long close() waits for the relay's close handshake before cutting the socket. */
const CLOSE_GRACE_MS = 1000;
/** The relay pings every interval; this much silence means the connection is dead. */
const SILENCE_LIMIT_MS = 2.5 * HEARTBEAT_INTERVAL_MS;

interface PendingJoin {
  resolve(): void;
  reject(err: Error): void;
}

/** One socket to one relay, multiplexing any number of (room, party) joins. */
export class RelayClient {
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly pending = new Map<number, PendingJoin>();
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private readonly errorListeners: Array<(reason: string) => void> = [];
  private readonly watchdog: NodeJS.Timeout;
  private nextReq = 1;
  private lastHeard = Date.now();
  private lastError: string | undefined;
  private closeReason: string | undefined;

  private constructor(
    private readonly ws: WebSocket,
    readonly url: string,
  ) {
    ws.on('message', (raw, isBinary) => {
      this.lastHeard = Date.now();
      if (!isBinary) this.onFrame(rawText(raw));
    });
    ws.on('ping', () => {
      this.lastHeard = Date.now();
    });
    // Without a listener ws would throw; 'close' always follows and reports it.
    ws.on('error', (err) => {
      this.lastError = err.message;
    });
    ws.on('close', (code) => this.onClosed(this.lastError ?? `closed with code ${code}`));
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard <= SILENCE_LIMIT_MS) return;
      this.lastError = 'relay stopped answering heartbeats';
      ws.terminate();
    }, HEARTBEAT_INTERVAL_MS).unref();
  }

  static connect(url: string, opts: { timeoutMs?: number } = {}): Promise<RelayClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        // A msg frame is never larger than the send frame that produced it.
        ws = new WebSocket(url, { maxPayload: MAX_FRAME_BYTES });
      } catch (err) {
        reject(new Error(`relay ${url}: ${errorText(err)}`));
        return;
      }
      const fail = (why: string): void => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => {}); // terminate() on a connecting socket emits one more error
        ws.terminate();
        reject(new Error(`relay ${url}: ${why}`));
      };
      const timer = setTimeout(() => fail(`connect timed out after ${timeoutMs} ms`), timeoutMs);
      ws.once('error', (err) => fail(err.message));
      ws.once('open', () => {
        clearTimeout(timer);
        ws.removeAllListeners();
        resolve(new RelayClient(ws, url));
      });
    });
  }

  /** True once the socket can no longer carry frames (closing, closed or dropped). */
  get closed(): boolean {
    return this.ws.readyState !== WebSocket.OPEN;
  }

  /** Resolves once the relay confirmed the join; buffered messages follow right after. */
  join(room: string, party: string, onMessage: MessageHandler, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`relay ${this.url}: socket is closed`));
    const key = joinKey(room, party);
    const req = this.nextReq++;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Registered before the frame goes out: buffered messages arrive right behind `joined`.
    this.handlers.set(key, onMessage);
    return new Promise((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        this.pending.delete(req);
        if (!err) return resolve();
        if (this.handlers.get(key) === onMessage) this.handlers.delete(key);
        reject(err);
      };
      const timer = setTimeout(
        () => settle(new Error(`relay ${this.url}: join ${room}/${party} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.set(req, { resolve: () => settle(), reject: settle });
      this.write({ t: 'join', room, party, req });
    });
  }

  leave(room: string, party: string): void {
    this.handlers.delete(joinKey(room, party));
    // A dropped socket has already lost its joins on the relay side.
    if (!this.closed) this.write({ t: 'leave', room, party });
  }

  send(room: string, from: string, to: string, data: Uint8Array): void {
    if (this.closed) throw new Error(`relay ${this.url}: socket is closed`);
    const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    this.write({ t: 'send', room, from, to, data: b64 });
  }

  /** Told once, with a reason, when the socket is gone (dropped or closed); the owner may reconnect. */
  onClose(cb: (reason: string) => void): void {
    const reason = this.closeReason;
    if (reason === undefined) this.closeListeners.push(cb);
    else queueMicrotask(() => cb(reason));
  }

  /** Relay errors not tied to a join, e.g. a refused send. */
  onError(cb: (reason: string) => void): void {
    this.errorListeners.push(cb);
  }

  close(): Promise<void> {
    if (this.closeReason !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
      this.ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.ws.close(1000);
    });
  }

  private write(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  private onFrame(text: string): void {
    // The relay is not trusted with content, and a malformed frame from it is not worth a crash.
    const frame = parseRelayFrame(text);
    if (!frame) return;
    switch (frame.t) {
      case 'joined':
        return this.pending.get(frame.req)?.resolve();
      case 'msg':
        return this.handlers.get(joinKey(frame.room, frame.to))?.(frame.from, new Uint8Array(Buffer.from(frame.data, 'base64')));
      case 'error': {
        const join = frame.req === undefined ? undefined : this.pending.get(frame.req);
        if (join) return join.reject(new Error(`relay ${this.url}: ${frame.reason}`));
        for (const cb of this.errorListeners) cb(frame.reason);
      }
    }
  }

  private onClosed(reason: string): void {
    this.closeReason = reason;
    clearInterval(this.watchdog);
    for (const join of [...this.pending.values()]) join.reject(new Error(`relay ${this.url}: ${reason}`));
    this.handlers.clear();
    for (const cb of this.closeListeners.splice(0)) cb(reason);
  }
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PORT_RE = /^[1-9][0-9]{0,4}$/;

/** `host:port` (hostname, IPv4 or [IPv6]) to the relay's WebSocket URL; throws on anything else. */
export function relayUrl(address: string): string {
  const bad = (why: string): Error => new Error(`invalid relay address ${JSON.stringify(address)}: ${why}`);
  const sep = address.lastIndexOf(':');
  if (sep < 0) throw bad('expected host:port');
  const host = address.slice(0, sep);
  const port = address.slice(sep + 1);
  if (!PORT_RE.test(port) || Number(port) > 65535) throw bad('port must be 1..65535');
  if (host.startsWith('[') && host.endsWith(']')) {
    if (!isIPv6(host.slice(1, -1))) throw bad('invalid IPv6 address');
  } else if (!isIPv4(host)) {
    // All-numeric dotted names are malformed IPv4, not hostnames.
    if (!HOSTNAME_RE.test(host) || /^[0-9.]+$/.test(host)) throw bad('invalid host');
  }
  return `ws://${host}:${port}/`;
}

function joinKey(room: string, party: string): string {
  return `${room}/${party}`;
}

function rawText(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  return (Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw)).toString('utf8');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function parseRelayFrame(text: string): RelayFrame | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const f = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string';
  switch (f.t) {
    case 'joined':
      return typeof f.req === 'number' && str(f.room) && str(f.party)
        ? { t: 'joined', room: f.room, party: f.party, req: f.req }
        : undefined;
    case 'msg':
      return str(f.room) && str(f.from) && str(f.to) && str(f.data)
        ? { t: 'msg', room: f.room, from: f.from, to: f.to, data: f.data }
        : undefined;
    case 'error':
      if (!str(f.reason)) return undefined;
      return typeof f.req === 'number' ? { t: 'error', reason: f.reason, req: f.req } : { t: 'error', reason: f.reason };
    default:
      return undefined;
  }
}
