import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CeremonyChannel, ChannelError } from '../../src/crypto/channel.js';
import { loadOrCreateIdentity, type Identity } from '../../src/crypto/identity.js';
import { ChannelError as PortableChannelError, PortableCeremonyChannel, portableIdentity, type PortableIdentity } from '../../src/crypto/portable-channel.js';
import { asPartyId, type CeremonyId, type PartyId } from '../../src/core/ids.js';

// Every party's identity is made by the identity module and written to a key file; the
// portable identity is built from the very same file bytes.
const dir = await mkdtemp(join(tmpdir(), 'tandem-portable-'));
after(() => rm(dir, { recursive: true, force: true }));
const ids = ['node-1', 'node-2', 'node-3'].map(asPartyId);
const nodeIds: Identity[] = [];
const portIds: PortableIdentity[] = [];
for (const id of ids) {
  const file = join(dir, `${id}.key`);
  nodeIds.push(await loadOrCreateIdentity(id, file));
  portIds.push(portableIdentity(id, await readFile(file)));
}
const directory = new Map<PartyId, Uint8Array>(nodeIds.map((i) => [i.partyId, i.publicKey]));
const [A, B, C] = ids as [PartyId, PartyId, PartyId];

type Chan = CeremonyChannel | PortableCeremonyChannel;
type Kind = 'node' | 'portable';
const ceremony = () => randomUUID() as CeremonyId;
const chan = (kind: Kind, who: PartyId, c: CeremonyId): Chan => {
  const i = ids.indexOf(who);
  return kind === 'node' ? new CeremonyChannel(nodeIds[i]!, c, directory) : new PortableCeremonyChannel(portIds[i]!, c, directory);
};
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const pairs: [Kind, Kind][] = [['node', 'portable'], ['portable', 'node'], ['portable', 'portable'], ['node', 'node']];

/** The ChannelError of either implementation, as (party, message). */
function rejection(fn: () => unknown): { party: string; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ChannelError || e instanceof PortableChannelError, `not a ChannelError: ${String(e)}`);
    assert.equal(e.name, 'ChannelError');
    return { party: e.party, message: e.message };
  }
  assert.fail('accepted');
}

function assertRejected(fn: () => unknown, party: string, message?: string) {
  const r = rejection(fn);
  assert.equal(r.party, party);
  if (message !== undefined) assert.equal(r.message, message);
}

test('the identity file bytes give the same public key to both implementations, raw or PKCS#8', () => {
  for (let i = 0; i < ids.length; i++) {
    assert.equal(hex(portIds[i]!.publicKey), hex(nodeIds[i]!.publicKey));
  }
  const pkcs8 = new Uint8Array([...Buffer.from('302e020100300506032b656e04220420', 'hex'), ...portIds[0]!.privateKey]);
  assert.equal(hex(portableIdentity(A, pkcs8).publicKey), hex(nodeIds[0]!.publicKey));
  assert.throws(() => portableIdentity(A, new Uint8Array(31)));
});

