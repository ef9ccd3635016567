import { randomUUID } from 'node:crypto';
import type { EcdsaSignature } from '../../protocols/dkls23/sign/sign.js';
import type { KeyFamily } from '../../core/families.js';
import type { KeyId } from '../../core/ids.js';
import { familyEntry } from '../../ceremony/families.js';
import { FLOWS } from '../../ceremony/flows.js';
import type { FrostFamily } from '../../protocols/frost/suite.js';
import type { OwnerPasskey, PasskeyEvidence } from '../../wallet/passkey-evidence.js';
import type { KeyRecord } from '../../storage/store.js';
import type { Principal } from '../caller-evidence.js';
import { checkOwnerIntent } from '../passkey-owner.js';
import { signDecision } from './child-keys.js';
import type { NodeContext } from './context.js';
import { ownedKey } from './key-shares.js';
import { coordinatorSeat, nodeVaults } from './ports.js';
import { checkEnoughSigners, claimRoom } from './rooms.js';

/**
 * The node as the coordinator of a key's ceremonies: the caller, authenticated once at the
 * HTTP edge (its principal), its key, its passkey, this node's policy, then the family's flow
 * (src/ceremony/flows.ts) on the node's ports. Nothing here authenticates the caller again.
 */
export interface KeygenRequest {
  family: KeyFamily;
  n: number;
  t: number;
  relay: string;
  /** A room whose client parties take part (POST /create-room). */
  roomUuid?: string;
  /** Binds the key to its end user's passkey (ecdsa; passkey-owner.ts). */
  ownerPasskey?: OwnerPasskey;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

export async function coordinateKeygen(ctx: NodeContext, principal: Principal, req: KeygenRequest): Promise<{ keyId: KeyId; publicKey: Uint8Array }> {
  const entry = familyEntry(req.family);
  const { user } = principal;
  const release = ctx.keygens.enter(user.userId);
  try {
    const reservation = await ctx.authorize({ operation: 'keygen', family: req.family, userId: user.userId, key: null });
    return await reservation.settle(async () => {
      const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, req.n);
      const relay = room?.room.relayAddress ?? req.relay;
      const keyId = randomUUID() as KeyId;
      const seat = coordinatorSeat(ctx, principal, relay, room, req.callerGone);
      const vaults = nodeVaults(ctx, { user, family: req.family, room, owner: req.ownerPasskey, keys: new Map() });
      const made =
        entry.engine === 'frost'
          ? await FLOWS.frost.keygen.coordinate(seat, { family: req.family, keyId, n: req.n, t: req.t }, vaults.frost)
          : await FLOWS.dkls23.keygen.coordinate(seat, { keyId, n: req.n, t: req.t, ...(req.ownerPasskey ? { ownerPasskey: req.ownerPasskey } : {}) }, vaults.dkls23);
      return { keyId, publicKey: made.publicKey };
    });
  } finally {
    release();
  }
}

export interface SignRequest {
  keyId: string;
  msgs: Uint8Array[];
  /** Non-hardened child to sign with; every party derives its own child share. */
  path: number[];
  extraData: Uint8Array;
  relay: string;
  /** A room whose client parties sign too (POST /create-room). */
  roomUuid?: string;
  /** For a key bound to its owner's passkey: the assertion over the end user's request (ecdsa). */
  passkeyEvidence?: PasskeyEvidence;
  /** Aborted when the HTTP caller disconnects: the ceremony is abandoned (openCeremony). */
  callerGone?: AbortSignal;
}

/** A FROST family's signature of each message. */
export function coordinateFrostSign(ctx: NodeContext, principal: Principal, family: FrostFamily, req: SignRequest): Promise<Uint8Array[]> {
  return signing(ctx, principal, family, req, (seat, key, vaults) =>
    FLOWS.frost.sign.coordinate(seat, { family, key, msgs: req.msgs, path: req.path, extraData: req.extraData }, vaults.frost),
  );
}

/** Threshold ECDSA (DKLs23) signatures of 32-byte hashes. */
export function coordinateEcdsaSign(ctx: NodeContext, principal: Principal, req: SignRequest): Promise<EcdsaSignature[]> {
  return signing(ctx, principal, 'ecdsa', req, (seat, key, vaults) =>
    FLOWS.dkls23.sign.coordinate(
      seat,
      { key, hashes: req.msgs, path: req.path, extraData: req.extraData, ...(req.passkeyEvidence ? { passkeyEvidence: req.passkeyEvidence } : {}) },
      vaults.dkls23,
    ),
  );
}

async function signing<T>(
  ctx: NodeContext,
  principal: Principal,
  family: KeyFamily,
  req: SignRequest,
  run: (seat: ReturnType<typeof coordinatorSeat>, key: KeyRecord, vaults: ReturnType<typeof nodeVaults>) => Promise<T>,
): Promise<T> {
  const { user } = principal;
  const key = await ownedKey(ctx, user, req.keyId, family);
  // A key bound to its owner's passkey signs only what that passkey approved (passkey-owner.ts).
  if (family === 'ecdsa') {
    const owner = await ctx.keyPasskeys.ownerOf(key.keyId);
    if (owner) await checkOwnerIntent(key.keyId, owner, req.passkeyEvidence, req.msgs, ctx.requestKeys);
  }
  const reservation = await ctx.authorize(signDecision(family, user.userId, key, req.msgs, req.path, req.extraData));
  return reservation.settle(async () => {
    const room = req.roomUuid === undefined ? undefined : await claimRoom(ctx, user, req.roomUuid, key.threshold, key.keyId);
    const relay = room?.room.relayAddress ?? req.relay;
    checkEnoughSigners(ctx, key, room);
    const seat = coordinatorSeat(ctx, principal, relay, room, req.callerGone);
    return run(seat, key, nodeVaults(ctx, { user, family, room, keys: new Map([[key.keyId, key]]) }));
  });
}
