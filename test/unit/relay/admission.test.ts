import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateSigningKey } from '../../../src/policy/node-signing-key.js';
import type { NodeSigningKey } from '../../../src/policy/types.js';
import { RelayAdmission } from '../../../src/relay/admission.js';
import { capabilitySigningText, formatCapability, joinSigningText, MAX_CAPABILITY_LIFETIME_MS, parseCapability } from '../../../src/relay/protocol.js';

/**
 * The relay's decision on one join, in process: a node's party id only with its own key's
 * signature over this socket's challenge; any other party only with an unexpired capability a
 * listed node signed for exactly that room and party.
 */
const NOW = 1_750_000_000_000;
const CHALLENGE = Buffer.alloc(32, 7).toString('base64');
const utf8 = (s: string) => new TextEncoder().encode(s);
const keys = new Map<string, NodeSigningKey>(['node-1', 'node-2'].map((id) => [id, generateSigningKey(id)]));
const key = (id: string) => keys.get(id)!;
const nodeOf = (k: NodeSigningKey) => ({ id: k.nodeId, signingKey: new Uint8Array(Buffer.from(k.publicKeyHex, 'hex')) });
const admission = new RelayAdmission([...keys.values()].map(nodeOf));

const joinSig = (signer: NodeSigningKey, room: string, party: string, challenge = CHALLENGE) => Buffer.from(signer.sign(utf8(joinSigningText(challenge, room, party)))).toString('base64');
function capability(signer: NodeSigningKey, room: string, party: string, expiresAtMs = NOW + 60_000, issuer = signer.nodeId): string {
  const signature = Buffer.from(signer.sign(utf8(capabilitySigningText(issuer, room, party, expiresAtMs)))).toString('base64url');
  return formatCapability({ issuer, expiresAtMs, signature });
}
const check = (join: { room: string; party: string; sig?: string; cap?: string }, challenge = CHALLENGE) => admission.check(join, challenge, NOW);
const refusedWith = (reason: string) => ({ ok: false, reason: `join refused: ${reason}` });

describe('RelayAdmission: the list of nodes', () => {
  test('knows the listed nodes', () => {
    assert.equal(admission.nodeCount, 2);
    assert.equal(admission.isNode('node-1'), true);
    assert.equal(admission.isNode('client'), false);
  });

  test('a node listed twice, or a key that is not 32 bytes, is refused', () => {
    const n1 = nodeOf(key('node-1'));
    assert.throws(() => new RelayAdmission([n1, { ...n1 }]), { message: 'relay nodes: node-1 listed twice' });
    assert.throws(() => new RelayAdmission([{ id: 'node-3', signingKey: new Uint8Array(31) }]), { message: 'relay nodes: node-3: signing key must be 32 bytes' });
  });
});

describe("a node's party id", () => {
  test("is admitted with the node's signature over this socket's challenge, room and party", () => {
    assert.deepEqual(check({ room: 'tandem-inbox', party: 'node-2', sig: joinSig(key('node-2'), 'tandem-inbox', 'node-2') }), { ok: true, sender: { key: 'node-2', node: true } });
  });

  test('is refused without a signature, even with a capability', () => {
    const reason = refusedWith('node-2 is a node: its join must be signed with its key');
    assert.deepEqual(check({ room: 'r', party: 'node-2' }), reason);
    assert.deepEqual(check({ room: 'r', party: 'node-2', cap: capability(key('node-1'), 'r', 'node-2') }), reason);
  });

  test("is refused with another node's signature, or a signature over another challenge, room or party", () => {
    const reason = refusedWith('bad join signature for node-2');
    const cases = [
      joinSig(key('node-1'), 'r', 'node-2'),
      joinSig(key('node-2'), 'r', 'node-2', Buffer.alloc(32, 8).toString('base64')),
      joinSig(key('node-2'), 'other-room', 'node-2'),
      joinSig(key('node-2'), 'r', 'node-1'),
    ];
    for (const sig of cases) assert.deepEqual(check({ room: 'r', party: 'node-2', sig }), reason);
  });

  test('a signature in a non-canonical encoding, of the wrong length or garbage is refused, never thrown', () => {
    const good = joinSig(key('node-2'), 'r', 'node-2');
    const reason = refusedWith('bad join signature for node-2');
    assert.deepEqual(check({ room: 'r', party: 'node-2', sig: good.replace(/=+$/, '') }).ok, true, 'padding is optional');
    // The last character of 64 bytes in base64 carries 4 unused bits: flipping one decodes to the same bytes.
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const nonCanonical = good.slice(0, 85) + B64[B64.indexOf(good[85]!) ^ 1] + good.slice(86);
    assert.deepEqual(Buffer.from(nonCanonical, 'base64'), Buffer.from(good, 'base64'));
    for (const sig of ['', 'not base64!', `${good.slice(0, 10)} ${good.slice(10)}`, good.slice(0, -4), `${good}AAAA`, nonCanonical, 'A'.repeat(86) + '==']) {
      assert.deepEqual(check({ room: 'r', party: 'node-2', sig }), reason, JSON.stringify(sig));
    }
  });
});

