import { isIPv4, isIPv6 } from 'node:net';
import { WebSocket } from 'ws';
import { RelayConnection, type Base64Codec, type JoinSigner } from './connection.js';
import { MAX_FRAME_BYTES } from './protocol.js';

/**
 * The node's relay client is RelayConnection (connection.ts, which the SDK uses too), the one
 * client implementation of the relay protocol: one socket to one relay, multiplexing any
 * number of (room, party) joins, with join acknowledgements and timeouts, error frames, the
 * heartbeat watchdog (ws shows the relay's pings), terminate() on a stuck close, and
 * onClose/onError. On a node it runs over `ws`, with Buffer's base64 and ws's frame cap.
 */
export type RelayClient = RelayConnection;

export const RelayClient = {
  /** A node passes `signer` (its Ed25519 signing key), which signs its joins; see protocol.ts, "Admission". */
  connect(url: string, opts: { timeoutMs?: number; signer?: JoinSigner } = {}): Promise<RelayClient> {
    return RelayConnection.connect(url, { ...opts, WebSocket: CappedWebSocket, base64: BUFFER_BASE64 });
  },
};

/**
 * ws's WebSocket with maxPayload at the protocol's limit, so that a relay's frame above it is
 * refused from its header, before any of it is buffered, and fails the connection (1009): the
 * behaviour RelayConnection has for every WebSocket (why closing is right is explained at its
 * refuseOversized). A msg frame is never larger than the send frame that produced it.
 */
class CappedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { maxPayload: MAX_FRAME_BYTES });
  }
}

/**
 * Buffer's base64: an order of magnitude faster than the portable codec on Node (see
 * bench/relay-bench.ts). Its decoder skips what is not base64 where the portable one refuses
 * the message; either way junk never passes the ceremony channel's authentication.
 */
const BUFFER_BASE64: Base64Codec = {
  encode: (data) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
  // Copied out of Buffer's shared pool into a plain Uint8Array of its own.
  decode: (text) => new Uint8Array(Buffer.from(text, 'base64')),
};

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
