import { sealedKekId, type Keyring } from '../crypto/share-seal.js';
import type { SqlClient } from './sql.js';

/**
 * KEK rotation at the storage level: which KEKs a table's sealed records are under, and
 * re-sealing every record that is not under the current one. Safe while the owning process
 * runs: each record is swapped only if it still holds the ciphertext that was read (a row
 * deleted or rewritten meanwhile is left to its writer), and a process whose keyring holds
 * both KEKs opens either version of a row it has cached.
 */
export interface SealedColumn {
  /** Our own identifiers, never input: they are pasted into SQL. */
  table: string;
  idColumn: string;
  valueColumn: string;
  /** Other columns the AAD needs. */
  aadColumns: string[];
  aad(row: Record<string, unknown>): Uint8Array;
}

const HEADER_BYTES = 9;
const PAGE = 64;

/** Record count per KEK id (`v1` for release-0.1.0 records, which name no KEK). */
export async function sealedCensus(sql: SqlClient, col: SealedColumn): Promise<Map<string, number>> {
  const { rows } = await sql.query<{ head: Uint8Array; n: number }>(
    `select substring(${col.valueColumn} from 1 for ${HEADER_BYTES}) as head, count(*)::int as n from ${col.table} group by 1`,
  );
  const out = new Map<string, number>();
  for (const r of rows) {
    const id = sealedKekId(new Uint8Array(r.head));
    out.set(id, (out.get(id) ?? 0) + r.n);
  }
  return out;
}

export interface ResealResult {
  resealed: number;
  /** Ids of records no KEK of the keyring opens (left as they are). */
  failed: string[];
}

/** Re-seals, page by page, every record not yet under the keyring's current KEK. */
export async function resealAll(sql: SqlClient, col: SealedColumn, keyring: Keyring): Promise<ResealResult> {
  const current = Buffer.concat([Buffer.of(2), Buffer.from(keyring.currentId, 'hex')]);
  const result: ResealResult = { resealed: 0, failed: [] };
  let after = '';
  for (;;) {
    const { rows } = await sql.query<Record<string, unknown>>(
      `select ${[col.idColumn, col.valueColumn, ...col.aadColumns].join(', ')} from ${col.table}
       where ${col.idColumn} > $1 and substring(${col.valueColumn} from 1 for ${HEADER_BYTES}) <> $2
       order by ${col.idColumn} limit ${PAGE}`,
      [after, current],
    );
    for (const row of rows) {
      const id = String(row[col.idColumn]);
      after = id;
      const old = new Uint8Array(row[col.valueColumn] as Uint8Array);
      let fresh: Uint8Array;
      try {
        fresh = keyring.reseal(old, col.aad(row));
      } catch {
        result.failed.push(id);
        continue;
      }
      const { rows: swapped } = await sql.query(
        `update ${col.table} set ${col.valueColumn} = $1 where ${col.idColumn} = $2 and ${col.valueColumn} = $3 returning ${col.idColumn}`,
        [fresh, id, old],
      );
      if (swapped.length === 1) result.resealed++;
    }
    if (rows.length < PAGE) return result;
  }
}

/** A census as text for logs and the rotate-kek tool: `<id>: <count>, ...`. */
export function describeCensus(census: Map<string, number>): string {
  return census.size === 0 ? 'no sealed records' : [...census].map(([id, n]) => `${id}: ${n}`).join(', ');
}
