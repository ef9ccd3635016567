import type { KeyFamily } from '../core/families.js';
import type { KeyId, PartyId, UserId } from '../core/ids.js';


export interface UserRecord {
  userId: UserId;
  /** SHA-256 of the API key; the key itself is never stored. */
  apiKeyHash: Uint8Array;
  createdAt: Date;
}

/**
 * One key share held by this node. `publicPackage` is the protocol's public output
 * (group key, verifying shares); `shareCiphertext` is the secret share sealed by the
 * node's key-encryption key: the store never sees a share in clear.
 */
export interface KeyRecord {
  keyId: KeyId;
  family: KeyFamily;
  ownerUserId: UserId;
  /** Group public key as the API shows it (x-only 32 bytes for bip340). */
  publicKey: Uint8Array;
  threshold: number;
  /** Every party holding a share, this node included, in protocol order. */
  parties: PartyId[];
  publicPackage: unknown;
  shareCiphertext: Uint8Array;
  createdAt: Date;
}

/**
 * A signer node's persistent state. Implementations: embedded (PGlite) now, PostgreSQL
 * later; both run the same migrations, so every query here is plain PostgreSQL.
 */
export interface NodeStore {
  getSetting(name: string): Promise<string | undefined>;
  setSetting(name: string, value: string): Promise<void>;

  /** Inserts; returns false (and changes nothing) when the user id exists already. */
  insertUser(user: UserRecord): Promise<boolean>;
  getUser(userId: UserId): Promise<UserRecord | undefined>;
  deleteUser(userId: UserId): Promise<void>;

  /** Inserts; returns false (and changes nothing) when the key id exists already. */
  insertKey(key: KeyRecord): Promise<boolean>;
  getKey(keyId: KeyId): Promise<KeyRecord | undefined>;
  deleteKey(keyId: KeyId): Promise<void>;

  close(): Promise<void>;
}
