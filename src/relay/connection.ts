/**
 * The client side of the relay's wire protocol (src/relay/protocol.ts), for devices
 * (browsers and Node alike) and signer nodes: the node's `RelayClient` (src/relay/client.ts)
 * is this class over `ws`, with Buffer's base64 and `ws`'s frame cap. It uses no Node
 * built-ins and has no runtime dependency on `ws`. It takes a WebSocket constructor instead:
 * the browser's `globalThis.WebSocket` (the default when present), or `ws`'s `WebSocket`
 * passed in by a Node caller.
 *
 * ```ts
 * import { WebSocket } from 'ws'; // Node only; a browser passes nothing
 * const relay = await RelayConnection.connect('ws://127.0.0.1:7700/', { WebSocket });
 * // A room client presents its room's capability (create-room's relay_capabilities[party]);
 * // a node connects with `signer` and its joins are signed instead.
 * await relay.join(room, 'device', (from, data) => inbox.push({ from, data }), { capability });
 * relay.send(room, 'device', 'node-1', sealedEnvelope);
 * await relay.close();
 * ```
 */
// protocol.ts is pure (no imports at all), so it is safe to share with the browser build.
import { HEARTBEAT_INTERVAL_MS, MAX_FRAME_BYTES, joinSigningText, type ClientFrame, type RelayFrame } from './protocol.js';
import { fromBase64, toBase64 } from '../core/base64.js';

export { fromBase64, toBase64 };

/** Called for each message addressed to a joined party; must not throw (it runs in the socket's event handler). */
export type MessageHandler = (from: string, data: Uint8Array) => void;

/** Parameter bivariance, so both the DOM's and `ws`'s handler property types fit. */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/**
 * The few members of a WebSocket this client uses; the browser's WebSocket and `ws`'s both
 * satisfy it. The `on` and `terminate` members exist only on `ws`'s socket and are used when
 * present: `on('ping')` feeds the heartbeat watchdog (a browser hides pings from scripts),
 * `terminate()` cuts a socket whose close handshake never finishes.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason?: string }> | null;
  onerror: Handler<unknown> | null;
  on?(event: 'ping', listener: () => void): unknown;
  terminate?(): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Standard base64 (with padding) of the opaque `data` of send and msg frames. */
export interface Base64Codec {
  encode(data: Uint8Array): string;
  /** A fresh Uint8Array; undefined (or throwing) for text that is not base64. */
  decode(text: string): Uint8Array | undefined;
}

/** A node's Ed25519 signature (64 bytes) over `message`, with its signing key. */
export type JoinSigner = (message: Uint8Array) => Uint8Array;

export interface RelayConnectOptions {
  /**
   * A node's: signs each join without a capability over the relay's challenge for this socket
   * (protocol.ts, "Admission"). Room clients need none; they join with a capability.
   */
  signer?: JoinSigner;
  /** Defaults to `globalThis.WebSocket` (browsers, Node >= 22); Node 20 callers pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketConstructor;
  timeoutMs?: number;
  /**
   * Defaults to the portable toBase64/fromBase64 below. A Node caller may pass Buffer's,
   * an order of magnitude faster on the ~50 KB messages of a DKLs23 round (see
   * bench/relay-bench.ts); the node's RelayClient does.
   */
  base64?: Base64Codec;
}

/** WebSocket readyState values (the same in the DOM and in `ws`). */
const CONNECTING = 0;
const OPEN = 1;

const DEFAULT_TIMEOUT_MS = 3000;
/** How long close() waits for the relay's close handshake before giving up on the socket. */
const CLOSE_GRACE_MS = 1000;
/** The relay pings every interval; this much silence means the connection is dead. */
const SILENCE_LIMIT_MS = 2.5 * HEARTBEAT_INTERVAL_MS;

interface PendingJoin {
  resolve(): void;
  reject(err: Error): void;
}

type Timer = ReturnType<typeof setTimeout>;

/** One socket to one relay, multiplexing any number of (room, party) joins. */
export class RelayConnection {
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly pending = new Map<number, PendingJoin>();
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private readonly errorListeners: Array<(reason: string) => void> = [];
  private readonly closeWaiters: Array<() => void> = [];
  private readonly watchdog: Timer | undefined;
  private nextReq = 1;
  private lastHeard = Date.now();
  private lastError: string | undefined;
  private closeReason: string | undefined;
  /** The relay's challenge for this socket, from its `hello`. */
  private challenge: string | undefined;
  /**
   * Frames written while a signed join waits for the challenge, kept in order behind it: the
   * relay's "frames are handled in the order sent" holds for what callers write meanwhile.
   */
  private held: Array<() => ClientFrame> | undefined;

