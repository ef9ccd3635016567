import { parseOwnerPasskey, type OwnerPasskey } from '../wallet/passkey-evidence.js';
import type { SqlClient } from '../db/sql.js';

/** Keys bound to an owner passkey (migration 0007). */
export class KeyPasskeyStore {
  constructor(private readonly sql: SqlClient) {}

  async bind(keyId: string, owner: OwnerPasskey): Promise<void> {
    await this.sql.query('insert into key_passkeys (key_id, owner) values ($1, $2::jsonb)', [keyId, JSON.stringify(owner)]);
  }

  async ownerOf(keyId: string): Promise<OwnerPasskey | undefined> {
    const { rows } = await this.sql.query<{ owner: unknown }>('select owner from key_passkeys where key_id = $1', [keyId]);
    if (!rows[0]) return undefined;
    const raw = typeof rows[0].owner === 'string' ? JSON.parse(rows[0].owner) : rows[0].owner;
    const owner = parseOwnerPasskey(raw);
    // A row this code can't read must not mean "unbound": that would sign without the passkey.
    if (!owner) throw new Error(`key ${keyId}: its owner passkey record is unreadable`);
    return owner;
  }
}
