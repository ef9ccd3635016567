import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { ethers } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { signRequest, type RequestKeyType } from '../../src/shared/request-signature.js';
import { ADMIN_KEY, api, startTestCluster, type TestCluster } from '../helpers/cluster.js';

/**
 * Users who sign each request instead of sending an API key, against a real cluster:
 * every node checks the signature itself, a captured request works once (on any node),
 * a stale or altered one never; signatures verified with libsecp256k1 and ethers.
 */
// The same suite on each storage backend: embedded PGlite, and a schema per node on PostgreSQL.
for (const [backend, base] of [['embedded', 17600], ['postgres', 17650]] as const) describe(`signed requests (${backend} storage)`, { timeout: 300_000 }, () => {
  let tc: TestCluster;
  let urls: string[];

  before(async () => {
    tc = await startTestCluster(base, {}, backend);
    urls = tc.cluster.nodes.map((n) => n.url);
  });
  after(async () => {
    await tc?.destroy();
  });

  async function newUser(type: RequestKeyType) {
    const privateKey = type === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
    const publicKey = type === 'ed25519' ? ed25519.getPublicKey(privateKey) : p256.getPublicKey(privateKey);
    const r = await api(urls[0]!, 'POST', '/admin/create-user', { key: ADMIN_KEY, body: { public_key: { type, key: Buffer.from(publicKey).toString('hex') } } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const userId = String(r.body.user_id);
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
});
