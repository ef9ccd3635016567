/**
 * The relay's wire protocol: JSON text frames over one WebSocket per (client, relay).
 * The relay routes opaque `data` (base64 of an end-to-end sealed envelope) between
 * parties of a room; it can neither read nor forge what it carries.
 */
export type ClientFrame =
  /** Receive messages addressed to `party` in `room` on this socket. */
  | { t: 'join'; room: string; party: string; req: number }
  | { t: 'leave'; room: string; party: string }
  /** Deliver `data` to `to` in `room`; buffered until `to` joins (bounded, expiring). */
  | { t: 'send'; room: string; from: string; to: string; data: string };

export type RelayFrame =
  | { t: 'joined'; room: string; party: string; req: number }
  /**
   * `to` is the party the message was addressed to: one socket may join several parties
   * of a room (e.g. nodes sharing a process), and without it the client couldn't route.
   */
  | { t: 'msg'; room: string; from: string; to: string; data: string }
  | { t: 'error'; reason: string; req?: number };

export const ROOM_RE = /^[A-Za-z0-9:_-]{1,128}$/;
export const RELAY_PARTY_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Largest frame the relay accepts; protocol messages are a few KiB. */
export const MAX_FRAME_BYTES = 1 << 20;
/**
 * The relay pings every socket this often and drops those that missed the previous pong;
 * a client that hears nothing (no ping, no frame) for a few intervals treats the relay as gone.
 */
export const HEARTBEAT_INTERVAL_MS = 15_000;
/**
 * WebSocket close code (1013, "try again later") with which a relay drops its sockets when it
 * loses its backplane (NATS, for a relay shared by several processes): it can neither accept
 * nor deliver messages, so parties reconnect, to it once it recovers or to another relay.
 */
export const RELAY_CLOSE_BACKPLANE_LOST = 1013;
