import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecentSends } from '../../../src/relay/recent-sends.js';

/**
 * What a client sent through a relay within the last TTL, delivered or not, bounds what it can
 * have waiting on a shared backplane: capped per client and for all clients together.
 */
const TTL = 30_000; // 30 slots of one second
const A = { key: 'room-1/a', node: false };
const B = { key: 'room-1/b', node: false };
const C = { key: 'room-2/c', node: false };
const NODE = { key: 'node-1', node: true };

describe('RecentSends', () => {
  test('a client is refused beyond its share; nothing is counted for a refusal', () => {
    const r = new RecentSends(TTL, 100, 1000, () => 0);
    assert.equal(r.admit(A, 60), undefined);
    assert.equal(r.admit(A, 41), 'sender');
    assert.equal(r.admit(A, 40), undefined, 'the refused 41 was not counted');
    assert.equal(r.admit(A, 1), 'sender');
    assert.equal(r.admit(B, 100), undefined, 'another client has its own share');
  });

  test('all clients together are refused beyond the total', () => {
    const r = new RecentSends(TTL, 100, 150, () => 0);
    assert.equal(r.admit(A, 100), undefined);
    assert.equal(r.admit(B, 51), 'total');
    assert.equal(r.admit(B, 50), undefined);
    assert.equal(r.admit(C, 1), 'total');
  });

  test('nodes are never counted (their send quotas bound them)', () => {
    const r = new RecentSends(TTL, 10, 10, () => 0);
    for (let i = 0; i < 5; i++) assert.equal(r.admit(NODE, 1_000_000), undefined);
    assert.equal(r.admit(A, 10), undefined, "a node's sends took nothing from the clients' total");
  });

  test('a send counts for one TTL, then frees its share and the total', () => {
    let now = 0;
    const r = new RecentSends(TTL, 100, 150, () => now);
    assert.equal(r.admit(A, 100), undefined);
    assert.equal(r.admit(B, 50), undefined);
    now = TTL - 1000; // still within the window
    assert.equal(r.admit(A, 1), 'sender');
    assert.equal(r.admit(C, 1), 'total');
    now = TTL;
    assert.equal(r.admit(A, 100), undefined, "A's share is free again");
    assert.equal(r.admit(C, 50), undefined, "B stopped sending: its part of the total is free too");
    assert.equal(r.admit(C, 1), 'total');
  });

  test('the window slides: older sends leave it one slot at a time', () => {
    let now = 0;
    const r = new RecentSends(TTL, 100, 1000, () => now);
    assert.equal(r.admit(A, 50), undefined);
    now = 10_000;
    assert.equal(r.admit(A, 50), undefined);
    now = 29_999;
    assert.equal(r.admit(A, 1), 'sender');
    now = 30_000; // the first 50 are out, the second 50 still in
    assert.equal(r.admit(A, 51), 'sender');
    assert.equal(r.admit(A, 50), undefined);
    now = 30_000 + TTL; // a TTL after the last send: nothing is left
    assert.equal(r.admit(A, 100), undefined);
  });
});
