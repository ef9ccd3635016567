import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { NodeSigningKey } from './types.js';

/**
 * The two signatures of a webhook exchange, both Ed25519 (RFC 8032, pure, 64 bytes, sent
 * as 128 lower-case hex characters), each over a domain-separated byte string so a
 * signature of one kind can never pass for the other:
 *
 * Request (node -> Rule Server), header `x-tandem-signature`, by the node's key:
 *   "tandem-rule-request/v1\n" || raw request body bytes
 * The node also sends `x-tandem-node-id`; the Rule Server looks the node's public key up by
 * that id (the node publishes it) and should check that the body's `node_id` is the same
 * and its `timestamp` recent.
 *
 * Response (Rule Server -> node), header `x-tandem-rule-signature`, by the rule's
 * `public_key`, required only when the rule has one:
 *   "tandem-rule-response/v1\n" || request_id || "\n" || raw response body bytes
 * request_id is the `request_id` of the request being answered (UTF-8), so an approval
 * captured for one request cannot be replayed for another.
 */
export const RULE_REQUEST_DOMAIN = 'tandem-rule-request/v1\n';
export const RULE_RESPONSE_DOMAIN = 'tandem-rule-response/v1\n';
export const NODE_ID_HEADER = 'x-tandem-node-id';
export const REQUEST_SIGNATURE_HEADER = 'x-tandem-signature';
export const RESPONSE_SIGNATURE_HEADER = 'x-tandem-rule-signature';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function bytesOf(body: Uint8Array | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** The bytes a node signs for a request body. */
export function ruleRequestSigningBytes(body: Uint8Array | string): Uint8Array {
  return Buffer.concat([Buffer.from(RULE_REQUEST_DOMAIN, 'utf8'), bytesOf(body)]);
}

/** The bytes a Rule Server signs for its answer to `requestId`. */
export function ruleResponseSigningBytes(requestId: string, body: Uint8Array | string): Uint8Array {
  return Buffer.concat([Buffer.from(`${RULE_RESPONSE_DOMAIN}${requestId}\n`, 'utf8'), bytesOf(body)]);
}

const keyCache = new Map<string, KeyObject>();
function ed25519PublicKey(publicKeyHex: string): KeyObject {
  let k = keyCache.get(publicKeyHex);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
    if (keyCache.size < 1024) keyCache.set(publicKeyHex, k);
  }
  return k;
}

/** Ed25519 verification that answers false (never throws) for anything malformed. */
export function verifyEd25519(publicKeyHex: string, message: Uint8Array, signatureHex: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(publicKeyHex) || !/^[0-9a-fA-F]{128}$/.test(signatureHex)) return false;
  try {
    return verify(null, message, ed25519PublicKey(publicKeyHex.toLowerCase()), Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}

/** For Rule Servers: checks `x-tandem-signature` (hex) over a raw request body with the node's public key (hex). */
export function verifyNodeSignature(publicKeyHex: string, body: Uint8Array | string, signatureHex: string): boolean {
  return verifyEd25519(publicKeyHex, ruleRequestSigningBytes(body), signatureHex);
}

/** For Rule Servers: the `x-tandem-rule-signature` value (hex) for an answer to `requestId`. */
export function signRuleResponse(key: Pick<NodeSigningKey, 'sign'>, requestId: string, body: Uint8Array | string): string {
  return Buffer.from(key.sign(ruleResponseSigningBytes(requestId, body))).toString('hex');
}

/** For nodes: checks a Rule Server's answer signature with the rule's public key. */
export function verifyRuleResponseSignature(publicKeyHex: string, requestId: string, body: Uint8Array | string, signatureHex: string): boolean {
  return verifyEd25519(publicKeyHex, ruleResponseSigningBytes(requestId, body), signatureHex);
}
