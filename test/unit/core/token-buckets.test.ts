import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenBuckets } from '../../../src/core/token-buckets.js';

describe('TokenBuckets', () => {
  test('a full bucket gives its capacity at once, then nothing until time passes', () => {
    let now = 1_000;
    const b = new TokenBuckets<string>(3, 1, () => now);
    assert.deepEqual([b.take('a'), b.take('a'), b.take('a'), b.take('a')], [true, true, true, false]);
    now += 999;
    assert.equal(b.take('a'), false, 'less than one token refilled');
    now += 1;
    assert.equal(b.take('a'), true, 'one token after one second at 1/s');
    assert.equal(b.take('a'), false);
  });

  test('refill is proportional to the rate and never beyond capacity', () => {
    let now = 0;
    const b = new TokenBuckets<number>(10, 4, () => now);
    for (let i = 0; i < 10; i++) assert.equal(b.take(1), true);
    now = 1_000; // 4 tokens back
    let got = 0;
    while (b.take(1)) got++;
    assert.equal(got, 4);
    now = 3_600_000; // an hour idle: still only 10
    got = 0;
    while (b.take(1)) got++;
    assert.equal(got, 10);
  });

  test('keys are independent, and a refused take spends nothing', () => {
    let now = 0;
    const b = new TokenBuckets<string>(1, 1, () => now);
    assert.equal(b.take('x'), true);
    assert.equal(b.take('x'), false);
    assert.equal(b.take('x'), false);
    assert.equal(b.take('y'), true, "another key's bucket is full");
    now = 1_000;
    assert.equal(b.take('x'), true, 'refused takes did not push the refill back');
  });
});
