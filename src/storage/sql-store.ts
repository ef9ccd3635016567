import type { KeyId, PartyId, UserId } from '../core/ids.js';
import type { SqlClient } from '../db/sql.js';
import type { KeyRecord, NodeStore, UserRecord } from './store.js';
import type { KeyFamily } from '../core/families.js';

interface UserRow {
  user_id: string;
  api_key_hash: Uint8Array;
  created_at: Date;
}

interface KeyRow {
  key_id: string;
  family: KeyFamily;
  owner_user_id: string;
  public_key: Uint8Array;
  threshold: number;
  parties: string[];
  public_package: unknown;
  share_ciphertext: Uint8Array;
  created_at: Date;
}

/**
 * Drivers may hand back a Buffer (node-postgres), possibly a view into a shared pool;
 * callers get an owned plain Uint8Array whichever backend is underneath.
 */
function bytes(b: Uint8Array): Uint8Array {
  return Uint8Array.from(b);
}

function toUser(row: UserRow): UserRecord {
  return {
    userId: row.user_id as UserId,
    apiKeyHash: bytes(row.api_key_hash),
    createdAt: row.created_at,
  };
}

function toKey(row: KeyRow): KeyRecord {
  return {
    keyId: row.key_id as KeyId,
    family: row.family,
    ownerUserId: row.owner_user_id as UserId,
    publicKey: bytes(row.public_key),
    threshold: row.threshold,
    parties: row.parties as PartyId[],
    publicPackage: row.public_package,
    shareCiphertext: bytes(row.share_ciphertext),
    createdAt: row.created_at,
  };
}

/** NodeStore over any SqlClient whose database has been brought up by `migrate`. */
export class SqlNodeStore implements NodeStore {
  constructor(private readonly sql: SqlClient) {}

  /** The database underneath, for the stores that share it (SqlPolicyStore, SqlRuleCounters, AuditLog). */
  get client(): SqlClient {
    return this.sql;
  }

  async getSetting(name: string): Promise<string | undefined> {
    const { rows } = await this.sql.query<{ value: string }>('select value from settings where name = $1', [name]);
    return rows[0]?.value;
  }

  async setSetting(name: string, value: string): Promise<void> {
    await this.sql.query(
      'insert into settings (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value',
      [name, value],
    );
  }

  async insertUser(user: UserRecord): Promise<boolean> {
    // `returning` yields a row only when the insert happened, which is portable across
    // drivers (unlike affected-row counts).
    const { rows } = await this.sql.query(
      `insert into users (user_id, api_key_hash, created_at) values ($1, $2, $3)
       on conflict (user_id) do nothing returning user_id`,
      [user.userId, user.apiKeyHash, user.createdAt],
    );
    return rows.length === 1;
  }

  async getUser(userId: UserId): Promise<UserRecord | undefined> {
    const { rows } = await this.sql.query<UserRow>(
      'select user_id, api_key_hash, created_at from users where user_id = $1',
      [userId],
    );
    return rows[0] && toUser(rows[0]);
  }

  async deleteUser(userId: UserId): Promise<void> {
    await this.sql.query('delete from users where user_id = $1', [userId]);
  }

  async insertKey(key: KeyRecord): Promise<boolean> {
    const { rows } = await this.sql.query(
      `insert into keys (key_id, family, owner_user_id, public_key, threshold, parties, public_package,
                         share_ciphertext, created_at)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)
       on conflict (key_id) do nothing returning key_id`,
      [
        key.keyId,
        key.family,
        key.ownerUserId,
        key.publicKey,
        key.threshold,
        JSON.stringify(key.parties),
        JSON.stringify(key.publicPackage),
        key.shareCiphertext,
        key.createdAt,
      ],
    );
    return rows.length === 1;
  }

  async getKey(keyId: KeyId): Promise<KeyRecord | undefined> {
    const { rows } = await this.sql.query<KeyRow>(
      `select key_id, family, owner_user_id, public_key, threshold, parties, public_package, share_ciphertext,
              created_at
       from keys where key_id = $1`,
      [keyId],
    );
    return rows[0] && toKey(rows[0]);
  }

  async deleteKey(keyId: KeyId): Promise<void> {
    await this.sql.query('delete from keys where key_id = $1', [keyId]);
  }

  close(): Promise<void> {
    return this.sql.close();
  }
}
