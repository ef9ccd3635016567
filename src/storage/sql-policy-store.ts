import { randomUUID } from 'node:crypto';
import type { PolicyRecord, RuleCounters, RuleDefinition, RuleRecord } from '../policy/types.js';
import { TandemError, type ErrType } from '../core/errors.js';
import type { BoundPolicy, KeySummary, PolicyBindings, PolicyStore, UserSummary } from './policy-store.js';
import type { KeyFamily } from '../core/families.js';
import type { SqlClient } from '../db/sql.js';
import { lockInSchema } from '../db/schema-lock.js';

/** PostgreSQL SQLSTATEs; PGlite and node-postgres both surface them as `err.code`. */
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

/** Names the schema locks, one per counter key, that serialise rate counters (schema-lock.ts). */
export const RATE_LOCK_SPACE = 0x72617465; // "rate"

export function sqlState(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Lets the database have the last word: a constraint that fires despite the checks before
 * it (a concurrent writer) still becomes the API's error rather than internal_problem.
 */
function mapConstraint(e: unknown, onUnique: [ErrType, string] | null, onForeignKey: [ErrType, string] | null): never {
  const code = sqlState(e);
  if (code === UNIQUE_VIOLATION && onUnique) throw new TandemError(onUnique[0], onUnique[1]);
  if (code === FOREIGN_KEY_VIOLATION && onForeignKey) throw new TandemError(onForeignKey[0], onForeignKey[1]);
  throw e;
}

function newId(): string {
  return randomUUID().replaceAll('-', '');
}

interface RuleRow {
  rule_id: string;
  name: string;
  definition: RuleDefinition;
  created_at: Date;
}

interface PolicyRow {
  policy_id: string;
  name: string;
  created_at: Date;
}

interface UserSummaryRow {
  user_id: string;
  created_at: Date;
  policy_id: string | null;
  key_count: number;
}

interface KeySummaryRow {
  key_id: string;
  family: KeyFamily;
  owner_user_id: string;
  policy_id: string | null;
  created_at: Date;
}

const toRule = (r: RuleRow): RuleRecord => ({ ruleId: r.rule_id, name: r.name, definition: r.definition, createdAt: r.created_at });
const toUser = (r: UserSummaryRow): UserSummary => ({ userId: r.user_id, createdAt: r.created_at, policyId: r.policy_id, keyCount: Number(r.key_count) });
const toKey = (r: KeySummaryRow): KeySummary => ({
  keyId: r.key_id,
  family: r.family,
  ownerUserId: r.owner_user_id,
  policyId: r.policy_id,
  createdAt: r.created_at,
});

const USER_SUMMARY = `
  select u.user_id, u.created_at, up.policy_id,
         (select count(*)::int from keys k where k.owner_user_id = u.user_id) as key_count
  from users u left join user_policies up on up.user_id = u.user_id`;

const KEY_SUMMARY = `
  select k.key_id, k.family, k.owner_user_id, kp.policy_id, k.created_at
  from keys k left join key_policies kp on kp.key_id = k.key_id`;

/**
 * PolicyStore over the node's own database (the SqlClient its NodeStore uses, migrated by
 * `migrate`, 0002_policies_and_audit). Operations that check before they write run in one
 * transaction and lock the rows they check (`for update` / `for share`), so a concurrent
 * writer on PostgreSQL can't slip between the check and the write; the constraints stay
 * the last line and are mapped to the same errors.
 */
export class SqlPolicyStore implements PolicyStore {
  constructor(private readonly sql: SqlClient) {}

  async createRule(name: string, definition: RuleDefinition): Promise<RuleRecord> {
    const rule: RuleRecord = { ruleId: newId(), name, definition, createdAt: new Date() };
    try {
      await this.sql.query('insert into rules (rule_id, name, definition, created_at) values ($1, $2, $3::jsonb, $4)', [
        rule.ruleId,
        name,
        JSON.stringify(definition),
        rule.createdAt,
      ]);
    } catch (e) {
      mapConstraint(e, ['unique_violation', `a rule named ${JSON.stringify(name)} exists already`], null);
    }
    return rule;
  }

  async getRule(ruleId: string): Promise<RuleRecord | undefined> {
    const { rows } = await this.sql.query<RuleRow>('select rule_id, name, definition, created_at from rules where rule_id = $1', [ruleId]);
    return rows[0] && toRule(rows[0]);
  }

  async listRules(): Promise<RuleRecord[]> {
    const { rows } = await this.sql.query<RuleRow>('select rule_id, name, definition, created_at from rules order by name');
    return rows.map(toRule);
  }

  async deleteRule(ruleId: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await lockRule(tx, ruleId, 'update');
      const { rows } = await tx.query<{ name: string }>(
        `select p.name from policy_rules pr join policies p on p.policy_id = pr.policy_id
         where pr.rule_id = $1 order by p.name limit 11`,
        [ruleId],
      );
      if (rows.length) throw new TandemError('rule_in_use', `rule ${ruleId} is in ${listed(rows.map((r) => r.name), 'policy', 'policies')}; remove it from them first`);
      try {
        await tx.query('delete from rules where rule_id = $1', [ruleId]);
      } catch (e) {
        mapConstraint(e, null, ['rule_in_use', `rule ${ruleId} is in a policy`]);
      }
    });
  }

  async createPolicy(name: string): Promise<PolicyRecord> {
    const policy: PolicyRecord = { policyId: newId(), name, ruleIds: [], createdAt: new Date() };
    try {
      await this.sql.query('insert into policies (policy_id, name, created_at) values ($1, $2, $3)', [policy.policyId, name, policy.createdAt]);
    } catch (e) {
      mapConstraint(e, ['unique_violation', `a policy named ${JSON.stringify(name)} exists already`], null);
    }
    return policy;
  }

  async getPolicy(policyId: string): Promise<PolicyRecord | undefined> {
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query<PolicyRow>('select policy_id, name, created_at from policies where policy_id = $1', [policyId]);
      const row = rows[0];
      return row && { policyId: row.policy_id, name: row.name, ruleIds: await ruleIdsOf(tx, policyId), createdAt: row.created_at };
    });
  }

  async listPolicies(): Promise<PolicyRecord[]> {
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query<PolicyRow>('select policy_id, name, created_at from policies order by name');
      const members = await tx.query<{ policy_id: string; rule_id: string }>('select policy_id, rule_id from policy_rules order by policy_id, position');
      const ruleIds = new Map<string, string[]>();
      for (const m of members.rows) {
        const list = ruleIds.get(m.policy_id) ?? [];
        list.push(m.rule_id);
        ruleIds.set(m.policy_id, list);
      }
      return rows.map((r) => ({ policyId: r.policy_id, name: r.name, ruleIds: ruleIds.get(r.policy_id) ?? [], createdAt: r.created_at }));
    });
  }

  async policyBindings(policyId: string): Promise<PolicyBindings> {
    return this.sql.transaction(async (tx) => {
      await lockPolicy(tx, policyId, 'share');
      const users = await tx.query<{ user_id: string }>('select user_id from user_policies where policy_id = $1 order by user_id', [policyId]);
      const keys = await tx.query<{ key_id: string }>('select key_id from key_policies where policy_id = $1 order by key_id', [policyId]);
      return { userIds: users.rows.map((r) => r.user_id), keyIds: keys.rows.map((r) => r.key_id) };
    });
  }

  async deletePolicy(policyId: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await lockPolicy(tx, policyId, 'update');
      const keys = await tx.query<{ n: number }>('select count(*)::int as n from key_policies where policy_id = $1', [policyId]);
      const nKeys = Number(keys.rows[0]?.n ?? 0);
      if (nKeys) throw new TandemError('policy_in_use_by_keys', `policy ${policyId} is bound to ${nKeys} key(s); unbind them first (set-key-policy)`);
      const users = await tx.query<{ n: number }>('select count(*)::int as n from user_policies where policy_id = $1', [policyId]);
      const nUsers = Number(users.rows[0]?.n ?? 0);
      if (nUsers) throw new TandemError('policy_in_use_by_users', `policy ${policyId} is bound to ${nUsers} user(s); unbind them first (set-user-policy)`);
      try {
        // Its policy_rules rows go with it (on delete cascade); the rules themselves stay.
        await tx.query('delete from policies where policy_id = $1', [policyId]);
      } catch (e) {
        mapConstraint(e, null, ['policy_in_use_by_keys', `policy ${policyId} was bound while being deleted`]);
      }
    });
  }

  async addRuleToPolicy(policyId: string, ruleId: string): Promise<string[]> {
    return this.sql.transaction(async (tx) => {
      // Locking the policy row serialises appends to its list, so positions don't collide.
      await lockPolicy(tx, policyId, 'update');
      await lockRule(tx, ruleId, 'share');
      const present = await tx.query('select 1 from policy_rules where policy_id = $1 and rule_id = $2', [policyId, ruleId]);
      if (present.rows.length) throw new TandemError('unique_violation', `rule ${ruleId} is in policy ${policyId} already`);
      try {
        await tx.query(
          `insert into policy_rules (policy_id, rule_id, position)
           select $1, $2, coalesce(max(position), 0) + 1 from policy_rules where policy_id = $1`,
          [policyId, ruleId],
        );
      } catch (e) {
        mapConstraint(e, ['unique_violation', `rule ${ruleId} is in policy ${policyId} already`], ['rule_not_found', `rule ${ruleId} not found`]);
      }
      return ruleIdsOf(tx, policyId);
    });
  }

  async removeRuleFromPolicy(policyId: string, ruleId: string): Promise<string[]> {
    return this.sql.transaction(async (tx) => {
      await lockPolicy(tx, policyId, 'update');
      await lockRule(tx, ruleId, 'share');
      const { rows } = await tx.query('delete from policy_rules where policy_id = $1 and rule_id = $2 returning rule_id', [policyId, ruleId]);
      if (!rows.length) throw new TandemError('rule_not_in_policy', `rule ${ruleId} is not in policy ${policyId}`);
      return ruleIdsOf(tx, policyId);
    });
  }

  async setUserPolicy(userId: string, policyId: string | null): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const user = await tx.query('select 1 from users where user_id = $1 for share', [userId]);
      if (!user.rows.length) throw new TandemError('user_id_not_exists', `user ${userId} does not exist on this node`);
      if (policyId === null) {
        await tx.query('delete from user_policies where user_id = $1', [userId]);
        return;
      }
      await lockPolicy(tx, policyId, 'share');
      try {
        await tx.query(
          `insert into user_policies (user_id, policy_id) values ($1, $2)
           on conflict (user_id) do update set policy_id = excluded.policy_id`,
          [userId, policyId],
        );
      } catch (e) {
        mapConstraint(e, null, ['policy_not_found', `policy ${policyId} not found`]);
      }
    });
  }

  async setKeyPolicy(keyId: string, policyId: string | null): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const key = await tx.query('select 1 from keys where key_id = $1 for share', [keyId]);
      if (!key.rows.length) throw new TandemError('key_id_not_exists', `key ${keyId} does not exist on this node`);
      if (policyId === null) {
        await tx.query('delete from key_policies where key_id = $1', [keyId]);
        return;
      }
      await lockPolicy(tx, policyId, 'share');
      try {
        await tx.query(
          `insert into key_policies (key_id, policy_id) values ($1, $2)
           on conflict (key_id) do update set policy_id = excluded.policy_id`,
          [keyId, policyId],
        );
      } catch (e) {
        mapConstraint(e, null, ['policy_not_found', `policy ${policyId} not found`]);
      }
    });
  }

  async policiesFor(userId: string, keyId: string | null): Promise<BoundPolicy[]> {
    // One statement, so the answer is one consistent snapshot: the user's policy first,
    // then the key's, each with its rules in list order.
    const { rows } = await this.sql.query<{
      ord: number;
      policy_id: string;
      policy_name: string;
      policy_created_at: Date;
      rule_id: string | null;
      rule_name: string | null;
      definition: RuleDefinition | null;
      rule_created_at: Date | null;
    }>(
      `with bound as (
         select 0 as ord, policy_id from user_policies where user_id = $1
         union all
         select 1 as ord, policy_id from key_policies where key_id = $2
       )
       select b.ord, p.policy_id, p.name as policy_name, p.created_at as policy_created_at,
              r.rule_id, r.name as rule_name, r.definition, r.created_at as rule_created_at
       from bound b
       join policies p on p.policy_id = b.policy_id
       left join policy_rules pr on pr.policy_id = p.policy_id
       left join rules r on r.rule_id = pr.rule_id
       order by b.ord, pr.position`,
      [userId, keyId],
    );
    const out: BoundPolicy[] = [];
    const seen = new Map<string, { ord: number; bound: BoundPolicy }>();
    for (const row of rows) {
      let entry = seen.get(row.policy_id);
      if (!entry) {
        entry = { ord: row.ord, bound: { policy: { policyId: row.policy_id, name: row.policy_name, ruleIds: [], createdAt: row.policy_created_at }, rules: [] } };
        seen.set(row.policy_id, entry);
        out.push(entry.bound);
      }
      // The key bound to the user's own policy: it is evaluated once.
      if (entry.ord !== row.ord) continue;
      if (row.rule_id !== null && row.rule_name !== null && row.definition !== null && row.rule_created_at !== null) {
        entry.bound.policy.ruleIds.push(row.rule_id);
        entry.bound.rules.push({ ruleId: row.rule_id, name: row.rule_name, definition: row.definition, createdAt: row.rule_created_at });
      }
    }
    return out;
  }

  async listUsers(afterUserId: string | null, limit: number): Promise<UserSummary[]> {
    const { rows } = await this.sql.query<UserSummaryRow>(
      `${USER_SUMMARY} where $1::text is null or u.user_id > $1::text order by u.user_id limit $2`,
      [afterUserId, limit],
    );
    return rows.map(toUser);
  }

  async getUserSummary(userId: string): Promise<UserSummary | undefined> {
    const { rows } = await this.sql.query<UserSummaryRow>(`${USER_SUMMARY} where u.user_id = $1`, [userId]);
    return rows[0] && toUser(rows[0]);
  }

  async keysOfUser(userId: string): Promise<KeySummary[]> {
    const { rows } = await this.sql.query<KeySummaryRow>(`${KEY_SUMMARY} where k.owner_user_id = $1 order by k.key_id`, [userId]);
    return rows.map(toKey);
  }

  async getKeySummary(keyId: string): Promise<KeySummary | undefined> {
    const { rows } = await this.sql.query<KeySummaryRow>(`${KEY_SUMMARY} where k.key_id = $1`, [keyId]);
    return rows[0] && toKey(rows[0]);
  }

  async deleteUser(userId: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const user = await tx.query('select 1 from users where user_id = $1 for update', [userId]);
      if (!user.rows.length) throw new TandemError('user_id_not_exists', `user ${userId} does not exist on this node`);
      const keys = await tx.query<{ n: number }>('select count(*)::int as n from keys where owner_user_id = $1', [userId]);
      const n = Number(keys.rows[0]?.n ?? 0);
      if (n) throw new TandemError('bad_request_params', `user ${userId} owns ${n} key(s) on this node; a user who owns keys can't be deleted`);
      try {
        // user_policies goes with it (on delete cascade).
        await tx.query('delete from users where user_id = $1', [userId]);
      } catch (e) {
        mapConstraint(e, null, ['bad_request_params', `user ${userId} got a key while being deleted`]);
      }
    });
  }
}

