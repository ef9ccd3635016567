import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BanList, type BanRecord, type BanStore } from '../../src/ceremony/bans.js';
import { CeremonySession, type SessionLink } from '../../src/ceremony/session.js';
import { CeremonyChannel } from '../../src/crypto/channel.js';
import type { Identity } from '../../src/crypto/identity.js';
import { loadKek } from '../../src/crypto/share-seal.js';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import { emptyReservation } from '../../src/node/policy-gate.js';
import { sealDklsShare } from '../../src/node/ceremonies/dkls-shares.js';
import type { Invite, NodeSession } from '../../src/node/peer-network.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import type { CeremonyId, KeyId, PartyId, UserId } from '../../src/core/ids.js';
import { SqlBanStore } from '../../src/storage/ban-store.js';
import { KeyPasskeyStore } from '../../src/storage/key-passkey-store.js';
import { openEmbeddedStore } from '../../src/storage/open-node-store.js';
import type { SqlNodeStore } from '../../src/storage/sql-store.js';
import type { UserRecord } from '../../src/storage/store.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * The real node participant code in one process, for attacks a malicious coordinator runs
 * against it: a node's store and ban list, its NodeContext (authentication and policy are
 * the test's to choose), and sessions over real sealed ceremony channels delivered in
 * memory. No top-level side effects (`node --test dist/test/` loads this module too).
 */

/** Delivers between sessions of one process, a macrotask per message like a socket. */
export class MemoryLink implements SessionLink {
  readonly closed = false;
  readonly #rooms = new Map<string, Map<string, CeremonySession>>();

  join(room: string, party: string, s: CeremonySession): void {
    if (!this.#rooms.has(room)) this.#rooms.set(room, new Map());
    this.#rooms.get(room)!.set(party, s);
  }

  send(room: string, from: string, to: string, data: Uint8Array): void {
    setImmediate(() => this.#rooms.get(room)?.get(to)?.deliver(from as PartyId, data));
  }

  leave(room: string, party: string): void {
    this.#rooms.get(room)?.delete(party);
  }
}

/** A ban store that notes when a ban's synchronous part happened, on the test's clock. */
export class WatchedBans implements BanStore {
  readonly saved: Array<{ ban: BanRecord; at: number }> = [];
  constructor(
    private readonly inner: BanStore,
    private readonly clock: () => number = () => 0,
  ) {}
  listBans(keyId: string) {
    return this.inner.listBans(keyId);
  }
  async saveBan(ban: BanRecord) {
    this.saved.push({ ban, at: this.clock() });
    await this.inner.saveBan(ban);
  }
}

export const OWNER: UserRecord = { userId: 'a'.repeat(32) as UserId, apiKeyHash: new Uint8Array(32), createdAt: new Date() };

export interface NodeSeat {
  ctx: NodeContext;
  store: SqlNodeStore;
  bans: WatchedBans;
  logs: string[];
  close(): Promise<void>;
}

/** A node with its own database holding `share` of key `keyId`, owned by OWNER. */
export async function nodeSeat(
  root: string,
  self: PartyId,
  keyId: KeyId,
  share: Dkls23KeyShare,
  opts: { clock?: () => number; maxPerPeer?: number; context?: (store: SqlNodeStore) => { [K in keyof NodeContext]?: Partial<NodeContext[K]> } } = {},
): Promise<NodeSeat> {
  const dataDir = join(root, `${self}-${randomUUID()}`);
  await seedPglite(join(dataDir, 'db'));
  const store = await openEmbeddedStore(dataDir);
  await store.insertUser(OWNER);
  const kek = await loadKek({ env: randomBytes(32).toString('hex'), keyFile: join(root, `${self}.unused-kek`) });
  const bans = new WatchedBans(new SqlBanStore(store.client), opts.clock);
  const logs: string[] = [];
  const ctx = {
    self,
    store,
    kek,
    stepTimeoutMs: 20_000,
    maxBatch: 64,
    bans: new BanList(bans, { maxPerPeer: opts.maxPerPeer ?? 1000 }),
    callers: { user: async () => OWNER, invitedUser: async () => OWNER },
    keyPasskeys: new KeyPasskeyStore(store.client),
    authorize: async () => emptyReservation(),
    log: (m: string) => logs.push(m),
    ...opts.context?.(store),
  } as unknown as NodeContext;
  await store.insertKey(sealDklsShare(ctx, keyId, OWNER, share));
  return { ctx, store, bans, logs, close: () => store.close() };
}

/** A ceremony's sessions, one per identity, in one room of `link`. */
export function sessionsOf(link: MemoryLink, ids: Identity[], id: CeremonyId = randomUUID() as CeremonyId): Map<PartyId, NodeSession> {
  const peers = new Map(ids.map((i) => [i.partyId, i.publicKey]));
  return new Map(
    ids.map((who) => {
      const s = new CeremonySession(who.partyId, new CeremonyChannel(who, id, peers), link);
      link.join(id, who.partyId, s);
      return [who.partyId, s];
    }),
  );
}

/** A coordinator's invitation to sign `msgs` (hex) with `keyId`. */
export function signInvite(id: CeremonyId, keyId: string, msgs: string[], evidence = JSON.stringify({ vouched_user: OWNER.userId })): Invite {
  return { v: 2, ceremony: id, relay: 'memory', issuedAt: Date.now(), evidence, op: { type: 'dkls-sign', key_id: keyId, msgs, path: [], extra_data: '' } as Invite['op'] };
}
