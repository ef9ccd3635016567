import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadKek, sealedKekId, shareAad } from '../../src/crypto/share-seal.js';

const POSIX = process.platform !== 'win32';
const KEK_HEX = '0f'.repeat(32);

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-kek-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Kek seal/open', () => {
  const aad = shareAad('node-1', 'key-1', 'bip340');
  const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

  test('round trip; the format is version 2 | KEK id | iv | ct | tag', async () => {
    const kek = await loadKek({ env: KEK_HEX, keyFile: join(dir, 'unused') });
    const sealed = kek.seal(secret, aad);
    assert.equal(sealed.length, 1 + 8 + 12 + secret.length + 16);
    assert.equal(sealed[0], 2);
    assert.equal(Buffer.from(sealed.subarray(1, 9)).toString('hex'), kek.currentId);
    assert.equal(sealedKekId(sealed), kek.currentId);
    assert.deepEqual(kek.open(sealed, aad), secret);
    // Fresh IV per seal.
    assert.notDeepEqual(kek.seal(secret, aad), sealed);
  });

  test('tampering with any part is rejected', async () => {
    const kek = await loadKek({ env: KEK_HEX, keyFile: join(dir, 'unused') });
    const sealed = kek.seal(secret, aad);
    const parts = { version: 0, kekId: 1, iv: 9, ciphertext: 21, tag: sealed.length - 1 };
    for (const [part, at] of Object.entries(parts)) {
      const bad = Uint8Array.from(sealed);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      assert.throws(() => kek.open(bad, aad), /sealed share/, part);
    }
    assert.throws(() => kek.open(sealed.subarray(0, 36), aad), /truncated/);
  });

  test('wrong AAD or wrong KEK is rejected without leaking the key', async () => {
    const kek = await loadKek({ env: KEK_HEX, keyFile: join(dir, 'unused') });
    const sealed = kek.seal(secret, aad);
    for (const other of [
      shareAad('node-2', 'key-1', 'bip340'),
      shareAad('node-1', 'key-2', 'bip340'),
      shareAad('node-1', 'key-1', 'ecdsa'),
    ]) {
      assert.throws(() => kek.open(sealed, other), /failed authentication/);
    }
    const otherKek = await loadKek({ env: 'f0'.repeat(32), keyFile: join(dir, 'unused') });
    assert.throws(
      () => otherKek.open(sealed, aad),
      (err: Error) => /which is not configured/.test(err.message) && !err.message.includes(KEK_HEX),
    );
  });

  test('shareAad is unambiguous across field boundaries', () => {
    assert.notDeepEqual(shareAad('a', 'bc', 'd'), shareAad('ab', 'c', 'd'));
    assert.notDeepEqual(shareAad('a', '', 'bd'), shareAad('a', 'b', 'd'));
  });
});

describe('loadKek', () => {
  test('bad env values are rejected without echoing them', async () => {
    const keyFile = join(dir, 'never-created');
    for (const env of ['', '0f'.repeat(31), '0f'.repeat(33), 'zz'.repeat(32), ` ${KEK_HEX}`, `0x${KEK_HEX}`]) {
      await assert.rejects(
        loadKek({ env, keyFile }),
        (err: Error) => /64 hex characters/.test(err.message) && (env === '' || !err.message.includes(env)),
      );
    }
    await assert.rejects(stat(keyFile), { code: 'ENOENT' });
  });

  test('creates a 0600 key file (and its directory) and reuses it', async () => {
    const keyFile = join(dir, 'nested', 'node', 'kek');
    const first = await loadKek({ keyFile });
    const raw = await readFile(keyFile);
    assert.equal(raw.length, 32);
    if (POSIX) assert.equal((await stat(keyFile)).mode & 0o777, 0o600);

    const second = await loadKek({ keyFile });
    assert.deepEqual(await readFile(keyFile), raw);
    const aad = shareAad('node-1', 'k', 'ed25519');
    assert.deepEqual(second.open(first.seal(Uint8Array.of(1, 2, 3), aad), aad), Uint8Array.of(1, 2, 3));
  });

  test('env takes precedence over the key file', async () => {
    const keyFile = join(dir, 'precedence-kek');
    const fromFile = await loadKek({ keyFile });
    const fromEnv = await loadKek({ env: KEK_HEX, keyFile });
    const aad = shareAad('n', 'k', 'ecdsa');
    assert.throws(() => fromEnv.open(fromFile.seal(Uint8Array.of(9), aad), aad), /which is not configured/);
  });

  test('a key file of the wrong size is refused', async () => {
    const keyFile = join(dir, 'short-kek');
    await writeFile(keyFile, Buffer.alloc(16, 7), { mode: 0o600 });
    await assert.rejects(loadKek({ keyFile }), /exactly 32 raw bytes/);
  });

  test('a key file readable by group or others is refused', { skip: !POSIX }, async () => {
    const keyFile = join(dir, 'open-kek');
    await loadKek({ keyFile });
    for (const mode of [0o644, 0o640, 0o604]) {
      await chmod(keyFile, mode);
      await assert.rejects(loadKek({ keyFile }), /group or others/);
    }
  });
});
