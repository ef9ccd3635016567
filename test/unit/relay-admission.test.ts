import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { RelayAdmission } from '../../src/relay/admission.js';
import { RelayClient, relayUrl } from '../../src/relay/client.js';
import { parseRelayNodes } from '../../src/relay/node-list.js';
import { formatCapability, parseCapability } from '../../src/relay/protocol.js';
import { SenderQuotas } from '../../src/relay/quotas.js';
import { startRelay, type RelayOptions } from '../../src/relay/server.js';
import { RelayConnection } from '../../src/relay/connection.js';
import { rawRelaySocket } from '../helpers/raw-relay-socket.js';
import { signJoin, testRelayNodes } from '../helpers/relay-auth.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 12, finding 6: the relay admitted anyone as anyone. Now a node's party id is joined
 * only with that node's signature over the socket's challenge, any other party only with a
 * capability a node issued for that room and party, and what one sender may send and leave
 * waiting is bounded, so one client cannot stall the others.
 */
const NODES = testRelayNodes(['node-1', 'node-2']);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

async function relayFor(t: TestContext, opts: Partial<Omit<RelayOptions, 'port' | 'host' | 'log'>> = {}) {
  const logs: string[] = [];
  const relay = await startRelay({ host: '127.0.0.1', port: 0, nodes: NODES.nodes, log: (m) => logs.push(m), ...opts });
  t.after(() => relay.close());
  return { relay, logs, url: relayUrl(`127.0.0.1:${relay.port}`) };
}

async function raw(t: TestContext, url: string) {
  return rawRelaySocket(t, url, 3000);
}

async function client(t: TestContext, url: string, signer?: (m: Uint8Array) => Uint8Array): Promise<RelayClient> {
  const c = await RelayClient.connect(url, signer ? { signer } : {});
  t.after(() => c.close());
  return c;
}

function inbox() {
  const got: string[] = [];
  return { got, onMessage: (_from: string, data: Uint8Array) => got.push(Buffer.from(data).toString('utf8')) };
}

test('a node joins as itself only with its key, over this socket\'s challenge', async (t) => {
  const { url } = await relayFor(t);
  const a = await raw(t, url);
  const challenge = await a.challenge();
  assert.match(challenge, /^[A-Za-z0-9+/]{43}=$/);

  // No evidence, a capability (even one a node signed), another node's key, a signature over another room.
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 1 });
  assert.deepEqual(await a.next(), { t: 'error', reason: 'join refused: node-2 is a node: its join must be signed with its key', req: 1 });
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 2, cap: NODES.capability('tandem-inbox', 'node-2') });
  assert.deepEqual(await a.next(), { t: 'error', reason: 'join refused: node-2 is a node: its join must be signed with its key', req: 2 });
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 3, sig: signJoin(NODES.signer('node-1'), challenge, 'tandem-inbox', 'node-2') });
  assert.deepEqual(await a.next(), { t: 'error', reason: 'join refused: bad join signature for node-2', req: 3 });
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 4, sig: signJoin(NODES.signer('node-2'), challenge, 'elsewhere', 'node-2') });
  assert.deepEqual(await a.next(), { t: 'error', reason: 'join refused: bad join signature for node-2', req: 4 });
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 5, sig: 'not base64 at all' });
  assert.deepEqual(await a.next(), { t: 'error', reason: 'join refused: bad join signature for node-2', req: 5 });

  // The right signature is good on this socket, and worth nothing replayed on another.
  const sig = signJoin(NODES.signer('node-2'), challenge, 'tandem-inbox', 'node-2');
  a.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 6, sig });
  assert.deepEqual(await a.next(), { t: 'joined', room: 'tandem-inbox', party: 'node-2', req: 6 });
  const b = await raw(t, url);
  assert.notEqual(await b.challenge(), challenge);
  b.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 7, sig });
  assert.deepEqual(await b.next(), { t: 'error', reason: 'join refused: bad join signature for node-2', req: 7 });
  // Refused means refused: that socket can't send as node-2 either.
  b.send({ t: 'send', room: 'tandem-inbox', from: 'node-2', to: 'node-1', data: 'aGk=' });
  assert.deepEqual(await b.next(), { t: 'error', reason: 'not joined as node-2 in tandem-inbox' });
});

