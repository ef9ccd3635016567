import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limitedLog } from '../../../src/observability/log-limiter.js';

/** A flood of garbage from outside must not become a flood of log lines. */
function logger(opts: { max?: number; windowMs?: number } = {}) {
  let now = 0;
  const lines: string[] = [];
  const log = limitedLog((m) => lines.push(m), { ...opts, now: () => now });
  return { log, lines, at: (t: number) => (now = t) };
}

describe('limitedLog', () => {
  test('at most max lines per kind and window; each kind has its own budget', () => {
    const { log, lines } = logger({ max: 3, windowMs: 1000 });
    for (let i = 0; i < 10; i++) log('bad-frame', `bad frame ${i}`);
    log('bad-sig', 'bad sig 0');
    assert.deepEqual(lines, ['bad frame 0', 'bad frame 1', 'bad frame 2', 'bad sig 0']);
  });

  test('the next line of a kind after its window first says how many were not logged', () => {
    const { log, lines, at } = logger({ max: 1, windowMs: 10_000 });
    log('k', 'one');
    log('k', 'two');
    log('k', 'three');
    at(9_999);
    log('k', 'still suppressed');
    at(12_400);
    log('k', 'next window');
    assert.deepEqual(lines, ['one', 'k: 3 more like this in the last 12 s, not logged', 'next window']);
  });

  test('a window with nothing suppressed starts the next one without a summary', () => {
    const { log, lines, at } = logger({ max: 2, windowMs: 1000 });
    log('k', 'a');
    at(5000);
    log('k', 'b');
    log('k', 'c');
    log('k', 'd');
    assert.deepEqual(lines, ['a', 'b', 'c']);
  });

  test('defaults: ten lines per ten seconds', () => {
    const { log, lines, at } = logger();
    for (let i = 0; i < 15; i++) log('k', `${i}`);
    assert.equal(lines.length, 10);
    at(9_999);
    log('k', 'x');
    assert.equal(lines.length, 10);
    at(10_000);
    log('k', 'y');
    assert.deepEqual(lines.slice(10), ['k: 6 more like this in the last 10 s, not logged', 'y']);
  });
});
