/**
 * Where a device keeps its shares: the app decides (the iOS Keychain, Android Keystore, an
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

export interface DeviceShareStore {
  save(share: DeviceShare): Promise<void>;
  load(keyId: string): Promise<DeviceShare | undefined>;
  delete(keyId: string): Promise<void>;
}

/** Keeps shares in memory only (tests, short-lived processes): copies in, copies out, wiped on delete. */
export class MemoryShareStore implements DeviceShareStore {
  readonly #shares = new Map<string, DeviceShare>();

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
}
