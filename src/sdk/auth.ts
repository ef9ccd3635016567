import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../core/hex.js';
import { signAdminRequest, signRequest, type RequestKeyType } from '../api/request-signature.js';

/**
 * The two ways to authenticate to a signer node.
 *
 * - An API key (`tdm_...`, from create-user, or the admin key): sent as is in the
 *   Authorization header of every request. Whoever sees one request can replay anything.
 * - A request-signing key (Ed25519 or P-256) registered for the user at create-user: every
 *   request carries a fresh `Tandem-Signature` over its method, path (with the query string),
 *   SHA-256 of the exact body bytes, a timestamp and a nonce (src/api/request-signature.ts).
 *   Each node checks it itself, so a captured request can't be turned into another one.
 * - The admin's signing key (its public half pinned on every node as TANDEM_ADMIN_PUBLIC_KEY):
 *   admin requests carry a fresh `Tandem-Admin-Signature`; a create-user signed so is the
 *   evidence every node checks, where an admin API key stays at the node that received it.
 */
export type { RequestKeyType };

export interface ApiKeyCredential {
  apiKey: string;
}

export interface RequestKey {
  type: RequestKeyType;
  /** 32-byte private key (Ed25519 seed or P-256 scalar). */
  privateKey: Uint8Array;
}

export interface SignedRequestCredential {
  /** The user id create-user returned (32 hex characters). */
  userId: string;
  key: RequestKey;
}

export interface AdminSignatureCredential {
  adminKey: RequestKey;
}

export type Credential = ApiKeyCredential | SignedRequestCredential | AdminSignatureCredential;

/** What a request's signature covers; `body` is exactly the text sent ('' when there is none). */
export interface RequestToAuthorize {
  method: string;
  /** The path with its query string, as the node sees it: `/admin/audit?limit=10`. */
  path: string;
  body: string;
}

/** Throws a TypeError for a credential that can't work (caught at construction, not at the first request). */
export function checkCredential(c: Credential): void {
  if ('apiKey' in c) {
    if (typeof c.apiKey !== 'string' || c.apiKey.length === 0 || /[\r\n]/.test(c.apiKey)) throw new TypeError('apiKey must be a non-empty single-line string');
    return;
  }
  if ('adminKey' in c) return checkKey(c.adminKey, 'adminKey');
  if (typeof c.userId !== 'string' || !/^[0-9a-f]{32}$/.test(c.userId)) throw new TypeError('userId must be 32 lower-case hex characters');
  checkKey(c.key, 'key');
}

function checkKey(key: RequestKey | undefined, name: string): void {
  if (key?.type !== 'ed25519' && key?.type !== 'p256') throw new TypeError(`${name}.type must be 'ed25519' or 'p256'`);
  if (!(key.privateKey instanceof Uint8Array) || key.privateKey.length !== 32) throw new TypeError(`${name}.privateKey must be 32 bytes`);
}

/** The Authorization header for one request (a signed credential signs anew every time: fresh ts and nonce). */
export function authorizationHeader(c: Credential, req: RequestToAuthorize): string {
  if ('apiKey' in c) return c.apiKey;
  if ('adminKey' in c) return signAdminRequest(c.adminKey, { method: req.method, path: req.path, body: req.body });
  return signRequest(c.key, c.userId, { method: req.method, path: req.path, body: req.body });
}

/** The public key to register at create-user: hex, Ed25519 32 bytes or P-256 33 bytes (compressed). */
export function requestPublicKey(key: RequestKey): string {
  return toHex(key.type === 'ed25519' ? ed25519.getPublicKey(key.privateKey) : p256.getPublicKey(key.privateKey, true));
}

/** A new random request-signing key, with its public key in the form create-user takes. Keep privateKey secret. */
export function generateRequestKey(type: RequestKeyType): RequestKey & { publicKey: string } {
  const privateKey = type === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
  const key = { type, privateKey };
  return { ...key, publicKey: requestPublicKey(key) };
}
