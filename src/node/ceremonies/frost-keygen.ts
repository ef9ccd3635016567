import { randomUUID } from 'node:crypto';
import { FrostDkg } from '../../protocols/frost/dkg.js';
import { groupPublicKey, type FrostKeyShare } from '../../protocols/frost/key-share.js';
import { parseDkgConfirm, parseDkgRound1, parseDkgRound1Set, type DkgRound1Set } from '../../protocols/frost/messages.js';
import { exchangeDkgShares } from '../../ceremony/frost-dkg-rounds.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../shared/errors.js';
import type { KeyId, PartyId } from '../../shared/ids.js';
import type { UserRecord } from '../../storage/store.js';
import type { Reservation } from '../policy-gate.js';
import { frostSuite } from '../families.js';
import type { FrostFamily } from '../../protocols/frost/suite.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { userEvidence } from '../caller-evidence.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { abortAll, abortCodeFor, gatherParties, openCeremony, type Participant, ceremonyError, notEnoughParties, refuse, type NodeContext } from './context.js';
import { claimRoom, joinRoomAsParticipant, type ClaimedRoom } from './rooms.js';
import { sealFrostShare } from './key-shares.js';

/**
 * FROST distributed key generation across nodes. The coordinator invites every peer,
 * takes the first n-1 that answer with a round-1 package, echoes the round-1 set to
 * them, and the parties exchange round-2 shares privately (peer to peer through the
 * relay: the coordinator never sees them). Each party stores its sealed share before it
 * confirms; the coordinator returns the key only when every confirmation agrees, and
 * otherwise tells everyone to drop it.
 */
export interface KeygenRequest {
  family: FrostFamily;
  credential: string;
  n: number;
  t: number;
  relay: string;
  /** A room whose client parties take part (POST /create-room). */
  roomUuid?: string;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

export const FROST_KEYGEN = 'frost-keygen';

export async function coordinateKeygen(ctx: NodeContext, req: KeygenRequest): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const user = await ctx.authenticateUser(req.credential);
  const release = ctx.keygens.enter(user.userId);
  try {
    const reservation = await ctx.authorize({ operation: 'keygen', family: req.family, userId: user.userId, key: null });
    return await reservation.settle(() => keygenAuthorized(ctx, req, user));
  } finally {
    release();
  }
}

async function keygenAuthorized(ctx: NodeContext, req: KeygenRequest, user: UserRecord): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const suite = frostSuite(req.family);
  const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, req.n);
  const relay = room?.room.relayAddress ?? req.relay;
  const keyId = randomUUID() as KeyId;
  const dkg = new FrostDkg(suite, ctx.self, req.t, req.n);
  const peers = ctx.network.peerIds;
  let session: CeremonySession | undefined;
  let stored = false;
  let chosen: PartyId[] = [];
  try {
    session = await openCeremony(ctx, relay, room?.channel, req.callerGone);
    const s = session;
    const op = { type: FROST_KEYGEN, family: req.family, key_id: keyId, n: req.n, t: req.t, ...(room ? { room_uuid: room.room.roomUuid } : {}) };
    const mine = dkg.round1();
    const need = req.n - 1;
    const gather = { nodes: peers, clients: room?.clients ?? [], need, op, evidence: userEvidence(req.credential, user), relay };
    const { winners, losers, failures } = await gatherParties(ctx, s, gather, async (p) => {
      const r1 = parseDkgRound1(await s.expect(p, 'r1', ctx.stepTimeoutMs), p);
      if (r1.from !== p) throw new ProtocolError('round-1 package carries another party id', p);
      return r1;
    });
    abortAll(s, losers, 'not_selected');
    if (winners.length < need) throw notEnoughParties('key generation', winners.length + 1, req.n, failures);
    chosen = winners.map(([p]) => p);
    const set: DkgRound1Set = { v: 2, packages: [mine, ...winners.map(([, r1]) => r1)] };
    // Checked before it is relayed: participants name us for a bad package in it.
    const shares = dkg.round2(set);
    for (const p of chosen) s.step(p, 'r1set', set);
    const result = await exchangeDkgShares(s, dkg, shares, chosen, ctx.stepTimeoutMs);
    await store(ctx, req.family, keyId, user, result.share, room);
    stored = true;
    const confirms = await Promise.all(chosen.map(async (p) => parseDkgConfirm(await s.expect(p, 'confirm', ctx.stepTimeoutMs), p)));
    for (const c of confirms) {
      if (c.publicDigest !== result.confirm.publicDigest || c.transcript !== result.confirm.transcript) {
        throw new ProtocolError(`${c.from} computed a different public key package`);
      }
    }
    for (const p of chosen) s.step(p, 'commit', {});
    return { keyId, publicKey: groupPublicKey(suite, result.share.publicPackage) };
  } catch (e) {
    if (session) abortAll(session, chosen.length ? chosen : peers, abortCodeFor(session));
    if (stored) await ctx.store.deleteKey(keyId);
    throw ceremonyError('key generation', e);
  } finally {
    dkg.destroy();
    session?.close();
  }
}