for (const [ka, kb] of pairs) {
  test(`${ka} A ⇄ ${kb} B: first contact, then forward-secret messages, both ways, in sequence`, () => {
    const cer = ceremony();
    const ab = chan(ka, A, cer);
    const ba = chan(kb, B, cer);
    // A's first words to B: no ee term, receiver ephemeral all zeros.
    const firsts = [1, 2, 3].map((n) => ab.seal(B, text(`first ${n}`)));
    for (const [n, m] of firsts.entries()) {
      assert.equal(m[0], 2);
      assert.ok(m.subarray(33, 65).every((x) => x === 0), 'first contact carries no receiver ephemeral');
      assert.equal(Buffer.from(m).readUInt32BE(65), n + 1);
      assert.equal(m.length, 69 + `first ${n + 1}`.length + 16);
      assert.ok(!Buffer.from(m).includes(Buffer.from('first')), 'ciphertext only');
    }
    assert.ok(!ba.heardFrom(A));
    for (const [n, m] of firsts.entries()) assert.equal(str(ba.open(A, m)), `first ${n + 1}`);
    assert.ok(ba.heardFrom(A));
    // B has heard from A: its words to A use ee and name A's ephemeral.
    const replies = [1, 2].map((n) => ba.seal(A, text(`reply ${n}`)));
    for (const m of replies) assert.equal(hex(m.subarray(33, 65)), hex(firsts[0]!.subarray(1, 33)));
    for (const [n, m] of replies.entries()) assert.equal(str(ab.open(B, m)), `reply ${n + 1}`);
    assert.ok(ab.heardFrom(B));
    // Now A's words to B are forward secret: they name B's ephemeral and continue A's sequence.
    const laters = [1, 2, 3].map((n) => ab.seal(B, text(`DKG share ${n}`)));
    for (const [n, m] of laters.entries()) {
      assert.equal(hex(m.subarray(33, 65)), hex(replies[0]!.subarray(1, 33)));
      assert.equal(Buffer.from(m).readUInt32BE(65), n + 4);
    }
    for (const [n, m] of laters.entries()) assert.equal(str(ba.open(A, m)), `DKG share ${n + 1}`);
    // Another session of B (other ephemeral, same long-term key) can't open them, of either kind.
    for (const k of ['node', 'portable'] as const) {
      assertRejected(() => chan(k, B, cer).open(A, laters[0]!), A, 'message for another session');
      const forged = Uint8Array.from(laters[0]!);
      forged.fill(0, 33, 65); // pretend it was a first contact
      assertRejected(() => chan(k, B, cer).open(A, forged), A, 'message failed authentication');
    }
    // ... but a first contact opens for B's long-term key in any session of either kind.
    for (const k of ['node', 'portable'] as const) assert.equal(str(chan(k, B, cer).open(A, firsts[2]!)), 'first 3');
    // Empty and larger payloads.
    assert.equal(ba.open(A, ab.seal(B, new Uint8Array(0))).length, 0);
    const big = Uint8Array.from({ length: 70000 }, (_, i) => i & 0xff);
    assert.equal(hex(ab.open(B, ba.seal(A, big))), hex(big));
  });

  test(`${ka} A → ${kb} B: replayed and reordered envelopes are refused, and garbage leaves the state alone`, () => {
    const cer = ceremony();
    const ab = chan(ka, A, cer);
    const ba = chan(kb, B, cer);
    const m1 = ab.seal(B, text('one'));
    const m2 = ab.seal(B, text('two'));
    assert.equal(str(ba.open(A, m2)), 'two');
    assertRejected(() => ba.open(A, m1), A, 'replayed or reordered message');
    assertRejected(() => ba.open(A, m2), A, 'replayed or reordered message');
    const m3 = ab.seal(B, text('three'));
    const bad = Uint8Array.from(m3);
    bad[bad.length - 1]! ^= 1;
    assertRejected(() => ba.open(A, bad), A, 'message failed authentication');
    assert.equal(str(ba.open(A, m3)), 'three');
    assertRejected(() => ba.open(A, m3), A, 'replayed or reordered message');
    // A's ephemeral key is pinned by its first authentic message.
    const other = chan(ka, A, cer).seal(B, text('other session of A'));
    assertRejected(() => ba.open(A, other), A, 'ephemeral key changed within a ceremony');
  });

  test(`${ka} A → ${kb} B: other ceremonies, impostors, wrong recipients and unknown parties are refused`, () => {
    const cer = ceremony();
    const m = chan(ka, A, cer).seal(B, text('x'));
    assertRejected(() => chan(kb, B, ceremony()).open(A, m), A, 'message failed authentication');
    // C can't pose as A, and a message for B does not open at C.
    assertRejected(() => chan(kb, B, cer).open(A, chan(ka, C, cer).seal(B, text('forged'))), A, 'message failed authentication');
    assertRejected(() => chan(kb, C, cer).open(A, m), A, 'message failed authentication');
    const nine = asPartyId('node-9');
    assertRejected(() => chan(ka, A, cer).seal(nine, text('x')), 'node-9', 'unknown party node-9');
    assertRejected(() => chan(kb, B, cer).open(nine, m), 'node-9', 'unknown party node-9');
    assertRejected(() => chan(kb, B, cer).open(A, new Uint8Array(84)), A, 'malformed envelope');
    assertRejected(() => chan(kb, B, cer).open(A, m.subarray(0, 84)), A, 'malformed envelope');
    // A low-order "ephemeral key" is refused as such.
    const low = Uint8Array.from(m);
    low.fill(0, 1, 33);
    low[1] = 1;
    assertRejected(() => chan(kb, B, cer).open(A, low), A, 'bad ephemeral key');
  });
}

