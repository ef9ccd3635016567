import type { BanRecord, BanStore } from '../../ceremony/bans.js';

/**
 * Where a device keeps its shares (and its bans: a node caught probing the device's OT
 * secrets is never run with again on that key, across restarts, so keep them as durably
 * as the shares): the app decides (the iOS Keychain, Android Keystore, an
 * encrypted IndexedDB record, a KMS-wrapped row). The SDK hands over a share once, right after
 * keygen and before it confirms the key to the nodes, and reads it back for each sign. The
 * record is secret material as a whole: encrypt it at rest and never log it.
 */
export interface DeviceShare {
  keyId: string;
  family: 'bip340' | 'ed25519' | 'ecdsa';
  /** The device's party id in the key. */
  partyId: string;
  /** The key's public key as the nodes report it (hex). */
  publicKey: string;
  /** The key's public package (JSON): parties, threshold, verifying data. */
  publicPackage: unknown;
  /** The device's secret share, encoded for its family. */
  secret: Uint8Array;
}

export interface DeviceShareStore extends BanStore {
  save(share: DeviceShare): Promise<void>;
  load(keyId: string): Promise<DeviceShare | undefined>;
  delete(keyId: string): Promise<void>;
  /** The key's bans (src/ceremony/bans.ts); never forget one while the key's share is kept. */
  listBans(keyId: string): Promise<BanRecord[]>;
  /** Durable when it resolves; a second save of the same (key, party) keeps the first. */
  saveBan(ban: BanRecord): Promise<void>;
}

/** Keeps shares in memory only (tests, short-lived processes): copies in, copies out, wiped on delete. */
export class MemoryShareStore implements DeviceShareStore {
  readonly #shares = new Map<string, DeviceShare>();
  readonly #bans: BanRecord[] = [];

  async save(share: DeviceShare): Promise<void> {
    this.#shares.set(share.keyId, { ...share, secret: Uint8Array.from(share.secret) });
  }

  async load(keyId: string): Promise<DeviceShare | undefined> {
    const s = this.#shares.get(keyId);
    return s && { ...s, secret: Uint8Array.from(s.secret) };
  }

  async delete(keyId: string): Promise<void> {
    this.#shares.get(keyId)?.secret.fill(0);
    this.#shares.delete(keyId);
  }

  async listBans(keyId: string): Promise<BanRecord[]> {
    return this.#bans.filter((b) => b.keyId === keyId).map((b) => ({ ...b }));
  }

  async saveBan(ban: BanRecord): Promise<void> {
    if (!this.#bans.some((b) => b.keyId === ban.keyId && b.party === ban.party)) this.#bans.push({ ...ban });
  }
}
