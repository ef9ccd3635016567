import Type from 'typebox';
import type { Hex as ViemHex, TransactionSerializable } from 'viem';
import { getAddress, keccak256, parseTransaction, serializeTransaction } from 'viem/utils';
import { defineRuleKind, Nullable, refuseDefinition, type BudgetKind } from './kind.js';
import { approve, refuse } from './results.js';

export const MAX_CHAIN_IDS = 64;
export const MAX_RECIPIENTS = 256;
const MAX_UINT256 = (1n << 256n) - 1n;
const SUPPORTED_TX_TYPES = ['legacy', 'eip2930', 'eip1559'];

/** Value a key sent on one UTC day, against the rule's daily cap. */
export interface DailyBudget {
  kind: 'daily';
  counterKey: string;
  day: string;
  amount: bigint;
  cap: bigint;
  refusal: string;
}

const dailyBudget: BudgetKind<DailyBudget> = {
  kind: 'daily',
  consume: (counters, b) => counters.addDaily(b.counterKey, b.day, b.amount, b.cap),
  release: (counters, b) => counters.returnDaily(b.counterKey, b.day, b.amount),
  merge: (b, c) => (b.counterKey === c.counterKey && b.day === c.day ? { ...b, amount: b.amount + c.amount } : null),
};

const wei = (field: string, description: string) =>
  Nullable(Type.String({ pattern: '^(0|[1-9][0-9]{0,77})$', errorMessage: `${field} must be a decimal string of wei` }), { description });

/**
 * eth_transaction, for `sign` with an `ecdsa` key (other operations pass):
 *   chain_ids   1..64 positive integers;
 *   recipients  1..256 `0x` addresses (compared case insensitively, stored lower case;
 *               mixed case must be a valid EIP-55 checksum);
 *   max_value_wei, max_value_wei_per_day  decimal strings, 0..2^256-1.
 * Each may be absent or null (= no limit). See check for what is refused.
 */
