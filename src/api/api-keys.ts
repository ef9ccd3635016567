import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { UserId } from '../core/ids.js';

/**
 * API keys are `tdm_<user id>_<secret>`: the user id lets a node fetch the one stored
 * hash to compare against (in constant time) instead of searching by secret. The secret
 * is 256 random bits, so a plain SHA-256 is a sufficient hash: there is nothing to
 * brute-force.
 */
const KEY_RE = /^tdm_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export function newUserId(): UserId {
  return randomUUID().replaceAll('-', '') as UserId;
}

export function newApiKey(userId: UserId): string {
  return `tdm_${userId}_${randomBytes(32).toString('base64url')}`;
}

export function userIdOfApiKey(key: string): UserId | undefined {
  const m = KEY_RE.exec(key);
  return m ? (m[1] as UserId) : undefined;
}

export function hashApiKey(key: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(key, 'utf8').digest());
}

export function apiKeyMatches(key: string, storedHash: Uint8Array): boolean {
  const h = hashApiKey(key);
  return h.length === storedHash.length && timingSafeEqual(h, storedHash);
}

/** The admin key has no user id inside; it is any high-entropy string of sane length. */
export function newAdminKey(): string {
  return `tdm_admin_${randomBytes(32).toString('base64url')}`;
}

export function credentialFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const v = header.trim();
  return v.toLowerCase().startsWith('bearer ') ? v.slice(7).trim() : v;
}
