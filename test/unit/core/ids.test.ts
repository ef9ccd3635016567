import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { asPartyId } from '../../../src/core/ids.js';

describe('party ids', () => {
  test('lower-case letters, digits, _ and -, starting with a letter or digit, at most 63', () => {
    for (const ok of ['node-1', 'n', '0', 'a_b-c', 'x'.repeat(63)]) assert.equal(asPartyId(ok), ok);
  });

  test('anything else is refused, naming the input as JSON', () => {
    for (const bad of ['', 'Node-1', '-node', '_n', 'node 1', 'node/1', 'node\n1', 'x'.repeat(64), 'nöde']) {
      assert.throws(() => asPartyId(bad), { message: `invalid party id ${JSON.stringify(bad)}` }, JSON.stringify(bad));
    }
  });
});
