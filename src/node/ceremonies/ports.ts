import { groupPublicKey, type FrostKeyShare } from '../../protocols/frost/key-share.js';
import { KEYGEN_UNFINISHED, SIGN_REFUSED } from '../../ceremony/participant.js';
import type { Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { ProtocolError } from '../../protocols/errors.js';
import { TandemError } from '../../core/errors.js';
import type { KeyFamily } from '../../core/families.js';
import type { KeyId, PartyId } from '../../core/ids.js';
import { frostSuite } from '../../ceremony/families.js';
import { OP, signInputs, type Invitation, type KeyOperation, type SignOperation } from '../../ceremony/operations.js';
import { abortAll, refuse, wasNotSelected } from '../../ceremony/outcomes.js';
import type { ShareVaults } from '../../ceremony/flows.js';
import type { Admission, Authorizer, CoordinatorSeat, ParticipantSeat, ShareVault } from '../../ceremony/ports.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import { canonical, parseOwnerPasskey, parsePasskeyEvidence, type OwnerPasskey, type PasskeyEvidence } from '../../wallet/passkey-evidence.js';
import type { Principal } from '../caller-evidence.js';
import { checkOwnerIntent } from '../passkey-owner.js';
import type { Reservation } from '../policy-gate.js';
import type { NodeSession } from '../peer-network.js';
import { checkInvitationMatches, invitedOperationOf } from '../signed-requests.js';
import { auditSigned, signDecision } from './child-keys.js';
import { openCeremony, type NodeContext } from './context.js';
import { openDklsShare, sealDklsShare } from './dkls-shares.js';
import { openFrostShare, ownedKey, sealFrostShare } from './key-shares.js';
import { joinRoomAsParticipant, type ClaimedRoom } from './rooms.js';

/**
 * The node's side of the ceremony ports (src/ceremony/ports.ts): its stores, policy gate,
 * rooms, key-generation slots and audit log behind the interfaces the flows are written on.
 */

/** What one ceremony's vault needs to know to keep a new key: whose it is, its room, its passkey. */
interface KeyContext {
  user?: UserRecord;
  family?: KeyFamily;
  room?: ClaimedRoom;
  owner?: OwnerPasskey;
  /** Keys this ceremony already read (and checked the ownership of). */
  keys: Map<string, KeyRecord>;
}

/** The node's shares: sealed by its KEK in its store, a key pinned to its room's clients and bound to its owner passkey. */
export function nodeVaults(ctx: NodeContext, kc: KeyContext): ShareVaults {
  const record = async (keyId: string): Promise<KeyRecord> => {
    const key = kc.keys.get(keyId) ?? (await ctx.store.getKey(keyId as KeyId));
    if (!key) throw new TandemError('key_id_not_exists', `key ${keyId} does not exist`);
    return key;
  };
  const insert = async (keyId: string, rec: KeyRecord): Promise<void> => {
    if (!(await ctx.store.insertKey(rec))) throw new TandemError('unique_violation', `key ${keyId} exists already`);
    try {
      if (kc.room) await ctx.rooms.pinClients(keyId, kc.room.room.clients);
      // A key that should be bound but is not would sign without its owner's passkey.
      if (kc.owner) await ctx.keyPasskeys.bind(keyId, kc.owner);
    } catch (e) {
      await ctx.store.deleteKey(keyId as KeyId);
      throw e;
    }
  };
  const owner = (): UserRecord => {
    if (!kc.user) throw new Error('a key kept before its owner was known');
    return kc.user;
  };
  const forget = async (keyId: string) => {
    await ctx.store.deleteKey(keyId as KeyId);
  };
  const frost: ShareVault<FrostKeyShare> = {
    open: async (keyId) => openFrostShare(ctx, await record(keyId)),
    keep: async (keyId, share) => {
      const family = kc.family as KeyFamily;
      await insert(keyId, sealFrostShare(ctx, keyId as KeyId, family, owner(), share, groupPublicKey(frostSuite(family), share.publicPackage)));
    },
    forget,
  };
  const dkls23: ShareVault<Dkls23KeyShare> = {
    open: async (keyId) => openDklsShare(ctx, await record(keyId)),
    keep: (keyId, share) => insert(keyId, sealDklsShare(ctx, keyId as KeyId, owner(), share)),
    forget,
  };
  return { frost, dkls23 };
}

/** The coordinator's seat of a ceremony for `principal`, on `relay` (its room's, if any). */
export function coordinatorSeat(ctx: NodeContext, principal: Principal, relay: string, room: ClaimedRoom | undefined, callerGone: AbortSignal | undefined): CoordinatorSeat {
  return {
    self: ctx.self,
    stepTimeoutMs: ctx.stepTimeoutMs,
    open: () => openCeremony(ctx, relay, room?.channel, callerGone),
    peers: {
      nodes: ctx.network.peerIds,
      invite: (session, to, op) => ctx.network.invite(session, to, op, principal.evidence, relay),
    },
    ...(room ? { room: { uuid: room.room.roomUuid, clients: room.clients } } : {}),
    bans: ctx.bans,
    audit: { signed: (e) => auditSigned(ctx, principal.user.userId, e.keyId, e.family, e.ceremony, e.msgs, e.signers) },
  };
}

const LOG_LABEL: Record<KeyOperation['type'], string> = {
  [OP.frostKeygen]: 'keygen',
  [OP.frostSign]: 'sign',
  [OP.dklsKeygen]: 'ecdsa keygen',
  [OP.dklsSign]: 'ecdsa sign',
};

/**
 * A node's seat in a ceremony its peer coordinates, started by `invite`: it refuses with a
 * fixed error type, logs why it stopped (never when merely not selected), and tells the
 * coordinator `participant_failed`.
 */
export function participantSeat(ctx: NodeContext, invite: Invitation, from: PartyId, session: NodeSession, op: KeyOperation): { seat: ParticipantSeat; vaults: ShareVaults } {
  const kc: KeyContext = { keys: new Map() };
  const seat: ParticipantSeat = {
    session,
    coordinator: from,
    stepTimeoutMs: ctx.stepTimeoutMs,
    maxBatch: ctx.maxBatch,
    bans: ctx.bans,
    authorizer: nodeAuthorizer(ctx, invite, session, kc),
    refuse: (e) => refuse(session, from, e),
    abandon: (e, tell) => {
      if (!wasNotSelected(e)) ctx.log(`${LOG_LABEL[op.type]} ${invite.ceremony}: ${(e as Error).message}`);
      if (tell) abortAll(session, [from], 'participant_failed');
    },
  };
  return { seat, vaults: nodeVaults(ctx, kc) };
}

/**
 * A node's decision to take part: the operation must be what the caller's own signed
 * request asked for (checked before its nonce is spent, so a mismatched invitation does not
 * burn the request); then the caller's evidence (spent here, on this node: one signed
 * request is one ceremony per node), its key (a passkey-bound key only on its owner's
 * assertion), its room (this node's own copy), a key-generation slot, this node's policy.
 */
function nodeAuthorizer(ctx: NodeContext, invite: Invitation, session: NodeSession, kc: KeyContext): Authorizer {
  return {
    async admit(op, from) {
      const held: Array<() => unknown> = [];
      let reservation: Reservation | undefined;
      try {
        return op.type === OP.frostKeygen || op.type === OP.dklsKeygen ? await admitKeygen(op) : await admitSign(op, from);
      } catch (e) {
        for (const release of held) release();
        await reservation?.release(op.type === OP.frostKeygen || op.type === OP.dklsKeygen ? KEYGEN_UNFINISHED : SIGN_REFUSED);
        throw e;
      }

      async function admitKeygen(op: Extract<KeyOperation, { n: number }>): Promise<Admission> {
        const family: KeyFamily = op.type === OP.frostKeygen ? (op.family as KeyFamily) : 'ecdsa';
        let ownerPasskey: string | undefined;
        if (op.type === OP.dklsKeygen) {
          kc.owner = op.owner_passkey === undefined ? undefined : parseOwnerPasskey(op.owner_passkey);
          if (op.owner_passkey !== undefined && !kc.owner) throw new ProtocolError('invitation with a malformed owner passkey', from);
          ownerPasskey = canonical(kc.owner ?? null);
        }
        checkInvitationMatches(invite.evidence, invitedOperationOf(op, [], ownerPasskey === undefined ? {} : { ownerPasskey }), from);
        const user = await ctx.callers.invitedUser(invite.evidence);
        kc.user = user;
        kc.family = family;
        held.push(ctx.keygens.enter(user.userId));
        reservation = await ctx.authorize({ operation: 'keygen', family, userId: user.userId, key: null, ceremonyId: invite.ceremony });
        kc.room = await joinRoomAsParticipant(ctx, session, user, op.room_uuid, op.n);
        const clients = kc.room?.clients ?? [];
        return admission(new Set([...ctx.network.peerIds, ...clients]), clients, undefined, held, reservation);
      }

      async function admitSign(op: SignOperation, coordinator: PartyId): Promise<Admission> {
        const family: KeyFamily = op.type === OP.frostSign ? (op.family as KeyFamily) : 'ecdsa';
        const { msgs, path, extraData } = signInputs(op, ctx.maxBatch, coordinator);
        let evidence: PasskeyEvidence | undefined;
        let passkeyEvidence: string | undefined;
        if (op.type === OP.dklsSign) {
          evidence = op.passkey_evidence === undefined ? undefined : parsePasskeyEvidence(op.passkey_evidence);
          if (op.passkey_evidence !== undefined && !evidence) throw new ProtocolError('invitation with malformed passkey evidence', coordinator);
          passkeyEvidence = canonical(evidence ?? null);
        }
        checkInvitationMatches(invite.evidence, invitedOperationOf(op, path, passkeyEvidence === undefined ? {} : { passkeyEvidence }), coordinator);
        const user = await ctx.callers.invitedUser(invite.evidence);
        kc.user = user;
        kc.family = family;
        const key = await ownedKey(ctx, user, op.key_id, family);
        kc.keys.set(key.keyId, key);
        // A key bound to its owner's passkey signs only what that passkey approved (passkey-owner.ts).
        if (op.type === OP.dklsSign) {
          const owner = await ctx.keyPasskeys.ownerOf(key.keyId);
          if (owner) await checkOwnerIntent(key.keyId, owner, evidence, msgs, ctx.requestKeys);
        }
        if (!key.parties.includes(coordinator)) throw new ProtocolError('coordinator holds no share of this key', coordinator);
        kc.room = await joinRoomAsParticipant(ctx, session, user, op.room_uuid, key.threshold, key.keyId);
        reservation = await ctx.authorize({ ...signDecision(family, user.userId, key, msgs, path, extraData), ceremonyId: invite.ceremony });
        // Its holders are the parties a node signs a key with: itself, its peers, the clients pinned at keygen.
        return admission(new Set(key.parties), kc.room?.clients ?? [], { parties: key.parties, threshold: key.threshold }, held, reservation);
      }
    },
  };
}

function admission(
  known: ReadonlySet<PartyId>,
  clients: readonly PartyId[],
  key: Admission['key'],
  held: Array<() => unknown>,
  reservation: Reservation,
): Admission {
  return {
    known,
    clients,
    ...(key ? { key } : {}),
    keep: () => reservation.keep(),
    release: async (why) => {
      for (const release of held.splice(0)) release();
      await reservation.release(why);
    },
  };
}
