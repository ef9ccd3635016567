import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { apiKeyMatches, credentialFromHeader, hashApiKey, newAdminKey, newApiKey, newUserId, userIdOfApiKey } from '../../../src/api/api-keys.js';

/** API keys `tdm_<user id>_<secret>`: stored as SHA-256, compared in constant time. */
describe('API keys', () => {
  test('a new user id is 32 lower-case hex; a new key carries it and 256 random bits', () => {
    const user = newUserId();
    assert.match(user, /^[0-9a-f]{32}$/);
    assert.notEqual(newUserId(), user);
    const key = newApiKey(user);
    assert.match(key, new RegExp(`^tdm_${user}_[A-Za-z0-9_-]{43}$`));
    assert.equal(Buffer.from(key.split('_').slice(2).join('_'), 'base64url').length, 32);
    assert.notEqual(newApiKey(user), key);
  });

  test('the user id is read back from a well-formed key only', () => {
    const user = newUserId();
    assert.equal(userIdOfApiKey(newApiKey(user)), user);
    const secret = 'A'.repeat(43);
    for (const bad of [
      '',
      `tdm_${user}`,
      `tdm_${user}_${secret}x`,
      `tdm_${user}_${secret.slice(1)}`,
      `tdm_${user.toUpperCase()}_${secret}`,
      `tdm_${user.slice(1)}_${secret}`,
      `TDM_${user}_${secret}`,
      ` tdm_${user}_${secret}`,
      `tdm_${user}_${secret}\n`,
      `tdm_${user}_${secret.slice(1)}+`,
      newAdminKey(),
    ]) {
      assert.equal(userIdOfApiKey(bad), undefined, JSON.stringify(bad));
    }
  });

  test('the stored hash is SHA-256 of the key; only the same key matches it', () => {
    const key = newApiKey(newUserId());
    const stored = hashApiKey(key);
    assert.equal(Buffer.from(stored).toString('hex'), createHash('sha256').update(key, 'utf8').digest('hex'));
    assert.equal(apiKeyMatches(key, stored), true);
    assert.equal(apiKeyMatches(`${key}x`, stored), false);
    assert.equal(apiKeyMatches(key.slice(0, -1), stored), false);
    assert.equal(apiKeyMatches(key, stored.subarray(0, 31)), false, 'a truncated stored hash never matches (and never throws)');
    assert.equal(apiKeyMatches(key, new Uint8Array(0)), false);
  });

  test('admin keys are high-entropy and distinct', () => {
    const a = newAdminKey();
    assert.match(a, /^tdm_admin_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(newAdminKey(), a);
  });

  test('the credential is the Authorization header, with or without Bearer', () => {
    assert.equal(credentialFromHeader(undefined), undefined);
    assert.equal(credentialFromHeader(''), undefined);
    assert.equal(credentialFromHeader('tdm_x'), 'tdm_x');
    assert.equal(credentialFromHeader('Bearer tdm_x'), 'tdm_x');
    assert.equal(credentialFromHeader('  bearer   tdm_x  '), 'tdm_x');
    assert.equal(credentialFromHeader('BEARER tdm_x'), 'tdm_x');
    assert.equal(credentialFromHeader('Basic dXNlcjpwYXNz'), 'Basic dXNlcjpwYXNz', 'another scheme is taken as written, and matches no key');
  });
});
