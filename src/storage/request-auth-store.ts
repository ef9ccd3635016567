import type { RequestKeyType } from '../api/request-signature.js';
import type { SqlClient } from '../db/sql.js';

/** Request-signing keys of users and the nonces this node has accepted (migration 0003). */
export class RequestAuthStore {
  constructor(private readonly sql: SqlClient) {}

  async setKey(userId: string, type: RequestKeyType, publicKey: Uint8Array): Promise<void> {
    await this.sql.query(
      `insert into user_request_keys (user_id, key_type, public_key) values ($1, $2, $3)
       on conflict (user_id) do update set key_type = excluded.key_type, public_key = excluded.public_key`,
      [userId, type, publicKey],
    );
  }

  async getKey(userId: string): Promise<{ type: RequestKeyType; publicKey: Uint8Array } | undefined> {
    const { rows } = await this.sql.query<{ key_type: RequestKeyType; public_key: Uint8Array }>(
      'select key_type, public_key from user_request_keys where user_id = $1',
      [userId],
    );
    const r = rows[0];
    return r && { type: r.key_type, publicKey: new Uint8Array(r.public_key) };
  }

  /** Records a nonce; false when it was seen before (a replay). Expired ones are swept here too. */
  async useNonce(userId: string, nonce: string, expiresAt: Date): Promise<boolean> {
    await this.sql.query('delete from request_nonces where expires_at < now()');
    const { rows } = await this.sql.query(
      'insert into request_nonces (user_id, nonce, expires_at) values ($1, $2, $3) on conflict do nothing returning 1',
      [userId, nonce, expiresAt],
    );
    return rows.length === 1;
  }
}
