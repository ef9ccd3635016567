import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { loadOrCreateSigningKey } from '../../src/policy/node-signing-key.js';
import { ADMIN_KEY, api, startTestCluster, type ApiResult, type TestCluster } from '../helpers/cluster.js';

/**
 * The real cluster: a relay and three signer nodes as separate processes, driven only
 * through HTTP, every signature checked with libsecp256k1 (tiny-secp256k1).
 */
let tc: TestCluster;
const url = (i: number) => tc.cluster.nodes[i - 1]!.url;

function assertError(r: ApiResult, status: number, type: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.err_type, type, JSON.stringify(r.body));
  assert.equal(typeof r.body.err_msg, 'string');
  assert.deepEqual(Object.keys(r.body).sort(), ['err_msg', 'err_type'], 'error bodies carry nothing else (no stack)');
}

async function createUser(node = 1): Promise<string> {
  const r = await api(url(node), 'POST', '/admin/create-user', { key: ADMIN_KEY });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(String(r.body.user_id), /^[0-9a-f]{32}$/);
  return String(r.body.api_key);
}

async function keygen(key: string, n: number, t: number, node = 1, family = 'bip340'): Promise<{ keyId: string; pub: Uint8Array }> {
  const r = await api(url(node), 'POST', `/${family}/keygen`, { key, body: { num_parties: n, threshold: t } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(String(r.body.public_key), /^[0-9a-f]{64}$/);
  return { keyId: String(r.body.key_id), pub: Buffer.from(String(r.body.public_key), 'hex') };
}

async function signAndVerify(key: string, keyId: string, pub: Uint8Array, node: number, extra: Record<string, unknown> = {}) {
  const msg = randomBytes(32);
  const r = await api(url(node), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: msg.toString('hex'), ...extra } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const sig = Buffer.from(String(r.body.signature), 'hex');
  assert.equal(sig.length, 64);
  assert.ok(ecc.verifySchnorr(msg, pub, sig), 'libsecp256k1 accepts the signature');
  assert.ok(!ecc.verifySchnorr(randomBytes(32), pub, sig));
}

/** A relay process on a port of the system's choosing, admitting the nodes listed in `nodesFile`. */
async function startRelayProcess(nodesFile: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../src/relay/main.js'), '--port', '0', '--nodes', nodesFile], { stdio: 'pipe' });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error('relay exited')));
  });
  return { child, port };
}

