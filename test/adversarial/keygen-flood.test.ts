import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { KeygenSlots } from '../../src/node/keygen-slots.js';
import { TandemError } from '../../src/core/errors.js';
import { api } from '../helpers/cluster.js';
import { startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';

/**
 * Issue 12, finding 11: twenty concurrent ECDSA key generations by one user used to starve
 * each other (none finished in 70 s) and a signature sent meanwhile. Now a node runs at most
 * TANDEM_MAX_KEYGENS at once and TANDEM_MAX_KEYGENS_PER_USER per user, and answers the rest
 * at once with executor_result instead of queueing them.
 */
describe('key generations are bounded per node and per user', { timeout: 180_000 }, () => {
  test('slots: per user, per node, released once', () => {
    const slots = new KeygenSlots(3, 2);
    const a1 = slots.enter('alice');
    slots.enter('alice');
    assert.throws(() => slots.enter('alice'), (e: unknown) => e instanceof TandemError && e.type === 'executor_result' && /per user/.test(e.message));
    const b1 = slots.enter('bob');
    assert.throws(() => slots.enter('carol'), (e: unknown) => e instanceof TandemError && e.type === 'executor_result' && /this node runs 3/.test(e.message));
    a1();
    a1();
    slots.enter('carol');
    assert.throws(() => slots.enter('dave'), TandemError, 'a second release of the same slot frees nothing');
    b1();
    slots.enter('dave');
  });

  describe('through the API of three nodes', () => {
    let c: InProcessNodes;
    before(async () => {
      c = await startInProcessNodes(3, { TANDEM_MAX_KEYGENS_PER_USER: '2', TANDEM_CEREMONY_TIMEOUT_MS: '20000' });
    });
    after(() => c?.close());

    test('eight ECDSA keygens at once by one user: two run, six are refused at once; a signature meanwhile works', async () => {
      const bip = await api(c.url, 'POST', '/bip340/keygen', { key: c.userKey, body: { num_parties: 3, threshold: 2 } });
      assert.equal(bip.status, 200, JSON.stringify(bip.body));
      const order: string[] = [];
      // 2-of-2 keys: the per-user bound is the coordinating node's, whatever the key's size, and the
      // two that run cost a third of two 3-party ones (base OT between each pair of parties).
      const keygens = Array.from({ length: 8 }, () =>
        api(c.url, 'POST', '/ecdsa/keygen', { key: c.userKey, body: { num_parties: 2, threshold: 2 } }).then((r) => {
          order.push(r.status === 200 ? 'made' : 'refused');
          return r;
        }),
      );
      const msg = randomBytes(32);
      const signed = await api(c.nodes[1]!.url, 'POST', '/bip340/sign', { key: c.userKey, body: { key_id: bip.body.key_id, msg: msg.toString('hex') } });
      assert.equal(signed.status, 200, JSON.stringify(signed.body));
      assert.ok(ecc.verifySchnorr(msg, Buffer.from(String(bip.body.public_key), 'hex'), Buffer.from(String(signed.body.signature), 'hex')));
      const results = await Promise.all(keygens);
      const made = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status !== 200);
      assert.equal(made.length, 2, JSON.stringify(refused.map((r) => r.body)));
      for (const r of refused) {
        assert.equal(r.body.err_type, 'executor_result');
        assert.match(String(r.body.err_msg), /at most 2 key generations at once per user/);
      }
      assert.deepEqual(order.slice(0, 6), Array(6).fill('refused'), 'refused before any key was made: not queued behind them');
      // The keys that were made work.
      for (const k of made) {
        const hash = randomBytes(32);
        const s = await api(c.url, 'POST', '/ecdsa/sign', { key: c.userKey, body: { key_id: k.body.key_id, msg: hash.toString('hex') } });
        assert.equal(s.status, 200, JSON.stringify(s.body));
        assert.ok(ecc.verify(hash, Buffer.from(String(k.body.public_key), 'hex'), Buffer.from(String(s.body.signature), 'hex'), true));
      }
      // And the slots are free again.
      const again = await api(c.url, 'POST', '/ecdsa/keygen', { key: c.userKey, body: { num_parties: 2, threshold: 2 } });
      assert.equal(again.status, 200, JSON.stringify(again.body));
    });
  });
});
