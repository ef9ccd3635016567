import { shareAad } from '../../crypto/share-seal.js';
import type { FrostKeyShare } from '../../protocols/frost/key-share.js';
import { parseFrostPublicPackage } from '../../protocols/frost/messages.js';
import { TandemError } from '../../core/errors.js';
import type { KeyId, PartyId } from '../../core/ids.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import type { KeyFamily } from '../../core/families.js';
import type { NodeContext } from './context.js';

/**
 * The caller's key of this family, or key_id_not_exists: a key owned by someone else is
 * reported exactly like a missing one, so ids can't be probed.
 */
export async function ownedKey(ctx: NodeContext, user: UserRecord, keyId: string, family: KeyFamily): Promise<KeyRecord> {
  const key = await ctx.store.getKey(keyId as KeyId);
  if (!key || key.ownerUserId !== user.userId || key.family !== family) {
    throw new TandemError('key_id_not_exists', `key ${keyId} does not exist`);
  }
  return key;
}

/** Unseals this node's share; the caller zeroes `secretShare` when done. */
export function openFrostShare(ctx: NodeContext, key: KeyRecord): FrostKeyShare {
  const secretShare = ctx.kek.open(key.shareCiphertext, shareAad(ctx.self, key.keyId, key.family));
  return { party: ctx.self, publicPackage: parseFrostPublicPackage(key.publicPackage), secretShare };
}

export function sealFrostShare(
  ctx: NodeContext,
  keyId: KeyId,
  family: KeyFamily,
  owner: UserRecord,
  share: FrostKeyShare,
  publicKey: Uint8Array,
): KeyRecord {
  return {
    keyId,
    family,
    ownerUserId: owner.userId,
    publicKey,
    threshold: share.publicPackage.threshold,
    parties: share.publicPackage.parties as PartyId[],
    publicPackage: share.publicPackage,
    shareCiphertext: ctx.kek.seal(share.secretShare, shareAad(ctx.self, keyId, family)),
    createdAt: new Date(),
  };
}
