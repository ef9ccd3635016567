import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { toHex, fromHex } from '../core/hex.js';

/**
 * Signed requests: instead of a bearer API key, a user holds a private key (Ed25519 or
 * P-256) whose public half every node stores; each request carries
 *
 *   Authorization: Tandem-Signature user=<user id>,ts=<unix ms>,nonce=<32 hex>,sig=<base64url>
 *
 * where sig signs "tandem-request/v1\n" METHOD "\n" PATH(+query) "\n" hex(SHA-256(body))
 * "\n" ts "\n" nonce. Every node verifies it itself (the coordinator forwards the request,
 * not a key), refuses it outside ±60 s and refuses a nonce it has seen, and each signer
 * checks that the ceremony it is invited to is the one the request names. Portable
 * (noble only): the SDK signs with the same code in Node and in a browser.
 */
export type RequestKeyType = 'ed25519' | 'p256';
export const SIGNATURE_SCHEME = 'Tandem-Signature';
/**
 * The admin's signed requests: the same fields without `user`, signed under another domain
 * ("tandem-admin-request/v1"), so that a user's signature can never pass as the admin's even
 * if one key were registered for both.
 */
export const ADMIN_SIGNATURE_SCHEME = 'Tandem-Admin-Signature';
const USER_DOMAIN = 'tandem-request/v1';
const ADMIN_DOMAIN = 'tandem-admin-request/v1';
export const MAX_REQUEST_SKEW_MS = 60_000;

export interface SignatureHeader {
  /** The user id; '' in an admin signature. */
  user: string;
  admin: boolean;
  ts: number;
  nonce: string;
  sig: Uint8Array;
}

export function signingString(method: string, path: string, body: string | Uint8Array, ts: number, nonce: string, domain = USER_DOMAIN): Uint8Array {
  const bodyBytes = typeof body === 'string' ? utf8ToBytes(body) : body;
  return utf8ToBytes([domain, method.toUpperCase(), path, toHex(sha256(bodyBytes)), String(ts), nonce].join('\n'));
}

export function signRequest(
  key: { type: RequestKeyType; privateKey: Uint8Array },
  user: string,
  req: { method: string; path: string; body: string | Uint8Array },
  now = Date.now(),
  nonce: string = toHex(randomNonce()),
): string {
  const sig = sign(key, signingString(req.method, req.path, req.body, now, nonce));
  return `${SIGNATURE_SCHEME} user=${user},ts=${now},nonce=${nonce},sig=${base64url(sig)}`;
}

/** An admin request's Authorization header (verified by every node against its pinned admin public key). */
export function signAdminRequest(
  key: { type: RequestKeyType; privateKey: Uint8Array },
  req: { method: string; path: string; body: string | Uint8Array },
  now = Date.now(),
  nonce: string = toHex(randomNonce()),
): string {
  const sig = sign(key, signingString(req.method, req.path, req.body, now, nonce, ADMIN_DOMAIN));
  return `${ADMIN_SIGNATURE_SCHEME} ts=${now},nonce=${nonce},sig=${base64url(sig)}`;
}

function sign(key: { type: RequestKeyType; privateKey: Uint8Array }, msg: Uint8Array): Uint8Array {
  return key.type === 'ed25519' ? ed25519.sign(msg, key.privateKey) : p256.sign(msg, key.privateKey, { prehash: true, format: 'compact' });
}

export function parseSignatureHeader(header: string): SignatureHeader | undefined {
  const fields = headerFields(header, SIGNATURE_SCHEME);
  const user = fields?.get('user') ?? '';
  if (!fields || !/^[0-9a-f]{32}$/.test(user)) return undefined;
  return commonFields(fields, user, false);
}

/** An admin signature header (the admin is no user: `user` is ''). */
export function parseAdminSignatureHeader(header: string): SignatureHeader | undefined {
  const fields = headerFields(header, ADMIN_SIGNATURE_SCHEME);
  return fields && commonFields(fields, '', true);
}

function headerFields(header: string, scheme: string): Map<string, string> | undefined {
  if (!header.startsWith(`${scheme} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(scheme.length + 1).split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return fields;
}

function commonFields(fields: Map<string, string>, user: string, admin: boolean): SignatureHeader | undefined {
  const ts = Number(fields.get('ts'));
  const nonce = fields.get('nonce') ?? '';
  const sig = fields.get('sig') ?? '';
  if (!Number.isSafeInteger(ts) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[A-Za-z0-9_-]{80,90}$/.test(sig)) return undefined;
  return { user, admin, ts, nonce, sig: fromBase64url(sig) };
}

/** Verifies the signature only; freshness and nonces are the verifier's (it has the clock and the store). */
export function verifyRequestSignature(
  key: { type: RequestKeyType; publicKey: Uint8Array },
  h: SignatureHeader,
  req: { method: string; path: string; body: string | Uint8Array },
): boolean {
  const msg = signingString(req.method, req.path, req.body, h.ts, h.nonce, h.admin ? ADMIN_DOMAIN : USER_DOMAIN);
  try {
    // WebCrypto makes high-S P-256 signatures as often as low-S: both are accepted.
    return key.type === 'ed25519' ? ed25519.verify(h.sig, msg, key.publicKey) : p256.verify(h.sig, msg, key.publicKey, { prehash: true, lowS: false, format: 'compact' });
  } catch {
    return false;
  }
}

/** A request public key as the API takes it: Ed25519 32 bytes, P-256 33 (compressed) or 65. */
export function parseRequestPublicKey(type: unknown, hex: unknown): { type: RequestKeyType; publicKey: Uint8Array } | undefined {
  if ((type !== 'ed25519' && type !== 'p256') || typeof hex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(hex)) return undefined;
  const publicKey = fromHex(hex);
  try {
    if (type === 'ed25519') {
      if (publicKey.length !== 32) return undefined;
      ed25519.Point.fromBytes(publicKey).assertValidity();
    } else {
      p256.Point.fromBytes(publicKey).assertValidity();
    }
  } catch {
    return undefined;
  }
  return { type, publicKey };
}

function randomNonce(): Uint8Array {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return b;
}

function base64url(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64url(s: string): Uint8Array {
  const bin = atob(s.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