// One storage backend: the PostgreSQL store's contract is test/unit/storage.test.ts's, and
// test/integration/gateway-copies.test.ts runs such a cluster on PostgreSQL.
describe('signer cluster (separate processes, embedded storage)', { timeout: 300_000 }, () => {
  /** Another relay of the same cluster, named in relay_address below (a node connects to no relay it was not told to trust). */
  let other: { child: ChildProcess; port: number } | undefined;
  before(async () => {
    tc = await startTestCluster(async (dataDir) => {
      // Started before the nodes, so their trusted relays can name its port; it admits the nodes
      // by their signing keys, made here where the launcher then finds them, as the cluster's own relay does by cluster.json.
      const ids = ['node-1', 'node-2', 'node-3'];
      const keys = await Promise.all(ids.map((id) => loadOrCreateSigningKey(id, join(dataDir, id, 'signing.key'))));
      const nodesFile = join(dataDir, 'other-relay-nodes.json');
      await writeFile(nodesFile, JSON.stringify({ nodes: keys.map((k) => ({ id: k.nodeId, signing_key: k.publicKeyHex })) }));
      other = await startRelayProcess(nodesFile);
      return { TANDEM_TRUSTED_RELAYS: `127.0.0.1:1,127.0.0.1:${other.port},localhost:${other.port}` };
    });
  });
  after(async () => {
    other?.child.kill('SIGKILL');
    await tc?.destroy();
  });

  test('every node is healthy and serves an OpenAPI 3.1 document of the seed API', async () => {
    for (const i of [1, 2, 3]) {
      const h = await api(url(i), 'GET', '/health');
      assert.equal(h.status, 200);
      assert.equal(h.body.node_id, `node-${i}`);
    }
    const doc = await api(url(1), 'GET', '/openapi.json');
    assert.equal(doc.body.openapi, '3.1.0');
    const paths = Object.keys(doc.body.paths as object);
    for (const f of ['bip340', 'ed25519']) {
      for (const p of [`/${f}/keygen`, `/${f}/sign`, `/${f}/public-key/{key_id}`]) assert.ok(paths.includes(p), p);
    }
    assert.ok(paths.includes('/admin/create-user'));
  });

  test('a user created on one node works on every node', async () => {
    const key = await createUser(2);
    for (const i of [1, 2, 3]) {
      const r = await api(url(i), 'GET', '/bip340/public-key/00000000-0000-0000-0000-000000000000', { key });
      assertError(r, 400, 'key_id_not_exists');
    }
  });

  test('2-of-3 keygen, then each node coordinates a signature that libsecp256k1 verifies', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    for (const i of [1, 2, 3]) {
      const r = await api(url(i), 'GET', `/bip340/public-key/${keyId}`, { key });
      assert.equal(r.status, 200);
      assert.equal(r.body.public_key, Buffer.from(pub).toString('hex'), `node-${i} holds the same key`);
      assert.equal(r.body.threshold, 2);
      assert.equal(r.body.num_parties, 3);
      await signAndVerify(key, keyId, pub, i);
    }
  });

  test('3-of-3 and 2-of-2 keys sign too; signing different messages in parallel works', async () => {
    const key = await createUser();
    const k33 = await keygen(key, 3, 3, 2);
    await signAndVerify(key, k33.keyId, k33.pub, 3);
    const k22 = await keygen(key, 2, 2, 3);
    const r = await api(url(3), 'GET', `/bip340/public-key/${k22.keyId}`, { key });
    assert.equal((r.body.parties as string[]).length, 2);
    await Promise.all([1, 2, 3, 4, 5, 6].map(() => signAndVerify(key, k22.keyId, k22.pub, 3)));
  });

  test('Ed25519: 2-of-3 keygen and signatures through every node that Node\'s own Ed25519 verifies', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2, 2, 'ed25519');
    const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
    for (const [i, len] of [[1, 0], [2, 32], [3, 300]] as const) {
      const msg = randomBytes(len);
      const r = await api(url(i), 'POST', '/ed25519/sign', { key, body: { key_id: keyId, msg: msg.toString('hex') } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const sig = Buffer.from(String(r.body.signature), 'hex');
      assert.ok(verify(null, msg, spki, sig), `Ed25519 signature of ${len} bytes via node-${i}`);
      assert.ok(!verify(null, Buffer.concat([msg, Buffer.of(0)]), spki, sig));
    }
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: '00'.repeat(32) } }), 400, 'key_id_not_exists');
    assertError(await api(url(1), 'GET', `/bip340/public-key/${keyId}`, { key }), 400, 'key_id_not_exists');
    assert.equal((await api(url(3), 'GET', `/ed25519/public-key/${keyId}`, { key })).body.public_key, Buffer.from(pub).toString('hex'));
  });

  test('derivation: the child key /derive reports is the one sign with derivation_path signs for, in both FROST families', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    const info = await api(url(2), 'GET', `/bip340/public-key/${keyId}`, { key });
    const d = await api(url(3), 'POST', '/bip340/derive', { key, body: { key_id: keyId, derivation_path: 'm/0/5' } });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    const child = Buffer.from(String(d.body.public_key), 'hex');
    assert.notDeepEqual(child, Buffer.from(pub));
    const msg = randomBytes(32);
    const r = await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: msg.toString('hex'), derivation_path: 'm/0/5' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(ecc.verifySchnorr(msg, child, Buffer.from(String(r.body.signature), 'hex')), 'the child key signs');
    assert.match(String(info.body.chain_code), /^[0-9a-f]{64}$/);
    assertError(await api(url(1), 'POST', '/bip340/derive', { key, body: { key_id: keyId, derivation_path: "m/0'" } }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: msg.toString('hex'), derivation_path: 'm/2147483648' } }), 400, 'bad_request_params');

    const ed = await keygen(key, 3, 2, 1, 'ed25519');
    const ed1 = await api(url(2), 'POST', '/ed25519/derive', { key, body: { key_id: ed.keyId, derivation_path: 'm/9' } });
    const edChild = Buffer.from(String(ed1.body.public_key), 'hex');
    const er = await api(url(3), 'POST', '/ed25519/sign', { key, body: { key_id: ed.keyId, msg: msg.toString('hex'), derivation_path: 'm/9' } });
    const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), edChild]), format: 'der', type: 'spki' });
    assert.ok(verify(null, msg, spki, Buffer.from(String(er.body.signature), 'hex')), 'the Ed25519 child key signs');
  });

  test('batch signing: signatures in request order from one ceremony; above the maximum, batch_too_large', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    const msgs = Array.from({ length: 10 }, () => randomBytes(32));
    const r = await api(url(2), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: msgs.map((m) => m.toString('hex')) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const sigs = (r.body.signatures as Array<{ signature: string }>).map((s) => Buffer.from(s.signature, 'hex'));
    assert.equal(sigs.length, 10);
    sigs.forEach((sig, i) => assert.ok(ecc.verifySchnorr(msgs[i]!, pub, sig), `signature ${i} is for message ${i}`));
    assert.ok(!ecc.verifySchnorr(msgs[1]!, pub, sigs[0]!));
    const big = Array.from({ length: 65 }, () => '00'.repeat(32));
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: big } }), 400, 'batch_too_large');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: [] } }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: ['00', 'zz'] } }), 400, 'bad_request_params');
    // Over the 256 KiB body limit: the seed's error, read to the end (not a reset connection).
    const huge = Array.from({ length: 3000 }, () => '00'.repeat(64));
    for (let i = 0; i < 3; i++) assertError(await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: huge } }), 400, 'bad_request_params');
    const ed = await keygen(key, 2, 2, 3, 'ed25519');
    const edMsgs = [randomBytes(5), randomBytes(64)];
    const er = await api(url(3), 'POST', '/ed25519/sign', { key, body: { key_id: ed.keyId, msg: edMsgs.map((m) => m.toString('hex')) } });
    assert.equal(er.status, 200, JSON.stringify(er.body));
    const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), ed.pub]), format: 'der', type: 'spki' });
    (er.body.signatures as Array<{ signature: string }>).forEach((s, i) => assert.ok(verify(null, edMsgs[i]!, spki, Buffer.from(s.signature, 'hex'))));
  });

  test('errors: the seed\'s types and status codes, never a stack trace', async () => {
    const key = await createUser();
    const other = await createUser();
    const { keyId } = await keygen(key, 3, 2);
    const msg = randomBytes(32).toString('hex');
    const sign = (body: unknown, k: string | null = key) => api(url(1), 'POST', '/bip340/sign', { key: k ?? undefined, body });

    assertError(await sign({ key_id: keyId, msg }, null), 401, 'access_denied');
    assertError(await sign({ key_id: keyId, msg }, 'tdm_nonsense'), 401, 'access_denied');
    assertError(await sign({ key_id: keyId, msg }, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')), 401, 'access_denied');
    assertError(await api(url(1), 'POST', '/admin/create-user', { key }), 400, 'you_have_to_be_admin');
    assertError(await api(url(1), 'POST', '/admin/create-user', {}), 401, 'access_denied');

    for (const [n, t] of [[4, 2], [3, 1], [2, 3], [1, 1], [0, 0], [-1, 2]]) {
      assertError(await api(url(1), 'POST', '/bip340/keygen', { key, body: { num_parties: n, threshold: t } }), 400, 'bad_n_and_t_params');
    }
    assertError(await api(url(1), 'POST', '/bip340/keygen', { key, body: { num_parties: '3', threshold: 2 } }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/keygen', { key, body: { num_parties: 2.5, threshold: 2 } }), 400, 'bad_request_params');

    assertError(await sign({ key_id: keyId, msg: 'xyz' }), 400, 'bad_request_params');
    assertError(await sign({ key_id: keyId, msg: 'abc' }), 400, 'bad_request_params');
    assertError(await sign({ key_id: keyId, msg, extra_data: 'zz' }), 400, 'bad_request_params');
    assertError(await sign({ msg }), 400, 'bad_request_params');
    assertError(await sign({ key_id: keyId, msg, relay_address: 'not a relay' }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, raw: '{"key_id": ' }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key, raw: 'key_id=1', contentType: 'text/plain' }), 400, 'bad_request_params');
    assertError(await api(url(1), 'POST', '/bip340/sign', { key }), 400, 'bad_request_params');

    assertError(await sign({ key_id: '6e0c3a55-0000-4000-8000-000000000000', msg }), 400, 'key_id_not_exists');
    assertError(await sign({ key_id: keyId, msg }, other), 400, 'key_id_not_exists');
    assertError(await api(url(2), 'GET', `/bip340/public-key/${keyId}`, { key: other }), 400, 'key_id_not_exists');

    assertError(await api(url(1), 'GET', '/nowhere', { key }), 404, 'not_found');
    assertError(await api(url(1), 'POST', '/bip340/nothing', { key, body: {} }), 404, 'not_found');

    // A relay that isn't there: a defined error, quickly, not a hang.
    const started = Date.now();
    assertError(await sign({ key_id: keyId, msg, relay_address: '127.0.0.1:1' }), 400, 'executor_result');
    assert.ok(Date.now() - started < 10_000);
  });

  test('relay_address picks another relay for one operation', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    const port = other!.port;
    await signAndVerify(key, keyId, pub, 2, { relay_address: `127.0.0.1:${port}` });
    const kg = await api(url(3), 'POST', '/bip340/keygen', { key, body: { num_parties: 3, threshold: 2, relay_address: `localhost:${port}` } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
  });

  test('one node down: 2-of-3 still signs through either survivor; 3-of-3 fails cleanly; restart keeps users and keys', async () => {
    const key = await createUser();
    const k23 = await keygen(key, 3, 2);
    const k33 = await keygen(key, 3, 3);
    await tc.cluster.nodes[2]!.stop('SIGKILL');
    await signAndVerify(key, k23.keyId, k23.pub, 1);
    await signAndVerify(key, k23.keyId, k23.pub, 2);
    const started = Date.now();
    const r = await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: k33.keyId, msg: randomBytes(32).toString('hex') } });
    assertError(r, 400, 'executor_result');
    assert.match(String(r.body.err_msg), /node-3/);
    assert.ok(Date.now() - started < 15_000, 'bounded by the ceremony timeout');
    // Keygen needs all n parties; with one down a 3-party key can't be made, a 2-party one can.
    assertError(await api(url(1), 'POST', '/bip340/keygen', { key, body: { num_parties: 3, threshold: 2 } }), 400, 'executor_result');
    const k22 = await keygen(key, 2, 2);
    await signAndVerify(key, k22.keyId, k22.pub, 2);

    await tc.restart();
    for (const k of [k23, k33]) {
      await signAndVerify(key, k.keyId, k.pub, 3);
    }
    await signAndVerify(key, k22.keyId, k22.pub, 1);
  });

  test('a relay restart: nodes report it on /health, reconnect by themselves, and sign again', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    await tc.cluster.relay.stop('SIGKILL');
    const during = await api(url(1), 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: randomBytes(32).toString('hex') } });
    assertError(during, 400, 'executor_result');
    const unready = Date.now() + 5000;
    while ((await api(url(2), 'GET', '/health')).status !== 503) {
      assert.ok(Date.now() < unready, 'a node without its relay is not ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    await tc.cluster.relay.start();
    const deadline = Date.now() + 20_000;
    for (const i of [1, 2, 3]) {
      while ((await api(url(i), 'GET', '/health')).status !== 200) {
        assert.ok(Date.now() < deadline, `node-${i} reconnected to the relay`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await signAndVerify(key, keyId, pub, 1);
    await signAndVerify(key, keyId, pub, 3);
  });

  test('observability: readiness with storage, Prometheus ceremony metrics, JSON logs with the request id', async () => {
    const key = await createUser();
    const { keyId, pub } = await keygen(key, 3, 2);
    const health = await api(url(1), 'GET', '/health');
    assert.deepEqual(health.body, { status: 'ok', node_id: 'node-1', relay_connected: true, storage_ok: true });
    assert.equal((await api(url(1), 'GET', '/live')).status, 200);
    const requestId = `it-${randomBytes(6).toString('hex')}`;
    const msg = randomBytes(32);
    const res = await fetch(`${url(1)}/bip340/sign`, {
      method: 'POST',
      headers: { authorization: key, 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ key_id: keyId, msg: msg.toString('hex') }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), requestId, 'the caller\'s request id is echoed');
    assert.ok(ecc.verifySchnorr(msg, pub, Buffer.from(((await res.json()) as { signature: string }).signature, 'hex')));

    const metrics = await (await fetch(`${url(1)}/metrics`)).text();
    const sample = (name: string, labels: string) => Number(new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 'NaN');
    assert.ok(sample('tandem_ceremonies_total', 'operation="sign",family="bip340",role="coordinator",result="ok"') >= 1, 'node-1 counted its signature');
    assert.ok(sample('tandem_ceremony_duration_seconds_count', 'operation="sign",family="bip340",role="coordinator"') >= 1);
    assert.ok(sample('tandem_http_requests_total', 'method="POST",route="/bip340/sign",status="200"') >= 1);
    assert.match(metrics, /process_cpu_seconds_total/);
    const participants = await Promise.all([2, 3].map(async (i) => (await (await fetch(`${url(i)}/metrics`)).text())));
    assert.ok(participants.some((m) => /tandem_ceremonies_total\{[^}]*operation="frost-sign"[^}]*role="participant"[^}]*result="ok"/.test(m)), 'a participant counted it too');

    // Logs are JSON lines; the request's own line carries its id.
    const lines = tc.logs.filter((l) => l.startsWith('[node-1] ')).map((l) => l.slice('[node-1] '.length));
    const parsed = lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    assert.ok(parsed.length > 0, 'node-1 logs JSON lines');
    const line = parsed.find((e) => e.req_id === requestId);
    assert.ok(line, 'a log line carries the request id');
    assert.equal(line.component, 'node');
    assert.equal(line.route, '/bip340/sign');
  });

  test('no node ever logs a share, an API key or the admin key', async () => {
    const all = tc.logs.join('\n');
    assert.ok(!all.includes(ADMIN_KEY));
    assert.ok(!/tdm_[0-9a-f]{32}_/.test(all), 'no user API key in logs');
  });
});
