import { randomUUID } from 'node:crypto';
import { TandemError } from '../../core/errors.js';
import { fromHex, toHex } from '../../core/hex.js';
import type { CeremonyId, PartyId } from '../../core/ids.js';
import type { RoomClient, RoomRecord } from '../../storage/room-store.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import type { CeremonySession } from '../../ceremony/session.js';
import type { NodeSession } from '../peer-network.js';
import { checkInvitationMatches } from '../signed-requests.js';
import { UNTRUSTED_RELAY_MESSAGE } from '../trusted-relays.js';
import { abortAll, asPeerFailure, ceremonyError } from '../../ceremony/outcomes.js';
import { isCreateRoomOp, OP, STEP, type CreateRoomOp } from '../../ceremony/operations.js';
import type { Principal } from '../caller-evidence.js';
import { nodeHolders, participateInsert, type NodeContext, type Participant } from './context.js';

/**
 * Rooms: a ceremony in which client parties (an SDK on a device or an app backend) take part
 * beside nodes. `create-room` records, on every node that answers, who the clients are (their
 * party ids and X25519 channel keys, vouched for by the user's own credential, which each node
 * checks itself) and how many parties the ceremony has. A keygen or sign that names the room
 * then runs in a relay room of that id, with the clients as required parties; each node's
 * copy of a room is used once and expires.
 */
export const DEFAULT_ROOM_TTL_S = 300;

export interface CreateRoomRequest {
  numParties: number;
  clients: RoomClient[];
  ttlS: number;
  relay: string;
}

export interface CreatedRoom {
  roomUuid: string;
  expiresAt: Date;
  relayAddress: string;
  /** The nodes that hold the room (the coordinator first). */
  nodes: PartyId[];
  /** Per client party id, the capability that admits it to the room on the relay (signed by this node). */
  relayCapabilities: Record<string, string>;
}

const problem = (msg: string) => new TandemError('room_creation_problem', msg);

/** Checks that apply wherever the room is stored: sizes, ids, keys. */
function checkRoom(ctx: NodeContext, numParties: number, clients: RoomClient[]): void {
  const nodes = [ctx.self, ...ctx.network.peerIds];
  const ids = new Set<string>();
  for (const c of clients) {
    if (nodes.includes(c.partyId)) throw problem(`client party id ${c.partyId} is a node's id`);
    if (ids.has(c.partyId)) throw problem(`client party id ${c.partyId} appears twice`);
    if (c.publicKey.length !== 32 || c.publicKey.every((b) => b === 0)) throw problem(`client ${c.partyId}: public_key must be a 32-byte X25519 key`);
    ids.add(c.partyId);
  }
  const nodeParties = numParties - clients.length;
  if (clients.length < 1) throw problem('a room needs at least one client party');
  if (nodeParties < 1) throw problem(`num_parties ${numParties} leaves no place for a node beside ${clients.length} client(s)`);
  if (nodeParties > nodes.length) throw problem(`num_parties ${numParties} needs ${nodeParties} nodes; the cluster has ${nodes.length}`);
}

/** Rooms are operations like any other in the node's audit log: who made or used which, with what clients. */
async function auditRoom(ctx: NodeContext, user: UserRecord, operation: string, roomUuid: string, result: 'ok' | 'refused', detail: Record<string, unknown>): Promise<void> {
  await ctx.audit.append({ requestId: roomUuid, actor: user.userId, operation, result, detail: { room_uuid: roomUuid, ...detail } });
}

const clientsJson = (clients: RoomClient[]) => clients.map((c) => ({ party_id: c.partyId, public_key: toHex(c.publicKey) }));

export async function coordinateCreateRoom(ctx: NodeContext, principal: Principal, req: CreateRoomRequest): Promise<CreatedRoom> {
  const { user } = principal;
  checkRoom(ctx, req.numParties, req.clients);
  const room: RoomRecord = {
    roomUuid: randomUUID(),
    ownerUserId: user.userId,
    numParties: req.numParties,
    clients: req.clients,
    relayAddress: req.relay,
    expiresAt: new Date(Date.now() + req.ttlS * 1000),
  };
  if (!(await ctx.rooms.insert(room))) throw problem('room id collision; retry');
  await auditRoom(ctx, user, 'create-room', room.roomUuid, 'ok', { num_parties: room.numParties, clients: room.clients.map((c) => c.partyId) });
  const peers = ctx.network.peerIds;
  let session: CeremonySession | undefined;
  try {
    session = await ctx.network.open(ctx.network.defaultRelay);
    const s = session;
    const op: CreateRoomOp = { type: OP.createRoom, room_uuid: room.roomUuid, num_parties: room.numParties, clients: clientsJson(room.clients), relay: room.relayAddress, expires_at: room.expiresAt.getTime() };
    await Promise.all(peers.map((p) => ctx.network.invite(s, p, op, principal.evidence, ctx.network.defaultRelay)));
    const results = await Promise.allSettled(peers.map((p) => s.expect(p, STEP.stored, ctx.stepTimeoutMs)));
    const holders = peers.filter((_, i) => results[i]!.status === 'fulfilled');
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [asPeerFailure(peers[i]!, r.reason)] : []));
    const needNodes = room.numParties - room.clients.length;
    if (holders.length + 1 < needNodes) {
      abortAll(s, holders, 'ceremony_failed');
      const detail = failures.map((f) => `${f.party}: ${f.reason}`).join('; ');
      throw problem(`the room needs ${needNodes} nodes but only ${holders.length + 1} stored it (${detail})`);
    }
    // A node that was down simply doesn't hold the room; the ceremony can't pick it.
    for (const p of holders) s.step(p, STEP.commit, {});
    const relayCapabilities = Object.fromEntries(room.clients.map((c) => [c.partyId, ctx.relayCapability(room.roomUuid, c.partyId, room.expiresAt)]));
    return { roomUuid: room.roomUuid, expiresAt: room.expiresAt, relayAddress: room.relayAddress, nodes: [ctx.self, ...holders], relayCapabilities };
  } catch (e) {
    await ctx.rooms.delete(room.roomUuid);
    if (e instanceof TandemError) throw e;
    throw ceremonyError('room creation', e);
  } finally {
    session?.close();
  }
}

