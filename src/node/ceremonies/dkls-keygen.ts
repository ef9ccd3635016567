import { randomUUID } from 'node:crypto';
import type { Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { wipe } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../../protocols/dkls23/math/group.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../shared/errors.js';
import type { KeyId, PartyId } from '../../shared/ids.js';
import type { UserRecord } from '../../storage/store.js';
import type { Reservation } from '../policy-gate.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { userEvidence } from '../caller-evidence.js';
import { canonical, parseOwnerPasskey, type OwnerPasskey } from '../passkey-owner.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { abortAll, abortCodeFor, gatherParties, openCeremony, ceremonyError, notEnoughParties, refuse, type NodeContext, type Participant } from './context.js';
import { claimRoom, joinRoomAsParticipant, type ClaimedRoom } from './rooms.js';
import { sealDklsShare } from './dkls-shares.js';
import { dkgRoundTimeout, dklsConfirmOf, runDklsDkg, type DklsDkgConfirm } from '../../ceremony/dkls-dkg-rounds.js';

/**
 * DKLs23 key generation across nodes (threshold ECDSA). The coordinator invites every
 * peer and takes the first n-1 that are ready; then all n parties run the four DKG rounds
 * all to all (private messages go party to party, sealed end to end), each stores its
 * sealed share, and the key is returned only when every party confirms the same key.
 */
export const DKLS_KEYGEN = 'dkls-keygen';

export interface DklsKeygenRequest {
  credential: string;
  n: number;
  t: number;
  relay: string;
  /** A room whose client parties take part (POST /create-room). */
  roomUuid?: string;
  /** Binds the key to its end user's passkey (passkey-owner.ts). */
  ownerPasskey?: OwnerPasskey;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

const roundTimeout = (ctx: NodeContext) => dkgRoundTimeout(ctx.stepTimeoutMs);

async function store(ctx: NodeContext, keyId: KeyId, user: UserRecord, share: Dkls23KeyShare, room: ClaimedRoom | undefined, owner: OwnerPasskey | undefined): Promise<void> {
  try {
    if (!(await ctx.store.insertKey(sealDklsShare(ctx, keyId, user, share)))) throw new TandemError('unique_violation', `key ${keyId} exists already`);
    try {
      if (room) await ctx.rooms.pinClients(keyId, room.room.clients);
      // A key that should be bound but is not would sign without its owner's passkey.
      if (owner) await ctx.keyPasskeys.bind(keyId, owner);
    } catch (e) {
      await ctx.store.deleteKey(keyId);
      throw e;
    }
  } finally {
    wipe(share);
  }
}

export async function coordinateDklsKeygen(ctx: NodeContext, req: DklsKeygenRequest): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const user = await ctx.authenticateUser(req.credential);
  const release = ctx.keygens.enter(user.userId);
  try {
    const reservation = await ctx.authorize({ operation: 'keygen', family: 'ecdsa', userId: user.userId, key: null });
    return await reservation.settle(() => keygenAuthorized(ctx, req, user));
  } finally {
    release();
  }
}

async function keygenAuthorized(ctx: NodeContext, req: DklsKeygenRequest, user: UserRecord): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, req.n);
  const relay = room?.room.relayAddress ?? req.relay;
  const keyId = randomUUID() as KeyId;
  const peers = ctx.network.peerIds;
  let session: CeremonySession | undefined;
  let chosen: PartyId[] = [];
  let stored = false;
  try {
    session = await openCeremony(ctx, relay, room?.channel, req.callerGone);
    const s = session;
    const op = { type: DKLS_KEYGEN, key_id: keyId, n: req.n, t: req.t, ...(room ? { room_uuid: room.room.roomUuid } : {}), ...(req.ownerPasskey ? { owner_passkey: req.ownerPasskey } : {}) };
    const gather = { nodes: peers, clients: room?.clients ?? [], need: req.n - 1, op, evidence: userEvidence(req.credential, user), relay };
    const { winners, losers, failures } = await gatherParties(ctx, s, gather, (p) => s.expect(p, 'ready', ctx.stepTimeoutMs));
    abortAll(s, losers, 'not_selected');
    if (winners.length < req.n - 1) throw notEnoughParties('key generation', winners.length + 1, req.n, failures);
    chosen = winners.map(([p]) => p);
    const parties = [ctx.self, ...chosen].sort();
    for (const p of chosen) s.step(p, 'start', { parties });
    const share = await runDklsDkg(s, ctx.self, parties, req.t, ctx.stepTimeoutMs);
    const mine = dklsConfirmOf(share);
    const publicKey = encodePoint(share.pub.publicKey);
    await store(ctx, keyId, user, share, room, req.ownerPasskey);
    stored = true;
    for (const p of chosen) {
      const c = (await s.expect(p, 'confirm', roundTimeout(ctx))) as DklsDkgConfirm;
      if (c?.public_key !== mine.public_key || c?.dkg_sid !== mine.dkg_sid) throw new ProtocolError(`${p} confirmed another key`);
    }
    for (const p of chosen) s.step(p, 'commit', {});
    return { keyId, publicKey };
  } catch (e) {
    if (session) abortAll(session, chosen.length ? chosen : peers, abortCodeFor(session));
    if (stored) await ctx.store.deleteKey(keyId);
    throw ceremonyError('key generation', e);
  } finally {
    session?.close();
  }
}

