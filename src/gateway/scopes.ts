import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { isLambdaError, parseAllowlist } from './lambda/index.js';
import { RpcError } from '../wallet/rpc.js';
import { originAllowed } from '../wallet/passkey-evidence.js';
import { isPrintableText } from '../core/text.js';
import type { ScopeConfig } from './storage/gateway-store.js';

/**
 * A scope is an app's namespace: its passkeys' relying party (RP ID and the origins its
 * pages are served from) and what its lambdas may reach. Its configuration is signed by
 * the app's own key (base64 SPKI DER, as `passport-scope` and `@0xpass/key-signer` make),
 * and only that key can change it.
 */
const MAX_ORIGINS = 32;
const HOST_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Accepts the 0xPass shape `{ "rp": { "id", "name"?, "origin": string | string[] } }`
 * (also `origins`), plus `lambda.fetch_allowlist`. An origin may end in `:*` for any port.
 */
export function parseScopeConfig(text: unknown): ScopeConfig {
  let raw: unknown = text;
  if (typeof text === 'string') {
    if (text.length > 16 * 1024) throw new RpcError('invalid_params', 'scope config is too long');
    try {
      raw = JSON.parse(text);
    } catch {
      throw new RpcError('invalid_params', 'scope config is not JSON');
    }
  }
  const c = obj(raw, 'scope config');
  const rp = obj(c.rp, 'scope config rp');
  const id = rp.id;
  if (typeof id !== 'string' || !HOST_RE.test(id)) throw new RpcError('invalid_params', 'rp.id must be a host name');
  const name = rp.name === undefined ? id : rp.name;
  // The name passkey prompts show, stored as jsonb: no control characters, well-formed.
  if (typeof name !== 'string' || name.length === 0 || name.length > 64 || !isPrintableText(name)) {
    throw new RpcError('invalid_params', 'rp.name must be 1-64 characters without control characters');
  }
  const given = rp.origins ?? rp.origin;
  const origins = typeof given === 'string' ? [given] : given;
  if (!Array.isArray(origins) || origins.length === 0 || origins.length > MAX_ORIGINS) {
    throw new RpcError('invalid_params', `rp.origin must be an origin or a list of 1-${MAX_ORIGINS} origins`);
  }
  for (const o of origins) checkOriginPattern(o, id);
  const lambda = c.lambda === undefined ? {} : obj(c.lambda, 'scope config lambda');
  const allow = lambda.fetch_allowlist ?? [];
  try {
    // The executor's own parser: a scope never stores an entry its lambdas would refuse.
    parseAllowlist(allow as string[]);
  } catch (e) {
    if (isLambdaError(e)) throw new RpcError('invalid_params', `lambda.fetch_allowlist: ${e.message}`);
    throw e;
  }
  const signing = c.signing === undefined ? {} : obj(c.signing, 'scope config signing');
  const perRequest = signing.passkey_per_request ?? false;
  if (typeof perRequest !== 'boolean') throw new RpcError('invalid_params', 'signing.passkey_per_request must be true or false');
  return { rp: { id, name, origins: origins as string[] }, lambda_allowlist: allow as string[], ...(perRequest ? { passkey_per_request: true as const } : {}) };
}

/** The dev cluster's scope: RP ID localhost, any http://localhost port. */
export function devScopeConfig(): ScopeConfig {
  return { rp: { id: 'localhost', name: 'Tandem dev', origins: ['http://localhost:*', 'http://localhost'] }, lambda_allowlist: [] };
}

function checkOriginPattern(o: unknown, rpId: string): void {
  if (typeof o !== 'string' || o.length > 256) throw new RpcError('invalid_params', 'each origin must be a string');
  // Lower-case host names only, as URL() normalises them: anything else ('?', '#', '@',
  // upper case) would read differently here and in originAllowed.
  const m = /^(https?):\/\/([a-z0-9.-]+)(?::([0-9]{1,5}|\*))?$/.exec(o);
  if (!m || !HOST_RE.test(m[2]!) || (m[3] !== undefined && m[3] !== '*' && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
    throw new RpcError('invalid_params', `origin ${JSON.stringify(o)} must be scheme://host[:port|:*], lower case, with no path`);
  }
  const [, scheme, host] = m;
  // WebAuthn itself only accepts an RP ID equal to the page's host or a registrable suffix of it.
  if (host !== rpId && !host!.endsWith(`.${rpId}`)) throw new RpcError('invalid_params', `origin ${o} is not on the RP ID ${rpId}`);
  if (scheme !== 'https' && host !== 'localhost') throw new RpcError('invalid_params', `origin ${o} must be https (http only for localhost)`);
}

/** Whether a page origin (from clientDataJSON) is one the scope accepts. */
export function scopeAllowsOrigin(config: ScopeConfig, origin: string): boolean {
  return originAllowed(config.rp.origins, origin);
}

/** Verifies a scope owner's signature (base64) over `data`: SHA-256 for RSA/ECDSA keys, as Node's `createSign('SHA256')` makes it. */
export function verifyOwnerSignature(publicKeyB64: unknown, data: string, signatureB64: unknown): boolean {
  if (typeof signatureB64 !== 'string' || signatureB64.length > 2048) return false;
  const key = ownerKey(publicKeyB64);
  const sig = Buffer.from(signatureB64, 'base64');
  const alg = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
  try {
    return verifySignature(alg, Buffer.from(data, 'utf8'), key, sig);
  } catch {
    return false;
  }
}

export function ownerKey(publicKeyB64: unknown): KeyObject {
  if (typeof publicKeyB64 !== 'string' || publicKeyB64.length === 0 || publicKeyB64.length > 2048) {
    throw new RpcError('invalid_params', 'public_key must be a base64 SPKI DER public key');
  }
  try {
    return createPublicKey({ key: Buffer.from(publicKeyB64, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new RpcError('invalid_params', 'public_key must be a base64 SPKI DER public key');
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RpcError('invalid_params', `${what} must be an object`);
  return v as Record<string, unknown>;
}
