import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DatabaseConfig } from '../../src/db/open-database.js';
import { checkSchemaName, PostgresClient } from '../../src/db/postgres-client.js';
import type { SqlClient } from '../../src/db/sql.js';
import { seedPglite } from './pglite-template.js';

/**
 * The database backends the storage tests run against: every storage suite runs once on
 * the embedded PGlite and once on a real PostgreSQL server.
 *
 * PostgreSQL: TANDEM_TEST_DATABASE_URL, or postgres://127.0.0.1:5432/test (the user
 * defaults to PGUSER or the OS user). Each `open` gets a schema of its own, dropped on
 * close, so test files can share the server and run at the same time.
 *
 * When the server can't be reached the PostgreSQL suites FAIL (CI starts PostgreSQL; a
 * silent skip would hide a broken backend). Set TANDEM_TEST_POSTGRES=skip to run the
 * PGlite suites only, e.g. on a laptop with no PostgreSQL.
 */
export type BackendName = 'pglite' | 'postgres';

export type Migrate = (sql: SqlClient) => Promise<unknown>;

export interface TestDatabase {
  /** Migrated by the `migrate` given to `open`. Closing it more than once is harmless. */
  client: SqlClient;
  /** Where the database lives, to open it again (openDatabase, openNodeStore) after `client` is closed, or beside it on PostgreSQL. */
  config: DatabaseConfig;
  /** Closes `client` (if the test hasn't) and removes the database: the temp directory, or the schema. */
  close(): Promise<void>;
}

export interface Backend {
  name: BackendName;
  open(migrate: Migrate): Promise<TestDatabase>;
}

export const POSTGRES_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

/** True when TANDEM_TEST_POSTGRES=skip: only PGlite runs (see above). */
export const postgresSkipped = process.env.TANDEM_TEST_POSTGRES === 'skip';

/** A schema name no other test (or test run) uses: `t_` and 8 random hex digits. */
export function freshSchema(): string {
  return checkSchemaName(`t_${randomBytes(4).toString('hex')}`);
}

/** Socket errors, and SQLSTATE classes 08 (connection), 28 (authorization) and 3D000 (no such database). */
function cannotConnect(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return /^E[A-Z]+$/.test(code) || code.startsWith('08') || code.startsWith('28') || code === '3D000';
  return /connect|timeout|terminated/i.test(e instanceof Error ? e.message : String(e));
}

/** Connects to `schema` (creating it), with a message that says what to do when the server isn't there. */
export async function connectPostgres(schema: string, opts: { maxConnections?: number } = {}): Promise<PostgresClient> {
  try {
    return await PostgresClient.connect(POSTGRES_URL, schema, { ...opts, connectTimeoutMs: 5000 });
  } catch (e) {
    if (!cannotConnect(e)) throw e;
    const reason = e instanceof AggregateError ? e.errors.map((x) => String((x as Error).message ?? x)).join('; ') : (e as Error).message || String(e);
    throw new Error(
      `PostgreSQL test backend: cannot connect to ${redact(POSTGRES_URL)} (${reason}). ` +
        'Start PostgreSQL, point TANDEM_TEST_DATABASE_URL at one, or set TANDEM_TEST_POSTGRES=skip to run the PGlite backend only.',
      { cause: e },
    );
  }
}

/** Drops `schema` and everything in it, over a short-lived connection of its own. */
export async function dropSchema(schema: string): Promise<void> {
  checkSchemaName(schema);
  const admin = await connectPostgres(schema, { maxConnections: 1 });
  try {
    await admin.exec(`drop schema if exists ${schema} cascade`);
  } finally {
    await admin.close();
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

/** `client`, except that close() only closes it once (the helper closes what the test may have closed already). */
class CloseOnce implements SqlClient {
  private closing: Promise<void> | undefined;

  constructor(private readonly inner: SqlClient) {}

  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.inner.query<R>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.inner.exec(sql);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.inner.transaction(fn);
  }

  close(): Promise<void> {
    return (this.closing ??= this.inner.close());
  }
}

/** Opens `config` migrated; `cleanup` removes what the backend made, whether the open failed or the test is done. */
async function openFresh(config: DatabaseConfig, migrate: Migrate, cleanup: () => Promise<void>): Promise<TestDatabase> {
  let client: CloseOnce;
  try {
    client = new CloseOnce(await openDatabase(config, migrate));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    client,
    config,
    async close() {
      try {
        await client.close();
      } finally {
        await cleanup();
      }
    },
  };
}

export const pglite: Backend = {
  name: 'pglite',
  async open(migrate) {
    const base = await mkdtemp(join(tmpdir(), 'tandem-test-db-'));
    await seedPglite(join(base, 'db'));
    return openFresh({ kind: 'embedded', dir: join(base, 'db') }, migrate, () => rm(base, { recursive: true, force: true }));
  },
};

export const postgres: Backend = {
  name: 'postgres',
  async open(migrate) {
    const schema = freshSchema();
    // Connect first, for the clear message when the server isn't there; openDatabase
    // is the production path (connect, then migrate).
    await (await connectPostgres(schema, { maxConnections: 1 })).close();
    return openFresh({ kind: 'postgres', url: POSTGRES_URL, schema }, migrate, () => dropSchema(schema));
  },
};

/** Both backends, or PGlite alone under TANDEM_TEST_POSTGRES=skip. */
export const backends: readonly Backend[] = postgresSkipped ? [pglite] : [pglite, postgres];
