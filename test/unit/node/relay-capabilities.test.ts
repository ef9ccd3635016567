import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { issueRelayCapability } from '../../../src/node/relay-capabilities.js';
import { generateSigningKey } from '../../../src/policy/node-signing-key.js';
import { RelayAdmission } from '../../../src/relay/admission.js';
import { MAX_CAPABILITY_LIFETIME_MS, parseCapability } from '../../../src/relay/protocol.js';

/** Capabilities a node hands a room's clients, as a relay listing that node checks them. */
const NOW = 1_750_000_000_000;
const key = generateSigningKey('node-1');
const relay = new RelayAdmission([{ id: 'node-1', signingKey: new Uint8Array(Buffer.from(key.publicKeyHex, 'hex')) }]);

describe('issueRelayCapability', () => {
  test("valid until five minutes after the room expires, signed by the node as issuer", () => {
    const roomExpiry = new Date(NOW + 30 * 60_000);
    const cap = parseCapability(issueRelayCapability(key, 'room-1', 'client_a', roomExpiry, NOW));
    assert.equal(cap?.issuer, 'node-1');
    assert.equal(cap?.expiresAtMs, roomExpiry.getTime() + 5 * 60_000);
  });

  test('never longer than a relay accepts, with a minute to spare for clocks', () => {
    const cap = parseCapability(issueRelayCapability(key, 'room-1', 'client_a', new Date(NOW + 10 * 3600_000), NOW));
    assert.equal(cap?.expiresAtMs, NOW + MAX_CAPABILITY_LIFETIME_MS - 60_000);
    // A relay whose clock is up to a minute behind still takes it.
    assert.equal(relay.check({ room: 'room-1', party: 'client_a', cap: issueRelayCapability(key, 'room-1', 'client_a', new Date(NOW + 10 * 3600_000), NOW) }, 'c', NOW - 59_000).ok, true);
  });

  test('a relay admits it for its room and party until it expires, and nowhere else', () => {
    const expiry = new Date(NOW + 60_000);
    const cap = issueRelayCapability(key, 'room-1', 'client_a', expiry, NOW);
    const at = (room: string, party: string, now: number) => relay.check({ room, party, cap }, 'challenge', now);
    assert.deepEqual(at('room-1', 'client_a', NOW), { ok: true, sender: { key: 'room-1/client_a', node: false } });
    assert.equal(at('room-1', 'client_a', expiry.getTime() + 5 * 60_000 - 1).ok, true, 'still during the ceremony after the room expired');
    assert.deepEqual(at('room-1', 'client_a', expiry.getTime() + 5 * 60_000), { ok: false, reason: 'join refused: capability expired' });
    assert.equal(at('room-2', 'client_a', NOW).ok, false);
    assert.equal(at('room-1', 'client_b', NOW).ok, false);
  });

  test("another node's relay list does not admit it", () => {
    const other = generateSigningKey('node-1');
    const stranger = new RelayAdmission([{ id: 'node-1', signingKey: new Uint8Array(Buffer.from(other.publicKeyHex, 'hex')) }]);
    const cap = issueRelayCapability(key, 'room-1', 'client_a', new Date(NOW + 60_000), NOW);
    assert.deepEqual(stranger.check({ room: 'room-1', party: 'client_a', cap }, 'c', NOW), { ok: false, reason: 'join refused: capability is not valid for client_a in this room' });
  });
});
