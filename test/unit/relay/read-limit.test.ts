import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SocketReadLimit } from '../../../src/relay/read-limit.js';
import { until } from '../../helpers/wait.js';

const quota = (bytesPerSecond: number, byteBurst: number) => ({ messagesPerSecond: 1, messageBurst: 1, bytesPerSecond, byteBurst });
// Read budgets are twice these: a client 1,000 B/s with bursts of 2,000 B, a node ten times that.
const QUOTAS = { client: quota(500, 1000), node: quota(5000, 10_000) };

function socket() {
  const calls: string[] = [];
  return { calls, pause: () => void calls.push('pause'), resume: () => void calls.push('resume') };
}

test('a socket is read freely within its burst, paused when past it, and resumed once the budget is back', async () => {
  let now = 0;
  const s = socket();
  const limit = new SocketReadLimit(QUOTAS, s, () => now);
  limit.read(1500, false);
  limit.read(500, false);
  assert.deepEqual(s.calls, [], 'within the burst of 2,000 bytes');
  limit.read(300, false);
  assert.deepEqual(s.calls, ['pause'], '300 bytes past it');
  // 300 bytes short at 1,000 B/s: resumed after ~0.3 s. Frames ws had buffered before the
  // pause still count (the next read past the budget pauses again) but don't pause twice.
  const t0 = Date.now();
  limit.read(100, false);
  assert.deepEqual(s.calls, ['pause'], 'paused once');
  await until(() => s.calls.length === 2, 'the socket to resume', 5000);
  assert.deepEqual(s.calls, ['pause', 'resume']);
  assert.ok(Date.now() - t0 >= 250, `resumed after ${Date.now() - t0} ms, before the budget was back`);
  // The budget refills with time: 1.4 s later (-400 + 1,400) 1,000 more bytes pass.
  now += 1400;
  limit.read(1000, false);
  assert.deepEqual(s.calls, ['pause', 'resume']);
});

test('a socket joined as a node refills at the node rate, one not joined as a node at the client rate', () => {
  for (const node of [true, false]) {
    let now = 0;
    const s = socket();
    const limit = new SocketReadLimit(QUOTAS, s, () => now);
    limit.read(2000, node); // the whole first burst
    now = 100; // 0.1 s: 1,000 bytes back at a node's 10,000 B/s, 100 at a client's 1,000 B/s
    limit.read(900, node);
    assert.deepEqual(s.calls, node ? [] : ['pause'], node ? 'node' : 'client');
  }
});