  private constructor(
    private readonly ws: WebSocketLike,
    readonly url: string,
    private readonly base64: Base64Codec,
    private readonly signer: JoinSigner | undefined,
  ) {
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      // Binary frames are not part of the protocol: ignored.
      if (typeof ev.data === 'string') this.onFrame(ev.data);
    };
    // Error is always followed by close, which reports it.
    ws.onerror = (ev) => {
      this.lastError = eventMessage(ev) ?? this.lastError;
    };
    ws.onclose = (ev) => this.onClosed(this.lastError ?? `closed with code ${ev.code}`);
    // Pings are visible only on `ws`'s socket. A browser hides them (and answers them itself),
    // so there a half-open connection is noticed only when the browser gives up on it.
    if (typeof ws.on === 'function') {
      ws.on('ping', () => {
        this.lastHeard = Date.now();
      });
      this.watchdog = setInterval(() => {
        if (Date.now() - this.lastHeard <= SILENCE_LIMIT_MS) return;
        this.lastError = 'relay stopped answering heartbeats';
        this.cut();
      }, HEARTBEAT_INTERVAL_MS);
      unref(this.watchdog);
    }
  }

  static connect(url: string, opts: RelayConnectOptions = {}): Promise<RelayConnection> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) return Promise.reject(new Error(`relay ${url}: no WebSocket implementation (pass opts.WebSocket)`));
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new Ctor(url);
      } catch (err) {
        reject(new Error(`relay ${url}: ${errorText(err)}`));
        return;
      }
      if (ws.binaryType !== undefined) ws.binaryType = 'arraybuffer';
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Closing a connecting socket reports one more error (ws throws on an unheard one).
        detach(ws);
        try {
          if (ws.terminate) ws.terminate();
          else ws.close();
        } catch {
          // Already closed.
        }
        reject(new Error(`relay ${url}: ${why}`));
      };
      const timer = setTimeout(() => fail(`connect timed out after ${timeoutMs} ms`), timeoutMs);
      ws.onerror = (ev) => fail(eventMessage(ev) ?? 'connection failed');
      ws.onclose = (ev) => fail(`closed with code ${ev.code} before opening`);
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        detach(ws);
        resolve(new RelayConnection(ws, url, opts.base64 ?? PORTABLE_BASE64, opts.signer));
      };
    });
  }

  /** True once the socket can no longer carry frames (closing, closed or dropped). */
  get closed(): boolean {
    return this.closeReason !== undefined || this.ws.readyState !== OPEN;
  }

  /**
   * Resolves once the relay confirmed the join; buffered messages follow right after. With
   * `capability` the join presents it (a room client); without, a connection made with a
   * `signer` signs it (a node); a join with neither is refused by the relay.
   */
  join(room: string, party: string, onMessage: MessageHandler, opts: { timeoutMs?: number; capability?: string } = {}): Promise<void> {
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
      const { capability } = opts;
      if (capability !== undefined) return this.write({ t: 'join', room, party, req, cap: capability });
      const signer = this.signer;
      if (!signer) return this.write({ t: 'join', room, party, req });
      const signed = (challenge: string): ClientFrame => ({ t: 'join', room, party, req, sig: this.base64.encode(signer(UTF8.encode(joinSigningText(challenge, room, party)))) });
      if (this.challenge !== undefined && !this.held) return this.write(signed(this.challenge));
      (this.held ??= []).push(() => signed(this.challenge!));
    });
  }

  leave(room: string, party: string): void {
    this.handlers.delete(joinKey(room, party));
    // A dropped socket has already lost its joins on the relay side.
    if (!this.closed) this.write({ t: 'leave', room, party });
  }

  /**
   * Sends `data` to `to`. The size is left to the relay: a frame above
   * MAX_FRAME_BYTES is answered with an `error` ("frame too large", see onError), and one above
   * twice that makes the relay drop the socket (code 1009).
   */
  send(room: string, from: string, to: string, data: Uint8Array): void {
    if (this.closed) throw new Error(`relay ${this.url}: socket is closed`);
    this.write({ t: 'send', room, from, to, data: this.base64.encode(data) });
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

  /** Closes with code 1000; resolves once closed, or after a grace period if the relay never answers. */
  close(): Promise<void> {
    if (this.closeReason !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => this.cut(), CLOSE_GRACE_MS);
      this.closeWaiters.push(() => {
        clearTimeout(force);
        resolve();
      });
      if (this.ws.readyState === OPEN || this.ws.readyState === CONNECTING) this.ws.close(1000);
    });
  }

  /** Drops the socket without a handshake: `ws` can terminate it; a browser's is abandoned. */
  private cut(): void {
    if (this.closeReason !== undefined) return;
    if (this.ws.terminate) return this.ws.terminate(); // emits close, which runs onClosed
    detach(this.ws);
    try {
      this.ws.close();
    } catch {
      // Nothing more can be done with it.
    }
    this.onClosed(this.lastError ?? 'close handshake timed out');
  }

  private write(frame: ClientFrame): void {
    if (this.held) this.held.push(() => frame);
    else this.ws.send(JSON.stringify(frame));
  }

  /** The relay's challenge arrived: what waited for it goes out, in order. Only the first hello counts. */
  private onHello(challenge: string): void {
    if (this.challenge !== undefined) return;
    this.challenge = challenge;
    const held = this.held ?? [];
    this.held = undefined;
    for (const make of held) {
      if (this.closed) return;
      let frame: ClientFrame;
      try {
        frame = make();
      } catch (err) {
        // A signer that fails leaves its join unanswered (it times out); the frames behind it go on.
        this.lastError = `join signing failed: ${errorText(err)}`;
        continue;
      }
      this.ws.send(JSON.stringify(frame));
    }
  }

  private onFrame(text: string): void {
    if (utf8Exceeds(text, MAX_FRAME_BYTES)) return this.refuseOversized();
    // The relay is not trusted with content, and a malformed frame from it is not worth a crash.
    const frame = parseRelayFrame(text);
    if (!frame) return;
    switch (frame.t) {
      case 'hello':
        return this.onHello(frame.challenge);
      case 'joined':
        return this.pending.get(frame.req)?.resolve();
      case 'msg': {
        const handler = this.handlers.get(joinKey(frame.room, frame.to));
        if (!handler) return;
        let data: Uint8Array | undefined;
        try {
          data = this.base64.decode(frame.data);
        } catch {
          data = undefined;
        }
        // Invalid base64 can only come from a broken sender or relay; the payload is sealed anyway.
        if (data) handler(frame.from, data);
        return;
      }
      case 'error': {
        const join = frame.req === undefined ? undefined : this.pending.get(frame.req);
        if (join) return join.reject(new Error(`relay ${this.url}: ${frame.reason}`));
        for (const cb of this.errorListeners) cb(frame.reason);
      }
    }
  }

  /**
   * An incoming frame above MAX_FRAME_BYTES ends the connection, on a signer node and on a
   * device alike (reported to onClose like any other drop; pending joins reject).
   *
   * An honest relay never sends one: it refuses any send frame above the limit, the msg frame
   * it forwards is never larger than that send frame (the same fields, "msg" is shorter than
   * "send", and re-serialising only removes escapes and whitespace), and its joined and error
   * frames are small. So such a frame means a broken or hostile relay, or something tampering
   * with a ws:// stream, and refusing it loses nothing a peer sent. Why close rather than skip it:
   * - memory: `ws` (the node, see src/relay/client.ts) enforces the cap from the frame header,
   *   before buffering any of it, and can only do so by failing the connection (1009).
   *   Skipping would mean reading whole frames up to ws's 100 MiB default, as often as the
   *   relay likes, on every signer node using it.
   * - visibility: the owner learns of it through onClose; a node logs it and reconnects its
   *   inbox through its pool. A skipped frame would leave no trace of a faulty relay.
   * - it gives the relay nothing: it can already close the socket or withhold any message.
   *   A ceremony running over this socket fails as if the relay had dropped it: this party's
   *   next send throws, and its peers see it go silent (an absence, not misbehaviour) and
   *   time out, as with any relay failure; the caller may retry, through a working relay.
   * A browser cannot cap what it receives, so there the frame has already been read when this
   * check (on its UTF-8 size, as ws counts) runs; it then closes the same way, for the other
   * reasons, so that devices and nodes behave alike. A Node caller passing `ws`'s plain
   * WebSocket lands here too (ws's own default cap is 100 MiB).
   */
  private refuseOversized(): void {
    this.lastError = `relay sent a frame larger than ${MAX_FRAME_BYTES} bytes`;
    // Nothing after it is to be trusted or delivered, even frames ws has already parsed.
    this.ws.onmessage = null;
    this.cut();
  }

  private onClosed(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    for (const join of [...this.pending.values()]) join.reject(new Error(`relay ${this.url}: ${reason}`));
    this.handlers.clear();
    for (const cb of this.closeListeners.splice(0)) cb(reason);
    for (const done of this.closeWaiters.splice(0)) done();
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  // Not null: `ws` throws on an error event nobody listens to.
  ws.onerror = () => {};
}

