import { mkdir } from 'node:fs/promises';
import { PgliteClient } from './pglite-client.js';
import { checkSchemaName, PostgresClient } from './postgres-client.js';
import type { SqlClient } from './sql.js';

/** Where a component keeps its database: embedded under its data directory, or a schema on a PostgreSQL server. */
export type DatabaseConfig = { kind: 'embedded'; dir: string } | { kind: 'postgres'; url: string; schema: string };

/**
 * A component's schema on a shared PostgreSQL server: TANDEM_DATABASE_SCHEMA when set (one
 * process, one component), else `<TANDEM_DATABASE_SCHEMA_PREFIX or tandem>_<component>`,
 * so the nodes of one cluster land in schemas of their own.
 */
export function databaseFrom(env: NodeJS.ProcessEnv, component: string, embeddedDir: string): DatabaseConfig {
  const url = env.TANDEM_DATABASE_URL;
  if (!url) return { kind: 'embedded', dir: embeddedDir };
  const schema = env.TANDEM_DATABASE_SCHEMA || `${env.TANDEM_DATABASE_SCHEMA_PREFIX || 'tandem'}_${component}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return { kind: 'postgres', url, schema: checkSchemaName(schema) };
}

/** Opens a component's database and brings its schema up to date with `migrateIt`. */
export async function openDatabase(db: DatabaseConfig, migrateIt: (sql: SqlClient) => Promise<unknown>): Promise<SqlClient> {
  let client: SqlClient;
  if (db.kind === 'postgres') {
    client = await PostgresClient.connect(db.url, db.schema);
  } else {
    // 0o700: the database holds sealed shares and key hashes; no one else needs to read it.
    await mkdir(db.dir, { recursive: true, mode: 0o700 });
    client = await PgliteClient.open(db.dir);
  }
  try {
    await migrateIt(client);
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}