test('a room client joins only with a capability a node issued for that room and party, unexpired', async (t) => {
  const { url } = await relayFor(t);
  const s = await raw(t, url);
  let req = 0;
  const join = async (room: string, party: string, cap?: string) => {
    s.send({ t: 'join', room, party, req: ++req, ...(cap === undefined ? {} : { cap }) });
    return s.next();
  };
  const refused = (reason: string) => ({ t: 'error', reason: `join refused: ${reason}`, req });
  const good = NODES.capability('room-1', 'phone');

  assert.deepEqual(await join('room-1', 'phone'), refused('unknown party phone: a room client joins with the capability of its room'));
  assert.deepEqual(await join('room-2', 'phone', good), refused('capability is not valid for phone in this room'));
  assert.deepEqual(await join('room-1', 'tablet', good), refused('capability is not valid for tablet in this room'));
  assert.deepEqual(await join('room-1', 'phone', 'v1.node-1.123.abc'), refused('malformed capability'));
  // The expiry is signed: moving it breaks the signature.
  const parsed = parseCapability(good)!;
  assert.deepEqual(await join('room-1', 'phone', formatCapability({ ...parsed, expiresAtMs: parsed.expiresAtMs + 1000 })), refused('capability is not valid for phone in this room'));
  assert.deepEqual(await join('room-1', 'phone', formatCapability({ ...parsed, issuer: 'node-2' })), refused('capability is not valid for phone in this room'));
  assert.deepEqual(await join('room-1', 'phone', formatCapability({ ...parsed, issuer: 'node-9' })), refused('capability from an unknown issuer'));
  assert.deepEqual(await join('room-1', 'phone', NODES.capability('room-1', 'phone', { ttlMs: -1 })), refused('capability expired'));
  assert.deepEqual(await join('room-1', 'phone', NODES.capability('room-1', 'phone', { ttlMs: 3 * 3600_000 })), refused('capability lives too long'));
  // A stranger's key signs nothing the relay accepts.
  const stranger = testRelayNodes(['node-1']);
  assert.deepEqual(await join('room-1', 'phone', stranger.capability('room-1', 'phone')), refused('capability is not valid for phone in this room'));

  assert.deepEqual(await join('room-1', 'phone', good), { t: 'joined', room: 'room-1', party: 'phone', req });
  // Any listed node's capability for the room will do (a room is held by several nodes).
  assert.deepEqual(await join('room-1', 'tablet', NODES.capability('room-1', 'tablet', { issuer: 'node-2' })), { t: 'joined', room: 'room-1', party: 'tablet', req });
});

test('a socket that keeps presenting bad evidence is dropped (1008); others are unaffected', async (t) => {
  const { url } = await relayFor(t, { maxRefusedJoinsPerConnection: 4 });
  const s = await raw(t, url);
  for (let i = 1; i <= 4; i++) s.send({ t: 'join', room: 'tandem-inbox', party: 'node-1', req: i, sig: 'AAAA' });
  assert.equal(await s.closed, 1008);
  const n1 = await client(t, url, NODES.signer('node-1'));
  await n1.join('tandem-inbox', 'node-1', () => {});
});

test('node clients sign their joins (node RelayClient, SDK over a browser-like socket); what they write meanwhile keeps its order', async (t) => {
  const { url } = await relayFor(t);
  const n1 = await client(t, url, NODES.signer('node-1'));
  const got = inbox();
  await n1.join('tandem-inbox', 'node-1', got.onMessage);
  // Joined and sent at once, before the relay's challenge can have been read: the send waits
  // behind the signed join and is accepted as node-2's.
  const n2 = await RelayConnection.connect(url, { WebSocket, signer: NODES.signer('node-2') });
  t.after(() => n2.close());
  const errors: string[] = [];
  n2.onError((r) => errors.push(r));
  const joined = n2.join('tandem-inbox', 'node-2', () => {});
  n2.send('tandem-inbox', 'node-2', 'node-1', bytes('right behind the join'));
  await joined;
  await until(() => got.got.length === 1, 'the message', 3000);
  assert.deepEqual(got.got, ['right behind the join']);
  assert.deepEqual(errors, []);
  // Without a signer a node id is refused with the relay's reason.
  const plain = await client(t, url);
  await assert.rejects(plain.join('tandem-inbox', 'node-1', () => {}), /node-1 is a node: its join must be signed with its key/);
});

