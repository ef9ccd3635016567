import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddress } from 'viem';
import { isPrintableText } from '../shared/text.js';
import type { Operation, RuleDefinition } from './types.js';

/**
 * The body of `POST /admin/create-rule`, validated strictly: unknown fields are refused (a
 * typo such as `max_value_wei_perday` must not silently drop a limit), every string, list
 * and number is bounded, and the result is normalised (hex and addresses lower case, lists
 * de-duplicated, defaults filled in) so that a stored definition parses again to itself.
 *
 * `{ "name", "type": "webhook", "url", "timeout_ms"?, "public_key"? }`
 *   url         http: or https:, at most 2048 characters, no credentials.
 *   timeout_ms  50..30000, default 2000: the whole exchange (connect, answer, body).
 *   public_key  64 hex characters, an Ed25519 public key (RFC 8032 encoding). When set,
 *               the Rule Server's answer must carry its signature (see signatures.ts);
 *               null or absent: a plain answer is accepted.
 * `{ "type": "derivation_paths", "allowed": ["m", "m/0/*", "m/44/60/0/0/*"] }`
 *   1..64 patterns: `m` then non-hardened steps, each a decimal index < 2^31 or `*` (any
 *   one index). A pattern matches a path with exactly as many steps. A request without a
 *   derivation path is the path `m`.
 * `{ "type": "message_length", "min_bytes"?: 0, "max_bytes": 32 }`  0 <= min <= max <= 65536.
 * `{ "type": "message_prefix", "prefixes": ["00ab", ...] }`  1..32 non-empty hex prefixes
 *   (even length, at most 256 bytes each).
 * `{ "type": "rate_limit", "per": "user" | "key", "max": 1..1e6, "window_seconds": 1..2678400 }`
 * `{ "type": "time_window", "start_utc": "HH:MM", "end_utc": "HH:MM", "days"?: [0..6] }`
 *   end_utc may be "24:00"; end before start wraps midnight; start == end is the whole
 *   day. days: 0 = Sunday, default all seven.
 * `{ "type": "operations", "allowed": ["sign", ...] }`  a non-empty subset of keygen, sign,
 *   derive, public-key.
 * `{ "type": "eth_transaction", "chain_ids"?, "recipients"?, "max_value_wei"?, "max_value_wei_per_day"? }`
 *   chain_ids: 1..64 positive integers; recipients: 1..256 `0x` addresses (compared case
 *   insensitively, stored lower case; mixed case must be a valid EIP-55 checksum);
 *   values: decimal strings, 0..2^256-1. Each may be absent or null (= no limit).
 */
export class RuleDefinitionError extends Error {
  override readonly name = 'RuleDefinitionError';
}

export const RULE_TYPES = [
  'webhook',
  'derivation_paths',
  'message_length',
  'message_prefix',
  'rate_limit',
  'time_window',
  'operations',
  'eth_transaction',
] as const satisfies ReadonlyArray<RuleDefinition['type']>;

export const OPERATIONS = ['keygen', 'sign', 'derive', 'public-key'] as const satisfies ReadonlyArray<Operation>;

export const RULE_LIMITS = {
  maxNameChars: 128,
  maxUrlChars: 2048,
  minTimeoutMs: 50,
  maxTimeoutMs: 30_000,
  defaultTimeoutMs: 2000,
  maxPathPatterns: 64,
  maxPatternSteps: 255,
  maxMessageBytes: 65_536,
  maxPrefixes: 32,
  maxPrefixBytes: 256,
  maxRate: 1_000_000,
  maxWindowSeconds: 31 * 24 * 3600,
  maxChainIds: 64,
  maxRecipients: 256,
} as const;

const MAX_UINT256 = (1n << 256n) - 1n;
const HARDENED = 0x80000000;

function fail(message: string): never {
  throw new RuleDefinitionError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) fail(`unknown field ${JSON.stringify(k.slice(0, 64))} for a ${String(body.type)} rule`);
  }
}

function absent(v: unknown): boolean {
  return v === undefined || v === null;
}

