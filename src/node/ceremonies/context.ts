import type { Kek } from '../../crypto/share-seal.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../shared/errors.js';
import type { PartyId } from '../../shared/ids.js';
import type { AuditLog } from '../../storage/audit-log.js';
import type { PolicyStore } from '../../storage/policy-store.js';
import type { RequestAuthStore } from '../../storage/request-auth-store.js';
import type { NodeStore, UserRecord } from '../../storage/store.js';
import { PeerFailure, type AbortCode, type CeremonySession } from '../../ceremony/session.js';
import { PeerBannedError, TooManyCeremoniesError, type BanList } from '../../ceremony/bans.js';
import type { RoomStore } from '../../storage/room-store.js';
import type { KeyPasskeyStore } from '../../storage/key-passkey-store.js';
import type { SqlBanStore } from '../../storage/ban-store.js';
import type { KeygenSlots } from '../keygen-slots.js';
import { UntrustedRelayError, type Invite, type NodeSession, type PeerNetwork } from '../peer-network.js';
import { UNTRUSTED_RELAY_MESSAGE } from '../trusted-relays.js';
import type { AuthorizeRequest, Reservation } from '../policy-gate.js';
import { CallerGoneError } from '../../http/caller-gone.js';

/** What a ceremony needs from its node; ceremonies themselves hold no state between runs. */
export interface NodeContext {
  self: PartyId;
  store: NodeStore;
  kek: Kek;
  network: PeerNetwork;
  defaultRelay: string;
  /** How long to wait for any one message of a peer. */
  stepTimeoutMs: number;
  /**
   * At the HTTP edge: a bearer API key, or a signed request (see signed-requests.ts); `fresh`
   * marks the request's first sight on this node, where its nonce is spent.
   */
  authenticateUser(credential: string | undefined, fresh?: boolean): Promise<UserRecord>;
  /**
   * A participant's check of the caller behind an invitation, from its evidence
   * (caller-evidence.ts): a signed request is spent here too, so one request is one
   * ceremony per node.
   */
  authenticateInvitation(evidence: string): Promise<UserRecord>;
  /** Request-signing keys and seen nonces. */
  requestKeys: RequestAuthStore;
  /** At the HTTP edge: this node's admin key, or the admin's signed request. */
  authenticateAdmin(credential: string | undefined, fresh?: boolean): Promise<void>;
  /** A participant's check of an admin operation; returns the admin's signed request if it came with one. */
  authenticateInvitedAdmin(evidence: string): Promise<{ method: string; path: string; body: string } | undefined>;
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
  invite: Invite,
  coordinator: PartyId,
  join: () => Promise<NodeSession>,
) => Promise<void>;

/** The other nodes among a key's parties (a key made in a room also has client parties). */
export function nodeHolders(ctx: NodeContext, parties: PartyId[]): PartyId[] {
  return parties.filter((p) => p !== ctx.self && ctx.network.peerIds.includes(p));
}

/**
 * Brings the other parties of a ceremony together: every client of its room (told in the
 * room itself, and all required) and `need` minus that many nodes, the first to answer of
 * those invited through their inboxes. `answer` reads a party's first message.
 */
export async function gatherParties<T>(
  ctx: NodeContext,
  s: CeremonySession,
  opts: { nodes: PartyId[]; clients: PartyId[]; need: number; op: Invite['op']; evidence: string; relay: string },
  answer: (p: PartyId) => Promise<T>,
): Promise<{ winners: Array<[PartyId, T]>; losers: PartyId[]; failures: PeerFailure[] }> {
  const needNodes = opts.need - opts.clients.length;
  const nodes = needNodes > 0 ? opts.nodes : [];
  await Promise.all(nodes.map((p) => ctx.network.invite(s, p, opts.op, opts.evidence, opts.relay)));
  // A client gets the operation itself (never the caller's evidence) and checks it is what it asked for.
  for (const c of opts.clients) s.step(c, 'invite', { op: opts.op });
  const [fromClients, fromNodes] = await Promise.all([
    Promise.allSettled(opts.clients.map(answer)),
    firstResponders(nodes, needNodes, answer),
  ]);
  const winners: Array<[PartyId, T]> = [];
  const failures = [...fromNodes.failures];
  fromClients.forEach((r, i) => {
    if (r.status === 'fulfilled') winners.push([opts.clients[i]!, r.value]);
    else failures.push(asPeerFailure(opts.clients[i]!, r.reason));
  });
  if (winners.length < opts.clients.length) return { winners, losers: [...fromNodes.winners.map(([p]) => p), ...fromNodes.losers], failures };
  return { winners: [...winners, ...fromNodes.winners], losers: fromNodes.losers, failures };
}

/**
 * Waits for `ask` to succeed for `need` of the candidates and returns as soon as it has,
 * in order of arrival, so one slow or dead peer doesn't hold up a t-of-n ceremony.
 */
export async function firstResponders<T>(
  candidates: PartyId[],
  need: number,
  ask: (p: PartyId) => Promise<T>,
): Promise<{ winners: Array<[PartyId, T]>; losers: PartyId[]; failures: PeerFailure[] }> {
  const winners: Array<[PartyId, T]> = [];
  const failures: PeerFailure[] = [];
  if (need <= 0 || candidates.length === 0) return { winners, losers: candidates, failures };
  await new Promise<void>((resolve) => {
    let settled = 0;
    const done = () => {
      settled += 1;
      if (winners.length >= need || settled === candidates.length) resolve();
    };
    for (const p of candidates) {
      ask(p).then(
        (v) => {
          if (winners.length < need) winners.push([p, v]);
          done();
        },
        (e: unknown) => {
          failures.push(asPeerFailure(p, e));
          done();
        },
      );
    }
  });
  const chosen = new Set(winners.map(([p]) => p));
  return { winners, losers: candidates.filter((p) => !chosen.has(p)), failures };
}

