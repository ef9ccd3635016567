import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { TransactionSerializable, TypedDataDefinition } from 'viem';
// viem/utils rather than viem: 253 modules instead of 449 in every node and gateway process.
import { getAddress, hashMessage, hashTypedData, hexToBytes, isHex, keccak256, publicKeyToAddress, serializeTransaction } from 'viem/utils';
import { RpcError } from './rpc.js';

/** An ECDSA signature as the nodes return it. */
export interface EcdsaSignature {
  /** r | s, 64 bytes hex, low-S. */
  signature: string;
  recoveryId: number;
}

/**
 * Ethereum encodings around a threshold ECDSA signature: what is hashed (EIP-191,
 * EIP-155/1559 transactions, EIP-712) and how r, s and the recovery id are written back.
 * Hashing and serialisation are viem's; the signature comes from the signer cluster.
 */

/** Checksummed address of a compressed secp256k1 public key (hex, no 0x). */
export function addressOf(compressedHex: string): string {
  const uncompressed = secp256k1.Point.fromHex(compressedHex).toHex(false);
  return publicKeyToAddress(`0x${uncompressed}`);
}

/**
 * The message as the wallet APIs pass it: even-length `0x`-hex is bytes (viem sends text
 * that way), anything else is UTF-8 text, as MetaMask reads personal_sign.
 */
export function personalMessageHash(message: unknown): Uint8Array {
  if (typeof message !== 'string') throw new RpcError('invalid_params', 'the message must be a string');
  if (message.length > 256 * 1024) throw new RpcError('invalid_params', 'the message is too long');
  const raw = isHex(message, { strict: true }) && message.length % 2 === 0 ? { raw: hexToBytes(message) } : message;
  return hexToBytes(hashMessage(raw));
}

/** `0x` r | s | v with v = 27 + recovery id, as personal_sign and eth_signTypedData_v4 return it. */
export function rsv(sig: EcdsaSignature): string {
  return `0x${sig.signature}${(27 + sig.recoveryId).toString(16)}`;
}

/**
 * The account address a request names: the zero address (the SDK's `signMessage` sends
 * it, the seed's example `0x00`) means "the session's account"; any other must be it.
 */
export function checkOwnAddress(given: unknown, own: string): void {
  if (typeof given !== 'string' || !/^0x[0-9a-fA-F]{1,40}$/.test(given)) {
    throw new RpcError('invalid_params', 'the address must be 0x-prefixed hex');
  }
  if (/^0x0+$/.test(given)) return;
  if (given.length !== 42 || given.toLowerCase() !== own.toLowerCase()) {
    throw new RpcError('forbidden', 'the address is not this account\'s: an account signs only with its own key');
  }
}

// ---- eth_signTransaction ----

const QUANTITY_FIELDS = ['nonce', 'gas', 'gasLimit', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'value', 'chainId', 'type'] as const;

/** A JSON-RPC quantity: 0x-hex or a decimal string or a safe integer number. */
export function quantity(v: unknown, field: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string') {
    if (/^0x[0-9a-fA-F]{1,64}$/.test(v)) return BigInt(v);
    if (/^[0-9]{1,78}$/.test(v) && BigInt(v) < 2n ** 256n) return BigInt(v);
  }
  throw new RpcError('invalid_params', `${field} must be a non-negative quantity (0x-hex or decimal)`);
}

export interface ParsedTransaction {
  tx: TransactionSerializable;
  from?: string;
}

