import { Umzug, type UmzugStorage } from 'umzug';
import type { SqlClient } from './sql.js';

export interface Migration {
  /** Sorts in application order; never rename one that has shipped. */
  name: string;
  sql: string;
}

/** Plain PostgreSQL, so the embedded and server backends share one schema history. */
const NODE_MIGRATIONS: readonly Migration[] = [
  {
    name: '0001_initial',
    sql: `
      create table settings (
        name text primary key,
        value text not null
      );

      create table users (
        user_id text primary key,
        api_key_hash bytea not null,
        created_at timestamptz not null
      );

      create table keys (
        key_id text primary key,
        family text not null check (family in ('bip340', 'ecdsa', 'ed25519')),
        owner_user_id text not null references users (user_id),
        public_key bytea not null,
        threshold int not null,
        parties jsonb not null,
        public_package jsonb not null,
        share_ciphertext bytea not null,
        created_at timestamptz not null
      );

      create index keys_owner_user_id_idx on keys (owner_user_id);
    `,
  },
];

/**
 * Arbitrary constant naming this schema's advisory lock: two processes starting against
 * the same PostgreSQL database must not both apply the same migration.
 */
const MIGRATION_LOCK_ID = 0x74616e64; // "tand"

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

/** Brings a signer node's schema up to date; see `runMigrations`. */
export function migrate(sql: SqlClient): Promise<string[]> {
  return runMigrations(sql, NODE_MIGRATIONS);
}

/**
 * Brings a schema up to date and returns the names of the migrations it applied.
 * Everything runs in one transaction (PostgreSQL DDL is transactional), so a failed
 * migration leaves neither a half-built schema nor a log entry claiming it was applied.
 * Each component (node, gateway) has its own database, so one bookkeeping table name
 * serves all of them.
 */
export async function runMigrations(sql: SqlClient, migrations: readonly Migration[]): Promise<string[]> {
  return sql.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
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