export function asPeerFailure(p: PartyId, e: unknown): PeerFailure {
  if (e instanceof PeerFailure) return e;
  if (e instanceof ProtocolError) return new PeerFailure(e.culprit ?? p, e.reason, 'executor_result', true);
  return new PeerFailure(p, (e as Error).message ?? String(e));
}

/**
 * Turns why a ceremony could not gather enough parties into the API's terms: a peer
 * that misbehaved is named (executor_result); if every failure is the same refusal (say
 * the key is unknown there), that refusal is the answer; otherwise executor_result
 * listing each party's reason.
 */
export function notEnoughParties(what: string, have: number, need: number, failures: PeerFailure[]): TandemError {
  const cheat = failures.find((f) => f.misbehaved);
  if (cheat) return new TandemError('executor_result', `${what} failed: party ${cheat.party} sent an invalid message: ${cheat.reason}`);
  const types = new Set(failures.map((f) => f.errType));
  const [only] = types;
  const detail = failures.map((f) => `${f.party}: ${f.reason}`).join('; ');
  if (types.size === 1 && only && only !== 'internal_problem') {
    return new TandemError(only, `${what}: ${have} of ${need} parties took part (${detail})`);
  }
  return new TandemError('executor_result', `${what}: ${have} of ${need} parties took part (${detail || 'no answers'})`);
}

/** Maps anything thrown inside a ceremony to an API error, naming a cheating party. */
export function ceremonyError(what: string, e: unknown): TandemError {
  if (e instanceof TandemError) return e;
  if (e instanceof CallerGoneError) return new TandemError('executor_result', `${what} cancelled: the caller went away`);
  if (e instanceof PeerBannedError) return new TandemError('executor_result', `${what} failed: party ${e.party} is banned for this key (${e.banReason})`);
  if (e instanceof TooManyCeremoniesError) return new TandemError('executor_result', `${what} failed: ${e.message}`);
  if (e instanceof ProtocolError) {
    return new TandemError('executor_result', e.culprit ? `${what} failed: party ${e.culprit} sent an invalid message: ${e.reason}` : `${what} failed: ${e.reason}`);
  }
  if (e instanceof PeerFailure) {
    if (e.errType && e.errType !== 'internal_problem') return new TandemError(e.errType, `${what} failed: ${e.message}`);
    return new TandemError('executor_result', `${what} failed: party ${e.party}: ${e.reason}`);
  }
  return new TandemError('internal_problem', `${what} failed`);
}

/**
 * The relay a request names (relay_address), or the node's own. Any relay the node does not
 * trust is the caller's bad_request_params, in one fixed text, before anything connects.
 */
export function requestedRelay(ctx: NodeContext, relayAddress: string | null | undefined): string {
  if (relayAddress === undefined || relayAddress === null) return ctx.defaultRelay;
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
 * A coordinator gives its ceremony up as soon as its HTTP caller has gone: every wait and
 * step of the session throws CallerGoneError, so the coordinator stops at its next message
 * (at most the round it is computing finishes), aborts its peers with `caller_gone` (see
 * abortCodeFor) and frees its key-generation slot and budgets on the way out, and the peers
 * free theirs when the abort reaches them. Without this, twenty abandoned key generations
 * kept every node busy for minutes.
 */
export function abandonWhenCallerGone(session: CeremonySession, callerGone: AbortSignal | undefined): void {
  if (!callerGone) return;
  if (callerGone.aborted) session.fail(new CallerGoneError());
  else callerGone.addEventListener('abort', () => session.fail(new CallerGoneError()), { once: true });
}

/**
 * The abort a coordinator sends its peers when its ceremony failed. Asked of the session,
 * not of the error that surfaced: a departed caller often shows as the failure it caused
 * (too few parties answered, a round not received).
 */
export function abortCodeFor(session: CeremonySession): AbortCode {
  return session.failure instanceof CallerGoneError ? 'caller_gone' : 'ceremony_failed';
}

/** Tells a peer we won't go on, without waiting for it to listen. */
export function abortAll(session: CeremonySession, parties: Iterable<PartyId>, code: AbortCode): void {
  for (const p of parties) {
    try {
      session.send(p, { kind: 'abort', code });
    } catch {
      // The relay is gone; the peer's own timeout ends its side.
    }
  }
}

/** A participant's refusal, sent before it contributes anything. */
export function refuse(session: CeremonySession, to: PartyId, e: unknown): void {
  const err = e instanceof TandemError ? e : ceremonyError('ceremony', e);
  try {
    session.send(to, { kind: 'refuse', errType: err.type, ...(err.ruleId ? { ruleId: err.ruleId } : {}) });
  } catch {
    // nothing more to do: the coordinator times out
  }
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
    await session.expect(from, 'commit', ctx.stepTimeoutMs);
  } catch (e) {
    if (/aborted/.test((e as Error).message)) await undo().catch(() => undefined);
  } finally {
    session.close();
  }
}
