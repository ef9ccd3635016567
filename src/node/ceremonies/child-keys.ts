import { publicFromJson } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../../protocols/dkls23/math/group.js';
import { deriveFrostPublic, frostChainCode } from '../../protocols/frost/derive.js';
import { groupPublicKey } from '../../protocols/frost/key-share.js';
import { parseFrostPublicPackage } from '../../protocols/frost/messages.js';
import type { UserId } from '../../core/ids.js';
import type { KeyRecord } from '../../storage/store.js';
import type { AuthorizeRequest } from '../policy-gate.js';
import { frostSuite } from '../../ceremony/families.js';
import { deriveChild } from '../../ceremony/dkls-sign.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../core/hex.js';
import type { NodeContext } from './context.js';

/**
 * A key's public child at a non-hardened path, from public data only (no share is
 * opened): what `derive` answers and what a policy sees as `derived_public_key`.
 */
export function childKey(key: KeyRecord, path: readonly number[]): { publicKey: Uint8Array; chainCode: Uint8Array } {
  if (key.family === 'ecdsa') {
    const child = deriveChild(publicFromJson(key.publicPackage), [...path]);
    return { publicKey: encodePoint(child.publicKey), chainCode: child.chainCode };
  }
  const suite = frostSuite(key.family);
  const child = deriveFrostPublic(suite, parseFrostPublicPackage(key.publicPackage), [...path]);
  return { publicKey: groupPublicKey(suite, child.publicPackage), chainCode: child.chainCode };
}

export function chainCodeOf(key: KeyRecord): Uint8Array {
  if (key.family === 'ecdsa') return publicFromJson(key.publicPackage).chainCode;
  return frostChainCode(frostSuite(key.family), parseFrostPublicPackage(key.publicPackage));
}

/** What a node's policy is asked before it signs `msgs` with `key` (at `path`). */
export function signDecision(
  family: KeyRecord['family'],
  userId: UserId,
  key: KeyRecord,
  msgs: Uint8Array[],
  path: number[],
  extraData: Uint8Array,
): AuthorizeRequest {
  return { operation: 'sign', family, userId, key, msgs, path, extraData, ...(path.length > 0 ? { derivedPublicKey: childKey(key, path).publicKey } : {}) };
}

/**
 * The audit entry of a finished signature: which key signed what (SHA-256 of each message,
 * never the message), with whom, and the ceremony id the participants logged too. With it,
 * "was anything signed twice?" is a query over the logs of the nodes.
 */
export async function auditSigned(ctx: NodeContext, userId: string, keyId: string, family: string, ceremony: string, msgs: Uint8Array[], signers: string[]): Promise<void> {
  await ctx.audit.append({
    requestId: ceremony,
    actor: userId,
    operation: 'signed',
    keyId,
    result: 'ok',
    detail: { family, signers, digests: msgs.map((m) => toHex(sha256(m))) },
  });
}