function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${field} must be an integer`);
  if (v < min || v > max) fail(`${field} must be between ${min} and ${max}`);
  return v;
}

function list(v: unknown, field: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v)) fail(`${field} must be a list`);
  if (v.length < min || v.length > max) fail(`${field} must have between ${min} and ${max} entries`);
  return v;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function parseName(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) fail('name must be a non-empty string');
  if (v.length > RULE_LIMITS.maxNameChars) fail(`name must be at most ${RULE_LIMITS.maxNameChars} characters`);
  if (!isPrintableText(v)) fail('name must not contain control characters or lone surrogates');
  return v;
}

function parseWebhook(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'url', 'timeout_ms', 'public_key']);
  if (typeof b.url !== 'string' || b.url.length === 0) fail('url must be a non-empty string');
  if (b.url.length > RULE_LIMITS.maxUrlChars) fail(`url must be at most ${RULE_LIMITS.maxUrlChars} characters`);
  // Stored as given, and the URL parser drops some control characters silently: refused here.
  if (!isPrintableText(b.url)) fail('url must not contain control characters or lone surrogates');
  let url: URL;
  try {
    url = new URL(b.url);
  } catch {
    fail('url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('url must be http: or https:');
  if (url.username !== '' || url.password !== '') fail('url must not contain credentials');
  const timeout_ms = absent(b.timeout_ms)
    ? RULE_LIMITS.defaultTimeoutMs
    : integer(b.timeout_ms, 'timeout_ms', RULE_LIMITS.minTimeoutMs, RULE_LIMITS.maxTimeoutMs);
  let public_key: string | null = null;
  if (!absent(b.public_key)) {
    if (typeof b.public_key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(b.public_key)) {
      fail('public_key must be 64 hex characters (an Ed25519 public key)');
    }
    public_key = b.public_key.toLowerCase();
    let weak: boolean;
    try {
      weak = ed25519.Point.fromHex(public_key).isSmallOrder();
    } catch {
      fail('public_key is not a valid Ed25519 public key');
    }
    if (weak) fail('public_key is a small-order point, not a usable Ed25519 public key');
  }
  return { type: 'webhook', url: b.url, timeout_ms, public_key };
}

/** Parses one `m/...` pattern; throws RuleDefinitionError. Exported for tests. */
export function parsePathPattern(p: unknown): string {
  if (typeof p !== 'string') fail('derivation path patterns must be strings');
  const steps = p.split('/');
  if (steps[0] !== 'm') fail(`derivation path pattern ${JSON.stringify(p.slice(0, 64))} must start with m`);
  if (steps.length - 1 > RULE_LIMITS.maxPatternSteps) fail(`derivation path patterns have at most ${RULE_LIMITS.maxPatternSteps} steps`);
  for (const s of steps.slice(1)) {
    if (s === '*') continue;
    if (/^\d+['hH]$/.test(s)) fail(`derivation path pattern ${JSON.stringify(p.slice(0, 64))}: hardened steps cannot occur (threshold keys derive non-hardened children only)`);
    if (!/^(0|[1-9]\d{0,9})$/.test(s) || Number(s) >= HARDENED) {
      fail(`derivation path pattern ${JSON.stringify(p.slice(0, 64))}: each step is a decimal index below 2^31 or *`);
    }
  }
  return p;
}

function parseDerivationPaths(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'allowed']);
  const allowed = list(b.allowed, 'allowed', 1, RULE_LIMITS.maxPathPatterns).map(parsePathPattern);
  return { type: 'derivation_paths', allowed: unique(allowed) };
}

function parseMessageLength(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'min_bytes', 'max_bytes']);
  const min_bytes = absent(b.min_bytes) ? 0 : integer(b.min_bytes, 'min_bytes', 0, RULE_LIMITS.maxMessageBytes);
  const max_bytes = integer(b.max_bytes, 'max_bytes', 0, RULE_LIMITS.maxMessageBytes);
  if (min_bytes > max_bytes) fail('min_bytes must not exceed max_bytes');
  return { type: 'message_length', min_bytes, max_bytes };
}

function parseMessagePrefix(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'prefixes']);
  const prefixes = list(b.prefixes, 'prefixes', 1, RULE_LIMITS.maxPrefixes).map((p) => {
    if (typeof p !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(p)) fail('each prefix must be non-empty hex of even length (no 0x)');
    if (p.length > 2 * RULE_LIMITS.maxPrefixBytes) fail(`each prefix must be at most ${RULE_LIMITS.maxPrefixBytes} bytes`);
    return p.toLowerCase();
  });
  return { type: 'message_prefix', prefixes: unique(prefixes) };
}

function parseRateLimit(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'per', 'max', 'window_seconds']);
  if (b.per !== 'user' && b.per !== 'key') fail('per must be "user" or "key"');
  const max = integer(b.max, 'max', 1, RULE_LIMITS.maxRate);
  const window_seconds = integer(b.window_seconds, 'window_seconds', 1, RULE_LIMITS.maxWindowSeconds);
  return { type: 'rate_limit', per: b.per, max, window_seconds };
}

function parseHhMm(v: unknown, field: string, allow24: boolean): string {
  if (typeof v !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(v)) {
    if (allow24 && v === '24:00') return v;
    fail(`${field} must be "HH:MM" (UTC, 00:00..23:59${allow24 ? ' or 24:00' : ''})`);
  }
  return v;
}

function parseTimeWindow(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'start_utc', 'end_utc', 'days']);
  const start_utc = parseHhMm(b.start_utc, 'start_utc', false);
  const end_utc = parseHhMm(b.end_utc, 'end_utc', true);
  const days = absent(b.days)
    ? [0, 1, 2, 3, 4, 5, 6]
    : unique(list(b.days, 'days', 1, 7).map((d) => integer(d, 'each day', 0, 6))).sort((x, y) => x - y);
  return { type: 'time_window', start_utc, end_utc, days };
}

function parseOperations(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'allowed']);
  const allowed = list(b.allowed, 'allowed', 1, OPERATIONS.length * 2).map((o) => {
    if (typeof o !== 'string' || !(OPERATIONS as readonly string[]).includes(o)) fail(`allowed operations are ${OPERATIONS.join(', ')}`);
    return o as Operation;
  });
  return { type: 'operations', allowed: unique(allowed) };
}

function weiValue(v: unknown, field: string): string | null {
  if (absent(v)) return null;
  if (typeof v !== 'string' || !/^(0|[1-9]\d{0,77})$/.test(v)) fail(`${field} must be a decimal string of wei`);
  if (BigInt(v) > MAX_UINT256) fail(`${field} must be at most 2^256 - 1`);
  return v;
}

function address(v: unknown): string {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) fail('each recipient must be a 0x-prefixed 20-byte hex address');
  const body = v.slice(2);
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && !validChecksum(v)) {
    fail(`recipient ${v} has mixed case but is not a valid EIP-55 checksum address`);
  }
  return v.toLowerCase();
}

function validChecksum(addr: string): boolean {
  return getAddress(addr.toLowerCase() as `0x${string}`) === addr;
}

function parseEthTransaction(b: Record<string, unknown>): RuleDefinition {
  onlyFields(b, ['name', 'type', 'chain_ids', 'recipients', 'max_value_wei', 'max_value_wei_per_day']);
  const chain_ids = absent(b.chain_ids)
    ? null
    : unique(list(b.chain_ids, 'chain_ids', 1, RULE_LIMITS.maxChainIds).map((c) => integer(c, 'each chain id', 1, Number.MAX_SAFE_INTEGER)));
  const recipients = absent(b.recipients) ? null : unique(list(b.recipients, 'recipients', 1, RULE_LIMITS.maxRecipients).map(address));
  return {
    type: 'eth_transaction',
    chain_ids,
    recipients,
    max_value_wei: weiValue(b.max_value_wei, 'max_value_wei'),
    max_value_wei_per_day: weiValue(b.max_value_wei_per_day, 'max_value_wei_per_day'),
  };
}

/** Validates a create-rule body; throws RuleDefinitionError (its message is safe to return to the client). */
export function parseRuleDefinition(body: unknown): { name: string; definition: RuleDefinition } {
  if (!isObject(body)) fail('the rule must be a JSON object');
  const name = parseName(body.name);
  switch (body.type) {
    case 'webhook':
      return { name, definition: parseWebhook(body) };
    case 'derivation_paths':
      return { name, definition: parseDerivationPaths(body) };
    case 'message_length':
      return { name, definition: parseMessageLength(body) };
    case 'message_prefix':
      return { name, definition: parseMessagePrefix(body) };
    case 'rate_limit':
      return { name, definition: parseRateLimit(body) };
    case 'time_window':
      return { name, definition: parseTimeWindow(body) };
    case 'operations':
      return { name, definition: parseOperations(body) };
    case 'eth_transaction':
      return { name, definition: parseEthTransaction(body) };
    default:
      fail(`type must be one of ${RULE_TYPES.join(', ')}`);
  }
}