async function lockPolicy(tx: SqlClient, policyId: string, mode: 'update' | 'share'): Promise<void> {
  const { rows } = await tx.query(`select 1 from policies where policy_id = $1 for ${mode}`, [policyId]);
  if (!rows.length) throw new TandemError('policy_not_found', `policy ${policyId} not found`);
}

async function lockRule(tx: SqlClient, ruleId: string, mode: 'update' | 'share'): Promise<void> {
  const { rows } = await tx.query(`select 1 from rules where rule_id = $1 for ${mode}`, [ruleId]);
  if (!rows.length) throw new TandemError('rule_not_found', `rule ${ruleId} not found`);
}

async function ruleIdsOf(tx: SqlClient, policyId: string): Promise<string[]> {
  const { rows } = await tx.query<{ rule_id: string }>('select rule_id from policy_rules where policy_id = $1 order by position', [policyId]);
  return rows.map((r) => r.rule_id);
}

function listed(names: string[], one: string, many: string): string {
  const shown = names.slice(0, 10).map((n) => JSON.stringify(n));
  const more = names.length > 10 ? ' and more' : '';
  return `${names.length === 1 ? one : many} ${shown.join(', ')}${more}`;
}

/** The largest value a uint256 (wei) can hold; daily totals never go past it. */
const MAX_UINT256 = (1n << 256n) - 1n;

