import { join } from 'node:path';
import { openDatabase, type DatabaseConfig } from '../db/open-database.js';
import { migrate } from './migrations.js';
import { SqlNodeStore } from './sql-store.js';

/**
 * The node's own database, migrated and ready: `<dataDir>/db` by default, or its schema on
 * PostgreSQL. Its `client` serves the node's other stores (policies, rule counters, audit log).
 */
export async function openNodeStore(db: DatabaseConfig): Promise<SqlNodeStore> {
  return new SqlNodeStore(await openDatabase(db, migrate));
}

export async function openEmbeddedStore(dataDir: string): Promise<SqlNodeStore> {
  return openNodeStore({ kind: 'embedded', dir: join(dataDir, 'db') });
}
