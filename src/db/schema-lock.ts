import type { SqlClient } from './sql.js';

/**
 * Transaction-scoped advisory locks confined to the current schema. Advisory locks are
 * database-wide, and several components may share one PostgreSQL database, each in its own
 * schema (the dev cluster's nodes do): keyed by the schema too, one node's migrations, audit
 * appends and rate counters never wait for another's. PostgreSQL keeps the two-int4 key space
 * apart from the one-bigint one, so `space` names what is locked and the second key is
 * hashtext(schema) or hashtext(schema/name). The lock is released at commit or rollback.
 */
export async function lockInSchema(tx: SqlClient, space: number, name?: string): Promise<void> {
  // coalesce: with no current schema hashtext(null) is null and pg_advisory_xact_lock, being
  // strict, would return without taking any lock.
  await tx.query("select pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '') || '/' || $2))", [space, name ?? '']);
}