export const ethTransaction = defineRuleKind({
  type: 'eth_transaction',
  description:
    'For sign with an ecdsa key: extra_data must be the unsigned serialized Ethereum transaction (legacy with EIP-155 chain id, EIP-2930 or EIP-1559) whose keccak256 is msg; refuses when its chain, recipient or value, or the key\'s total value for the UTC day, is outside the limits. Each limit may be absent or null (no limit).',
  example: { name: 'mainnet-1-eth-a-day', type: 'eth_transaction', chain_ids: [1], max_value_wei_per_day: '1000000000000000000' },
  fields: {
    chain_ids: Nullable(
      Type.Array(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, errorMessage: 'each chain id must be a positive integer (at most 2^53 - 1)' }), { minItems: 1, maxItems: MAX_CHAIN_IDS }),
      { description: `The chain ids allowed (1..${MAX_CHAIN_IDS} of them); a legacy transaction without a chain id is then refused. Absent or null: any chain.` },
    ),
    recipients: Nullable(
      Type.Array(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$', errorMessage: 'each recipient must be a 0x-prefixed 20-byte hex address' }), { minItems: 1, maxItems: MAX_RECIPIENTS }),
      { description: `The \`to\` addresses allowed (1..${MAX_RECIPIENTS}; mixed case must be a valid EIP-55 checksum); a contract creation is then refused. Absent or null: any recipient.` },
    ),
    max_value_wei: wei('max_value_wei', 'The most `value` one transaction may carry, wei as a decimal string (at most 2^256 - 1). Absent or null: no limit.'),
    max_value_wei_per_day: wei('max_value_wei_per_day', "The most `value` this key may send per UTC day, this transaction included, wei as a decimal string (at most 2^256 - 1); taken only when every other rule approved. Absent or null: no limit."),
  },
  normalise(b) {
    const recipients = b.recipients === undefined || b.recipients === null ? null : [...new Set(b.recipients.map(recipient))];
    return {
      type: 'eth_transaction' as const,
      chain_ids: b.chain_ids === undefined || b.chain_ids === null ? null : [...new Set(b.chain_ids)],
      recipients,
      max_value_wei: weiValue(b.max_value_wei, 'max_value_wei'),
      max_value_wei_per_day: weiValue(b.max_value_wei_per_day, 'max_value_wei_per_day'),
    };
  },
  /**
   * eth_transaction, for `sign` with an `ecdsa` key: `extra_data` must be the unsigned
   * serialized transaction (as viem's `serializeTransaction(tx)` or ethers'
   * `Transaction.unsignedSerialized` produce it: legacy with EIP-155 chain id, EIP-2930 or
   * EIP-1559) and `msg` its keccak256, the hash the signature will be over; otherwise the
   * node cannot know what it signs and refuses. The serialization must be canonical (it
   * re-serializes to the same bytes) and unsigned. Then:
   * - chain_ids: the transaction's chain id is listed (a legacy transaction without chain id
   *   is refused, it could be replayed on any chain);
   * - recipients: `to` is listed (case-insensitive); a contract creation (no `to`) is refused;
   * - max_value_wei: `value` <= the cap;
   * - max_value_wei_per_day: this key's total `value` this UTC day, this one included, <= the
   *   cap (taken only once every rule has approved).
   * Values count `value` only, not gas; token transfers are calls with `to` the token
   * contract. Blob (EIP-4844) and EIP-7702 transactions are refused.
   */
  check(def, ctx, now, ruleId) {
    if (ctx.operation !== 'sign') return approve;
    if (ctx.keyFamily !== 'ecdsa') return refuse(`eth_transaction rules only let ecdsa keys sign; this is a ${ctx.keyFamily} key`);
    if (ctx.extraData === null) return refuse('eth_transaction: extra_data must carry the unsigned serialized transaction');
    if (ctx.msg === null) return refuse('eth_transaction: a sign request must carry a message');
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(ctx.extraData)) return refuse('eth_transaction: extra_data is not hex');
    const serialized = `0x${ctx.extraData.toLowerCase()}` as ViemHex;
    if (keccak256(serialized) !== `0x${ctx.msg.toLowerCase()}`) {
      return refuse('eth_transaction: the message is not the keccak256 of the transaction in extra_data');
    }
    let tx: ReturnType<typeof parseTransaction>;
    try {
      tx = parseTransaction(serialized);
    } catch {
      return refuse('eth_transaction: extra_data is not a serialized Ethereum transaction');
    }
    if (tx.type === undefined || !SUPPORTED_TX_TYPES.includes(tx.type)) {
      return refuse(`eth_transaction: transaction type ${String(tx.type)} is not supported (legacy, eip2930, eip1559)`);
    }
    const t = tx as Record<string, unknown>;
    if (t.r !== undefined || t.s !== undefined || t.v !== undefined || t.yParity !== undefined) {
      return refuse('eth_transaction: extra_data must be the unsigned transaction');
    }
    try {
      if (serializeTransaction(tx as TransactionSerializable) !== serialized) throw new Error('not canonical');
    } catch {
      return refuse('eth_transaction: extra_data is not a canonical transaction serialization');
    }
    if (def.chain_ids !== null) {
      if (tx.chainId === undefined) return refuse('eth_transaction: the transaction has no chain id');
      if (!def.chain_ids.includes(tx.chainId)) return refuse(`eth_transaction: chain id ${tx.chainId} is not allowed`);
    }
    if (def.recipients !== null) {
      if (!tx.to) return refuse('eth_transaction: contract creation (no recipient) is not allowed');
      if (!def.recipients.includes(tx.to.toLowerCase())) return refuse(`eth_transaction: recipient ${tx.to} is not allowed`);
    }
    const value = tx.value ?? 0n;
    if (def.max_value_wei !== null && value > BigInt(def.max_value_wei)) {
      return refuse(`eth_transaction: value ${value} wei exceeds the cap of ${def.max_value_wei} wei per transaction`);
    }
    const cap = def.max_value_wei_per_day;
    if (cap === null || value === 0n || ctx.keyId === null) return approve;
    const counterKey = `rule:${ruleId}:key:${ctx.keyId}`;
    const day = now.toISOString().slice(0, 10);
    const refusal = `eth_transaction: value would exceed this key's cap of ${cap} wei for ${day} (UTC)`;
    return { refused: null, budget: { kind: 'daily' as const, counterKey, day, amount: value, cap: BigInt(cap), refusal } };
  },
  budget: dailyBudget,
});

function weiValue(v: string | null | undefined, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (BigInt(v) > MAX_UINT256) refuseDefinition(`${field} must be at most 2^256 - 1`);
  return v;
}

function recipient(v: string): string {
  const body = v.slice(2);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && getAddress(v.toLowerCase() as `0x${string}`) !== v) {
    refuseDefinition(`recipients: ${v} has mixed case but is not a valid EIP-55 checksum address`);
  }
  return v.toLowerCase();
}
