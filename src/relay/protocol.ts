/**
 * The relay's wire protocol: JSON text frames over one WebSocket per (client, relay).
 * The relay routes opaque `data` (base64 of an end-to-end sealed envelope) between
 * parties of a room; it can neither read nor forge what it carries.
 */
export type ClientFrame =
  /**
   * Receive messages addressed to `party` in `room` on this socket, and send as it. The relay
   * admits a join only with evidence (see "Admission" below): `sig` for a node's own party id,
   * `cap` for a room client.
   */
  | { t: 'join'; room: string; party: string; req: number; sig?: string; cap?: string }
  | { t: 'leave'; room: string; party: string }
  /** Deliver `data` to `to` in `room`; buffered until `to` joins (bounded, expiring). */
  | { t: 'send'; room: string; from: string; to: string; data: string };

export type RelayFrame =
  /** The relay's first frame on every socket: the challenge a node signs in its joins (base64 of 32 random bytes). */
  | { t: 'hello'; challenge: string }
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

/**
 * Admission. A relay knows the cluster's nodes (party id -> Ed25519 signing public key, the
 * key each node also signs its Rule Server requests with, under another domain) and admits:
 * - a node's party id only with `sig`: base64 of the node's Ed25519 signature over
 *   joinSigningText(challenge of this socket, room, party). The challenge is fresh per socket,
 *   so a signature is worth nothing on another connection;
 * - any other party id only with `cap`: a capability a node signed for exactly (room, party)
 *   until an expiry (capabilitySigningText), handed to the room's clients by create-room.
 * Everything else is refused. The texts are built here, without imports, so that relay, node
 * and browser SDK agree on them byte for byte; room and party ids cannot hold '\n'.
 */
export const JOIN_DOMAIN = 'tandem-relay-join/v1';
export const CAPABILITY_DOMAIN = 'tandem-relay-capability/v1';
/** A capability expiring later than this from now is refused: tokens are for one room's life (at most an hour) plus its ceremony. */
export const MAX_CAPABILITY_LIFETIME_MS = 2 * 3600_000;

export function joinSigningText(challenge: string, room: string, party: string): string {
  return `${JOIN_DOMAIN}\n${challenge}\n${room}\n${party}`;
}

export function capabilitySigningText(issuer: string, room: string, party: string, expiresAtMs: number): string {
  return `${CAPABILITY_DOMAIN}\n${issuer}\n${room}\n${party}\n${expiresAtMs}`;
}

/** A capability as it travels: `v1.<issuer node id>.<expiry, ms since the epoch>.<base64url signature>`. */
export interface Capability {
  issuer: string;
  expiresAtMs: number;
  /** base64url, as in the token. */
  signature: string;
}

const CAPABILITY_RE = /^v1\.([A-Za-z0-9_-]{1,64})\.([0-9]{1,15})\.([A-Za-z0-9_-]{86})$/;

export function formatCapability(c: Capability): string {
  return `v1.${c.issuer}.${c.expiresAtMs}.${c.signature}`;
}

/** undefined for anything that is not a well-formed token (the signature is checked by the relay). */
export function parseCapability(token: string): Capability | undefined {
  const m = CAPABILITY_RE.exec(token);
  if (!m) return undefined;
  return { issuer: m[1]!, expiresAtMs: Number(m[2]), signature: m[3]! };
}
