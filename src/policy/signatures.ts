import { createHash, verify, type KeyObject } from 'node:crypto';
import type { NodeSigningKey } from './context.js';
import { toHex } from '../core/hex.js';
import { ed25519PublicKeyObject } from '../core/ed25519-key.js';

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
 *   "tandem-rule-response/v2\n" || hex(SHA-256(raw request body bytes)) || "\n" || raw response body bytes
 * The hash binds the answer to everything the node asked (message, key, path, user...),
 * and the body's `request_id` is fresh for every request a node sends, so an approval
 * captured for one request cannot be replayed as the answer to any other.
 *
 * v1 ("tandem-rule-response/v1\n" || request_id || "\n" || response body) bound the request
 * id only, and that id was the coordinator's ceremony id, which the coordinator can reuse:
 * an approval captured once answered any later request under that id. Nodes refuse v1.
 */
export const RULE_REQUEST_DOMAIN = 'tandem-rule-request/v1\n';
export const RULE_RESPONSE_DOMAIN = 'tandem-rule-response/v2\n';
const RETIRED_RULE_RESPONSE_DOMAIN_V1 = 'tandem-rule-response/v1\n';
export const NODE_ID_HEADER = 'x-tandem-node-id';
export const REQUEST_SIGNATURE_HEADER = 'x-tandem-signature';
export const RESPONSE_SIGNATURE_HEADER = 'x-tandem-rule-signature';

function bytesOf(body: Uint8Array | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** The bytes a node signs for a request body. */
export function ruleRequestSigningBytes(body: Uint8Array | string): Uint8Array {
  return Buffer.concat([Buffer.from(RULE_REQUEST_DOMAIN, 'utf8'), bytesOf(body)]);
}

/**
 * The bytes a Rule Server signs for its answer to one request. `requestBody` must be the
 * exact bytes received: a re-serialisation of the parsed JSON need not hash the same.
 */
export function ruleResponseSigningBytes(requestBody: Uint8Array, responseBody: Uint8Array | string): Uint8Array {
  const requestHash = createHash('sha256').update(requestBody).digest('hex');
  return Buffer.concat([Buffer.from(`${RULE_RESPONSE_DOMAIN}${requestHash}\n`, 'utf8'), bytesOf(responseBody)]);
}

const keyCache = new Map<string, KeyObject>();
function ed25519PublicKey(publicKeyHex: string): KeyObject {
  let k = keyCache.get(publicKeyHex);
  if (!k) {
    k = ed25519PublicKeyObject(Buffer.from(publicKeyHex, 'hex'));
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

/** For Rule Servers: the `x-tandem-rule-signature` value (hex) for `responseBody` answering the request whose raw body is `requestBody`. */
export function signRuleResponse(key: Pick<NodeSigningKey, 'sign'>, requestBody: Uint8Array, responseBody: Uint8Array | string): string {
  return toHex(key.sign(ruleResponseSigningBytes(requestBody, responseBody)));
}

/** For nodes: checks a Rule Server's answer signature with the rule's public key, against the request body this node sent. */
export function verifyRuleResponseSignature(publicKeyHex: string, requestBody: Uint8Array, responseBody: Uint8Array | string, signatureHex: string): boolean {
  return verifyEd25519(publicKeyHex, ruleResponseSigningBytes(requestBody, responseBody), signatureHex);
}

/**
 * Whether a signature that failed v2 is a valid v1 one: never accepted, only so that the
 * refusal tells a Rule Server operator who has not upgraded what to change.
 */
export function isRetiredV1RuleResponseSignature(publicKeyHex: string, requestId: string, responseBody: Uint8Array | string, signatureHex: string): boolean {
  const v1 = Buffer.concat([Buffer.from(`${RETIRED_RULE_RESPONSE_DOMAIN_V1}${requestId}\n`, 'utf8'), bytesOf(responseBody)]);
  return verifyEd25519(publicKeyHex, v1, signatureHex);
}
