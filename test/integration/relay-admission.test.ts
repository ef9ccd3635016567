/**
 * Issue 12, finding 6, through the real processes (a relay, three nodes):
 * a socket that joined the inbox as node-2 used to receive node-2's invitations, one client
 * could fill the relay's buffers for everybody, and any party id was anyone's. Now the relay
 * admits node-2 only with node-2's key, a room client only with its room's capability (from
 * create-room), nobody else; and a flooding client fills only its own share.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import * as ecc from 'tiny-secp256k1';
import { WebSocket } from 'ws';
import { generateSigningKey, loadOrCreateSigningKey } from '../../src/policy/node-signing-key.js';
import { capabilitySigningText, formatCapability, joinSigningText, type RelayFrame } from '../../src/relay/protocol.js';
import { ADMIN_KEY, api, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { rawRelaySocket } from '../helpers/raw-relay-socket.js';
import { until } from '../helpers/wait.js';

const UTF8 = new TextEncoder();

describe('the relay admits only the parties of a room (real processes)', { timeout: 300_000 }, () => {
  let tc: TestCluster;
  let relayUrl: string;
  let node1: string;
  let userKey: string;

  before(async () => {
    tc = await startTestCluster();
    relayUrl = `ws://${tc.cluster.relay.address}/`;
    node1 = tc.cluster.nodes[0]!.url;
    const made = await api(node1, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    userKey = String(made.body.api_key);
  });

  after(async () => {
    await tc?.destroy();
  });

  /** A capability signed with a node's real key from the cluster's data directory (as that node would issue it). */
  async function capabilityOf(nodeId: string, room: string, party: string, expiresAtMs: number): Promise<string> {
    const key = await loadOrCreateSigningKey(nodeId, join(tc.dataDir, nodeId, 'signing.key'));
    const sig = Buffer.from(key.sign(UTF8.encode(capabilitySigningText(nodeId, room, party, expiresAtMs)))).toString('base64url');
    return formatCapability({ issuer: nodeId, expiresAtMs, signature: sig });
  }

  const raw = (t: TestContext) => rawRelaySocket(t, relayUrl, 5000);

  async function bip340(body: unknown, path = '/bip340/keygen') {
    return api(node1, 'POST', path, { key: userKey, body });
  }

  test('a socket cannot take node-2\'s seat in the inbox; node-2 keeps getting its invitations', async (t) => {
    const squatter = await raw(t);
    squatter.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 1 });
    assert.deepEqual(await squatter.next(), { t: 'error', reason: 'join refused: node-2 is a node: its join must be signed with its key', req: 1 });
    const challenge = await squatter.challenge();
    // Signed, but with a key of its own.
    const forged = Buffer.from(generateSigningKey('node-2').sign(UTF8.encode(joinSigningText(challenge, 'tandem-inbox', 'node-2')))).toString('base64');
    squatter.send({ t: 'join', room: 'tandem-inbox', party: 'node-2', req: 2, sig: forged });
    assert.deepEqual(await squatter.next(), { t: 'error', reason: 'join refused: bad join signature for node-2', req: 2 });
    // Nor can it speak as node-2 to the others.
    squatter.send({ t: 'send', room: 'tandem-inbox', from: 'node-2', to: 'node-1', data: 'aGk=' });
    assert.deepEqual(await squatter.next(), { t: 'error', reason: 'not joined as node-2 in tandem-inbox' });

    // Every ceremony that needs node-2 still reaches it: a 3-of-3 key and a signature with it.
    const kg = await bip340({ num_parties: 3, threshold: 3 });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    const sig = await bip340({ key_id: kg.body.key_id, msg: '11'.repeat(32) }, '/bip340/sign');
    assert.equal(sig.status, 200, JSON.stringify(sig.body));
    const pub = Buffer.from(String(kg.body.public_key), 'hex');
    assert.ok(ecc.verifySchnorr(Buffer.from('11'.repeat(32), 'hex'), pub, Buffer.from(String(sig.body.signature), 'hex')), 'tiny-secp256k1 accepts the signature');
  });

  test('a party that is neither a node nor a room client is refused', async (t) => {
    const s = await raw(t);
    s.send({ t: 'join', room: 'some-room', party: 'mallory', req: 1 });
    assert.deepEqual(await s.next(), { t: 'error', reason: 'join refused: unknown party mallory: a room client joins with the capability of its room', req: 1 });
  });

  test('create-room hands each client a capability; the relay admits it, and refuses none, another\'s, a wrong or an expired one', async (t) => {
    const phone = x25519.getPublicKey(x25519.utils.randomSecretKey());
    const made = await api(node1, 'POST', '/create-room', { key: userKey, body: { num_parties: 2, parties: [{ party_id: 'phone', public_key: Buffer.from(phone).toString('hex') }], ttl_s: 60 } });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const room = String(made.body.room_uuid);
    const caps = made.body.relay_capabilities as Record<string, string> | undefined;
    assert.equal(typeof caps?.phone, 'string', JSON.stringify(made.body));
    const cap = caps!.phone!;

    const s = await raw(t);
    let req = 0;
    const join = async (r: string, party: string, c?: string): Promise<RelayFrame> => {
      s.send({ t: 'join', room: r, party, req: ++req, ...(c === undefined ? {} : { cap: c }) });
      return s.next();
    };
    const refused = (reason: string) => ({ t: 'error', reason: `join refused: ${reason}`, req });
    assert.deepEqual(await join(room, 'phone'), refused('unknown party phone: a room client joins with the capability of its room'));
    assert.deepEqual(await join(room, 'tablet', cap), refused('capability is not valid for tablet in this room'));
    assert.deepEqual(await join('00000000-0000-4000-8000-000000000000', 'phone', cap), refused('capability is not valid for phone in this room'));
    const i = cap.length - 10; // one character of the signature, changed
    assert.deepEqual(await join(room, 'phone', `${cap.slice(0, i)}${cap[i] === 'A' ? 'B' : 'A'}${cap.slice(i + 1)}`), refused('capability is not valid for phone in this room'));
    assert.deepEqual(await join(room, 'phone', await capabilityOf('node-1', room, 'phone', Date.now() - 1000)), refused('capability expired'));
    assert.deepEqual(await join(room, 'phone', cap), { t: 'joined', room, party: 'phone', req });
    // A node that holds the room may issue it too: node-2's own signature.
    const other = await raw(t);
    other.send({ t: 'join', room, party: 'phone', req: 1, cap: await capabilityOf('node-2', room, 'phone', Date.now() + 60_000) });
    assert.deepEqual(await other.next(), { t: 'joined', room, party: 'phone', req: 1 });
  });

  test('one client flooding the relay does not stall another\'s delivery, nor the nodes\' ceremonies', async (t) => {
    const expires = Date.now() + 600_000;
    const flooder = await raw(t);
    flooder.send({ t: 'join', room: 'flood-room', party: 'flooder', req: 1, cap: await capabilityOf('node-1', 'flood-room', 'flooder', expires) });
    assert.deepEqual(await flooder.next(), { t: 'joined', room: 'flood-room', party: 'flooder', req: 1 });
    const refusals: string[] = [];
    flooder.ws.on('message', (m) => {
      const f = JSON.parse(String(m)) as RelayFrame;
      if (f.t === 'error') refusals.push(f.reason);
    });

    // Frames of 1,000,000 characters for a party that never comes: at least 2,000 (more than the
    // relay's 256 MiB of buffers), and on until the calm clients and the ceremony below are done,
    // so these always run during the flood. Each is written before the next.
    const frame = JSON.stringify({ t: 'send', room: 'flood-room', from: 'flooder', to: 'absent', data: 'A'.repeat(1_000_000) });
    let sent = 0;
    let stop = false;
    let flooding = true;
    let calmDone = false;
    const flood = (async () => {
      try {
        while (!stop && (sent < 2000 || !calmDone) && flooder.ws.readyState === WebSocket.OPEN) {
          await new Promise<void>((resolve, reject) => flooder.ws.send(frame, (err) => (err ? reject(err) : resolve())));
          sent++;
        }
      } finally {
        flooding = false;
      }
    })();
    t.after(async () => {
      stop = true;
      await flood.catch(() => undefined);
    });
    // Until the flooder has been refused (its quota or its share), or has sent all of it.
    await until(() => refusals.length > 0 || sent >= 300, 'the flood to reach a limit', 120_000);

    // While it goes on, a client's message for a party not joined yet is held and delivered.
    const phone = await raw(t);
    phone.send({ t: 'join', room: 'calm-room', party: 'phone', req: 1, cap: await capabilityOf('node-1', 'calm-room', 'phone', expires) });
    assert.deepEqual(await phone.next(), { t: 'joined', room: 'calm-room', party: 'phone', req: 1 });
    phone.send({ t: 'send', room: 'calm-room', from: 'phone', to: 'laptop', data: Buffer.from('held for the laptop').toString('base64') });
    // A delivery held behind the flood never comes (the flood goes on until it does); the 30 s
    // allow for a loaded machine and bound nothing about the relay.
    const laptop = await rawRelaySocket(t, relayUrl, 30_000);
    laptop.send({ t: 'join', room: 'calm-room', party: 'laptop', req: 1, cap: await capabilityOf('node-1', 'calm-room', 'laptop', expires) });
    assert.deepEqual(await laptop.next(), { t: 'joined', room: 'calm-room', party: 'laptop', req: 1 });
    const got = await laptop.next();
    assert.deepEqual(got, { t: 'msg', room: 'calm-room', from: 'phone', to: 'laptop', data: Buffer.from('held for the laptop').toString('base64') });
    assert.ok(flooding, `the flooder's socket closed (${sent} frames sent): nothing was delivered during a flood`);

    // And the nodes still run ceremonies meanwhile.
    const kg = await bip340({ num_parties: 3, threshold: 2 });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    assert.ok(refusals.length > 0 && flooding, 'the flood was still running');
    assert.ok(refusals.every((r) => /send quota exceeded|your share of the relay buffers/.test(r)), refusals[0]);
    calmDone = true;
    stop = true;
    await flood;
    // What the flooder got through is bounded by its quotas and share, far below the relay's buffers.
    await until(() => sent - refusals.length <= 40, `at most 40 of ${sent} accepted (${refusals.length} refused)`, 10_000);
  });

  test('the relay process refuses to start without its nodes file', async () => {
    const child = (await import('node:child_process')).spawn(process.execPath, [join(import.meta.dirname, '../../src/relay/main.js'), '--port', '0'], {
      env: { ...process.env, TANDEM_RELAY_NODES_FILE: '' },
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A relay that starts anyway would listen for ever: it gets 10 s.
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 2);
    assert.match(stderr, /needs its nodes file/);
  });
});
