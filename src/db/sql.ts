/**
 * The slice of a PostgreSQL client the storage layer needs, small enough that PGlite
 * (embedded) and node-postgres (server) can both implement it.
 *
 * Value conventions every implementation must keep, so SQL written against one backend
 * behaves the same on the other:
 * - parameters: string, number, boolean, null, Date (timestamptz) and Uint8Array (bytea);
 *   JSON goes in as text with an explicit `::jsonb` cast, because node-postgres would
 *   turn a JS array into a PostgreSQL array literal rather than JSON;
 * - results: bytea as Uint8Array (a Buffer is fine), json/jsonb parsed, timestamptz as
 *   Date, int4 as number.
 */
export interface SqlClient {
  /** One statement, with `$1`-style parameters. */
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /** Any number of statements, without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws.
   * Called on a transaction's client, it nests with a savepoint.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A transaction's nested transaction (SqlClient.transaction called on `tx`): a savepoint,
 * released when `fn` resolves and rolled back to when it throws, leaving the outer
 * transaction open either way. `n` makes the name unique within the outer transaction.
 */
export async function inSavepoint<T>(tx: SqlClient, n: number, fn: (tx: SqlClient) => Promise<T>): Promise<T> {
  const name = `tandem_sp_${n}`;
  await tx.exec(`savepoint ${name}`);
  try {
    const result = await fn(tx);
    await tx.exec(`release savepoint ${name}`);
    return result;
  } catch (err) {
    await tx.exec(`rollback to savepoint ${name}`);
    throw err;
  }
}