/**
 * RuleCounters on the node's database. Both operations are atomic against concurrent
 * callers, in this process or another one on the same PostgreSQL database.
 */
export class SqlRuleCounters implements RuleCounters {
  constructor(private readonly sql: SqlClient) {}

  /**
   * Sliding window: a use counts while it is less than `windowSeconds` old. The check
   * and the insert run in one transaction under an advisory lock on the counter key, so
   * of N concurrent callers exactly `max - used` get true. Uses that left the window are
   * pruned on the way, so a counter key must always be used with the same window (the
   * engine's keys name the rule, whose definition never changes).
   */
  async takeRate(counterKey: string, windowSeconds: number, max: number, now: Date, count = 1): Promise<boolean> {
    if (!(windowSeconds > 0) || !Number.isFinite(windowSeconds)) throw new RangeError(`bad rate window ${windowSeconds}`);
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`bad rate max ${max}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`bad rate count ${count}`);
    if (count > max) return false;
    const cutoff = new Date(now.getTime() - windowSeconds * 1000);
    return this.sql.transaction(async (tx) => {
      await lockInSchema(tx, RATE_LOCK_SPACE, counterKey);
      await tx.query('delete from rule_rate_events where counter_key = $1 and at <= $2', [counterKey, cutoff]);
      const { rows } = await tx.query<{ n: number }>('select count(*)::int as n from rule_rate_events where counter_key = $1 and at > $2', [counterKey, cutoff]);
      if (Number(rows[0]?.n ?? 0) + count > max) return false;
      await tx.query('insert into rule_rate_events (counter_key, at) select $1, $2 from generate_series(1, $3::int)', [counterKey, now, count]);
      return true;
    });
  }

  /**
   * Rows of one key and instant are interchangeable, so deleting any `count` of them gives
   * back exactly what the take recorded (ctid: the table has no id column to name them by).
   */
  async returnRate(counterKey: string, at: Date, count: number): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await lockInSchema(tx, RATE_LOCK_SPACE, counterKey);
      await tx.query(
        'delete from rule_rate_events where ctid in (select ctid from rule_rate_events where counter_key = $1 and at = $2 limit $3::int)',
        [counterKey, at, count],
      );
    });
  }

  /**
   * One statement: insert the day's first amount, or add to the total only if the sum
   * stays within `cap` (PostgreSQL locks the conflicting row for the update, so
   * concurrent adds serialise). Amounts go in as text into numeric(78, 0): no float.
   */
  async addDaily(counterKey: string, day: string, amount: bigint, cap: bigint): Promise<boolean> {
    if (amount < 0n) throw new RangeError('daily amount must not be negative');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new RangeError(`bad day ${JSON.stringify(day)} (want YYYY-MM-DD)`);
    const limit = cap > MAX_UINT256 ? MAX_UINT256 : cap;
    if (amount > limit) return false;
    const { rows } = await this.sql.query(
      `insert into rule_daily_totals (counter_key, day, total) values ($1, $2::date, $3::numeric)
       on conflict (counter_key, day) do update set total = rule_daily_totals.total + excluded.total
         where rule_daily_totals.total + excluded.total <= $4::numeric
       returning counter_key`,
      [counterKey, day, amount.toString(), limit.toString()],
    );
    return rows.length === 1;
  }

  async returnDaily(counterKey: string, day: string, amount: bigint): Promise<void> {
    await this.sql.query(
      'update rule_daily_totals set total = greatest(total - $3::numeric, 0) where counter_key = $1 and day = $2::date',
      [counterKey, day, amount.toString()],
    );
  }

  /** Uses of a rate counter key inside the window ending at `now`, for reads and tests. */
  async rateUses(counterKey: string, windowSeconds: number, now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - windowSeconds * 1000);
    const { rows } = await this.sql.query<{ n: number }>('select count(*)::int as n from rule_rate_events where counter_key = $1 and at > $2', [counterKey, cutoff]);
    return Number(rows[0]?.n ?? 0);
  }

  /** The day's total so far (0 when none), for reads and tests. */
  async dailyTotal(counterKey: string, day: string): Promise<bigint> {
    const { rows } = await this.sql.query<{ total: string }>('select total::text as total from rule_daily_totals where counter_key = $1 and day = $2::date', [counterKey, day]);
    return BigInt(rows[0]?.total ?? '0');
  }
}
