import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PartyId } from '../../../src/core/ids.js';
import { generateEphemeral, identityFromPrivateKey, loadOrCreateIdentity, staticKeyObject, x25519, x25519PublicKeyObject } from '../../../src/crypto/identity.js';
import { generateKeyPairSync } from 'node:crypto';

/** A node's long-term X25519 identity: the key every end-to-end channel is authenticated with. */
const POSIX = process.platform !== 'win32';
const NODE_1 = 'node-1' as PartyId;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-identity-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('X25519 agreement', () => {
  test('both sides agree, with raw keys, key objects and cached static keys alike', () => {
    const a = identityFromPrivateKey(NODE_1, generateKeyPairSync('x25519').privateKey);
    const b = generateEphemeral();
    assert.equal(a.publicKey.length, 32);
    assert.equal(b.publicKey.length, 32);
    const ab = a.agree(b.publicKey);
    assert.deepEqual(x25519(b.privateKey, a.publicKey), ab);
    assert.deepEqual(a.agree(x25519PublicKeyObject(b.publicKey)), ab);
    assert.deepEqual(a.agreeStatic(b.publicKey), ab);
    assert.equal(staticKeyObject(b.publicKey), staticKeyObject(Uint8Array.from(b.publicKey)), 'one key object per static key');
    assert.notDeepEqual(a.agree(generateEphemeral().publicKey), ab);
  });

  test('a public key that is not 32 bytes, or of low order, is refused', () => {
    const a = identityFromPrivateKey(NODE_1, generateKeyPairSync('x25519').privateKey);
    assert.throws(() => a.agree(new Uint8Array(31)), { message: 'X25519 public key must be 32 bytes' });
    assert.throws(() => x25519PublicKeyObject(new Uint8Array(33)), { message: 'X25519 public key must be 32 bytes' });
    // The all-zero point (and the other small-order points) give the all-zero secret: never a key.
    assert.throws(() => a.agree(new Uint8Array(32)));
    assert.throws(() => a.agreeStatic(Uint8Array.of(1, ...new Uint8Array(31))));
  });
});

describe('loadOrCreateIdentity', () => {
  test('creates a 0600 file of 32 raw bytes (and its directory) at first start, and loads the same identity after', async () => {
    const file = join(dir, 'node-1', 'identity.key');
    const first = await loadOrCreateIdentity(NODE_1, file);
    assert.equal(first.partyId, NODE_1);
    assert.equal((await readFile(file)).length, 32);
    if (POSIX) {
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'node-1'))).mode & 0o777, 0o700);
    }
    const again = await loadOrCreateIdentity(NODE_1, file);
    assert.deepEqual(again.publicKey, first.publicKey);
    const peer = generateEphemeral();
    assert.deepEqual(again.agree(peer.publicKey), first.agree(peer.publicKey));
  });

  test('a key file readable by group or others is refused', { skip: !POSIX }, async () => {
    const file = join(dir, 'open', 'identity.key');
    await loadOrCreateIdentity(NODE_1, file);
    for (const mode of [0o640, 0o604, 0o644]) {
      await chmod(file, mode);
      await assert.rejects(loadOrCreateIdentity(NODE_1, file), { message: `identity key file ${file} must not be accessible by group or others (chmod 600)` });
    }
  });

  test('a key file that is not 32 bytes is refused, not replaced', async () => {
    const file = join(dir, 'short.key');
    await writeFile(file, Buffer.alloc(31, 1), { mode: 0o600 });
    await assert.rejects(loadOrCreateIdentity(NODE_1, file), { message: `identity key file ${file} is not 32 bytes` });
    assert.equal((await readFile(file)).length, 31);
  });
});
