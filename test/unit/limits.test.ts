import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { limitedLog } from '../../src/observability/log-limiter.js';
import { TokenBuckets } from '../../src/core/token-buckets.js';

describe('flood limits', () => {
  test('token buckets: a burst, then the steady rate, per key', () => {
    let now = 0;
    const b = new TokenBuckets<string>(3, 2, () => now);
    assert.deepEqual([1, 2, 3, 4].map(() => b.take('a')), [true, true, true, false]);
    assert.equal(b.take('b'), true, 'another key has its own bucket');
    now = 500; // half a second: one token back at 2/s
    assert.deepEqual([b.take('a'), b.take('a')], [true, false]);
    now = 60_000; // never more than the burst
    assert.deepEqual([1, 2, 3, 4].map(() => b.take('a')), [true, true, true, false]);
  });

  test('limited log: at most max lines per kind and window, then one line counting the rest', () => {
    let now = 0;
    const lines: string[] = [];
    const log = limitedLog((m) => lines.push(m), { max: 2, windowMs: 1000, now: () => now });
    for (let i = 0; i < 5; i++) log('rate', `rate ${i}`);
    log('stale', 'stale 0');
    assert.deepEqual(lines, ['rate 0', 'rate 1', 'stale 0']);
    now = 1500;
    log('rate', 'rate 5');
    assert.deepEqual(lines.slice(3), ['rate: 3 more like this in the last 2 s, not logged', 'rate 5']);
  });
});
