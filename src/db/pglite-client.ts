import { PGlite, type Transaction } from '@electric-sql/pglite';
import { inSavepoint, type SqlClient } from './sql.js';

type Queryable = Pick<Transaction, 'query' | 'exec'>;

/** Statements shared by the client and its transactions. */
class PgliteQueries {
  constructor(protected readonly db: Queryable) {}

  async query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    const result = await this.db.query<R>(sql, params);
    return { rows: result.rows };
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }
}

class PgliteTransaction extends PgliteQueries implements SqlClient {
  private savepoints = 0;

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return inSavepoint(this, ++this.savepoints, fn);
  }

  async close(): Promise<void> {
    throw new Error('cannot close a transaction; close the client it came from');
  }
}

export class PgliteClient extends PgliteQueries implements SqlClient {
  private constructor(private readonly pg: PGlite) {
    super(pg);
  }

  /** Opens (creating if needed) the database stored in `dataDir`. */
  static async open(dataDir: string): Promise<PgliteClient> {
    const pg = new PGlite(dataDir);
    await pg.waitReady;
    return new PgliteClient(pg);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) => fn(new PgliteTransaction(tx)));
  }

  close(): Promise<void> {
    return this.pg.close();
  }
}
