import { userInfo } from 'node:os';
import pg from 'pg';
import { inSavepoint, type SqlClient } from './sql.js';

/** What a component's schema may be called: one plain identifier, so it can go into SQL unquoted. */
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_RE.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: lower-case letters, digits and _ (at most 63)`);
  return schema;
}

/** libpq's default when the URL names no user: PGUSER, else the operating system user (node-postgres only reads USER). */
function defaultUser(): string {
  return process.env.PGUSER || process.env.USER || userInfo().username;
}

/** node-postgres lets the URL's empty user override a `user` option, so the default goes into the URL. */
function withDefaultUser(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url; // not a URL (a libpq key=value string, say): node-postgres parses it
  }
  if (parsed.username === '') parsed.username = encodeURIComponent(defaultUser());
  return parsed.href;
}

/**
 * int8 as PGlite gives it: a JS number when it is a safe integer, else an exact bigint
 * (never a silently rounded number). The storage layer casts counts to int and reads the
 * audit log's seq as text, so its own values are numbers; everything else is
 * node-postgres' default.
 */
function parseInt8(v: string): number | bigint {
  const n = BigInt(v);
  return n < Number.MIN_SAFE_INTEGER || n > Number.MAX_SAFE_INTEGER ? n : Number(n);
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** SQLSTATEs of `create schema if not exists` losing a race with another session creating the same schema. */
const SCHEMA_RACE = new Set(['23505', '42P06']);

type Queryable = Pick<pg.PoolClient, 'query'>;

class PostgresQueries {
  constructor(protected readonly db: Queryable) {}

  async query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    const result = await this.db.query(sql, params as unknown[]);
    return { rows: result.rows as R[] };
  }

  async exec(sql: string): Promise<void> {
    await this.db.query(sql);
  }
}

class PostgresTransaction extends PostgresQueries implements SqlClient {
  private savepoints = 0;

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return inSavepoint(this, ++this.savepoints, fn);
  }

  async close(): Promise<void> {
    throw new Error('cannot close a transaction; close the client it came from');
  }
}

/**
 * A component's database on a PostgreSQL server (node-postgres pool), confined to its own
 * schema: every connection's search_path is that schema only, so one component's SQL can't
 * reach another's tables even on a shared database. Production should still give each
 * signer node its own database and role; the schema is the floor, not the ceiling.
 */
export class PostgresClient extends PostgresQueries implements SqlClient {
  private constructor(private readonly pool: pg.Pool) {
    super(pool);
  }

  /** Connects, creating `schema` if needed. Fails (and closes the pool) when the server can't be reached. */
  static async connect(url: string, schema: string, opts: { maxConnections?: number; connectTimeoutMs?: number } = {}): Promise<PostgresClient> {
    checkSchemaName(schema);
    const pool = new pg.Pool({
      connectionString: withDefaultUser(url),
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      // Every statement runs in the component's schema (a search_path set per connection, never shared).
      options: `-c search_path=${schema}`,
      types,
    });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    try {
      try {
        await pool.query(`create schema if not exists ${schema}`);
      } catch (e) {
        // Two processes starting at once on a fresh database both pass the "if not exists"
        // check, and the second fails on pg_namespace's unique index once the first commits.
        // The schema exists now (the other creator committed, or we'd have got no error).
        if (!SCHEMA_RACE.has((e as { code?: string }).code ?? '')) throw e;
        await pool.query(`create schema if not exists ${schema}`);
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return new PostgresClient(pool);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const conn = await this.pool.connect();
    let broken = false;
    try {
      await conn.query('begin');
      try {
        const result = await fn(new PostgresTransaction(conn));
        await conn.query('commit');
        return result;
      } catch (err) {
        await conn.query('rollback').catch(() => {
          broken = true; // the connection itself failed: don't return it to the pool
        });
        throw err;
      }
    } finally {
      conn.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
