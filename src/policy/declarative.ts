import { keccak256, parseTransaction, serializeTransaction, type Hex as ViemHex, type TransactionSerializable } from 'viem';
import type { OperationContext, RuleCounters, RuleDefinition } from './types.js';

/**
 * The built-in rules. Each is evaluated in two steps so that a request refused by any
 * rule consumes no budget:
 *
 *   check(def, ctx, now)  -> refused with a reason, or approved with an optional `budget`
 *   takeBudget(counters)  -> takes the rule's budget (rate limits, daily value caps);
 *                            run only once every other rule has approved, and given back
 *                            with returnBudget when what it was taken for never happens.
 *
 * `evaluateX(def, ctx, counters, now, ruleId?)` runs both for one rule (null = approve,
 * a string = the reason it refused). Counters are per rule: `rule:<ruleId>:user:<userId>`
 * or `rule:<ruleId>:key:<keyId>`, so two rules with different limits never share one.
 *
 * Where a rule does not apply it approves, and says so here:
 * - derivation_paths: keygen is not subject to it (there is no key to derive from yet).
 *   Any other operation without a derivation path is the path `m`.
 * - message_length, message_prefix: only `sign` carries a message; other operations pass.
 *   A sign without a message is refused.
 * - rate_limit per key: keygen has no key yet and passes (use `per: "user"` for it). Every
 *   other evaluated operation counts one use; a batch counts one use per message.
 * - time_window: minute resolution, UTC; [start, end). With end before start the window
 *   wraps midnight and its after-midnight part belongs to the day it started on (22:00 to
 *   06:00 on Friday covers Saturday 03:00). start == end is the whole day.
 * - eth_transaction: applies to `sign` only (see checkEthTransaction).
 */

export type DeclarativeDefinition = Exclude<RuleDefinition, { type: 'webhook' }>;
type Def<T extends DeclarativeDefinition['type']> = Extract<DeclarativeDefinition, { type: T }>;

/**
 * What a stateful rule takes once every rule approved. Plain data, so that the budgets of
 * a batch's messages can be added up and taken at once (all or none), and given back.
 */
export type Budget =
  | { kind: 'rate'; counterKey: string; windowSeconds: number; max: number; count: number; at: Date; refusal: string }
  | { kind: 'daily'; counterKey: string; day: string; amount: bigint; cap: bigint; refusal: string };
export type Checked = { refused: string } | { refused: null; budget: Budget | null };

/** true = taken; false = refused (nothing taken). */
export async function takeBudget(counters: RuleCounters, b: Budget): Promise<boolean> {
  return b.kind === 'rate' ? counters.takeRate(b.counterKey, b.windowSeconds, b.max, b.at, b.count) : counters.addDaily(b.counterKey, b.day, b.amount, b.cap);
}

export async function returnBudget(counters: RuleCounters, b: Budget): Promise<void> {
  if (b.kind === 'rate') await counters.returnRate(b.counterKey, b.at, b.count);
  else await counters.returnDaily(b.counterKey, b.day, b.amount);
}

/** `b` and `c` counted together, or null when they are different counters. */
export function mergeBudgets(b: Budget, c: Budget): Budget | null {
  if (b.kind === 'rate' && c.kind === 'rate' && b.counterKey === c.counterKey) return { ...b, count: b.count + c.count };
  if (b.kind === 'daily' && c.kind === 'daily' && b.counterKey === c.counterKey && b.day === c.day) return { ...b, amount: b.amount + c.amount };
  return null;
}

export type DeclarativeEvaluator<D extends DeclarativeDefinition> = (
  def: D,
  ctx: OperationContext,
  counters: RuleCounters,
  now: Date,
  ruleId?: string,
) => Promise<string | null>;

const approve: Checked = { refused: null, budget: null };
const refuse = (reason: string): Checked => ({ refused: reason });

// ---- derivation_paths ----

export function matchesPathPattern(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const q = path.split('/');
  if (p.length !== q.length || q[0] !== 'm') return false;
  for (let i = 1; i < p.length; i++) {
    const step = q[i]!;
    if (!/^(0|[1-9]\d{0,9})$/.test(step) || Number(step) >= 0x80000000) return false;
    if (p[i] !== '*' && p[i] !== step) return false;
  }
  return true;
}

function checkDerivationPaths(def: Def<'derivation_paths'>, ctx: OperationContext): Checked {
  if (ctx.operation === 'keygen') return approve;
  const path = ctx.derivationPath === null || ctx.derivationPath === '' ? 'm' : ctx.derivationPath;
  if (def.allowed.some((pattern) => matchesPathPattern(pattern, path))) return approve;
  return refuse(`derivation path ${truncate(path, 80)} is not allowed`);
}

// ---- message_length, message_prefix ----

function signedMessage(ctx: OperationContext): string | Checked {
  if (ctx.msg === null) return refuse('a sign request must carry a message');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(ctx.msg)) return refuse('the message is not hex');
  return ctx.msg.toLowerCase();
}

function checkMessageLength(def: Def<'message_length'>, ctx: OperationContext): Checked {
  if (ctx.operation !== 'sign') return approve;
  const msg = signedMessage(ctx);
  if (typeof msg !== 'string') return msg;
  const n = msg.length / 2;
  if (n < def.min_bytes || n > def.max_bytes) return refuse(`message length ${n} bytes is outside ${def.min_bytes}..${def.max_bytes}`);
  return approve;
}

