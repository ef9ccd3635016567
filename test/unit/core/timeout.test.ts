import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withTimeout } from '../../../src/core/timeout.js';

describe('withTimeout', () => {
  test('a promise that settles in time gives its value or its error', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    assert.equal(await withTimeout(Promise.resolve(7), 1000), 7);
    await assert.rejects(withTimeout(Promise.reject(new Error('boom')), 1000), /^Error: boom$/);
    // A rejection with a non-Error becomes an Error that says what it was.
    await assert.rejects(withTimeout(Promise.reject('plain text'), 1000), (e: unknown) => e instanceof Error && e.message === 'plain text');
  });

  test('a promise still pending after ms rejects with the default or the given message', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const never = new Promise<never>(() => {});
    const a = withTimeout(never, 500);
    const b = withTimeout(never, 500, 'storage probe timed out');
    let settled = false;
    void a.catch(() => (settled = true));
    t.mock.timers.tick(499);
    await Promise.resolve();
    assert.equal(settled, false, 'not before ms');
    t.mock.timers.tick(1);
    await assert.rejects(a, /^Error: timed out after 500 ms$/);
    await assert.rejects(b, /^Error: storage probe timed out$/);
  });

  test('a value arriving after the timeout does not change the rejection', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let resolve!: (v: number) => void;
    const late = withTimeout(new Promise<number>((r) => (resolve = r)), 100);
    t.mock.timers.tick(100);
    resolve(1);
    await assert.rejects(late, /timed out after 100 ms/);
  });
});