describe("a room client's party id", () => {
  test("is admitted with a listed node's capability for that room and party; its sender is the room's client", () => {
    for (const issuer of ['node-1', 'node-2']) {
      assert.deepEqual(check({ room: 'room-1', party: 'client_a', cap: capability(key(issuer), 'room-1', 'client_a') }), { ok: true, sender: { key: 'room-1/client_a', node: false } });
    }
  });

  test('is refused without a capability, or with a malformed one', () => {
    assert.deepEqual(check({ room: 'room-1', party: 'client_a' }), refusedWith('unknown party client_a: a room client joins with the capability of its room'));
    assert.deepEqual(check({ room: 'room-1', party: 'client_a', cap: 'v1.node-1.1.short' }), refusedWith('malformed capability'));
    assert.deepEqual(check({ room: 'room-1', party: 'client_a', sig: joinSig(key('node-1'), 'room-1', 'client_a') }), refusedWith('unknown party client_a: a room client joins with the capability of its room'));
  });

  test('a capability for another room or party does not admit', () => {
    const reason = refusedWith('capability is not valid for client_a in this room');
    assert.deepEqual(check({ room: 'room-1', party: 'client_a', cap: capability(key('node-1'), 'room-2', 'client_a') }), reason);
    assert.deepEqual(check({ room: 'room-1', party: 'client_a', cap: capability(key('node-1'), 'room-1', 'client_b') }), reason);
  });

  test('a capability naming another issuer than its signer, or an unknown issuer, does not admit', () => {
    assert.deepEqual(
      check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW + 60_000, 'node-2') }),
      refusedWith('capability is not valid for c in this room'),
      "node-1's signature presented as node-2's",
    );
    const stranger = generateSigningKey('node-9');
    assert.deepEqual(check({ room: 'r', party: 'c', cap: capability(stranger, 'r', 'c') }), refusedWith('capability from an unknown issuer'));
  });

  test('the expiry is signed: a token whose expiry was moved does not admit', () => {
    const cap = parseCapability(capability(key('node-1'), 'r', 'c', NOW + 1000))!;
    const moved = formatCapability({ ...cap, expiresAtMs: NOW + 3_600_000 });
    assert.deepEqual(check({ room: 'r', party: 'c', cap: moved }), refusedWith('capability is not valid for c in this room'));
  });

  test('an expired capability, or one that lives longer than the relay accepts, is refused', () => {
    assert.deepEqual(check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW) }), refusedWith('capability expired'));
    assert.deepEqual(check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW - 1) }), refusedWith('capability expired'));
    assert.equal(check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW + 1) }).ok, true);
    assert.equal(check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW + MAX_CAPABILITY_LIFETIME_MS) }).ok, true);
    assert.deepEqual(check({ room: 'r', party: 'c', cap: capability(key('node-1'), 'r', 'c', NOW + MAX_CAPABILITY_LIFETIME_MS + 1) }), refusedWith('capability lives too long'));
  });

  test('refusals are fixed texts: nothing of the evidence is echoed', () => {
    const cap = capability(key('node-1'), 'room-2', 'c');
    const r = check({ room: 'r', party: 'c', cap });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && !r.reason.includes(parseCapability(cap)!.signature));
  });
});
