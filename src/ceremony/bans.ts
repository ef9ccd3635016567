import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';

/**
 * Bans that hold across concurrent ceremonies (design note §6.1), for every party that
 * can be DKLs23's Alice: nodes and devices run this one piece of code.
 *
 * A failed OT-extension, μ or Γ check tells us the peer may be probing our OT secrets (Δ)
 * by selective failure. Each probe's pass/fail is one observation, so the defence is that
 * the first failure ends everything with that peer on that key:
 * - the ban is marked in memory in the same synchronous step that saw the failure, so no
 *   other ceremony of this process can act on a stale view;
 * - every send of a guarded ceremony re-reads that mark synchronously right before it
 *   goes out (CeremonySession's send check), in the same turn of the event loop that
 *   computed it; the engine's round-2 check and the message it guards are one synchronous
 *   step, so checks and sends with one peer on one key never interleave;
 * - live ceremonies with the peer on the key are failed at once, and new ones refused;
 * - the ban is written to the party's store before the failing ceremony reports, and is
 *   read back from the store whenever a ceremony starts (a restart, another process).
 */
export interface BanRecord {
  keyId: string;
  party: PartyId;
  /** Our own engine's reason code (never text a peer chose). */
  reason: string;
  at: Date;
}

/** Where a party keeps its bans (node: its database; device: the app's share store). */
export interface BanStore {
  listBans(keyId: string): Promise<BanRecord[]>;
  /** Must be durable when it resolves; saving an existing (key, party) keeps the first record. */
  saveBan(ban: BanRecord): Promise<void>;
}

/** A ceremony refused or stopped because a party in it is banned for the key. */
export class PeerBannedError extends ProtocolError {
  constructor(
    readonly party: PartyId,
    readonly keyId: string,
    readonly banReason: string,
  ) {
    super(`banned for this key (${banReason})`, party);
    this.name = 'PeerBannedError';
  }
}

/** Too many ceremonies open with one peer on one key: resource protection, not leakage (see SECURITY.md). */
export class TooManyCeremoniesError extends Error {
  constructor(
    readonly party: PartyId,
    readonly limit: number,
  ) {
    super(`more than ${limit} ceremonies at once with ${party} on this key`);
    this.name = 'TooManyCeremoniesError';
  }
}

/** What a guarded ceremony does when a peer in it is banned elsewhere: fail at once. */
export type OnBanned = (e: PeerBannedError) => void;

interface Live {
  keyId: string;
  peers: readonly PartyId[];
  onBanned: OnBanned;
}

export interface BanListOptions {
  /** Live ceremonies allowed at once per (key, peer); default 32. */
  maxPerPeer?: number;
  /** Told once per new ban, after it is durable (the node audits it). */
  onBan?: (ban: BanRecord) => Promise<void> | void;
}

export class BanList {
  /** keyId → party → ban; a superset of what the store held when a ceremony last started. */
  readonly #banned = new Map<string, Map<PartyId, BanRecord>>();
  readonly #live = new Set<Live>();
  readonly #maxPerPeer: number;

  constructor(
    private readonly store: BanStore,
    private readonly options: BanListOptions = {},
  ) {
    this.#maxPerPeer = options.maxPerPeer ?? 32;
  }

  /** Synchronous: the in-memory view every send re-reads. */
  bannedIn(keyId: string, peers: Iterable<PartyId>): BanRecord | undefined {
    const m = this.#banned.get(keyId);
    if (!m) return undefined;
    for (const p of peers) {
      const b = m.get(p);
      if (b) return b;
    }
    return undefined;
  }

  /** The key's bans as the store has them now, merged into memory. */
  async load(keyId: string): Promise<BanRecord[]> {
    for (const b of await this.store.listBans(keyId)) this.#mark(b);
    return [...(this.#banned.get(keyId)?.values() ?? [])];
  }

  /** Refuses at once (PeerBannedError) if any of `peers` is banned for the key, reading the store first. */
  async check(keyId: string, peers: Iterable<PartyId>): Promise<void> {
    await this.load(keyId);
    this.#throwIfBanned(keyId, peers);
  }

  /**
   * Registers a ceremony with `peers` on `keyId`: refused if one of them is banned (store
   * re-read first) or already has `maxPerPeer` live ceremonies with us on this key. The
   * guard's `assertClear` is what every send of the ceremony calls; `release` ends it.
   */
  async enter(keyId: string, peers: readonly PartyId[], onBanned: OnBanned): Promise<BanGuard> {
    await this.load(keyId);
    this.#throwIfBanned(keyId, peers);
    for (const p of peers) {
      let open = 0;
      for (const l of this.#live) if (l.keyId === keyId && l.peers.includes(p)) open += 1;
      if (open >= this.#maxPerPeer) throw new TooManyCeremoniesError(p, this.#maxPerPeer);
    }
    const live: Live = { keyId, peers, onBanned };
    this.#live.add(live);
    return new BanGuard(this, live, () => this.#live.delete(live));
  }

  /**
   * Bans `party` on `keyId`. Everything up to the first await is synchronous: the mark
   * and the failing of live ceremonies happen before any other code of this process runs.
   * Resolves once the ban is durable.
   */
  async ban(keyId: string, party: PartyId, reason: string): Promise<void> {
    const fresh = !this.#banned.get(keyId)?.has(party);
    const record: BanRecord = { keyId, party, reason, at: new Date() };
    if (fresh) this.#mark(record);
    const err = new PeerBannedError(party, keyId, this.#banned.get(keyId)!.get(party)!.reason);
    for (const l of [...this.#live]) if (l.keyId === keyId && l.peers.includes(party)) l.onBanned(err);
    await this.store.saveBan(record);
    if (fresh) await this.options.onBan?.(record);
  }

  /** Live ceremonies with `party` on `keyId` (what the probing test watches). */
  liveWith(keyId: string, party: PartyId): number {
    let n = 0;
    for (const l of this.#live) if (l.keyId === keyId && l.peers.includes(party)) n += 1;
    return n;
  }

  #mark(b: BanRecord): void {
    let m = this.#banned.get(b.keyId);
    if (!m) this.#banned.set(b.keyId, (m = new Map()));
    if (!m.has(b.party)) m.set(b.party, b);
  }

  #throwIfBanned(keyId: string, peers: Iterable<PartyId>): void {
    const b = this.bannedIn(keyId, peers);
    if (b) throw new PeerBannedError(b.party, keyId, b.reason);
  }
}

/** One ceremony's view of the ban list. */
export class BanGuard {
  #released = false;

  constructor(
    private readonly list: BanList,
    private readonly live: Live,
    private readonly onRelease: () => void,
  ) {}

  get keyId(): string {
    return this.live.keyId;
  }

  /** Throws PeerBannedError if any party of this ceremony is banned now (synchronous). */
  assertClear(): void {
    const b = this.list.bannedIn(this.live.keyId, this.live.peers);
    if (b) throw new PeerBannedError(b.party, this.live.keyId, b.reason);
  }

  /** Bans a party of this ceremony (see BanList.ban). */
  ban(party: PartyId, reason: string): Promise<void> {
    return this.list.ban(this.live.keyId, party, reason);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.onRelease();
  }
}
