import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NestedSlots } from '../../../src/core/nested-slots.js';

describe('NestedSlots: at most N in all and M per key', () => {
  test('a key is refused beyond its own bound while others still enter', () => {
    const s = new NestedSlots<string>(10, 2);
    const a1 = s.enter('a');
    const a2 = s.enter('a');
    assert.equal(typeof a1, 'function');
    assert.equal(typeof a2, 'function');
    assert.equal(s.enter('a'), 'key');
    assert.equal(typeof s.enter('b'), 'function');
    assert.equal(s.running, 3, 'the refused entry took no place');
  });

  test('the total bound is refused as total, even for a key under its own bound', () => {
    const s = new NestedSlots<string>(2, 2);
    s.enter('a');
    s.enter('b');
    assert.equal(s.enter('c'), 'total');
    assert.equal(s.enter('a'), 'total', 'total is checked first');
    assert.equal(s.running, 2);
  });

  test('leaving frees both places; leaving twice frees only once', () => {
    const s = new NestedSlots<string>(2, 1);
    const leaveA = s.enter('a') as () => void;
    const leaveB = s.enter('b') as () => void;
    assert.equal(s.enter('a'), 'total');
    leaveA();
    leaveA();
    assert.equal(s.running, 1, 'a second call does nothing');
    const again = s.enter('a');
    assert.equal(typeof again, 'function', "a's per-key place is free again");
    assert.equal(s.enter('c'), 'total', 'the double leave did not free a second place');
    leaveB();
    (again as () => void)();
    assert.equal(s.running, 0);
  });

  test('a key that left entirely starts again from zero', () => {
    const s = new NestedSlots<string>(100, 3);
    const leaves = [1, 2, 3].map(() => s.enter('k') as () => void);
    assert.equal(s.enter('k'), 'key');
    for (const l of leaves) l();
    assert.equal(s.running, 0);
    for (let i = 0; i < 3; i++) assert.equal(typeof s.enter('k'), 'function');
    assert.equal(s.enter('k'), 'key');
  });
});