export const participateDklsKeygen: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  const op = invite.op as Record<string, unknown>;
  let release: (() => void) | undefined;
  const keyId = String(op.key_id) as KeyId;
  let stored = false;
  let room: ClaimedRoom | undefined;
  let reservation: Reservation | undefined;
  let owner: OwnerPasskey | undefined;
  try {
    let user: UserRecord;
    const n = Number(op.n);
    const t = Number(op.t);
    try {
      if (!/^[0-9a-f-]{36}$/.test(keyId) || !Number.isInteger(n) || !Number.isInteger(t) || t < 2 || t > n) {
        throw new ProtocolError('invitation with malformed parameters', from);
      }
      owner = op.owner_passkey === undefined ? undefined : parseOwnerPasskey(op.owner_passkey);
      if (op.owner_passkey !== undefined && !owner) throw new ProtocolError('invitation with a malformed owner passkey', from);
      checkInvitationMatches(invite.evidence, { kind: 'keygen', family: 'ecdsa', n, t, room: op.room_uuid as string | undefined, ownerPasskey: canonical(owner ?? null) }, from);
      user = await ctx.authenticateInvitation(invite.evidence);
      release = ctx.keygens.enter(user.userId);
      reservation = await ctx.authorize({ operation: 'keygen', family: 'ecdsa', userId: user.userId, key: null, ceremonyId: invite.ceremony });
      room = await joinRoomAsParticipant(ctx, session, user, op.room_uuid, n);
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'ready', {});
    const start = (await session.expect(from, 'start', ctx.stepTimeoutMs)) as { parties?: unknown };
    const parties = Array.isArray(start?.parties) ? (start.parties.map(String) as PartyId[]) : [];
    const clients = room?.clients ?? [];
    const known = new Set([...ctx.network.peerIds, ctx.self, ...clients]);
    if (parties.length !== n || !parties.includes(ctx.self) || !parties.includes(from) || !parties.every((p) => known.has(p)) || !clients.every((c) => parties.includes(c))) {
      throw new ProtocolError('start message with a bad party list', from);
    }
    const share = await runDklsDkg(session, ctx.self, parties, t, ctx.stepTimeoutMs);
    const confirm = dklsConfirmOf(share);
    await store(ctx, keyId, user, share, room, owner);
    stored = true;
    session.step(from, 'confirm', confirm);
    await session.expect(from, 'commit', ctx.stepTimeoutMs);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/not_selected/.test(msg)) ctx.log(`ecdsa keygen ${invite.ceremony}: ${msg}`);
    // Only an explicit abort undoes a stored share: a lost 'commit' must not lose a key.
    if (stored && /aborted/.test(msg)) await ctx.store.deleteKey(keyId).catch(() => undefined);
    else abortAll(session, [from], 'participant_failed');
    if (/aborted/.test(msg)) stored = false;
  } finally {
    release?.();
    // A key this node keeps (stored, not undone by an abort) is what the budget was for.
    if (!stored) await reservation?.release('the key generation did not complete');
    session.close();
  }
};