test('per-sender rate quotas: a flooding client is refused beyond its burst, others keep sending', async (t) => {
  const quota = { messagesPerSecond: 10, messageBurst: 20, bytesPerSecond: 1e9, byteBurst: 1e9 };
  const { url } = await relayFor(t, { sendQuotas: { node: { ...quota, messageBurst: 1000 }, client: quota } });
  const flooder = NODES.admit(await client(t, url));
  const other = NODES.admit(await client(t, url));
  const target = NODES.admit(await client(t, url));
  const got = inbox();
  const errors: string[] = [];
  flooder.onError((r) => errors.push(r));
  await target.join('q', 'target', got.onMessage);
  await flooder.join('q', 'flooder', () => {});
  await other.join('q', 'other', () => {});
  for (let i = 0; i < 100; i++) flooder.send('q', 'flooder', 'target', bytes('flood'));
  await until(() => errors.length >= 79, 'refusals', 3000);
  assert.ok(errors.every((e) => /send quota exceeded/.test(e)), errors[0]);
  other.send('q', 'other', 'target', bytes('still heard'));
  await until(() => got.got.includes('still heard'), 'the other sender', 3000);
  // At most the burst (plus what the rate refilled meanwhile) got through.
  assert.ok(got.got.filter((m) => m === 'flood').length <= 25, `${got.got.length} delivered`);
});

test('SenderQuotas counts bytes and messages per sender, refills with time, and forgets idle senders', () => {
  let now = 0;
  const q = new SenderQuotas({ node: { messagesPerSecond: 1, messageBurst: 2, bytesPerSecond: 100, byteBurst: 100 }, client: { messagesPerSecond: 1, messageBurst: 1, bytesPerSecond: 10, byteBurst: 10 } }, () => now);
  const node = { key: 'node-1', node: true };
  const phone = { key: 'r/phone', node: false };
  assert.equal(q.take(node, 60), true);
  assert.equal(q.take(node, 60), false, 'bytes short: nothing spent');
  assert.equal(q.take(node, 40), true);
  assert.equal(q.take(node, 1), false, 'messages short');
  assert.equal(q.take(phone, 11), false, 'a client has its own, smaller quota');
  assert.equal(q.take(phone, 10), true);
  now += 1000;
  assert.equal(q.take(node, 100), true);
  assert.equal(q.take(phone, 10), true);
});

