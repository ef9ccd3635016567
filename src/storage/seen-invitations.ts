import type { SqlClient } from '../db/sql.js';

/** The invitations a node has acted on (migration 0006): its seen-set, across restarts. */
export class SqlSeenInvitations {
  constructor(private readonly sql: SqlClient) {}

  /**
   * Records `ceremony`; true only the first time. The insert is the check, so two deliveries
   * of one invitation can't both pass. Expired entries are swept by the node's clock, the one
   * its age check uses.
   */
  async firstSight(ceremony: string, expiresAt: Date): Promise<boolean> {
    await this.sql.query('delete from seen_invitations where expires_at < $1', [new Date()]);
    const { rows } = await this.sql.query(
      'insert into seen_invitations (ceremony_id, expires_at) values ($1, $2) on conflict do nothing returning 1',
      [ceremony, expiresAt],
    );
    return rows.length === 1;
  }
}
