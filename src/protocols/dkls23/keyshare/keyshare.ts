import { concatBytes } from '@noble/hashes/utils.js';
import { toHex, fromHex } from '../../../core/hex.js';
import type { PartyId } from '../../../core/ids.js';
import { abort } from '../errors.js';
import { chunks } from '../encoding/fields.js';
import { decodePoint, decodeScalar, encodePoint, encodeScalar, type Point } from '../math/group.js';
import {
  decodeOteReceiverSeed,
  decodeOteSenderSeed,
  encodeOteReceiverSeed,
  encodeOteSenderSeed,
  OTE_RECEIVER_SEED_BYTES,
  OTE_SENDER_SEED_BYTES,
  type OteReceiverSeed,
  type OteSenderSeed,
} from '../ot/setup.js';
import { DKLS23_VERSION } from '../params.js';
import { ZERO_SEED_BYTES } from '../zero/zero-share.js';

/**
 * One party's DKLs23 key share (design note §1). The public half is what every party
 * agrees on; the secret half (x_i, pairwise zero-sharing seeds and OT-extension seeds) is
 * serialized to bytes only to be sealed at rest.
 */
export interface Dkls23Public {
  v: 1;
  threshold: number;
  /** Sorted; party k (0-based) has Shamir index k + 1. */
  parties: PartyId[];
  dkgSid: Uint8Array;
  epoch: number;
  publicKey: Point;
  /** X_j = x_j·G for every party, in `parties` order. */
  publicShares: Point[];
  chainCode: Uint8Array;
}

export interface Dkls23PeerSecrets {
  zeroSeed: Uint8Array;
  /** We are Alice (RVOLE sender) in the instance self → peer. */
  oteSender: OteSenderSeed;
  /** We are Bob (RVOLE receiver) in the instance peer → self. */
  oteReceiver: OteReceiverSeed;
}

export interface Dkls23KeyShare {
  self: PartyId;
  pub: Dkls23Public;
  /** x_i, the Shamir share. */
  secret: bigint;
  peers: Map<PartyId, Dkls23PeerSecrets>;
}

export const indexOf = (pub: Pick<Dkls23Public, 'parties'>, p: PartyId): number => {
  const k = pub.parties.indexOf(p);
  if (k < 0) throw abort(`${p} holds no share of this key`);
  return k + 1;
};

/** JSON-safe public half (hex), as stored beside the sealed secret. */
export function publicToJson(pub: Dkls23Public): Record<string, unknown> {
  return {
    v: pub.v,
    threshold: pub.threshold,
    parties: pub.parties,
    dkg_sid: toHex(pub.dkgSid),
    epoch: pub.epoch,
    public_key: toHex(encodePoint(pub.publicKey)),
    public_shares: pub.publicShares.map((p) => toHex(encodePoint(p))),
    chain_code: toHex(pub.chainCode),
  };
}

export function publicFromJson(j: unknown): Dkls23Public {
  // A device's app store hands this back as it likes: anything but an object is refused too.
  if (typeof j !== 'object' || j === null) throw abort('key share: unsupported public package');
  const o = j as Record<string, unknown>;
  const bytes = (h: unknown, len: number, what: string) => {
    if (typeof h !== 'string' || !/^[0-9a-f]*$/.test(h) || h.length !== len * 2) throw abort(`key share: bad ${what}`);
    return fromHex(h);
  };
  if (o.v !== 1 || !Array.isArray(o.parties) || !Array.isArray(o.public_shares) || o.public_shares.length !== o.parties.length) {
    throw abort('key share: unsupported public package');
  }
  return {
    v: 1,
    threshold: Number(o.threshold),
    parties: o.parties.map(String) as PartyId[],
    dkgSid: bytes(o.dkg_sid, 32, 'dkg sid'),
    epoch: Number(o.epoch),
    publicKey: decodePoint(bytes(o.public_key, 33, 'public key')),
    publicShares: o.public_shares.map((p) => decodePoint(bytes(p, 33, 'public share'))),
    chainCode: bytes(o.chain_code, 32, 'chain code'),
  };
}

const PEER_BYTES = ZERO_SEED_BYTES + OTE_SENDER_SEED_BYTES + OTE_RECEIVER_SEED_BYTES;

/** version(1) | x_i(32) | per peer in `parties` order (self skipped): zero seed | OTE sender | OTE receiver. */
export function encodeSecret(share: Dkls23KeyShare): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(DKLS23_VERSION), encodeScalar(share.secret)];
  for (const p of share.pub.parties) {
    if (p === share.self) continue;
    const s = share.peers.get(p);
    if (!s) throw abort(`key share: no secrets for ${p}`);
    parts.push(s.zeroSeed, encodeOteSenderSeed(s.oteSender), encodeOteReceiverSeed(s.oteReceiver));
  }
  return concatBytes(...parts);
}

export function decodeSecret(self: PartyId, pub: Dkls23Public, bytes: Uint8Array): Dkls23KeyShare {
  const peers = pub.parties.filter((p) => p !== self);
  if (bytes.length !== 33 + peers.length * PEER_BYTES || bytes[0] !== DKLS23_VERSION) throw abort('key share: unsupported secret format');
  const secret = decodeScalar(bytes.subarray(1, 33), undefined, 'key share', true);
  const map = new Map<PartyId, Dkls23PeerSecrets>();
  chunks(bytes.subarray(33), PEER_BYTES).forEach((c, k) => {
    map.set(peers[k]!, {
      zeroSeed: c.slice(0, ZERO_SEED_BYTES),
      oteSender: decodeOteSenderSeed(c.slice(ZERO_SEED_BYTES, ZERO_SEED_BYTES + OTE_SENDER_SEED_BYTES)),
      oteReceiver: decodeOteReceiverSeed(c.slice(ZERO_SEED_BYTES + OTE_SENDER_SEED_BYTES)),
    });
  });
  return { self, pub, secret, peers: map };
}

/** Best-effort erasure of the typed-array secrets (BigInts can't be wiped in JS). */
export function wipe(share: Dkls23KeyShare): void {
  for (const s of share.peers.values()) {
    s.zeroSeed.fill(0);
    s.oteSender.leaves.fill(0);
    s.oteSender.delta.fill(0);
    s.oteReceiver.leaves.fill(0);
  }
}
