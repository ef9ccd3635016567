import type { KeyId, UserId } from '../core/ids.js';
import type { KeyRecord, NodeStore, UserRecord } from './store.js';

/**
 * Keeps recently used users, keys and settings in memory in front of a NodeStore. Users and
 * keys are written once and never changed (only deleted), and a key record holds its share sealed, so
 * caching it keeps nothing in clear; it saves a database round trip per ceremony, which for
 * an ECDSA key means reading ~130 KB of sealed OT seeds.
 */
export class CachedNodeStore implements NodeStore {
  readonly #users = new Map<UserId, UserRecord>();
  readonly #keys = new Map<KeyId, KeyRecord>();
  readonly #settings = new Map<string, string | undefined>();

  constructor(
    private readonly inner: NodeStore,
    private readonly maxEntries = 10_000,
  ) {}

  /** Settings are read on hot paths (bans); this process is their only writer, so write-through is coherent. */
  async getSetting(name: string): Promise<string | undefined> {
    if (this.#settings.has(name)) return this.#settings.get(name);
    const v = await this.inner.getSetting(name);
    this.#settings.set(name, v);
    if (this.#settings.size > this.maxEntries) this.#settings.delete(this.#settings.keys().next().value as string);
    return v;
  }

  async setSetting(name: string, value: string): Promise<void> {
    this.#settings.delete(name);
    await this.inner.setSetting(name, value);
    this.#settings.set(name, value);
  }

  insertUser(user: UserRecord): Promise<boolean> {
    return this.inner.insertUser(user);
  }

  async getUser(userId: UserId): Promise<UserRecord | undefined> {
    return this.#get(this.#users, userId, () => this.inner.getUser(userId));
  }

  async deleteUser(userId: UserId): Promise<void> {
    this.#users.delete(userId);
    await this.inner.deleteUser(userId);
  }

  insertKey(key: KeyRecord): Promise<boolean> {
    return this.inner.insertKey(key);
  }

  async getKey(keyId: KeyId): Promise<KeyRecord | undefined> {
    return this.#get(this.#keys, keyId, () => this.inner.getKey(keyId));
  }

  async deleteKey(keyId: KeyId): Promise<void> {
    this.#keys.delete(keyId);
    await this.inner.deleteKey(keyId);
  }

  close(): Promise<void> {
    this.#users.clear();
    this.#keys.clear();
    this.#settings.clear();
    return this.inner.close();
  }

  /** Only found records are cached: a miss is asked again, so a new row is seen at once. */
  async #get<K, V>(cache: Map<K, V>, id: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = cache.get(id);
    if (hit) {
      cache.delete(id);
      cache.set(id, hit);
      return hit;
    }
    const v = await load();
    if (v) {
      cache.set(id, v);
      if (cache.size > this.maxEntries) cache.delete(cache.keys().next().value as K);
    }
    return v;
  }
}