/** Every single-bit flip, at every byte, refused by the receiver; returns the errors by position. */
function tamperAll(envelope: Uint8Array, receiver: Chan, from: PartyId): string[] {
  const out: string[] = [];
  for (let i = 0; i < envelope.length; i++) {
    const bad = Uint8Array.from(envelope);
    bad[i]! ^= 1 << (i % 8);
    const r = rejection(() => receiver.open(from, bad));
    assert.equal(r.party, from);
    out.push(r.message);
  }
  return out;
}

test('tampering with any byte fails identically at both implementations, first contact and forward-secret', () => {
  const cer = ceremony();
  for (const sender of ['node', 'portable'] as const) {
    // First contact: both kinds of receiver can try the same envelope.
    const first = chan(sender, A, cer).seal(B, text('first contact payload'));
    const atNode = tamperAll(first, chan('node', B, cer), A);
    const atPortable = tamperAll(first, chan('portable', B, cer), A);
    assert.deepEqual(atPortable, atNode);
    assert.ok(atNode.includes('malformed envelope') && atNode.includes('message for another session') && atNode.includes('message failed authentication'));
  }
  // Forward-secret messages are bound to one receiver session: run the same exchange with each
  // kind of receiver and compare the errors position by position.
  const results = new Map<string, string[]>();
  for (const sender of ['node', 'portable'] as const) {
    for (const receiver of ['node', 'portable'] as const) {
      const c = ceremony();
      const ab = chan(sender, A, c);
      const ba = chan(receiver, B, c);
      ba.open(A, ab.seal(B, text('hello')));
      ab.open(B, ba.seal(A, text('hi')));
      const secret = ab.seal(B, text('forward secret payload'));
      results.set(`${sender}->${receiver}`, tamperAll(secret, ba, A));
      // Nothing of that moved B's state: the genuine one still opens.
      assert.equal(str(ba.open(A, secret)), 'forward secret payload');
    }
  }
  const reference = results.get('node->node')!;
  assert.ok(reference.includes('ephemeral key changed within a ceremony') && reference.includes('message for another session'));
  for (const [k, v] of results) assert.deepEqual(v, reference, k);
});

test('a device with a portable channel takes part with two node parties', () => {
  const cer = ceremony();
  const n1 = chan('node', A, cer);
  const n2 = chan('node', B, cer);
  const dev = chan('portable', C, cer);
  const all = new Map<PartyId, Chan>([[A, n1], [B, n2], [C, dev]]);
  for (let round = 0; round < 3; round++) {
    for (const [from, sc] of all) {
      for (const [to, rc] of all) {
        if (from === to) continue;
        const msg = `${from}->${to} round ${round}`;
        assert.equal(str(rc.open(from, sc.seal(to, text(msg)))), msg);
      }
    }
  }
  for (const [p, c] of all) for (const q of ids) if (p !== q) assert.ok(c.heardFrom(q));
});

test('close() erases the portable channel: it refuses further use', () => {
  const cer = ceremony();
  const ab = chan('portable', A, cer);
  const ba = chan('node', B, cer);
  const m = ab.seal(B, text('x'));
  assert.equal(str(ba.open(A, m)), 'x');
  const reply = ba.seal(A, text('y'));
  ab.close();
  assertRejected(() => ab.seal(B, text('z')), B, 'channel closed');
  assertRejected(() => ab.open(B, reply), B, 'channel closed');
});
