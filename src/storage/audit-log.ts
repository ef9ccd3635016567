import { createHash } from 'node:crypto';
import type { SqlClient } from '../db/sql.js';
import { lockInSchema } from '../db/schema-lock.js';
import { toHex } from '../core/hex.js';

/**
 * The node's append-only audit log: every operation and decision (who, what, which key,
 * which rule decided, the result), each entry hash-chained to the one before it.
 *
 * Entry `seq` (1, 2, 3, ... without gaps) has
 *   hash = hex(SHA-256(UTF-8(canonicalJson({
 *     seq, ts, request_id, actor, operation, key_id, rule_id, result, detail, prev_hash
 *   }))))
 * where ts is the ISO 8601 UTC time with milliseconds (Date#toISOString), key_id, rule_id
 * and detail are null when absent, and prev_hash is the previous entry's hash (64 zeros
 * for entry 1). canonicalJson: object keys sorted (by UTF-16 code units, as
 * Array#sort does), no whitespace, strings and numbers as JSON.stringify writes them.
 * Anyone holding the entries (GET /admin/audit) can recompute the chain.
 *
 * `verify` detects an altered field, a removed or inserted entry (seq gap or prev_hash
 * mismatch) and reordering. It can't tell on its own that entries were cut off the end
 * (the shorter log is a valid chain): it returns the head hash, which an operator
 * records elsewhere (an anchor) and passes back later as `anchor` to detect truncation.
 *
 * Never put secrets in an entry: no API keys, no shares. Detail keys that name
 * credentials or shares, and strings that look like Tandem API keys, are redacted
 * before hashing as a last guard.
 */
export type AuditResult = 'ok' | 'refused' | 'failed';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface AuditAppend {
  requestId: string;
  /** A user id, or 'admin'. */
  actor: string;
  /** e.g. 'sign', 'keygen', 'create-rule', 'set-key-policy', 'policy-decision'. */
  operation: string;
  keyId?: string | null;
  ruleId?: string | null;
  result: AuditResult;
  /** JSON-able; bigints become decimal strings, Uint8Arrays hex, Dates ISO strings. */
  detail?: Record<string, unknown> | null;
}

export interface AuditEntry {
  seq: number;
  /** ISO 8601 UTC with milliseconds. */
  ts: string;
  requestId: string;
  actor: string;
  operation: string;
  keyId: string | null;
  ruleId: string | null;
  result: AuditResult;
  detail: JsonValue | null;
  prevHash: string;
  hash: string;
}

export type AuditVerification = { ok: true; entries: number; head: string } | { ok: false; firstBadSeq: number; reason: string };

export const GENESIS_HASH = '0'.repeat(64);

/** Names the schema lock that serialises appends (schema-lock.ts). */
export const AUDIT_LOCK_SPACE = 0x61756469; // "audi"

const RESULTS: readonly AuditResult[] = ['ok', 'refused', 'failed'];
const MAX_FIELD = 256;
const VERIFY_PAGE = 1000;

const SECRET_KEY = /^(authorization|api_?key|admin_?key|credential|password|secret|kek|share|share_ciphertext|secret_share|private_key)$/i;
const API_KEY_LIKE = /^tdm_[A-Za-z0-9_-]{16,}$/;
const REDACTED = '[redacted]';

