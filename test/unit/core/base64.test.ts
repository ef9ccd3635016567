import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { fromBase64, toBase64 } from '../../../src/core/base64.js';

/** The relay's frames and the ceremony payloads: the same bytes under Node, a browser and a bundle. */
describe('toBase64', () => {
  test('writes what Buffer writes, padding included, for every length remainder', () => {
    assert.equal(toBase64(new Uint8Array(0)), '');
    assert.equal(toBase64(Uint8Array.of(0xff)), '/w==');
    assert.equal(toBase64(Uint8Array.of(0xfb, 0xff)), '+/8=');
    assert.equal(toBase64(new TextEncoder().encode('foobar')), 'Zm9vYmFy');
    for (let n = 0; n < 70; n++) {
      const data = randomBytes(n);
      assert.equal(toBase64(data), data.toString('base64'), `length ${n}`);
    }
  });
});

describe('fromBase64', () => {
  test('reads padded and unpadded standard base64 back to the same bytes', () => {
    for (let n = 0; n < 70; n++) {
      const data = new Uint8Array(randomBytes(n));
      const text = Buffer.from(data).toString('base64');
      assert.deepEqual(fromBase64(text), data, `padded, length ${n}`);
      assert.deepEqual(fromBase64(text.replace(/=+$/, '')), data, `unpadded, length ${n}`);
    }
  });

  test('refuses what Buffer would silently skip or misread: other alphabets, spaces, non-ASCII', () => {
    for (const bad of ['Zm9v YmFy', 'Zm9v\nYmFy', '-_8=', 'Zm9v*mFy', 'Zm9vYmF\u00e9', 'Zm9vYmF\u{1F600}', '====', 'Zm9v=YmF']) {
      assert.equal(fromBase64(bad), undefined, JSON.stringify(bad));
    }
  });

  test('refuses impossible lengths and wrong padding', () => {
    assert.equal(fromBase64('A'), undefined, 'one character carries no byte');
    assert.equal(fromBase64('AAAAA'), undefined, '4k+1 characters');
    assert.equal(fromBase64('AA='), undefined, 'padded to a length that is not a multiple of 4');
    assert.equal(fromBase64('A==='), undefined, 'three pad characters');
    assert.deepEqual(fromBase64('AA=='), Uint8Array.of(0));
    assert.deepEqual(fromBase64(''), new Uint8Array(0));
  });
});
