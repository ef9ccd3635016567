import { Umzug, type UmzugStorage } from 'umzug';
import type { SqlClient } from './sql.js';
import { lockInSchema } from './schema-lock.js';

export interface Migration {
  /** Sorts in application order; never rename one that has shipped. */
  name: string;
  sql: string;
}


/**
 * Names the schema's migration lock (schema-lock.ts): two processes starting against the
 * same schema must not both apply the same migration.
 */
const MIGRATION_LOCK_SPACE = 0x74616e64; // "tand"

/** Umzug's bookkeeping, kept in the same database (and transaction) as the schema. */
const sqlStorage: UmzugStorage<SqlClient> = {
  async executed({ context }) {
    const { rows } = await context.query<{ name: string }>('select name from tandem_migrations order by name');
    return rows.map((r) => r.name);
  },
  async logMigration({ name, context }) {
    await context.query('insert into tandem_migrations (name, applied_at) values ($1, now())', [name]);
  },
  async unlogMigration({ name, context }) {
    await context.query('delete from tandem_migrations where name = $1', [name]);
  },
};


/**
 * Brings a schema up to date and returns the names of the migrations it applied.
 * Everything runs in one transaction (PostgreSQL DDL is transactional), so a failed
 * migration leaves neither a half-built schema nor a log entry claiming it was applied.
 * Each component (node, gateway) has its own database, so one bookkeeping table name
 * serves all of them.
 */
export async function runMigrations(sql: SqlClient, migrations: readonly Migration[]): Promise<string[]> {
  return sql.transaction(async (tx) => {
    await lockInSchema(tx, MIGRATION_LOCK_SPACE);
    await tx.exec(
      'create table if not exists tandem_migrations (name text primary key, applied_at timestamptz not null)',
    );
    const umzug = new Umzug<SqlClient>({
      migrations: migrations.map((m) => ({ name: m.name, up: ({ context }) => context.exec(m.sql) })),
      context: tx,
      storage: sqlStorage,
      logger: undefined,
    });
    const applied = await umzug.up();
    return applied.map((m) => m.name);
  });
}