function unref(timer: Timer): void {
  // Node's timers keep the process alive; a browser's are plain numbers.
  (timer as { unref?: () => void }).unref?.();
}

function joinKey(room: string, party: string): string {
  return `${room}/${party}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `ws`'s error event carries a message; a browser's carries nothing useful. */
function eventMessage(ev: unknown): string | undefined {
  const message = typeof ev === 'object' && ev !== null ? (ev as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

const UTF8 = new TextEncoder();
let utf8Scratch: Uint8Array | undefined;

/** Whether `text` takes more than `limit` bytes in UTF-8 (what ws's maxPayload counts). */
function utf8Exceeds(text: string, limit: number): boolean {
  // Every UTF-16 unit takes 1 to 3 bytes, so most frames are decided by their length alone.
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  // Encoded into `limit` bytes (a scratch buffer kept from the first such frame): the whole
  // text fits, or it is too large. Native, so ~100x faster than counting in a loop (the frame
  // of a 512 KiB message lands here).
  if (utf8Scratch?.length !== limit) utf8Scratch = new Uint8Array(limit);
  return UTF8.encodeInto(text, utf8Scratch).read < text.length;
}

const PORTABLE_BASE64: Base64Codec = { encode: toBase64, decode: fromBase64 };

/** Relay frames as the protocol defines them; anything else is dropped. */
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
    case 'hello':
      // 32 random bytes in base64: anything else is not a relay's challenge.
      return str(f.challenge) && /^[A-Za-z0-9+/]{43}=$/.test(f.challenge) ? { t: 'hello', challenge: f.challenge } : undefined;
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
