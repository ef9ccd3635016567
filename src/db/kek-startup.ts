import type { Keyring } from '../crypto/share-seal.js';
import { describeCensus, resealAll, sealedCensus, type SealedColumn } from './reseal.js';
import type { SqlClient } from './sql.js';

/**
 * What a node or gateway does with its sealed records when it starts: refuse to run with a
 * keyring that can't open them (a wrong KEK would otherwise seal new records under another
 * key than the old ones, and fail only at the first signature), and, when the keyring
 * holds previous KEKs, re-seal everything under the current one while serving.
 */
export async function checkSealedRecords(sql: SqlClient, col: SealedColumn, keyring: Keyring, envName: string): Promise<Map<string, number>> {
  const census = await sealedCensus(sql, col);
  const missing = [...census.keys()].filter((id) => id !== 'v1' && id !== 'unknown' && !keyring.ids.includes(id));
  if (missing.length) {
    throw new Error(
      `sealed records are under KEK ${missing.join(', ')}, which ${envName} does not give (it gives ${keyring.ids.join(', ')}; records: ${describeCensus(census)}). ` +
        `Give that KEK as the current one, or in ${envName}_PREVIOUS while rotating`,
    );
  }
  if (census.has('v1')) {
    // Release 0.1.0 records name no KEK: one that opens shows the KEK is the right one.
    const { rows } = await sql.query<Record<string, unknown>>(
      `select ${[col.idColumn, col.valueColumn, ...col.aadColumns].join(', ')} from ${col.table} where substring(${col.valueColumn} from 1 for 1) = $1 limit 1`,
      [Uint8Array.of(1)],
    );
    const row = rows[0];
    if (row) {
      try {
        keyring.open(new Uint8Array(row[col.valueColumn] as Uint8Array), col.aad(row)).fill(0);
      } catch {
        throw new Error(`records sealed by an earlier release (no KEK id) do not open with the KEK ${envName} gives: give the KEK that release used`);
      }
    }
  }
  return census;
}

/** When the keyring has previous KEKs: re-seal in the background and log the outcome. Never throws. */
export function resealInBackground(sql: SqlClient, col: SealedColumn, keyring: Keyring, log: (msg: string) => void): Promise<void> {
  if (keyring.ids.length < 2) return Promise.resolve();
  return resealAll(sql, col, keyring).then(
    async (r) => {
      const census = await sealedCensus(sql, col);
      const left = [...census].filter(([id]) => id !== keyring.currentId).reduce((n, [, c]) => n + c, 0);
      log(
        `KEK rotation: re-sealed ${r.resealed} records under KEK ${keyring.currentId}; ` +
          (left === 0 ? 'none is left under another KEK, so the previous KEKs can be removed' : `${left} still under another KEK (${describeCensus(census)})`) +
          (r.failed.length ? `; ${r.failed.length} opened with no configured KEK` : ''),
      );
    },
    (e: Error) => log(`KEK rotation failed: ${e.message}`),
  );
}
