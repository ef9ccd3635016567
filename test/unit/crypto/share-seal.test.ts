import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kekBytesFromHex, Keyring, sealedKekId, shareAad } from '../../../src/crypto/share-seal.js';

/**
 * Record formats and the AAD binding of sealed shares (round trips, tampering and loadKek are
 * test/unit/share-seal.test.ts; release 0.1.0 records are test/unit/kek.test.ts).
 */
const kek = (byte: number) => new Uint8Array(32).fill(byte);
const AAD = shareAad('node-1', 'key-1', 'bip340');
const FAILED = { message: 'sealed share failed authentication: wrong KEK, wrong row, or tampered data' };

describe('shareAad', () => {
  test('length-prefixed fields under a fixed label', () => {
    const aad = Buffer.from(shareAad('n', 'kk', ''));
    const label = 'tandem/share-aad/v1';
    assert.equal(aad.readUInt32BE(0), label.length);
    assert.equal(aad.subarray(4, 4 + label.length).toString(), label);
    assert.deepEqual([...aad.subarray(4 + label.length)], [0, 0, 0, 1, 0x6e, 0, 0, 0, 2, 0x6b, 0x6b, 0, 0, 0, 0]);
  });

  test('no two distinct (node, key, family) triples encode alike', () => {
    const triples: Array<[string, string, string]> = [
      ['node-1', 'key-1', 'bip340'],
      ['node-1', 'key-1', 'ecdsa'],
      ['node-2', 'key-1', 'bip340'],
      ['node-1', 'key-2', 'bip340'],
      ['node-1key-1', '', 'bip340'],
      ['node-1', 'key-1bip340', ''],
      ['', 'node-1key-1', 'bip340'],
      ['nöde', 'k', 'f'],
      ['no\u0000de', 'k', 'f'],
    ];
    const seen = new Set(triples.map((t) => Buffer.from(shareAad(...t)).toString('hex')));
    assert.equal(seen.size, triples.length);
  });
});

describe('Keyring records', () => {
  test('a share sealed for one row opens for no other node, key or family', () => {
    const ring = new Keyring(kek(1));
    const sealed = ring.seal(Uint8Array.of(1, 2, 3), AAD);
    assert.deepEqual(ring.open(sealed, shareAad('node-1', 'key-1', 'bip340')), Uint8Array.of(1, 2, 3));
    for (const aad of [shareAad('node-2', 'key-1', 'bip340'), shareAad('node-1', 'key-2', 'bip340'), shareAad('node-1', 'key-1', 'ed25519'), new Uint8Array(0)]) {
      assert.throws(() => ring.open(sealed, aad), FAILED);
    }
  });

  test('the version and KEK id are authenticated: a v2 record relabelled v1 does not open', () => {
    const ring = new Keyring(kek(1));
    const sealed = ring.seal(Uint8Array.of(9), AAD);
    const asV1 = Uint8Array.from(sealed);
    asV1[0] = 1;
    assert.equal(sealedKekId(asV1), 'v1');
    assert.throws(() => ring.open(asV1, AAD), FAILED);
  });

  test('a record under a KEK the keyring lacks names that KEK, and only its id', () => {
    const a = new Keyring(kek(1));
    const b = new Keyring(kek(2));
    const sealed = a.seal(Uint8Array.of(9), AAD);
    assert.throws(() => b.open(sealed, AAD), { message: `sealed share is under KEK ${a.currentId}, which is not configured (have ${b.currentId})` });
  });

  test('empty, truncated and unknown-version records are refused with what is wrong', () => {
    const ring = new Keyring(kek(1));
    assert.throws(() => ring.open(new Uint8Array(0), AAD), { message: 'sealed share is truncated' });
    assert.throws(() => ring.open(Uint8Array.of(2, ...new Uint8Array(35)), AAD), { message: 'sealed share is truncated' });
    assert.throws(() => ring.open(Uint8Array.of(1, ...new Uint8Array(27)), AAD), { message: 'sealed share is truncated' });
    assert.throws(() => ring.open(Uint8Array.of(1, ...new Uint8Array(28)), AAD), FAILED, 'a v1 record of minimal length is tried with every KEK');
    for (const v of [0, 3, 0xff]) assert.throws(() => ring.open(Uint8Array.of(v, ...new Uint8Array(40)), AAD), { message: 'sealed share has an unsupported format version' });
  });

  test('sealedKekId and needsReseal: only v2 records under the current KEK are done', () => {
    const old = new Keyring(kek(1));
    const ring = new Keyring(kek(2), [kek(1)]);
    assert.equal(sealedKekId(new Uint8Array(0)), 'unknown');
    assert.equal(sealedKekId(Uint8Array.of(2, 1, 2)), 'unknown', 'a v2 header cut short');
    assert.equal(sealedKekId(Uint8Array.of(7, ...new Uint8Array(40))), 'unknown');
    const underOld = old.seal(Uint8Array.of(5), AAD);
    assert.equal(sealedKekId(underOld), old.currentId);
    assert.equal(ring.needsReseal(underOld), true);
    const fresh = ring.reseal(underOld, AAD);
    assert.equal(ring.needsReseal(fresh), false);
    assert.equal(ring.needsReseal(Uint8Array.of(1, ...new Uint8Array(40))), true, 'a v1 record always needs re-sealing');
    assert.throws(() => ring.reseal(underOld, shareAad('node-2', 'key-1', 'bip340')), FAILED, 'a row that does not open is not re-sealed');
  });

  test('a previous KEK equal to the current one is kept once', () => {
    const ring = new Keyring(kek(1), [kek(1), kek(2), kek(2)]);
    assert.equal(ring.ids.length, 2);
    assert.equal(ring.ids[0], ring.currentId);
  });
});

describe('kekBytesFromHex', () => {
  test('64 hex characters of either case; anything else names what was expected, never the input', () => {
    assert.deepEqual(kekBytesFromHex('Ab'.repeat(32), 'TANDEM_KEK'), Buffer.alloc(32, 0xab));
    for (const bad of ['', 'ab'.repeat(31), 'ab'.repeat(33), `0x${'ab'.repeat(31)}`, `${'ab'.repeat(32)}\n`, 'zz'.repeat(32)]) {
      assert.throws(() => kekBytesFromHex(bad, 'TANDEM_KEK'), { message: 'TANDEM_KEK must be 64 hex characters' }, JSON.stringify(bad));
    }
  });
});
