import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_SEND_QUOTAS, SenderQuotas, type SendQuotas } from '../../../src/relay/quotas.js';

/** What one sender (a node, or one client of one room) may make a relay carry per second. */
const QUOTAS: SendQuotas = {
  node: { messagesPerSecond: 10, messageBurst: 10, bytesPerSecond: 1000, byteBurst: 1000 },
  client: { messagesPerSecond: 1, messageBurst: 2, bytesPerSecond: 100, byteBurst: 100 },
};
const NODE = { key: 'node-1', node: true };
const CLIENT = { key: 'room-1/phone', node: false };
const takeAll = (q: SenderQuotas, s: typeof NODE, size = 1) => {
  let n = 0;
  while (q.take(s, size)) n++;
  return n;
};

describe('SenderQuotas', () => {
  test('a node gets its burst of messages, then the rate', () => {
    let now = 0;
    const q = new SenderQuotas(QUOTAS, () => now);
    assert.equal(takeAll(q, NODE), 10);
    now += 100; // 0.1 s at 10/s
    assert.equal(takeAll(q, NODE), 1);
    now += 60_000;
    assert.equal(takeAll(q, NODE), 10, 'refilled to the burst, never beyond');
  });

  test('bytes are a quota of their own; a refused send spends neither', () => {
    let now = 0;
    const q = new SenderQuotas(QUOTAS, () => now);
    assert.equal(q.take(NODE, 900), true);
    assert.equal(q.take(NODE, 101), false);
    assert.equal(q.take(NODE, 100), true, 'the refused send took no bytes and no message');
    assert.equal(q.take(NODE, 1), false);
    now += 500; // 500 bytes back
    assert.equal(q.take(NODE, 500), true);
    assert.equal(q.take(NODE, 1000), false, 'a send larger than what is left');
  });

  test('clients get the client quota; every client of every room has its own', () => {
    const q = new SenderQuotas(QUOTAS, () => 0);
    assert.equal(takeAll(q, CLIENT), 2);
    assert.equal(q.take({ key: 'room-1/laptop', node: false }, 1), true);
    assert.equal(q.take({ key: 'room-2/phone', node: false }, 1), true);
    assert.equal(q.take({ key: 'room-1/other', node: false }, 101), false, "larger than a client's byte burst");
    assert.equal(takeAll(q, NODE), 10, "a node's quota is not a client's");
  });

  test("the periodic sweep forgets only full buckets: a sender's spent quota survives it", () => {
    const q = new SenderQuotas(QUOTAS, () => 0);
    for (let i = 0; i < 5; i++) assert.equal(q.take(NODE, 1), true);
    // The node has 5 of 10 left: more than a client's burst, so it must be judged by the node quota.
    let calls = 5;
    while (calls < 4096 * 2) {
      q.take(CLIENT, 1);
      calls++;
    }
    assert.equal(q.take(CLIENT, 1), false, 'the flooding client is still refused after two sweeps');
    assert.equal(takeAll(q, NODE), 5, 'the node did not get a fresh burst from a sweep');
  });

  test('the defaults: nodes far above clients', () => {
    assert.ok(DEFAULT_SEND_QUOTAS.node.messagesPerSecond > DEFAULT_SEND_QUOTAS.client.messagesPerSecond);
    assert.ok(DEFAULT_SEND_QUOTAS.node.byteBurst > DEFAULT_SEND_QUOTAS.client.byteBurst);
    const q = new SenderQuotas(DEFAULT_SEND_QUOTAS, () => 0);
    assert.equal(takeAll(q, CLIENT), 1000);
  });
});
