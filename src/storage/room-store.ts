import { fromHex, toHex } from '../core/hex.js';
import type { PartyId, UserId } from '../core/ids.js';
import type { SqlClient } from '../db/sql.js';

/** A party of a room that is not a node: its id and X25519 channel key. */
export interface RoomClient {
  partyId: PartyId;
  publicKey: Uint8Array;
}

export interface RoomRecord {
  roomUuid: string;
  ownerUserId: UserId;
  numParties: number;
  clients: RoomClient[];
  /** host:port of the relay the room's ceremony runs on. */
  relayAddress: string;
  expiresAt: Date;
}

interface RoomRow {
  room_uuid: string;
  owner_user_id: string;
  num_parties: number;
  clients: Array<{ party_id: string; public_key: string }> | string;
  relay_address: string;
  expires_at: Date | string;
}

/** Rooms (migration 0004). A room is claimed once, atomically, by the ceremony that uses it. */
export class RoomStore {
  constructor(private readonly sql: SqlClient) {}

  /** False when the id exists already. Expired rooms are swept here. */
  async insert(room: RoomRecord): Promise<boolean> {
    await this.sql.query('delete from rooms where expires_at < now() - interval \'1 hour\'');
    const clients = JSON.stringify(room.clients.map((c) => ({ party_id: c.partyId, public_key: toHex(c.publicKey) })));
    const { rows } = await this.sql.query(
      `insert into rooms (room_uuid, owner_user_id, num_parties, clients, relay_address, expires_at)
       values ($1, $2, $3, $4::jsonb, $5, $6) on conflict do nothing returning 1`,
      [room.roomUuid, room.ownerUserId, room.numParties, clients, room.relayAddress, room.expiresAt],
    );
    return rows.length === 1;
  }

  /**
   * Marks the owner's room used and returns it, when it exists, is for `numParties` parties,
   * has not expired and was not used before; otherwise says why, and nothing changes.
   */
  async claim(roomUuid: string, ownerUserId: UserId, numParties: number): Promise<RoomRecord | { refused: string }> {
    const { rows } = await this.sql.query<RoomRow>(
      `update rooms set used_at = now()
       where room_uuid = $1 and owner_user_id = $2 and num_parties = $3 and used_at is null and expires_at > now()
       returning room_uuid, owner_user_id, num_parties, clients, relay_address, expires_at`,
      [roomUuid, ownerUserId, numParties],
    );
    if (rows[0]) return fromRow(rows[0]);
    const { rows: found } = await this.sql.query<{ num_parties: number; used: boolean; expired: boolean }>(
      'select num_parties, used_at is not null as used, expires_at <= now() as expired from rooms where room_uuid = $1 and owner_user_id = $2',
      [roomUuid, ownerUserId],
    );
    const r = found[0];
    if (!r) return { refused: 'is unknown here' };
    if (r.used) return { refused: 'was already used' };
    if (r.expired) return { refused: 'has expired' };
    return { refused: `is for ${r.num_parties} parties, not ${numParties}` };
  }

  async delete(roomUuid: string): Promise<void> {
    await this.sql.query('delete from rooms where room_uuid = $1', [roomUuid]);
  }

  /** Records the client parties of a new key (after the key itself is stored). */
  async pinClients(keyId: string, clients: RoomClient[]): Promise<void> {
    for (const c of clients) {
      await this.sql.query('insert into key_clients (key_id, party_id, public_key) values ($1, $2, $3) on conflict do nothing', [keyId, c.partyId, c.publicKey]);
    }
  }

  async clientsOf(keyId: string): Promise<RoomClient[]> {
    const { rows } = await this.sql.query<{ party_id: string; public_key: Uint8Array }>('select party_id, public_key from key_clients where key_id = $1', [keyId]);
    return rows.map((r) => ({ partyId: r.party_id as PartyId, publicKey: new Uint8Array(r.public_key) }));
  }
}

function fromRow(r: RoomRow): RoomRecord {
  const clients = typeof r.clients === 'string' ? (JSON.parse(r.clients) as Array<{ party_id: string; public_key: string }>) : r.clients;
  return {
    roomUuid: r.room_uuid,
    ownerUserId: r.owner_user_id as UserId,
    numParties: r.num_parties,
    clients: clients.map((c) => ({ partyId: c.party_id as PartyId, publicKey: fromHex(c.public_key) })),
    relayAddress: r.relay_address,
    expiresAt: new Date(r.expires_at),
  };
}
