import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { ethers } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { signRequest, type RequestKeyType } from '../../src/api/request-signature.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import { generateRequestKey, TandemApiError, TandemNodeClient } from '../../src/sdk/index.js';

/**
 * Users who sign each request instead of sending an API key, against three signer nodes:
 * every node checks the signature itself, a captured request works once (on any node),
 * a stale or altered one never; signatures verified with libsecp256k1 and ethers.
 */
// Node behaviour through HTTP: three signer nodes and a relay in this process (test/helpers/in-process-nodes.ts);
// test/integration/cluster.test.ts runs the separate processes. One storage backend (embedded): the PostgreSQL
// store's contract is the storage tests' (test/unit/storage.test.ts and others).
describe('signed requests (in-process nodes, embedded storage)', { timeout: 300_000 }, () => {
  let tc: InProcessCluster;
  let urls: string[];

  const admin = { type: 'ed25519' as const, privateKey: ed25519.utils.randomSecretKey() };

  before(async () => {
    // The admin's key pinned: create-user spans nodes only on the admin's signature.
    tc = await startInProcessCluster({ TANDEM_ADMIN_PUBLIC_KEY: `ed25519:${Buffer.from(ed25519.getPublicKey(admin.privateKey)).toString('hex')}` });
    urls = tc.cluster.nodes.map((n) => n.url);
  });
  after(async () => {
    await tc?.destroy();
  });

  async function newUser(type: RequestKeyType) {
    const privateKey = type === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
    const publicKey = type === 'ed25519' ? ed25519.getPublicKey(privateKey) : p256.getPublicKey(privateKey);
    const made = await new TandemNodeClient({ nodes: urls, credential: { adminKey: admin } }).createUser({ publicKey: { type, key: Buffer.from(publicKey).toString('hex') } });
    const userId = made.user_id;
    /** A request signed now, to send as is (or again). */
    const signed = (method: 'GET' | 'POST', path: string, body?: unknown, ts?: number) => {
      const raw = body === undefined ? '' : JSON.stringify(body);
      return { method, path, raw, authorization: signRequest({ type, privateKey }, userId, { method, path, body: raw }, ts) };
    };
    return { userId, signed };
  }

  const send = async (node: number, req: { method: string; path: string; raw: string; authorization: string }) => {
    const res = await fetch(urls[node]! + req.path, {
      method: req.method,
      headers: { authorization: req.authorization, ...(req.raw ? { 'content-type': 'application/json' } : {}) },
      ...(req.raw ? { body: req.raw } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  test('an Ed25519-signing user: keygen and sign on bip340, each request usable once', async () => {
    const u = await newUser('ed25519');
    const kg = await send(0, u.signed('POST', '/bip340/keygen', { num_parties: 3, threshold: 2 }));
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    const pub = Buffer.from(kg.body.key_id ? kg.body.public_key : '', 'hex');
    const msg = randomBytes(32);
    const req = u.signed('POST', '/bip340/sign', { key_id: kg.body.key_id, msg: msg.toString('hex') });
    const r = await send(1, req);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(ecc.verifySchnorr(msg, pub, Buffer.from(r.body.signature, 'hex')));
    for (const node of [0, 1, 2]) {
      const replay = await send(node, req);
      assert.equal(replay.body.err_type, 'access_denied', `replay on node-${node + 1}: ${JSON.stringify(replay.body)}`);
    }
    const read = await send(2, u.signed('GET', `/bip340/public-key/${kg.body.key_id}`));
    assert.equal(read.status, 200, JSON.stringify(read.body));
  });

  test('stale, altered, or another user\'s key: refused', async () => {
    const u = await newUser('ed25519');
    const stale = u.signed('POST', '/bip340/keygen', { num_parties: 3, threshold: 2 }, Date.now() - 120_000);
    assert.equal((await send(0, stale)).body.err_type, 'access_denied');
    const req = u.signed('POST', '/bip340/keygen', { num_parties: 3, threshold: 2 });
    const altered = { ...req, raw: JSON.stringify({ num_parties: 2, threshold: 2 }) };
    assert.equal((await send(0, altered)).body.err_type, 'access_denied');
    const other = await newUser('ed25519');
    const forged = { ...req, authorization: req.authorization.replace(u.userId, other.userId) };
    assert.equal((await send(0, forged)).body.err_type, 'access_denied');
  });

  test('a P-256-signing user: ECDSA keygen and a batch of 10 (two ceremonies under one signed request)', async () => {
    const u = await newUser('p256');
    const kg = await send(2, u.signed('POST', '/ecdsa/keygen', { num_parties: 3, threshold: 2 }));
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    const address = ethers.computeAddress(`0x${kg.body.public_key}`);
    const hashes = Array.from({ length: 10 }, () => randomBytes(32).toString('hex'));
    const r = await send(0, u.signed('POST', '/ecdsa/sign', { key_id: kg.body.key_id, msg: hashes }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.signatures.length, 10);
    r.body.signatures.forEach((s: { signature: string; recovery_id: number }, i: number) => {
      const sig = ethers.Signature.from({ r: `0x${s.signature.slice(0, 64)}`, s: `0x${s.signature.slice(64)}`, v: 27 + s.recovery_id });
      assert.equal(ethers.recoverAddress(`0x${hashes[i]}`, sig), address);
    });
  });

  test('setRequestKey: an API-key user moves to signing on every node; its API key can then neither change the key nor span nodes', async () => {
    const adminClient = new TandemNodeClient({ nodes: urls, credential: { adminKey: admin } });
    const { user_id, api_key } = await adminClient.createUser();
    // A bearer admin key alone no longer creates users: the peers want the admin's signature.
    const bearerAdmin = await api(urls[0]!, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    assert.equal(bearerAdmin.body.err_type, 'access_denied', JSON.stringify(bearerAdmin.body));

    const asBearer = new TandemNodeClient({ nodes: urls, credential: { apiKey: api_key } });
    const kg = await asBearer.keygen('bip340', { num_parties: 3, threshold: 2 });
    const key = generateRequestKey('p256');
    await asBearer.setRequestKey({ type: 'p256', key: key.publicKey });
    await asBearer.setRequestKey({ type: 'p256', key: key.publicKey }); // the same again: no change, no error
    const other = generateRequestKey('ed25519');
    await assert.rejects(asBearer.forNode(urls[1]!).setRequestKey({ type: 'ed25519', key: other.publicKey }), (e: unknown) => e instanceof TandemApiError && e.errType === 'access_denied');
    await assert.rejects(asBearer.sign('bip340', { key_id: kg.key_id, msg: randomBytes(32).toString('hex') }), (e: unknown) => e instanceof TandemApiError && e.errType === 'access_denied' && /node-2: refused \(access_denied\)/.test(e.message));

    const asSigner = new TandemNodeClient({ nodes: urls, credential: { userId: user_id, key } });
    const msg = randomBytes(32);
    const { signature } = await asSigner.sign('bip340', { key_id: kg.key_id, msg: msg.toString('hex') });
    assert.ok(ecc.verifySchnorr(msg, Buffer.from(kg.public_key, 'hex'), Buffer.from(signature, 'hex')), 'tiny-secp256k1 accepts the signature');
    // Signed by the current key, the key may change (on each node).
    await asSigner.setRequestKey({ type: 'ed25519', key: other.publicKey });
    const rotated = new TandemNodeClient({ nodes: urls, credential: { userId: user_id, key: other } });
    const again = await rotated.sign('bip340', { key_id: kg.key_id, msg: msg.toString('hex') });
    assert.ok(ecc.verifySchnorr(msg, Buffer.from(kg.public_key, 'hex'), Buffer.from(again.signature, 'hex')));
  });
});