function checkMessagePrefix(def: Def<'message_prefix'>, ctx: OperationContext): Checked {
  if (ctx.operation !== 'sign') return approve;
  const msg = signedMessage(ctx);
  if (typeof msg !== 'string') return msg;
  if (def.prefixes.some((p) => msg.startsWith(p.toLowerCase()))) return approve;
  return refuse('the message does not start with an allowed prefix');
}

// ---- operations ----

function checkOperations(def: Def<'operations'>, ctx: OperationContext): Checked {
  return def.allowed.includes(ctx.operation) ? approve : refuse(`operation ${ctx.operation} is not allowed`);
}

// ---- time_window ----

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export function inTimeWindow(def: Pick<Def<'time_window'>, 'start_utc' | 'end_utc' | 'days'>, now: Date): boolean {
  const t = now.getUTCHours() * 60 + now.getUTCMinutes();
  const day = now.getUTCDay();
  const start = minutes(def.start_utc);
  const end = minutes(def.end_utc);
  if (start === end || (start === 0 && end === 24 * 60)) return def.days.includes(day);
  if (start < end) return t >= start && t < end && def.days.includes(day);
  // Wraps midnight: the evening part is today's window, the early-morning part yesterday's.
  if (t >= start) return def.days.includes(day);
  if (t < end) return def.days.includes((day + 6) % 7);
  return false;
}

function checkTimeWindow(def: Def<'time_window'>, now: Date): Checked {
  if (inTimeWindow(def, now)) return approve;
  const days = def.days.length === 7 ? '' : ` on ${def.days.map((d) => DAY_NAMES[d]).join(', ')}`;
  return refuse(`outside the allowed time window ${def.start_utc}-${def.end_utc} UTC${days} (now ${now.toISOString()})`);
}

// ---- rate_limit ----

function checkRateLimit(def: Def<'rate_limit'>, ctx: OperationContext, now: Date, ruleId: string): Checked {
  let counterKey: string;
  if (def.per === 'user') counterKey = `rule:${ruleId}:user:${ctx.userId}`;
  else if (ctx.keyId !== null) counterKey = `rule:${ruleId}:key:${ctx.keyId}`;
  else return approve;
  const refusal = `rate limit reached: at most ${def.max} per ${def.per} in ${def.window_seconds} s`;
  return { refused: null, budget: { kind: 'rate', counterKey, windowSeconds: def.window_seconds, max: def.max, count: 1, at: now, refusal } };
}

// ---- eth_transaction ----

const SUPPORTED_TX_TYPES = ['legacy', 'eip2930', 'eip1559'];

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
function checkEthTransaction(def: Def<'eth_transaction'>, ctx: OperationContext, now: Date, ruleId: string): Checked {
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
  return { refused: null, budget: { kind: 'daily', counterKey, day, amount: value, cap: BigInt(cap), refusal } };
}

// ---- dispatch ----

/** The stateless part of a built-in rule, and its budget to take if every rule approves. Never throws. */
export function checkDeclarative(def: DeclarativeDefinition, ctx: OperationContext, now: Date, ruleId = ''): Checked {
  try {
    switch (def.type) {
      case 'derivation_paths':
        return checkDerivationPaths(def, ctx);
      case 'message_length':
        return checkMessageLength(def, ctx);
      case 'message_prefix':
        return checkMessagePrefix(def, ctx);
      case 'operations':
        return checkOperations(def, ctx);
      case 'time_window':
        return checkTimeWindow(def, now);
      case 'rate_limit':
        return checkRateLimit(def, ctx, now, ruleId);
      case 'eth_transaction':
        return checkEthTransaction(def, ctx, now, ruleId);
      default:
        return refuse(`unknown rule type ${JSON.stringify((def as { type: unknown }).type)}`);
    }
  } catch {
    return refuse('the rule could not be evaluated');
  }
}

/** One built-in rule, both steps: null = approve, a string = the reason it refused. */
export async function evaluateDeclarative(
  def: DeclarativeDefinition,
  ctx: OperationContext,
  counters: RuleCounters,
  now: Date,
  ruleId = '',
): Promise<string | null> {
  const c = checkDeclarative(def, ctx, now, ruleId);
  if (c.refused !== null) return c.refused;
  if (c.budget === null) return null;
  return (await takeBudget(counters, c.budget)) ? null : c.budget.refusal;
}

export const evaluateDerivationPaths: DeclarativeEvaluator<Def<'derivation_paths'>> = evaluateDeclarative;
export const evaluateMessageLength: DeclarativeEvaluator<Def<'message_length'>> = evaluateDeclarative;
export const evaluateMessagePrefix: DeclarativeEvaluator<Def<'message_prefix'>> = evaluateDeclarative;
export const evaluateOperations: DeclarativeEvaluator<Def<'operations'>> = evaluateDeclarative;
export const evaluateTimeWindow: DeclarativeEvaluator<Def<'time_window'>> = evaluateDeclarative;
export const evaluateRateLimit: DeclarativeEvaluator<Def<'rate_limit'>> = evaluateDeclarative;
export const evaluateEthTransaction: DeclarativeEvaluator<Def<'eth_transaction'>> = evaluateDeclarative;

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}...`;
}