test('one client filling the buffers stalls no one: its share is capped, nodes keep a reserve, other clients still get theirs', async (t) => {
  // Of 12,000 characters, the nodes' reserve (2 x 4,000, at most half) is 6,000: clients may hold
  // 6,000 together, each at most 4,000.
  const { url } = await relayFor(t, { maxTotalBufferBytes: 12_000, maxSenderBufferBytes: 4000, maxRoomBufferBytes: 1e6 });
  const payload = new Uint8Array(750); // 1,000 characters of base64
  const flooder = NODES.admit(await client(t, url));
  const errors: string[] = [];
  flooder.onError((r) => errors.push(r));
  await flooder.join('flood', 'flooder', () => {});
  for (let i = 0; i < 20; i++) flooder.send('flood', 'flooder', 'absent', payload);
  await until(() => errors.length >= 16, 'the flooder refused', 3000);
  assert.ok(errors.every((e) => /fill your share of the relay buffers/.test(e)), errors[0]);

  // Another client's message for a party that has not joined yet is still held for it.
  const victim = NODES.admit(await client(t, url));
  const verrors: string[] = [];
  victim.onError((r) => verrors.push(r));
  await victim.join('ceremony', 'phone', () => {});
  victim.send('ceremony', 'phone', 'laptop', bytes('held for the laptop'));
  const laptop = NODES.admit(await client(t, url));
  const got = inbox();
  await laptop.join('ceremony', 'laptop', got.onMessage);
  await until(() => got.got.length === 1, 'the held message', 3000);
  assert.deepEqual(got.got, ['held for the laptop']);
  assert.deepEqual(verrors, []);

  // Many clients together fill at most the clients' part; a node's invitation is still held.
  const full: string[] = [];
  for (const i of [1, 2]) {
    const c = NODES.admit(await client(t, url));
    c.onError((r) => full.push(r));
    await c.join(`flood-${i}`, 'flooder', () => {});
    for (let k = 0; k < 4; k++) c.send(`flood-${i}`, 'flooder', 'absent', payload);
    await c.join('flush', `f-${i}`, () => {});
  }
  assert.ok(full.some((e) => /relay buffers are full/.test(e)), 'clients together are capped');
  const n1 = await client(t, url, NODES.signer('node-1'));
  await n1.join('tandem-inbox', 'node-1', () => {});
  const nerrors: string[] = [];
  n1.onError((r) => nerrors.push(r));
  n1.send('tandem-inbox', 'node-1', 'node-2', payload);
  const n2 = await client(t, url, NODES.signer('node-2'));
  const invitations: string[] = [];
  await n2.join('tandem-inbox', 'node-2', (from) => invitations.push(from));
  await until(() => invitations.length === 1, 'the invitation', 3000);
  assert.deepEqual(nerrors, []);
});

test('a room over its caps drops the oldest of the sender that overflowed it: a node flooding the inbox pushes out no other node\'s invitation', async (t) => {
  const { url } = await relayFor(t, { maxBufferedPerRoom: 5 });
  const n1 = await client(t, url, NODES.signer('node-1'));
  const n2 = await client(t, url, NODES.signer('node-2'));
  await n1.join('tandem-inbox', 'node-1', () => {});
  await n2.join('tandem-inbox', 'node-2', () => {});
  n1.send('tandem-inbox', 'node-1', 'node-3', bytes('honest invitation'));
  await n1.join('flush-1', 'node-1', () => {});
  for (let i = 0; i < 50; i++) n2.send('tandem-inbox', 'node-2', 'node-3', bytes(`flood ${i}`));
  await n2.join('flush-2', 'node-2', () => {});
  await delay(20);
  // node-3 is not a node of this relay, so its inbox is read here as a client would: with a capability.
  const n3 = NODES.admit(await client(t, url));
  const got = inbox();
  await n3.join('tandem-inbox', 'node-3', got.onMessage);
  await until(() => got.got.length === 5, 'what the room kept', 3000);
  assert.deepEqual(got.got, ['honest invitation', 'flood 46', 'flood 47', 'flood 48', 'flood 49']);
});

test('the nodes file: cluster.json as the launcher writes it, or a bare list; anything else is a clear error', () => {
  const key = 'ab'.repeat(32);
  assert.deepEqual(parseRelayNodes({ relays: ['x:1'], nodes: [{ id: 'node-1', public_key: 'cd'.repeat(32), signing_key: key }] }, 'f').map((n) => n.id), ['node-1']);
  assert.deepEqual(parseRelayNodes([{ id: 'node-2', signing_key: key }], 'f').map((n) => n.id), ['node-2']);
  assert.throws(() => parseRelayNodes({ nodes: [{ id: 'node-1', public_key: key }] }, 'f'), /node node-1 has no "signing_key"/);
  assert.throws(() => parseRelayNodes({ nodes: [] }, 'f'), /non-empty "nodes" array/);
  assert.throws(() => parseRelayNodes({ nodes: [{ id: 'a b', signing_key: key }] }, 'f'), /entry 0 has no valid "id"/);
  assert.throws(() => new RelayAdmission([{ id: 'n', signingKey: new Uint8Array(32) }, { id: 'n', signingKey: new Uint8Array(32) }]), /listed twice/);
});

test('a relay without nodes does not start', async () => {
  await assert.rejects(startRelay({ port: 0, nodes: [] }), /needs the list of its nodes/);
});
