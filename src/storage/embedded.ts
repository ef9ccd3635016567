import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { PgliteClient } from './pglite-client.js';
import { SqlNodeStore } from './sql-store.js';

/**
 * The node's own database under `<dataDir>/db`, migrated and ready; data persists across reopens.
 * Its `client` serves the node's other stores (policies, rule counters, audit log).
 */
export async function openEmbeddedStore(dataDir: string): Promise<SqlNodeStore> {
  const dbDir = join(dataDir, 'db');
  // 0o700: the database holds sealed shares and API key hashes; no one else needs to read it.
  await mkdir(dbDir, { recursive: true, mode: 0o700 });
  const client = await PgliteClient.open(dbDir);
  try {
    await migrate(client);
  } catch (err) {
    await client.close();
    throw err;
  }
  return new SqlNodeStore(client);
}
