import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex, isHex, toHex } from '../../../src/core/hex.js';

describe('hex', () => {
  test('toHex writes lower-case hex of exactly the view it is given', () => {
    assert.equal(toHex(Uint8Array.of(0, 0xab, 0xff)), '00abff');
    const backing = Uint8Array.of(1, 2, 3, 4, 5);
    assert.equal(toHex(backing.subarray(1, 3)), '0203', 'a subarray is not the whole buffer');
    assert.equal(toHex(new Uint8Array(0)), '');
  });

  test('isHex: even-length hex of either case; nothing else', () => {
    for (const ok of ['', '00', 'abCD', 'ff00ff00']) assert.equal(isHex(ok), true, ok);
    for (const bad of ['0', 'abc', '0x00', 'gg', ' 00', '00\n', 12, null, undefined, ['00']]) assert.equal(isHex(bad), false, String(bad));
  });

  test('fromHex is strict: odd length and non-hex characters throw instead of truncating', () => {
    assert.deepEqual(fromHex('00abFF'), Uint8Array.of(0, 0xab, 0xff));
    assert.throws(() => fromHex('abc'), /^Error: not a hex string$/);
    assert.throws(() => fromHex('zz'), /^Error: not a hex string$/);
    assert.throws(() => fromHex('0x00'), /^Error: not a hex string$/);
  });

  test('fromHex checks an expected length', () => {
    assert.deepEqual(fromHex('0102', 2), Uint8Array.of(1, 2));
    assert.throws(() => fromHex('01', 2), /^Error: expected 2 bytes, got 1$/);
    assert.throws(() => fromHex('010203', 2), /^Error: expected 2 bytes, got 3$/);
  });
});
