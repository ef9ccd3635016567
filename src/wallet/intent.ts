import { createHash } from 'node:crypto';
import { keccak256 } from 'viem/utils';
import { parseTransaction, personalMessageHash, typedDataHash, unsignedTransaction } from './ethereum.js';
import { RpcError } from './rpc.js';

/**
 * What a wallet request asks the key to sign: the 32-byte hash, and for a transaction the
 * unsigned serialisation (the nodes' policies read it). One function for the gateway's
 * methods and for a signer node that checks an end user's passkey assertion over the raw
 * request body (src/node/passkey-owner.ts), so both read a request alike.
 */
export interface SigningIntent {
  hash: Uint8Array;
  /** The unsigned transaction (eth_signTransaction only). */
  unsigned?: Uint8Array;
  /** The address the request names as the signer, if it names one. */
  address?: unknown;
}

export const SIGNING_METHODS = ['personal_sign', 'eth_signTransaction', 'eth_signTypedData_v4'] as const;

export function signingIntent(method: string, params: unknown): SigningIntent {
  if (method === 'personal_sign') {
    const [message, address] = paramsList(params, 2);
    return { hash: personalMessageHash(message), address };
  }
  if (method === 'eth_signTransaction') {
    const [input] = paramsList(params, 1);
    const { tx, from } = parseTransaction(input);
    const unsigned = unsignedTransaction(tx);
    return { hash: keccak256(unsigned, 'bytes'), unsigned, address: from };
  }
  if (method === 'eth_signTypedData_v4') {
    const [address, typed] = paramsList(params, 2);
    return { hash: typedDataHash(typed), address };
  }
  throw new RpcError('invalid_params', `${method} signs nothing`);
}

/** The intent of a raw JSON-RPC request body, or undefined when it is no signing request. */
export function intentOfBody(rawBody: string): SigningIntent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch {
    return undefined;
  }
  const { method, params } = (parsed ?? {}) as { method?: unknown; params?: unknown };
  if (typeof method !== 'string' || !(SIGNING_METHODS as readonly string[]).includes(method)) return undefined;
  try {
    return signingIntent(method, params);
  } catch {
    return undefined;
  }
}

function paramsList(params: unknown, n: number): unknown[] {
  if (!Array.isArray(params) || params.length < n) throw new RpcError('invalid_params', `params must be a list of ${n}`);
  return params;
}

/**
 * The direct passkey flow's WebAuthn challenge: base64url(SHA-256("tandem/passkey-request/v1"
 * | challenge bytes | SHA-256(raw body))), so an assertion authorises the one request body
 * it was made for, once (the gateway and each signer node spend the challenge).
 */
export function requestChallenge(challengeB64url: string, rawBody: string): string {
  const bodyHash = createHash('sha256').update(rawBody, 'utf8').digest();
  return createHash('sha256').update('tandem/passkey-request/v1').update(Buffer.from(challengeB64url, 'base64url')).update(bodyHash).digest('base64url');
}