/** Legacy (type 0, EIP-155) and EIP-1559 (type 2) transactions. A chain id is required: without one a signature replays on every chain. */
export function parseTransaction(input: unknown): ParsedTransaction {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RpcError('invalid_params', 'the transaction must be an object');
  const t = input as Record<string, unknown>;
  const q: Partial<Record<(typeof QUANTITY_FIELDS)[number], bigint>> = {};
  for (const f of QUANTITY_FIELDS) if (t[f] !== undefined && t[f] !== null) q[f] = quantity(t[f], f);
  if (q.chainId === undefined || q.chainId === 0n) throw new RpcError('invalid_params', 'chainId is required (EIP-155 replay protection)');
  if (q.chainId > BigInt(Number.MAX_SAFE_INTEGER)) throw new RpcError('invalid_params', 'chainId is too large');
  const gas = q.gas ?? q.gasLimit;
  if (gas === undefined) throw new RpcError('invalid_params', 'gas (or gasLimit) is required');
  if (q.nonce === undefined) throw new RpcError('invalid_params', 'nonce is required');
  if (q.nonce > BigInt(Number.MAX_SAFE_INTEGER)) throw new RpcError('invalid_params', 'nonce is too large');
  const to = t.to === undefined || t.to === null ? undefined : address(t.to, 'to');
  const data = t.data ?? t.input;
  if (data !== undefined && data !== null && !(typeof data === 'string' && isHex(data, { strict: true }) && data.length % 2 === 0)) {
    throw new RpcError('invalid_params', 'data must be 0x-hex bytes');
  }
  const isEip1559 = q.type === 2n || (q.type === undefined && (q.maxFeePerGas !== undefined || q.maxPriorityFeePerGas !== undefined));
  const common = {
    chainId: Number(q.chainId),
    nonce: Number(q.nonce),
    gas,
    to,
    value: q.value ?? 0n,
    data: (data as `0x${string}` | undefined) ?? undefined,
  };
  let tx: TransactionSerializable;
  if (isEip1559) {
    if (q.maxFeePerGas === undefined || q.maxPriorityFeePerGas === undefined) {
      throw new RpcError('invalid_params', 'an EIP-1559 transaction needs maxFeePerGas and maxPriorityFeePerGas');
    }
    if (q.gasPrice !== undefined) throw new RpcError('invalid_params', 'gasPrice is not part of an EIP-1559 transaction');
    tx = { ...common, type: 'eip1559', maxFeePerGas: q.maxFeePerGas, maxPriorityFeePerGas: q.maxPriorityFeePerGas, accessList: accessList(t.accessList) };
  } else if (q.type === undefined || q.type === 0n) {
    if (q.maxFeePerGas !== undefined || q.maxPriorityFeePerGas !== undefined) {
      throw new RpcError('invalid_params', 'a legacy (type 0) transaction has gasPrice, not maxFeePerGas / maxPriorityFeePerGas');
    }
    if (q.gasPrice === undefined) throw new RpcError('invalid_params', 'a legacy transaction needs gasPrice');
    tx = { ...common, type: 'legacy', gasPrice: q.gasPrice };
  } else {
    throw new RpcError('invalid_params', 'only legacy (type 0) and EIP-1559 (type 2) transactions are supported');
  }
  const from = t.from === undefined || t.from === null ? undefined : address(t.from, 'from');
  return from === undefined ? { tx } : { tx, from };
}

/**
 * The unsigned serialised transaction: its keccak256 is what is signed, and the signer
 * nodes get it as `extra_data` so their own transaction rules (recipient, value, chain)
 * can check what the hash stands for.
 */
export function unsignedTransaction(tx: TransactionSerializable): Uint8Array {
  try {
    return hexToBytes(serializeTransaction(tx));
  } catch (e) {
    // viem's own checks (e.g. a fee cap above 2^256 - 1): the client's input, not our fault.
    throw new RpcError('invalid_params', `the transaction is not valid: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function transactionHash(tx: TransactionSerializable): Uint8Array {
  return hexToBytes(keccak256(unsignedTransaction(tx)));
}

/** The signed raw transaction, ready for eth_sendRawTransaction. */
export function signedTransaction(tx: TransactionSerializable, sig: EcdsaSignature): string {
  const r = `0x${sig.signature.slice(0, 64)}` as const;
  const s = `0x${sig.signature.slice(64)}` as const;
  const signature =
    tx.type === 'legacy'
      ? { r, s, v: BigInt(tx.chainId!) * 2n + 35n + BigInt(sig.recoveryId) }
      : { r, s, yParity: sig.recoveryId };
  return serializeTransaction(tx, signature);
}

function address(v: unknown, field: string): `0x${string}` {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) throw new RpcError('invalid_params', `${field} must be a 20-byte 0x address`);
  return getAddress(v.toLowerCase());
}

function accessList(v: unknown) {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 256) throw new RpcError('invalid_params', 'accessList must be a list');
  return v.map((e) => {
    const k = (e ?? {}) as { address?: unknown; storageKeys?: unknown };
    if (!Array.isArray(k.storageKeys) || !k.storageKeys.every((s) => typeof s === 'string' && /^0x[0-9a-fA-F]{64}$/.test(s))) {
      throw new RpcError('invalid_params', 'accessList storageKeys must be 32-byte hex');
    }
    return { address: address(k.address, 'accessList address'), storageKeys: k.storageKeys as `0x${string}`[] };
  });
}

// ---- eth_signTypedData_v4 ----

/** EIP-712 typed data given as an object or as its JSON text (as MetaMask's API allows). */
export function typedDataHash(input: unknown): Uint8Array {
  let v = input;
  if (typeof v === 'string') {
    if (v.length > 256 * 1024) throw new RpcError('invalid_params', 'the typed data is too long');
    try {
      v = JSON.parse(v);
    } catch {
      throw new RpcError('invalid_params', 'the typed data is not JSON');
    }
  }
  const d = v as Partial<TypedDataDefinition> | null;
  if (typeof d !== 'object' || d === null || typeof d.types !== 'object' || typeof d.primaryType !== 'string' || typeof d.message !== 'object') {
    throw new RpcError('invalid_params', 'typed data needs types, primaryType, domain and message');
  }
  try {
    return hexToBytes(hashTypedData({ domain: d.domain ?? {}, types: d.types, primaryType: d.primaryType, message: d.message } as TypedDataDefinition));
  } catch (e) {
    throw new RpcError('invalid_params', `the typed data is not valid EIP-712: ${(e as Error).message.split('\n')[0]}`);
  }
}
