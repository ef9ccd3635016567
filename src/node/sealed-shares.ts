import { shareAad } from '../crypto/share-seal.js';
import type { SealedColumn } from '../db/reseal.js';

/** A node's sealed records: the share of every key it holds (FROST and DKLs23 alike), in `keys`. */
export function nodeSharesColumn(nodeId: string): SealedColumn {
  return {
    table: 'keys',
    idColumn: 'key_id',
    valueColumn: 'share_ciphertext',
    aadColumns: ['family'],
    aad: (row) => shareAad(nodeId, String(row.key_id), String(row.family)),
  };
}
