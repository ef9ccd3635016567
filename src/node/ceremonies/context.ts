import type { Kek } from '../../crypto/share-seal.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../core/errors.js';
import { abandonWhenCallerGone, refuse, wasAborted } from '../../ceremony/outcomes.js';
import type { PartyId } from '../../core/ids.js';
import type { AuditLog } from '../../storage/audit-log.js';
import type { PolicyStore } from '../../storage/policy-store.js';
import type { RequestAuthStore } from '../../storage/request-auth-store.js';
import type { NodeStore } from '../../storage/store.js';
import type { CeremonySession } from '../../ceremony/session.js';
import type { BanList } from '../../ceremony/bans.js';
import type { RoomStore } from '../../storage/room-store.js';
import type { KeyPasskeyStore } from '../../storage/key-passkey-store.js';
import type { SqlBanStore } from '../../storage/ban-store.js';
import type { KeygenSlots } from '../keygen-slots.js';
import { UntrustedRelayError, type NodeSession, type PeerNetwork } from '../peer-network.js';
import { STEP, type Invitation } from '../../ceremony/operations.js';
import { UNTRUSTED_RELAY_MESSAGE } from '../trusted-relays.js';
import type { AuthorizeRequest, Reservation } from '../policy-gate.js';
import { CallerGoneError } from '../../ceremony/caller-gone.js';
import type { CallerAuth } from '../caller-auth.js';

/**
 * Who a request or an invitation comes from. At the HTTP edge (`user`, `admin`): a bearer API
 * key or a signed request (signed-requests.ts), `fresh` marking the request's first sight on
 * this node, where its nonce is spent. Behind an invitation (`invitedUser`, `invitedAdmin`):
 * the coordinator's evidence (caller-evidence.ts), a signed request being spent here too, so
 * one request is one ceremony per node.
 */
export type Callers = Pick<CallerAuth, 'user' | 'admin' | 'invitedUser' | 'invitedAdmin'>;

/** What a ceremony needs from its node; ceremonies themselves hold no state between runs. */
export interface NodeContext {
  self: PartyId;
  store: NodeStore;
  kek: Kek;
  /** The peers, the relays (the node's own is network.defaultRelay) and the invitations. */
  network: PeerNetwork;
  /** How long to wait for any one message of a peer. */
  stepTimeoutMs: number;
  /** Who is asking, at the HTTP edge and behind an invitation (caller-auth.ts). */
  callers: Callers;
  /** Request-signing keys and seen nonces. */
  requestKeys: RequestAuthStore;
  /**
   * This node's policy decision (PolicyGate); throws policy_validation_failed. The budgets
   * it took stay spent unless the ceremony releases them (see Reservation).
   */
  authorize(req: AuthorizeRequest): Promise<Reservation>;
  policies: PolicyStore;
  audit: AuditLog;
  /** Hex Ed25519 key the node signs its Rule Server requests (and relay joins) with. */
  signingPublicKey: string;
  /** A relay capability for `party` in `room` until about `expiresAt` (relay-capabilities.ts). */
  relayCapability(room: string, party: string, expiresAt: Date): string;
  /** Hex X25519 key of this node's ceremony channel (what a room's clients seal to). */
  channelPublicKey: string;
  rooms: RoomStore;
  /** Keys bound to their end user's passkey (passkey-owner.ts). */
  keyPasskeys: KeyPasskeyStore;
  /** DKLs23 bans of this node (one list per process: every ceremony sees a ban at once). */
  bans: BanList;
  /** The same bans as stored, for the admin endpoint. */
  banRecords: SqlBanStore;
  /** Key generations at once, per node and per user (coordinating or taking part). */
  keygens: KeygenSlots;
  /** Most messages a sign request may carry (TANDEM_MAX_BATCH); participants check it too. */
  maxBatch: number;
  log(msg: string): void;
}

/** A node's side of a ceremony another node coordinates, started by its invitation. */
export type Participant = (
  ctx: NodeContext,
  invite: Invitation,
  coordinator: PartyId,
  join: () => Promise<NodeSession>,
) => Promise<void>;

/** The other nodes among a key's parties (a key made in a room also has client parties). */
export function nodeHolders(ctx: NodeContext, parties: readonly PartyId[]): PartyId[] {
  return parties.filter((p) => p !== ctx.self && ctx.network.peerIds.includes(p));
}

/**
 * The relay a request names (relay_address), or the node's own. Any relay the node does not
 * trust is the caller's bad_request_params, in one fixed text, before anything connects.
 */
export function requestedRelay(ctx: NodeContext, relayAddress: string | null | undefined): string {
  if (relayAddress === undefined || relayAddress === null) return ctx.network.defaultRelay;
  if (!ctx.network.trustsRelay(relayAddress)) throw new TandemError('bad_request_params', UNTRUSTED_RELAY_MESSAGE);
  return relayAddress;
}

/**
 * Opens a ceremony room as its coordinator; an unreachable relay is a ceremony failure. Its
 * socket error goes to the node's log only: in the answer it would tell a caller how the
 * address failed (refused, timed out, not a relay).
 */
export async function openCeremony(
  ctx: NodeContext,
  relay: string,
  room?: Parameters<PeerNetwork['open']>[1],
  callerGone?: AbortSignal,
): Promise<NodeSession> {
  // The caller may have left while the policies were asked (a webhook can take seconds).
  if (callerGone?.aborted) throw new CallerGoneError();
  let session: NodeSession;
  try {
    session = await ctx.network.open(relay, room);
  } catch (e) {
    if (e instanceof UntrustedRelayError) throw new TandemError('bad_request_params', UNTRUSTED_RELAY_MESSAGE);
    ctx.log(`relay ${relay} unreachable: ${(e as Error).message}`);
    throw new ProtocolError('the relay is unreachable');
  }
  abandonWhenCallerGone(session, callerGone);
  return session;
}

/**
 * A participant's side of a record every node keeps a copy of (a user, a room): `insert`
 * checks the invitation and stores the record, throwing to refuse; then `ack`, and wait for
 * the coordinator's commit. Only the coordinator's explicit abort undoes the insert: a lost
 * commit keeps it, since the coordinator may already have reported success.
 */
export async function participateInsert(
  ctx: NodeContext,
  session: CeremonySession,
  from: PartyId,
  ack: string,
  insert: () => Promise<void>,
  undo: () => Promise<unknown>,
): Promise<void> {
  try {
    try {
      await insert();
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, ack, {});
    await session.expect(from, STEP.commit, ctx.stepTimeoutMs);
  } catch (e) {
    if (wasAborted(e)) await undo().catch(() => undefined);
  } finally {
    session.close();
  }
}
