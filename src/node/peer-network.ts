import { randomUUID } from 'node:crypto';
import { CeremonyChannel } from '../crypto/channel.js';
import type { Identity } from '../crypto/identity.js';
import type { RelayClient } from '../relay/client.js';
import type { RelayPool } from '../relay/pool.js';
import type { CeremonyId, PartyId } from '../core/ids.js';
import { CeremonySession } from '../ceremony/session.js';
import { checkInvitation, type Invitation } from '../ceremony/operations.js';
import { TrustedRelays, UNTRUSTED_RELAY_MESSAGE } from './trusted-relays.js';
import { TokenBuckets } from '../core/token-buckets.js';
import { limitedLog } from '../observability/log-limiter.js';

/** Every node listens for invitations here, on its default relay. */
export const INBOX_ROOM = 'tandem-inbox';
/** An invitation older than this (or this far in the future) is refused as a possible replay. */
const INVITE_MAX_SKEW_MS = 60_000;
/**
 * How long after its issue an invitation stays in the seen-set: past the last moment it could
 * pass the age check, with one more window of margin for a clock that steps back.
 */
const SEEN_FOR_MS = 2 * INVITE_MAX_SKEW_MS;
/**
 * Invitations one peer may have us look at: a burst, then a steady rate. Far above what a
 * coordinator sends (one per ceremony: the cluster signs ~50/s on 2 cores), far below what
 * a squatter on the relay can send (6,500/s measured), each of which costs us an X25519
 * agreement to authenticate.
 */
const INVITES_BURST = 1000;
const INVITES_PER_SECOND = 200;

/** Why a message was dropped unread or unacted on (metrics label and log kind). */
export type DropReason = 'unknown-party' | 'rate' | 'malformed' | 'unauthentic' | 'stale' | 'untrusted-relay' | 'ceremony';

/** How a coordinator asks a peer to take part in a ceremony (its schema: src/ceremony/operations.ts). */
export type Invite = Invitation;

export type InviteHandler = (invite: Invite, from: PartyId, join: () => Promise<NodeSession>) => void;

/** A node's side of a ceremony: its channel can admit a room's clients. */
export type NodeSession = CeremonySession<CeremonyChannel>;

/**
 * Where a node records the invitations it has acted on, so that one carried to it again is
 * refused even after a restart (the in-memory set alone forgets them). True only at a
 * ceremony's first sight, decided atomically; the entry may go after `expiresAt`, when its
 * invitation fails the age check anyway.
 */
export interface InvitationLedger {
  firstSight(ceremony: CeremonyId, expiresAt: Date): Promise<boolean>;
}

export interface PeerNetworkOptions {
  /** Relays beyond the inbox's (TANDEM_TRUSTED_RELAYS) that ceremonies may use. */
  trustedRelays?: Iterable<string>;
  /** The node's persisted seen-set; without one, a restart forgets which invitations it took. */
  ledger?: InvitationLedger;
  /** Told of every message dropped (the node counts them in its metrics). */
  onDrop?: (reason: DropReason) => void;
}

/** open() on a relay the node does not trust: refused before any connection is tried. */
export class UntrustedRelayError extends Error {
  constructor() {
    super(UNTRUSTED_RELAY_MESSAGE);
    this.name = 'UntrustedRelayError';
  }
}

/**
 * A node's link to its peers: its inbox on the default relay (rejoined whenever the
 * socket drops), and the ceremonies it coordinates or joins. Peers never connect to each
 * other directly, only out to relays.
 */
