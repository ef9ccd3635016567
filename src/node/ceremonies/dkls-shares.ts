import { shareAad } from '../../crypto/share-seal.js';
import { decodeSecret, encodeSecret, publicFromJson, publicToJson, type Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../../protocols/dkls23/math/group.js';
import type { KeyId } from '../../core/ids.js';
import type { KeyRecord, UserRecord } from '../../storage/store.js';
import type { NodeContext } from './context.js';

/** DKLs23 key shares at rest: public half as JSON, the rest sealed by the node's KEK. */
export function sealDklsShare(ctx: NodeContext, keyId: KeyId, owner: UserRecord, share: Dkls23KeyShare): KeyRecord {
  const secret = encodeSecret(share);
  try {
    return {
      keyId,
      family: 'ecdsa',
      ownerUserId: owner.userId,
      publicKey: encodePoint(share.pub.publicKey),
      threshold: share.pub.threshold,
      parties: share.pub.parties,
      publicPackage: publicToJson(share.pub),
      shareCiphertext: ctx.kek.seal(secret, shareAad(ctx.self, keyId, 'ecdsa')),
      createdAt: new Date(),
    };
  } finally {
    secret.fill(0);
  }
}

export function openDklsShare(ctx: NodeContext, key: KeyRecord): Dkls23KeyShare {
  const secret = ctx.kek.open(key.shareCiphertext, shareAad(ctx.self, key.keyId, 'ecdsa'));
  try {
    return decodeSecret(ctx.self, publicFromJson(key.publicPackage), secret);
  } finally {
    secret.fill(0);
  }
}
