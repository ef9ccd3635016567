import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';

/**
 * Threshold ECDSA (DKLs23) through three signer nodes' HTTP APIs: every signature is checked
 * by libsecp256k1 (strict low-S) and by ethers' address recovery.
 */
let tc: InProcessCluster;
const url = (i: number) => tc.cluster.nodes[i - 1]!.url;

function check(pub: Buffer, hash: Buffer, body: Record<string, unknown>) {
  const sig = Buffer.from(String(body.signature), 'hex');
  assert.equal(sig.length, 64);
  assert.ok(ecc.verify(hash, pub, sig, true), 'libsecp256k1 accepts it, low-S');
  const r = '0x' + sig.subarray(0, 32).toString('hex');
  const s = '0x' + sig.subarray(32).toString('hex');
  const recovered = recoverAddress(hash, Signature.from({ r, s, v: 27 + Number(body.recovery_id) }));
  assert.equal(recovered, computeAddress('0x' + pub.toString('hex')), 'ethers recovers the key\'s address');
  assert.match(String(body.der), /^30[0-9a-f]+$/);
}

// Node behaviour through HTTP: three signer nodes and a relay in this process (test/helpers/in-process-nodes.ts);
// test/integration/cluster.test.ts runs the separate processes. One storage backend (embedded): the PostgreSQL
// store's contract is the storage tests' (test/unit/storage.test.ts and others).
describe('ecdsa (DKLs23) through the nodes (in-process nodes, embedded storage)', { timeout: 600_000 }, () => {
  let key: string;
  let keyId: string;
  let pub: Buffer;
  before(async () => {
    tc = await startInProcessCluster();
    key = String((await api(url(1), 'POST', '/admin/create-user', { key: ADMIN_KEY })).body.api_key);
  });
  after(async () => {
    await tc?.destroy();
  });

  test('2-of-3 keygen: a 33-byte key every node agrees on', async () => {
    const started = Date.now();
    const r = await api(url(1), 'POST', '/ecdsa/keygen', { key, body: { num_parties: 3, threshold: 2 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    console.log(`# ecdsa keygen 2-of-3 through the cluster: ${Date.now() - started} ms`);
    keyId = String(r.body.key_id);
    pub = Buffer.from(String(r.body.public_key), 'hex');
    assert.equal(pub.length, 33);
    for (const i of [1, 2, 3]) {
      const k = await api(url(i), 'GET', `/ecdsa/public-key/${keyId}`, { key });
      assert.equal(k.body.public_key, pub.toString('hex'));
    }
  });

  test('every node coordinates signatures that libsecp256k1 and ethers accept', async () => {
    for (const i of [1, 2, 3, 1]) {
      const hash = randomBytes(32);
      const started = Date.now();
      const r = await api(url(i), 'POST', '/ecdsa/sign', { key, body: { key_id: keyId, msg: hash.toString('hex') } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      console.log(`# ecdsa sign 2-of-3 via node-${i}: ${Date.now() - started} ms`);
      check(pub, hash, r.body);
    }
  });

  test('batch and derivation: the child key equals @scure/bip32\'s from the xpub and signs', async () => {
    const info = await api(url(2), 'GET', `/ecdsa/public-key/${keyId}`, { key });
    const root = new HDKey({ publicKey: pub, chainCode: Buffer.from(String(info.body.chain_code), 'hex') });
    const d = await api(url(3), 'POST', '/ecdsa/derive', { key, body: { key_id: keyId, derivation_path: 'm/44/60/0/0/3' } });
    assert.equal(d.body.public_key, Buffer.from(root.derive('m/44/60/0/0/3').publicKey!).toString('hex'));
    const child = Buffer.from(String(d.body.public_key), 'hex');
    const hashes = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const r = await api(url(1), 'POST', '/ecdsa/sign', {
      key,
      body: { key_id: keyId, msg: hashes.map((h) => h.toString('hex')), derivation_path: 'm/44/60/0/0/3' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    (r.body.signatures as Array<Record<string, unknown>>).forEach((s, k) => check(child, hashes[k]!, s));
  });

  test('a batch larger than one ceremony carries (20 hashes) comes back whole and in order', async () => {
    const hashes = Array.from({ length: 20 }, () => randomBytes(32));
    const r = await api(url(2), 'POST', '/ecdsa/sign', { key, body: { key_id: keyId, msg: hashes.map((h) => h.toString('hex')) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const sigs = r.body.signatures as Array<Record<string, unknown>>;
    assert.equal(sigs.length, 20);
    sigs.forEach((s, k) => check(pub, hashes[k]!, s));
  });

  test('errors: a message that is not a 32-byte hash, a key of another family, too many messages', async () => {
    const bad = async (body: unknown, type: string) => {
      const r = await api(url(1), 'POST', '/ecdsa/sign', { key, body });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.err_type, type);
    };
    await bad({ key_id: keyId, msg: 'abcd' }, 'bad_request_params');
    await bad({ key_id: keyId, msg: Array.from({ length: 65 }, () => '11'.repeat(32)) }, 'batch_too_large');
    const frost = await api(url(1), 'POST', '/bip340/keygen', { key, body: { num_parties: 2, threshold: 2 } });
    await bad({ key_id: frost.body.key_id, msg: '11'.repeat(32) }, 'key_id_not_exists');
  });

  test('one node down: 2-of-3 still signs', async () => {
    await tc.cluster.nodes[1]!.stop();
    const hash = randomBytes(32);
    const r = await api(url(3), 'POST', '/ecdsa/sign', { key, body: { key_id: keyId, msg: hash.toString('hex') } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    check(pub, hash, r.body);
  });
});
