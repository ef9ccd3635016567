import type { NodeSigningKey } from '../policy/types.js';
import { MAX_CAPABILITY_LIFETIME_MS, capabilitySigningText, formatCapability } from '../relay/protocol.js';

/**
 * Capabilities a node issues to a room's clients: its Ed25519 signature (the node's signing
 * key, under the relay's own domain) over (itself, room, party, expiry), which any relay that
 * lists this node checks before it lets the client join that room as that party. A client gets
 * one for each of its party ids in create-room's answer (`relay_capabilities`).
 *
 * Valid until the room expires plus a ceremony's worth of time: a ceremony claimed just before
 * the room's expiry still lets its client (re)join. Never longer than a relay accepts.
 */
const AFTER_ROOM_EXPIRY_MS = 5 * 60_000;

export function issueRelayCapability(key: NodeSigningKey, room: string, party: string, roomExpiresAt: Date, now = Date.now()): string {
  const expiresAtMs = Math.min(roomExpiresAt.getTime() + AFTER_ROOM_EXPIRY_MS, now + MAX_CAPABILITY_LIFETIME_MS - 60_000);
  const signature = Buffer.from(key.sign(new TextEncoder().encode(capabilitySigningText(key.nodeId, room, party, expiresAtMs)))).toString('base64url');
  return formatCapability({ issuer: key.nodeId, expiresAtMs, signature });
}