async function store(ctx: NodeContext, family: FrostFamily, keyId: KeyId, user: UserRecord, share: FrostKeyShare, room: Pick<ClaimedRoom, 'room'> | undefined): Promise<void> {
  try {
    const record = sealFrostShare(ctx, keyId, family, user, share, groupPublicKey(frostSuite(family), share.publicPackage));
    if (!(await ctx.store.insertKey(record))) throw new TandemError('unique_violation', `key ${keyId} exists already`);
    if (room) await ctx.rooms.pinClients(keyId, room.room.clients);
  } finally {
    share.secretShare.fill(0);
  }
}

export const participateKeygen: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  const op = invite.op as Record<string, unknown>;
  let release: (() => void) | undefined;
  const keyId = String(op.key_id) as KeyId;
  const family = String(op.family) as FrostFamily;
  let dkg: FrostDkg | undefined;
  let user: UserRecord;
  let stored = false;
  let room: ClaimedRoom | undefined;
  let reservation: Reservation | undefined;
  try {
    try {
      if (!/^[0-9a-f-]{36}$/.test(keyId)) throw new ProtocolError('invitation with a malformed key id', from);
      checkInvitationMatches(invite.evidence, { kind: 'keygen', family, n: Number(op.n), t: Number(op.t), room: op.room_uuid as string | undefined }, from);
      user = await ctx.authenticateInvitation(invite.evidence);
      release = ctx.keygens.enter(user.userId);
      reservation = await ctx.authorize({ operation: 'keygen', family, userId: user.userId, key: null, ceremonyId: invite.ceremony });
      room = await joinRoomAsParticipant(ctx, session, user, op.room_uuid, Number(op.n));
      dkg = new FrostDkg(frostSuite(family), ctx.self, Number(op.t), Number(op.n));
    } catch (e) {
      refuse(session, from, e);
      return;
    }
    session.step(from, 'r1', dkg.round1());
    const set = parseDkgRound1Set(await session.expect(from, 'r1set', ctx.stepTimeoutMs), from);
    const parties = set.packages.map((p) => p.from as PartyId);
    if (!parties.includes(from)) throw new ProtocolError('coordinator is not in its own key', from);
    const clients = room?.clients ?? [];
    const others = parties.filter((p) => p !== ctx.self);
    for (const p of others) if (p !== from && !ctx.network.peerIds.includes(p) && !clients.includes(p)) throw new ProtocolError(`unknown party ${p} in key`, from);
    if (!clients.every((c) => parties.includes(c))) throw new ProtocolError('the room\'s clients are not all in the key', from);
    const result = await exchangeDkgShares(session, dkg, dkg.round2(set, from), others, ctx.stepTimeoutMs);
    await store(ctx, family, keyId, user, result.share, room);
    stored = true;
    session.step(from, 'confirm', result.confirm);
    await session.expect(from, 'commit', ctx.stepTimeoutMs);
  } catch (e) {
    const msg = (e as Error).message;
    if (!/not_selected/.test(msg)) ctx.log(`keygen ${invite.ceremony}: ${msg}`);
    // Only an explicit abort undoes a stored share: a lost 'commit' must not lose a key
    // the coordinator already handed out.
    if (stored && /aborted/.test(msg)) await ctx.store.deleteKey(keyId).catch(() => undefined);
    else abortAll(session, [from], 'participant_failed');
    if (/aborted/.test(msg)) stored = false;
  } finally {
    release?.();
    // A key this node keeps (stored, not undone by an abort) is what the budget was for.
    if (!stored) await reservation?.release('the key generation did not complete');
    dkg?.destroy();
    session.close();
  }
};
