import type { BanRecord, BanStore } from '../ceremony/bans.js';
import type { PartyId } from '../core/ids.js';
import type { SqlClient } from '../db/sql.js';

interface BanRow {
  key_id: string;
  party_id: string;
  reason: string;
  created_at: Date;
}

const toRecord = (r: BanRow): BanRecord => ({ keyId: r.key_id, party: r.party_id as PartyId, reason: r.reason, at: new Date(r.created_at) });

/** A node's bans (migration 0005), read fresh whenever a ceremony starts: a restart or another process sees them. */
export class SqlBanStore implements BanStore {
  constructor(private readonly sql: SqlClient) {}

  async listBans(keyId: string): Promise<BanRecord[]> {
    const { rows } = await this.sql.query<BanRow>('select key_id, party_id, reason, created_at from key_bans where key_id = $1 order by created_at, party_id', [keyId]);
    return rows.map(toRecord);
  }

  async saveBan(ban: BanRecord): Promise<void> {
    await this.sql.query('insert into key_bans (key_id, party_id, reason, created_at) values ($1, $2, $3, $4) on conflict do nothing', [
      ban.keyId,
      ban.party,
      ban.reason,
      ban.at,
    ]);
  }

  /** This node's bans, newest first, at most `limit` (the admin endpoint; bans are rare). */
  async list(keyId: string | undefined, limit: number): Promise<BanRecord[]> {
    const { rows } = keyId
      ? await this.sql.query<BanRow>('select key_id, party_id, reason, created_at from key_bans where key_id = $1 order by created_at desc, party_id limit $2', [keyId, limit])
      : await this.sql.query<BanRow>('select key_id, party_id, reason, created_at from key_bans order by created_at desc, key_id, party_id limit $1', [limit]);
    return rows.map(toRecord);
  }
}
