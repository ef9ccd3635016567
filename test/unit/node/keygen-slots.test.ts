import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TandemError } from '../../../src/core/errors.js';
import { KeygenSlots } from '../../../src/node/keygen-slots.js';

/** Key generations a node runs at once: beyond the bounds a fast executor_result, never a queue. */
const refused = (message: string) => (e: unknown) => e instanceof TandemError && e.type === 'executor_result' && e.status === 400 && e.message === message;

describe('KeygenSlots', () => {
  test('per user: the user beyond its bound is refused, others still run', () => {
    const s = new KeygenSlots(8, 2);
    s.enter('alice');
    s.enter('alice');
    assert.throws(() => s.enter('alice'), refused('at most 2 key generations at once per user on this node; try again later'));
    s.enter('bob');
    assert.equal(s.running, 3);
  });

  test('per node: everyone is refused once the node is full', () => {
    const s = new KeygenSlots(2, 2);
    s.enter('alice');
    s.enter('bob');
    assert.throws(() => s.enter('carol'), refused('this node runs 2 key generations at once already; try again later'));
    assert.equal(s.running, 2);
  });

  test('done frees the slot, once', () => {
    const s = new KeygenSlots(1, 1);
    const done = s.enter('alice');
    assert.throws(() => s.enter('bob'));
    done();
    done();
    assert.equal(s.running, 0);
    const again = s.enter('bob');
    assert.throws(() => s.enter('alice'), 'a second done() freed nothing more');
    again();
  });
});
