import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../src/gateway/start.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import { WireClient } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * Issue 12, finding 11: "the nodes kept working on keygens whose client had already gone".
 * Three nodes (in this process, each with its own HTTP server), one user allowed one key generation at a time per node, and
 * node-3 stopped, so a 3-party key generation coordinated by node-1 waits (up to its
 * two-minute ceremony timeout) for node-3 while node-1 and node-2 each hold the user's one
 * slot. Then the caller closes its socket. The coordinator must give the ceremony up at
 * once and abort node-2 with `caller_gone`, and both must free the slot, so the same user's
 * next key generation runs. Before, both nodes kept the slot until the timeout.
 * Then the same through the wallet gateway: its client leaves a registration, the gateway
 * closes its request to the node, and the nodes free their slots.
 */
async function keygensRunning(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^tandem_keygens_running(?:\{[^}]*\})? (\d+)$/m.exec(text);
  if (!m) throw new Error(`no tandem_keygens_running gauge at ${url}`);
  return Number(m[1]);
}

/** Polls `cond` until it holds; `what` names it if it never does within `ms`. */
async function eventually(cond: () => Promise<boolean> | boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

describe('a key generation whose caller went away is cancelled on every node', { timeout: 240_000 }, () => {
  let tc: InProcessCluster;
  let userKey: string;
  let gw: RunningGateway;
  /** A 3-of-3 BIP340 key: with node-3 stopped its signatures wait for node-3. */
  let key3of3: string;
  /** node-2's Rule Server: every request it gets tells the test node-2 is in a signature. */
  let ruleServer: Server;
  let ruleCalls = 0;

  before(async () => {
    tc = await startInProcessCluster({ TANDEM_MAX_KEYGENS_PER_USER: '1', TANDEM_CEREMONY_TIMEOUT_MS: '120000' });
    const made = await api(tc.cluster.nodes[0]!.url, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    userKey = String(made.body.api_key);
    const k = await api(tc.cluster.nodes[0]!.url, 'POST', '/bip340/keygen', { key: userKey, body: { num_parties: 3, threshold: 3 } });
    assert.equal(k.status, 200, JSON.stringify(k.body));
    key3of3 = String(k.body.key_id);
    ruleServer = createServer((_req, res) => {
      ruleCalls += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ approved: true }));
    });
    await new Promise<void>((resolve) => ruleServer.listen(0, '127.0.0.1', resolve));
    const node2 = tc.cluster.nodes[1]!.url;
    // The longest answer time a rule may have: the probe's only part is to say when node-2 decides, and a
    // decision that timed out (the default is 2 s, short on a busy machine) would refuse the signature
    // instead of putting node-2 in it.
    const rule = await api(node2, 'POST', '/admin/create-rule', {
      key: ADMIN_KEY,
      body: { name: 'probe', type: 'webhook', url: `http://127.0.0.1:${(ruleServer.address() as AddressInfo).port}/`, timeout_ms: 30_000 },
    });
    const policy = await api(node2, 'POST', '/admin/create-policy', { key: ADMIN_KEY, body: { name: 'probe' } });
    await api(node2, 'POST', '/admin/add-rule-to-policy', { key: ADMIN_KEY, body: { policy_id: policy.body.policy_id, rule_id: rule.body.rule_id } });
    const bound = await api(node2, 'POST', '/admin/set-user-policy', { key: ADMIN_KEY, body: { user_id: made.body.user_id, policy_id: policy.body.policy_id } });
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
    // The gateway makes its own user on all three nodes at its first start.
    await seedPglite(join(tc.dataDir, 'gateway', 'db'));
    gw = await startGateway({
      host: '127.0.0.1',
      port: 0,
      dataDir: join(tc.dataDir, 'gateway'),
      database: { kind: 'embedded', dir: join(tc.dataDir, 'gateway', 'db') },
      nodes: tc.cluster.nodes.map((n) => n.url),
      adminKey: ADMIN_KEY,
      kekHex: randomBytes(32).toString('hex'),
      sessionTtlSeconds: 900,
      devScope: { scopeId: 'gone' },
    });
    await tc.cluster.nodes[2]!.stop();
  });
  after(async () => {
    ruleServer?.close();
    await gw?.close();
    await tc?.destroy();
  });

  test("a keygen left by its caller frees the coordinator's and the participant's slot; the user's next one runs", async () => {
    const [node1, node2] = tc.cluster.nodes;
    const body = JSON.stringify({ num_parties: 3, threshold: 2 });
    const socket = connect(node1!.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    let answered = '';
    socket.on('data', (d) => (answered += String(d)));
    socket.on('error', () => {});
    socket.write(`POST /ecdsa/keygen HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${userKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

    // Both nodes are in the ceremony (node-2 answered its invitation and waits for the start).
    await eventually(async () => (await keygensRunning(node1!.url)) === 1 && (await keygensRunning(node2!.url)) === 1, 'both nodes in the key generation', 30_000);
    const refused = await api(node1!.url, 'POST', '/ecdsa/keygen', { key: userKey, body: { num_parties: 2, threshold: 2 } });
    assert.equal(refused.body.err_type, 'executor_result');
    assert.match(String(refused.body.err_msg), /at most 1 key generations at once per user/, 'the slot is taken while the caller waits');

    socket.destroy();
    // Well within the two minutes the ceremony would otherwise wait for node-3.
    await eventually(async () => (await keygensRunning(node1!.url)) === 0 && (await keygensRunning(node2!.url)) === 0, 'both slots free', 60_000);
    assert.equal(answered, '', 'nothing was answered on the closed socket');
    // Its log line comes through the process's stdout, which may lag behind its HTTP answers.
    await eventually(() => tc.logs.some((l) => l.startsWith('[node-2]') && /ecdsa keygen [0-9a-f-]+: node-1: aborted \(caller_gone\)/.test(l)), 'node-2 told caller_gone', 10_000);

    // The same user's next key generation, coordinated by node-1 with node-2, runs.
    const next = await api(node1!.url, 'POST', '/ecdsa/keygen', { key: userKey, body: { num_parties: 2, threshold: 2 } });
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.match(String(next.body.public_key), /^0[23][0-9a-f]{64}$/);

    // The coordinator counted the abandoned ceremony as failed, and stored no key for it.
    const metrics = await (await fetch(`${node1!.url}/metrics`)).text();
    assert.match(metrics, /tandem_ceremonies_total\{[^}]*operation="keygen"[^}]*role="coordinator"[^}]*result="executor_result"[^}]*\} 2/);
  });

  test('a registration left by its client: the gateway closes its node request, the nodes free their slots, the name is free', async () => {
    const [node1, node2] = tc.cluster.nodes;
    const wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
    const encUser = wire.encrypt(JSON.stringify({ username: 'leaver' }));
    const init = await wire.call('initiateRegistration', { encrypted_user: encUser }, wire.headers('gone'));
    assert.equal(init.error, undefined, JSON.stringify(init.error));
    const attestation = await new SoftAuthenticator({ origin: 'http://localhost:5173' }).create(JSON.parse(wire.decrypt(init.result.encrypted_creation_challenge)));
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'completeRegistration',
      params: { challenge_id: init.result.challenge_id, encrypted_attestation: wire.encrypt(JSON.stringify(attestation)), encrypted_user: encUser },
    });
    const headers = Object.entries(wire.headers('gone')).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const socket = connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

    // The account's key generation waits for node-3 on node-1 and node-2.
    await eventually(async () => (await keygensRunning(node1!.url)) === 1 && (await keygensRunning(node2!.url)) === 1, 'the key generation on both nodes', 30_000);
    assert.ok(await gw.gateway.store.findAccount('gone', 'leaver'), 'the name is reserved while its key is made');

    socket.destroy();
    // Within half the gateway's own 60 s limit for a key generation, which would also end it.
    await eventually(async () => (await keygensRunning(node1!.url)) === 0 && (await keygensRunning(node2!.url)) === 0, 'both nodes free', 30_000);
    await eventually(async () => (await gw.gateway.store.findAccount('gone', 'leaver')) === undefined, 'the reservation undone', 10_000);
  });

  test('a signature left by its caller: the coordinator aborts its co-signer with caller_gone', async () => {
    const node1 = tc.cluster.nodes[0]!;
    const before = ruleCalls;
    const body = JSON.stringify({ key_id: key3of3, msg: 'ab'.repeat(32) });
    const socket = connect(node1.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`POST /bip340/sign HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${userKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    // node-2 asked its Rule Server, so it is in the signature (and then waits, as node-1 does, for node-3).
    await eventually(() => ruleCalls > before, "node-2's policy decision", 30_000);
    socket.destroy();
    await eventually(() => tc.logs.some((l) => l.startsWith('[node-2]') && /sign [0-9a-f-]+: node-1: aborted \(caller_gone\)/.test(l)), 'node-2 told caller_gone', 30_000);
    const metrics = await (await fetch(`${node1.url}/metrics`)).text();
    assert.match(metrics, /tandem_ceremonies_total\{[^}]*operation="sign"[^}]*role="coordinator"[^}]*result="executor_result"[^}]*\} 1/);
  });
});