export const participateCreateRoom: Participant = async (ctx, invite, from, join) => {
  const session = await join();
  const raw = invite.op;
  const insert = async () => {
    if (!isCreateRoomOp(raw)) throw new TandemError('bad_request_params', 'malformed room');
    const op: CreateRoomOp = raw;
    // This copy's relay is where this node goes if the room's ceremony is asked of it.
    if (!ctx.network.trustsRelay(op.relay)) throw new TandemError('bad_request_params', UNTRUSTED_RELAY_MESSAGE);
    const clients = op.clients.map((c) => ({ partyId: c.party_id as PartyId, publicKey: fromHex(c.public_key, 32) }));
    checkInvitationMatches(invite.evidence, { kind: 'create-room', numParties: op.num_parties, parties: op.clients }, from);
    const user = await ctx.callers.invitedUser(invite.evidence);
    checkRoom(ctx, op.num_parties, clients);
    // The coordinator's clock sets the expiry, but never longer than a room may live here.
    const expiresAt = new Date(Math.min(op.expires_at, Date.now() + MAX_ROOM_TTL_S * 1000));
    if (!(await ctx.rooms.insert({ roomUuid: op.room_uuid, ownerUserId: user.userId, numParties: op.num_parties, clients, relayAddress: op.relay, expiresAt }))) {
      throw problem(`room ${op.room_uuid} exists already`);
    }
    await auditRoom(ctx, user, 'create-room', op.room_uuid, 'ok', { num_parties: op.num_parties, clients: clients.map((c) => c.partyId), coordinator: from });
  };
  await participateInsert(ctx, session, from, STEP.stored, insert, () => ctx.rooms.delete(String((raw as { room_uuid?: unknown }).room_uuid)));
};

export const MAX_ROOM_TTL_S = 3600;

/** A ceremony's room as its coordinator uses it: the room, and its clients' keys for the channel. */
export interface ClaimedRoom {
  room: RoomRecord;
  clients: PartyId[];
  channel: { id: CeremonyId; clients: Map<PartyId, Uint8Array> };
}

/**
 * Claims this node's copy of the caller's room for one ceremony of `numParties` parties:
 * room_creation_problem when it is unknown here, another user's, expired, used, or sized
 * for another ceremony. `keyId` (for a sign) requires the clients pinned at the key's keygen.
 */
export async function claimRoom(ctx: NodeContext, user: UserRecord, roomUuid: string, numParties: number, keyId?: string): Promise<ClaimedRoom> {
  const room = await ctx.rooms.claim(roomUuid, user.userId, numParties);
  if ('refused' in room) {
    await auditRoom(ctx, user, 'use-room', roomUuid, 'refused', { reason: room.refused, ...(keyId ? { key_id: keyId } : {}) });
    throw problem(`room ${roomUuid} ${room.refused} (on ${ctx.self})`);
  }
  await auditRoom(ctx, user, 'use-room', roomUuid, 'ok', { clients: room.clients.map((c) => c.partyId), ...(keyId ? { key_id: keyId } : {}) });
  if (keyId !== undefined) await checkPinnedClients(ctx, keyId, room.clients);
  return {
    room,
    clients: room.clients.map((c) => c.partyId),
    channel: { id: room.roomUuid as CeremonyId, clients: new Map(room.clients.map((c) => [c.partyId, c.publicKey])) },
  };
}

async function checkPinnedClients(ctx: NodeContext, keyId: string, clients: RoomClient[]): Promise<void> {
  const pinned = new Map((await ctx.rooms.clientsOf(keyId)).map((c) => [c.partyId, toHex(c.publicKey)]));
  for (const c of clients) {
    if (pinned.get(c.partyId) !== toHex(c.publicKey)) throw problem(`client ${c.partyId} with this key did not take part in key ${keyId}'s keygen`);
  }
}

/**
 * A key whose other holders are clients can't be signed by nodes alone: say so at once,
 * rather than wait for parties that will never come.
 */
export function checkEnoughSigners(ctx: NodeContext, key: KeyRecord, room: ClaimedRoom | undefined): void {
  const nodes = nodeHolders(ctx, key.parties).length + 1;
  if (nodes + (room?.clients.length ?? 0) >= key.threshold) return;
  const clients = key.parties.filter((p) => p !== ctx.self && !ctx.network.peerIds.includes(p));
  throw new TandemError('executor_result', `key ${key.keyId} needs ${key.threshold} signers and only ${nodes} are nodes: sign through a room (room_uuid) that its client ${clients.join(', ')} joins`);
}

/**
 * A participant node's side of a room ceremony: claims its own copy of the room (so the
 * room's clients come from the user's own create-room, not from the coordinator's word)
 * and admits the clients to the ceremony's channel.
 */
export async function joinRoomAsParticipant(
  ctx: NodeContext,
  session: NodeSession,
  user: UserRecord,
  roomUuid: unknown,
  numParties: number,
  keyId?: string,
): Promise<ClaimedRoom | undefined> {
  if (roomUuid === undefined) return undefined;
  if (typeof roomUuid !== 'string' || roomUuid !== session.id) throw problem('the invitation names another room than its ceremony');
  const claimed = await claimRoom(ctx, user, roomUuid, numParties, keyId);
  for (const [party, key] of claimed.channel.clients) session.channel.admit(party, key);
  return claimed;
}