/** Turns a detail into plain JSON (see AuditAppend.detail), redacting what looks secret. */
export function toJsonValue(value: unknown, path = 'detail'): JsonValue | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not JSON`);
      return value;
    case 'bigint':
      return value.toString();
    case 'string':
      return API_KEY_LIKE.test(value) ? REDACTED : value;
    case 'object': {
      if (value instanceof Date) return value.toISOString();
      if (value instanceof Uint8Array) return toHex(value);
      if (Array.isArray(value)) return value.map((v, i) => toJsonValue(v, `${path}[${i}]`) ?? null);
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new TypeError(`${path}: only plain objects go into the audit log`);
      const out: { [key: string]: JsonValue } = {};
      for (const [k, v] of Object.entries(value)) {
        if (SECRET_KEY.test(k)) {
          out[k] = REDACTED;
          continue;
        }
        const j = toJsonValue(v, `${path}.${k}`);
        if (j !== undefined) out[k] = j;
      }
      return out;
    }
    default:
      throw new TypeError(`${path}: a ${typeof value} is not JSON`);
  }
}

/** Sorted keys, no whitespace; the encoding the hashes are computed over. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`${value} is not JSON`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}

/** An entry's fields as stored, hashed and shown by the admin API (snake_case), without its hash. */
export function auditFields(e: Omit<AuditEntry, 'hash'>) {
  return {
    seq: e.seq,
    ts: e.ts,
    request_id: e.requestId,
    actor: e.actor,
    operation: e.operation,
    key_id: e.keyId,
    rule_id: e.ruleId,
    result: e.result,
    detail: e.detail,
    prev_hash: e.prevHash,
  };
}

/** The hash of an entry, from its fields and its predecessor's hash. */
export function auditHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = canonicalJson(auditFields(e));
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

interface AuditRow {
  seq: string;
  ts: Date;
  request_id: string;
  actor: string;
  operation: string;
  key_id: string | null;
  rule_id: string | null;
  result: AuditResult;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

// seq is bigint, read as text (drivers differ on int8); order by audit_log.seq, not the text alias.
const COLUMNS = 'seq::text as seq, ts, request_id, actor, operation, key_id, rule_id, result, detail, prev_hash, hash';

function toEntry(row: AuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    ts: row.ts.toISOString(),
    requestId: row.request_id,
    actor: row.actor,
    operation: row.operation,
    keyId: row.key_id,
    ruleId: row.rule_id,
    result: row.result,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as JsonValue),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function field(name: string, v: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_FIELD) throw new TypeError(`audit ${name} must be a string of 1..${MAX_FIELD} characters`);
  return v;
}

function optionalField(name: string, v: string | null | undefined): string | null {
  return v === undefined || v === null ? null : field(name, v);
}

/** The audit log in the node's database (table audit_log, migration 0002). */
export class AuditLog {
  constructor(private readonly sql: SqlClient) {}

  /**
   * Appends one entry and returns it. Appends are serialised by a transaction-scoped
   * advisory lock, so seq has no gaps and each entry chains to the one before, even with
   * several writers on one PostgreSQL database.
   */
  async append(input: AuditAppend): Promise<AuditEntry> {
    if (!RESULTS.includes(input.result)) throw new TypeError(`audit result must be one of ${RESULTS.join(', ')}`);
    const fields = {
      requestId: field('requestId', input.requestId),
      actor: field('actor', input.actor),
      operation: field('operation', input.operation),
      keyId: optionalField('keyId', input.keyId),
      ruleId: optionalField('ruleId', input.ruleId),
      result: input.result,
      detail: input.detail === undefined || input.detail === null ? null : (toJsonValue(input.detail) ?? null),
    };
    // Round trip through the canonical text: what is stored is exactly what was hashed.
    const detailText = fields.detail === null ? null : canonicalJson(fields.detail);
    return this.sql.transaction(async (tx) => {
      await lockInSchema(tx, AUDIT_LOCK_SPACE);
      const { rows } = await tx.query<{ seq: string; hash: string }>('select seq::text as seq, hash from audit_log order by audit_log.seq desc limit 1');
      const last = rows[0];
      const unhashed = {
        seq: last ? Number(last.seq) + 1 : 1,
        ts: new Date().toISOString(),
        ...fields,
        prevHash: last ? last.hash : GENESIS_HASH,
      };
      const entry: AuditEntry = { ...unhashed, hash: auditHash(unhashed) };
      await tx.query(
        `insert into audit_log (seq, ts, request_id, actor, operation, key_id, rule_id, result, detail, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          entry.seq,
          new Date(entry.ts),
          entry.requestId,
          entry.actor,
          entry.operation,
          entry.keyId,
          entry.ruleId,
          entry.result,
          detailText,
          entry.prevHash,
          entry.hash,
        ],
      );
      return entry;
    });
  }

  /** Entries with seq > afterSeq, oldest first, at most `limit`. */
  async list(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.sql.query<AuditRow>(`select ${COLUMNS} from audit_log where seq > $1 order by audit_log.seq limit $2`, [afterSeq, limit]);
    return rows.map(toEntry);
  }

  /**
   * Walks the whole chain. With `anchor` (a seq and hash recorded earlier, e.g. a head
   * `verify` returned), also checks that entry still has that hash, which detects entries
   * removed from the end.
   */
  async verify(anchor?: { seq: number; hash: string }): Promise<AuditVerification> {
    let expected = 1;
    let prev = GENESIS_HASH;
    for (;;) {
      const { rows } = await this.sql.query<AuditRow>(`select ${COLUMNS} from audit_log where seq >= $1 order by audit_log.seq limit $2`, [expected, VERIFY_PAGE]);
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expected) {
          return { ok: false, firstBadSeq: expected, reason: `entry ${expected} is missing (the next one is ${seq})` };
        }
        if (row.prev_hash !== prev) {
          return { ok: false, firstBadSeq: seq, reason: `prev_hash does not match the hash of entry ${seq - 1}: that entry was altered or replaced, or this one was moved` };
        }
        let recomputed: string;
        try {
          recomputed = auditHash(toEntry(row));
        } catch {
          return { ok: false, firstBadSeq: seq, reason: 'detail is not valid JSON' };
        }
        if (recomputed !== row.hash) return { ok: false, firstBadSeq: seq, reason: 'contents do not match the entry hash: a field was altered' };
        if (anchor && seq === anchor.seq && row.hash !== anchor.hash) {
          return { ok: false, firstBadSeq: seq, reason: `hash differs from the anchor recorded for entry ${seq}` };
        }
        prev = row.hash;
        expected = seq + 1;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    const entries = expected - 1;
    if (anchor && anchor.seq > entries) {
      return { ok: false, firstBadSeq: entries + 1, reason: `the log ends at entry ${entries} but the anchor is entry ${anchor.seq}: entries were removed from the end` };
    }
    return { ok: true, entries, head: prev };
  }
}
