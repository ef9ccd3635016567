import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  capabilitySigningText,
  formatCapability,
  joinSigningText,
  parseCapability,
  RELAY_PARTY_RE,
  ROOM_RE,
} from '../../../src/relay/protocol.js';

const SIG = 'A'.repeat(85) + 'w'; // 86 base64url characters: a 64-byte signature

describe('relay protocol', () => {
  test('the signed texts are fixed, domain-separated and line-delimited', () => {
    assert.equal(joinSigningText('Y2hhbGxlbmdl', 'room-1', 'node-2'), 'tandem-relay-join/v1\nY2hhbGxlbmdl\nroom-1\nnode-2');
    assert.equal(capabilitySigningText('node-1', 'room-1', 'client_a', 1700000000000), 'tandem-relay-capability/v1\nnode-1\nroom-1\nclient_a\n1700000000000');
    assert.notEqual(joinSigningText('c', 'r', 'p'), capabilitySigningText('c', 'r', 'p', 0).replace('capability', 'join'), 'the two texts have different shapes');
  });

  test('room and party ids cannot hold a newline, so no signed text is ambiguous', () => {
    for (const ok of ['room-1', 'a:b_c-D', 'x'.repeat(128)]) assert.ok(ROOM_RE.test(ok), ok);
    for (const bad of ['', 'room\n1', 'room 1', 'room/1', 'x'.repeat(129)]) assert.ok(!ROOM_RE.test(bad), JSON.stringify(bad));
    for (const ok of ['node-1', 'client_A', 'x'.repeat(64)]) assert.ok(RELAY_PARTY_RE.test(ok), ok);
    for (const bad of ['', 'a:b', 'a\nb', 'x'.repeat(65)]) assert.ok(!RELAY_PARTY_RE.test(bad), JSON.stringify(bad));
  });

  test('a capability round-trips through its token', () => {
    const c = { issuer: 'node-1', expiresAtMs: 1700000000000, signature: SIG };
    const token = formatCapability(c);
    assert.equal(token, `v1.node-1.1700000000000.${SIG}`);
    assert.deepEqual(parseCapability(token), c);
  });

  test('anything but a well-formed v1 token parses to undefined', () => {
    const bad = [
      '',
      `v2.node-1.1.${SIG}`,
      `v1..1.${SIG}`,
      `v1.node.1.1.${SIG}`,
      `v1.node-1.-1.${SIG}`,
      `v1.node-1.1.5.${SIG}`,
      `v1.node-1.${'9'.repeat(16)}.${SIG}`,
      `v1.node-1.1.${SIG.slice(1)}`,
      `v1.node-1.1.${SIG}A`,
      `v1.node-1.1.${SIG.slice(1)}+`,
      `v1.node-1.1.${SIG.slice(1)}=`,
      ` v1.node-1.1.${SIG}`,
      `v1.node-1.1.${SIG}\n`,
      `v1.${'n'.repeat(65)}.1.${SIG}`,
    ];
    for (const token of bad) assert.equal(parseCapability(token), undefined, JSON.stringify(token));
  });
});