export class PeerNetwork {
  readonly #seen = new Map<string, number>();
  readonly #trusted: TrustedRelays;
  readonly #ledger: InvitationLedger | undefined;
  #inbox: RelayClient | undefined;
  #current = 0;
  #stopped = false;
  #reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly identity: Identity,
    private readonly peers: ReadonlyMap<PartyId, Uint8Array>,
    /** The relay the inbox is on first, then the others in turn when it is lost. */
    private readonly relays: readonly string[],
    private readonly pool: RelayPool,
    private readonly onInvite: InviteHandler,
    private readonly log: (msg: string) => void,
    options: PeerNetworkOptions = {},
  ) {
    this.#trusted = new TrustedRelays([...relays, ...(options.trustedRelays ?? [])]);
    this.#ledger = options.ledger;
    const limited = limitedLog(log);
    this.#drop = (reason, msg) => {
      options.onDrop?.(reason);
      limited(reason, msg);
    };
  }

  /** Counts a message we did not act on and logs it, a few lines per reason and window at most. */
  readonly #drop: (reason: DropReason, msg: string) => void;
  readonly #perSender = new TokenBuckets<PartyId>(INVITES_BURST, INVITES_PER_SECOND);

  get self(): PartyId {
    return this.identity.partyId;
  }

  /** The relay the inbox is on now: where this node opens ceremonies and sends invitations. */
  get defaultRelay(): string {
    return this.relays[this.#current % this.relays.length]!;
  }

  /** Whether `relay` is one this node connects to: its inbox relays and TANDEM_TRUSTED_RELAYS. */
  trustsRelay(relay: string): boolean {
    return this.#trusted.has(relay);
  }

  get peerIds(): PartyId[] {
    return [...this.peers.keys()];
  }

  /** True while the inbox is joined, i.e. while peers can reach this node. */
  get connected(): boolean {
    return this.#inbox !== undefined && !this.#inbox.closed;
  }

  async start(): Promise<void> {
    await this.#joinInbox().catch((e: Error) => {
      this.log(`relay ${this.defaultRelay} unreachable (${e.message}); retrying`);
      this.#failover();
      this.#scheduleReconnect();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnect);
  }

  /**
   * Opens a new ceremony as its coordinator: joins its room on `relay` first, so no reply is
   * lost. A ceremony in a client room takes the room's id and also admits its clients.
   */
  async open(relay: string, room?: { id: CeremonyId; clients: ReadonlyMap<PartyId, Uint8Array> }): Promise<NodeSession> {
    const session = await this.#session(room?.id ?? (randomUUID() as CeremonyId), relay);
    for (const [party, key] of room?.clients ?? []) session.channel.admit(party, key);
    return session;
  }

  /** Sends `invite` for `session`'s ceremony to `to`'s inbox. */
  async invite(session: CeremonySession, to: PartyId, op: Invite['op'], evidence: string, relay: string): Promise<void> {
    const invite: Invite = { v: 2, ceremony: session.id, relay, issuedAt: Date.now(), evidence, op };
    const sealed = session.channel.seal(to, new TextEncoder().encode(JSON.stringify(invite)));
    const inbox = await this.pool.get(this.defaultRelay);
    inbox.send(INBOX_ROOM, this.self, to, frameInvite(session.id, sealed));
  }

  async #session(ceremony: CeremonyId, relay: string): Promise<NodeSession> {
    if (!this.#trusted.has(relay)) throw new UntrustedRelayError();
    const client = await this.pool.get(relay);
    const channel = new CeremonyChannel(this.identity, ceremony, this.peers);
    const session = new CeremonySession(this.self, channel, client, (why) => this.#drop('ceremony', `ceremony ${ceremony}: dropped a message: ${why}`));
    await client.join(ceremony, this.self, (from, data) => session.deliver(from as PartyId, data));
    return session;
  }

  async #joinInbox(): Promise<void> {
    const client = await this.pool.get(this.defaultRelay);
    await client.join(INBOX_ROOM, this.self, (from, data) => this.#onInboxMessage(from as PartyId, data));
    this.#inbox = client;
    client.onClose((reason) => {
      if (this.#inbox === client) this.#inbox = undefined;
      if (!this.#stopped) {
        this.log(`relay ${this.defaultRelay} connection lost (${reason}); reconnecting`);
        this.#failover();
        this.#scheduleReconnect();
      }
    });
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    clearTimeout(this.#reconnect);
    this.#reconnect = setTimeout(() => {
      this.#joinInbox().catch(() => {
        this.#failover();
        this.#scheduleReconnect();
      });
    }, 500);
    this.#reconnect.unref();
  }

  /** Moves on to the next relay (a no-op with one): they share one backplane, so peers still reach us. */
  #failover(): void {
    if (this.relays.length > 1) this.#current = (this.#current + 1) % this.relays.length;
  }

  #onInboxMessage(from: PartyId, data: Uint8Array): void {
    // The party id is the relay's word (anyone may join as anyone): not logged unless it is a peer.
    if (!this.peers.has(from)) return this.#drop('unknown-party', 'inbox: message from a party that is not a peer dropped');
    // Before any cryptography: a sender gets at most so many invitations looked at per second.
    if (!this.#perSender.take(from)) return this.#drop('rate', `inbox: invitations from ${from} over ${INVITES_PER_SECOND}/s dropped`);
    const framed = unframeInvite(data);
    if (!framed) return this.#drop('malformed', `inbox: malformed frame from ${from} dropped`);
    const { ceremony, sealed } = framed;
    const channel = new CeremonyChannel(this.identity, ceremony, this.peers);
    let invite: Invite;
    try {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(channel.open(from, sealed)));
      if (!checkInvitation.Check(parsed) || parsed.ceremony !== ceremony) throw new Error('not an invitation');
      invite = parsed;
    } catch (e) {
      channel.close();
      return this.#drop('unauthentic', `inbox: invitation from ${from} refused: ${(e as Error).message}`);
    }
    const now = Date.now();
    if (Math.abs(now - invite.issuedAt) > INVITE_MAX_SKEW_MS || this.#seen.has(ceremony)) {
      channel.close();
      return this.#drop('stale', `inbox: stale or replayed invitation ${ceremony} from ${from} refused`);
    }
    // The relay is the coordinator's word: go only where this node would go on its own. The
    // address itself is the peer's text, so it stays out of the log.
    if (!this.#trusted.has(invite.relay)) {
      channel.close();
      return this.#drop('untrusted-relay', `inbox: invitation ${ceremony} from ${from} refused: its relay is not a relay this node trusts`);
    }
    this.#remember(ceremony, now);
    void this.#admit(invite, ceremony, from, channel);
  }

  /** Acts on an invitation only at its first sight in the ledger, which outlives this process. */
  async #admit(invite: Invite, ceremony: CeremonyId, from: PartyId, channel: CeremonyChannel): Promise<void> {
    let first: boolean;
    try {
      first = this.#ledger ? await this.#ledger.firstSight(ceremony, new Date(invite.issuedAt + SEEN_FOR_MS)) : true;
    } catch (e) {
      // Unrecorded is unprotected against a later replay: refuse rather than act on it.
      channel.close();
      return this.log(`inbox: invitation ${ceremony} from ${from} refused: could not record it as seen (${(e as Error).message})`);
    }
    if (!first) {
      channel.close();
      return this.log(`inbox: replayed invitation ${ceremony} from ${from} refused: seen before this process started`);
    }
    const join = async () => {
      const client = await this.pool.get(invite.relay);
      const session = new CeremonySession(this.self, channel, client, (why) => this.#drop('ceremony', `ceremony ${ceremony}: dropped a message: ${why}`));
      await client.join(ceremony, this.self, (f, d) => session.deliver(f as PartyId, d));
      return session;
    };
    this.onInvite(invite, from, join);
  }

  /** Ids only need remembering while their invitations could still pass the age check. */
  #remember(ceremony: string, now: number): void {
    for (const [c, t] of this.#seen) {
      if (now - t <= 2 * INVITE_MAX_SKEW_MS) break; // insertion order is time order
      this.#seen.delete(c);
    }
    this.#seen.set(ceremony, now);
  }
}

/** Inbox frames carry the ceremony id in clear (the relay sees it anyway as the room name). */
function frameInvite(ceremony: CeremonyId, sealed: Uint8Array): Uint8Array {
  const id = Buffer.from(ceremony, 'utf8');
  return Buffer.concat([Buffer.of(id.length), id, sealed]);
}

function unframeInvite(data: Uint8Array): { ceremony: CeremonyId; sealed: Uint8Array } | undefined {
  const len = data[0];
  if (len === undefined || len !== 36 || data.length <= 1 + len) return undefined;
  const ceremony = Buffer.from(data.subarray(1, 1 + len)).toString('utf8');
  if (!/^[0-9a-f-]{36}$/.test(ceremony)) return undefined;
  return { ceremony: ceremony as CeremonyId, sealed: data.subarray(1 + len) };
}
