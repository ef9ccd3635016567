import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

/**
 * npm test's second reporter (scripts/failures-reporter.ts) under node's own test runner, as
 * run-tests.ts runs it: two files run at the same time, failures nested in suites, a failing
 * TODO test and a failed property's "Got …" line.
 */
const REPORTER = join(import.meta.dirname, '../../../scripts/failures-reporter.js');

test('npm test ends with the failed tests: file, suite path, first error line; TODO and passing tests are not listed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-reporter-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'a.test.mjs'),
    `import { describe, test } from 'node:test';
describe('suite A', () => {
  test('passes', async () => { await new Promise((r) => setTimeout(r, 50)); });
  test('fails here', async () => { await new Promise((r) => setTimeout(r, 20)); throw new Error('one is not two\\nsecond line'); });
  test('known gap', { todo: 'not yet' }, () => { throw new Error('todo failure'); });
});`,
  );
  await writeFile(
    join(dir, 'b.test.mjs'),
    `import { describe, test } from 'node:test';
describe('suite B', () => {
  describe('inner', () => {
    test('property', () => { throw new Error('Property failed after 3 tests\\n{ seed: 1 }\\nGot TypeError: v.map is not a function\\nHint'); });
  });
});`,
  );
  const stderr = await new Promise<string>((resolve) => {
    const args = ['--test', '--test-concurrency=2', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stderr', join(dir, 'a.test.mjs'), join(dir, 'b.test.mjs')];
    // Without this test's own runner context, the child runs its files as npm test does.
    const env = { ...process.env, NODE_TEST_CONTEXT: undefined };
    execFile(process.execPath, args, { env, timeout: 60_000 }, (_err, _stdout, err) => resolve(err));
  });
  assert.equal(
    stderr.trim(),
    [
      '2 failed:',
      `  ${join(dir, 'a.test.mjs')}: suite A > fails here`,
      '      one is not two',
      `  ${join(dir, 'b.test.mjs')}: suite B > inner > property`,
      '      Property failed after 3 tests / Got TypeError: v.map is not a function',
    ].join('\n'),
  );
});
