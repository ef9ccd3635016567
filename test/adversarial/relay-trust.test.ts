import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { api, type ApiResult } from '../helpers/cluster.js';
import { startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';
import { closedPort, countingServer, startInboxCoordinator, type InboxCoordinator } from './inbox-coordinator.js';

/**
 * A node connects only to relays it is configured to trust (its relay, its fallback relays,
 * TANDEM_TRUSTED_RELAYS). Anything else a caller or a coordinator names is refused before any
 * connection, with words that don't depend on the address, so a node can't be pointed at an
 * attacker's relay, nor used to tell open ports from closed ones.
 */
type Server = Awaited<ReturnType<typeof countingServer>>;

function refusal(r: ApiResult, type: string): string {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.err_type, type, JSON.stringify(r.body));
  return String(r.body.err_msg);
}

describe('relay_address names only a trusted relay', { timeout: 120_000 }, () => {
  let nodes: InProcessNodes;
  /** Untrusted: one that answers (and counts), one where nothing listens. */
  let open: Server;
  let closed: string;
  /** Trusted through TANDEM_TRUSTED_RELAYS, and neither is a relay. */
  let trustedOpen: Server;
  let trustedClosed: string;
  let keyId: string;

  before(async () => {
    open = await countingServer();
    closed = `127.0.0.1:${await closedPort()}`;
    trustedOpen = await countingServer();
    trustedClosed = `127.0.0.1:${await closedPort()}`;
    nodes = await startInProcessNodes(2, { TANDEM_TRUSTED_RELAYS: `${trustedClosed}, ${trustedOpen.address}` });
    const kg = await api(nodes.url, 'POST', '/bip340/keygen', { key: nodes.userKey, body: { num_parties: 2, threshold: 2 } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    keyId = String(kg.body.key_id);
  });
  after(async () => {
    await nodes?.close();
    await open?.close();
    await trustedOpen?.close();
  });

  const requests = (relay: string): Array<[string, unknown]> => [
    ['/bip340/keygen', { num_parties: 2, threshold: 2, relay_address: relay }],
    ['/ecdsa/keygen', { num_parties: 2, threshold: 2, relay_address: relay }],
    ['/bip340/sign', { key_id: keyId, msg: randomBytes(32).toString('hex'), relay_address: relay }],
    ['/ed25519/sign', { key_id: keyId, msg: '00', relay_address: relay }],
    ['/ecdsa/sign', { key_id: keyId, msg: randomBytes(32).toString('hex'), relay_address: relay }],
    ['/create-room', { num_parties: 2, parties: [{ party_id: 'phone', public_key: randomBytes(32).toString('hex') }], relay_address: relay }],
  ];

  test('another relay: 400 bad_request_params, the same words for an open and a closed port, and no connection', async () => {
    for (const [path, body] of requests(open.address)) {
      const atOpen = refusal(await api(nodes.url, 'POST', path, { key: nodes.userKey, body }), 'bad_request_params');
      const [, closedBody] = requests(closed).find(([p]) => p === path)!;
      const atClosed = refusal(await api(nodes.url, 'POST', path, { key: nodes.userKey, body: closedBody }), 'bad_request_params');
      assert.equal(atOpen, atClosed, `${path}: the answer tells nothing about the port`);
      assert.ok(!atOpen.includes(open.address.split(':')[1]!), `${path}: ${atOpen}`);
    }
    // Also not a moment later: nothing was left connecting in the background.
    await delay(200);
    assert.equal(open.connections(), 0, 'no connection was attempted');
  });

  test('a trusted relay that fails: executor_result, one message whatever the socket error', async () => {
    const body = (relay: string) => ({ key_id: keyId, msg: randomBytes(32).toString('hex'), relay_address: relay });
    const hungUp = refusal(await api(nodes.url, 'POST', '/bip340/sign', { key: nodes.userKey, body: body(trustedOpen.address) }), 'executor_result');
    const refused = refusal(await api(nodes.url, 'POST', '/bip340/sign', { key: nodes.userKey, body: body(trustedClosed) }), 'executor_result');
    assert.ok(trustedOpen.connections() >= 1, 'a trusted relay is tried');
    assert.equal(hungUp, refused, 'the socket error (hang-up, ECONNREFUSED) does not show');
  });

  test('a room on a trusted relay is stored by every node, and says where its clients go', async () => {
    const r = await api(nodes.url, 'POST', '/create-room', {
      key: nodes.userKey,
      body: { num_parties: 2, parties: [{ party_id: 'phone', public_key: randomBytes(32).toString('hex') }], relay_address: trustedOpen.address },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.relay_address, trustedOpen.address);
    assert.deepEqual(r.body.nodes, ['node-1', 'node-2']);
  });
});

describe('a participant goes only to relays it trusts, whatever the coordinator says', { timeout: 120_000 }, () => {
  let h: InboxCoordinator;
  let elsewhere: Server;

  before(async () => {
    elsewhere = await countingServer();
    h = await startInboxCoordinator();
  });
  after(async () => {
    await h?.close();
    await elsewhere?.close();
  });

  test('an invitation to a ceremony on another relay is dropped without connecting to it', async () => {
    const s = await h.open();
    const before = h.logs.length;
    const op = { type: 'frost-sign', family: 'bip340', key_id: randomUUID(), msgs: ['00'], path: [], extra_data: '' };
    await h.invite(s, op, h.userEvidence, elsewhere.address);
    await delay(1500);
    assert.equal(elsewhere.connections(), 0, 'node-2 did not connect to the relay the invitation named');
    const said = h.logs.slice(before);
    assert.ok(said.some((l) => /not a relay this node trusts/.test(l)), said.join(' | '));
    assert.ok(!said.some((l) => l.includes(elsewhere.address)), 'the address, chosen by a peer, is not logged');
    s.close();
  });

  test('a room whose relay is another one is refused, not stored', async () => {
    const s = await h.open();
    const op = {
      type: 'create-room',
      room_uuid: randomUUID(),
      num_parties: 2,
      clients: [{ party_id: 'phone', public_key: randomBytes(32).toString('hex') }],
      relay: elsewhere.address,
      expires_at: Date.now() + 60_000,
    };
    await h.invite(s, op, h.userEvidence, h.relayAddress);
    await assert.rejects(s.expect(h.target, 'stored', 8000), /refused \(bad_request_params\)/);
    assert.equal(elsewhere.connections(), 0);
    s.close();
  });
});
