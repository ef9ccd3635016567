import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { CeremonyChannel, ChannelError } from '../../src/crypto/channel.js';
import { identityFromPrivateKey, type Identity } from '../../src/crypto/identity.js';
import { asPartyId, type CeremonyId, type PartyId } from '../../src/core/ids.js';

const ids = ['node-1', 'node-2', 'node-3'].map(asPartyId);
const identities = ids.map((id) => identityFromPrivateKey(id, generateKeyPairSync('x25519').privateKey));
const directory = new Map<PartyId, Uint8Array>(identities.map((i) => [i.partyId, i.publicKey]));
const ceremony = () => randomUUID() as CeremonyId;
const chan = (who: Identity, c: CeremonyId) => new CeremonyChannel(who, c, directory);
const [a, b, c] = identities as [Identity, Identity, Identity];
const text = (s: string) => new TextEncoder().encode(s);

function assertRejected(fn: () => unknown, party: string) {
  assert.throws(fn, (e: unknown) => e instanceof ChannelError && e.party === party);
}

test('a message sealed for B opens at B, in order, and hides its content', () => {
  const cer = ceremony();
  const ab = chan(a, cer);
  const ba = chan(b, cer);
  const m1 = ab.seal(b.partyId, text('secret share 1'));
  const m2 = ab.seal(b.partyId, text('secret share 2'));
  assert.ok(!Buffer.from(m1).includes(Buffer.from('secret')), 'ciphertext only');
  assert.equal(new TextDecoder().decode(ba.open(a.partyId, m1)), 'secret share 1');
  assert.equal(new TextDecoder().decode(ba.open(a.partyId, m2)), 'secret share 2');
  // and back
  assert.equal(new TextDecoder().decode(ab.open(b.partyId, ba.seal(a.partyId, text('ack')))), 'ack');
});

test('replayed, reordered, tampered, misattributed or misdirected envelopes are refused', () => {
  const cer = ceremony();
  const ab = chan(a, cer);
  const m1 = ab.seal(b.partyId, text('one'));
  const m2 = ab.seal(b.partyId, text('two'));
  const ba = chan(b, cer);
  ba.open(a.partyId, m2);
  assertRejected(() => ba.open(a.partyId, m1), 'node-1'); // reordered
  assertRejected(() => ba.open(a.partyId, m2), 'node-1'); // replayed
  const m3 = ab.seal(b.partyId, text('three'));
  for (let i = 0; i < m3.length; i += 7) {
    const bad = Uint8Array.from(m3);
    bad[i]! ^= 1;
    assertRejected(() => chan(b, cer).open(a.partyId, bad), 'node-1');
  }
  // C can't pose as A, and a message for B does not open at C.
  assertRejected(() => chan(b, cer).open(a.partyId, chan(c, cer).seal(b.partyId, text('forged'))), 'node-1');
  assertRejected(() => chan(c, cer).open(a.partyId, ab.seal(b.partyId, text('for b'))), 'node-1');
  // Still usable after garbage: only authentic messages advance the state.
  assert.equal(new TextDecoder().decode(ba.open(a.partyId, m3)), 'three');
});

test('an envelope of one ceremony does not open in another', () => {
  const m = chan(a, ceremony()).seal(b.partyId, text('x'));
  assertRejected(() => chan(b, ceremony()).open(a.partyId, m), 'node-1');
});

test('unknown parties and malformed envelopes are refused, naming the sender', () => {
  const cer = ceremony();
  assertRejected(() => chan(a, cer).seal(asPartyId('node-9'), text('x')), 'node-9');
  assertRejected(() => chan(a, cer).open(asPartyId('node-9'), new Uint8Array(80)), 'node-9');
  assertRejected(() => chan(b, cer).open(a.partyId, new Uint8Array(10)), 'node-1');
  const m = chan(a, cer).seal(b.partyId, text('x'));
  m[0] = 9;
  assertRejected(() => chan(b, cer).open(a.partyId, m), 'node-1');
});

test('after the first exchange, messages need this session\'s ephemeral key: a recording stays closed to the long-term keys', () => {
  const cer = ceremony();
  const ab = chan(a, cer);
  const ba = chan(b, cer);
  const first = ab.seal(b.partyId, text('hello'));
  assert.ok(!ab.heardFrom(b.partyId));
  // First contact depends only on A's ephemeral and the long-term keys: B's key opens it in any session.
  assert.equal(new TextDecoder().decode(chan(b, cer).open(a.partyId, first)), 'hello');
  ba.open(a.partyId, first);
  ab.open(b.partyId, ba.seal(a.partyId, text('hi')));
  assert.ok(ab.heardFrom(b.partyId));
  const secret = ab.seal(b.partyId, text('DKG share'));
  assert.equal(new TextDecoder().decode(ba.open(a.partyId, secret)), 'DKG share');
  // B's long-term key in another session (another ephemeral) can't open it.
  assertRejected(() => chan(b, cer).open(a.partyId, secret), 'node-1');
  // Nor can a forged header that pretends it was a first contact.
  const forged = Uint8Array.from(secret);
  forged.fill(0, 33, 65);
  assertRejected(() => chan(b, cer).open(a.partyId, forged), 'node-1');
});
