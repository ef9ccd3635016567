import { toHex } from '../../core/hex.js';
import { PeerBannedError, type BanList } from '../../ceremony/bans.js';
import { ENGINE_OPERATIONS, familyEntry, frostSuite } from '../../ceremony/families.js';
import { participate, type ShareVaults } from '../../ceremony/flows.js';
import { STEP, parseClientInvitation, type KeyOperation } from '../../ceremony/operations.js';
import type { Admission, Authorizer, ParticipantSeat } from '../../ceremony/ports.js';
import type { CeremonySession } from '../../ceremony/session.js';
import { Dkls23Error } from '../../protocols/dkls23/errors.js';
import { decodeSecret, encodeSecret, publicFromJson, publicToJson, wipe, type Dkls23KeyShare } from '../../protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../../protocols/dkls23/math/group.js';
import { groupPublicKey, type FrostKeyShare } from '../../protocols/frost/key-share.js';
import { MAX_BATCH, parseFrostPublicPackage } from '../../protocols/frost/messages.js';
import { ProtocolError } from '../../protocols/errors.js';
import type { KeyFamily } from '../../core/families.js';
import type { PartyId } from '../../core/ids.js';
import type { DeviceShare, DeviceShareStore } from './share-store.js';

/**
 * A room client's seat in a ceremony a node coordinates: the ceremony layer's flows
 * (src/ceremony/flows.ts) on the device's ports. Instead of a node's authentication and
 * policy, the device admits exactly the operation it asked for, with nodes it knows; its
 * shares live in the app's store, and so do its bans.
 */
export interface DeviceCeremony {
  session: CeremonySession;
  self: PartyId;
  /** The node the device sent its keygen or sign to. */
  coordinator: PartyId;
  /** Every node the device may meet in a ceremony. */
  nodes: ReadonlySet<PartyId>;
  roomUuid: string;
  timeoutMs: number;
  /** The device's bans (one list per share store, so every ceremony of the app sees a ban at once). */
  bans: BanList;
}

/** What the device asked the node for: the invitation must be exactly this. */
export type DeviceRequest =
  | { kind: 'keygen'; family: KeyFamily; n: number; t: number }
  | { kind: 'sign'; family: KeyFamily; keyId: string; msgs: Uint8Array[]; path: number[]; extraData: Uint8Array };

/** The device's side of the ceremony it asked for: a kept key's id for a keygen. */
export async function runAsDevice(c: DeviceCeremony, req: DeviceRequest, vaults: ShareVaults): Promise<{ keyId: string } | void> {
  const op = parseClientInvitation(await c.session.expect(c.coordinator, STEP.invite, c.timeoutMs), c.coordinator);
  const seat: ParticipantSeat = {
    session: c.session,
    coordinator: c.coordinator,
    stepTimeoutMs: c.timeoutMs,
    maxBatch: MAX_BATCH,
    bans: c.bans,
    authorizer: deviceAuthorizer(c, req, vaults),
    // The device party tells the coordinator itself, with the app's view of why (device-party.ts).
    refuse: () => {},
    abandon: () => {},
  };
  try {
    return await participate(seat, op, vaults);
  } catch (e) {
    // Already recorded in the device's store by the rounds; the app gets it as a typed error.
    if (e instanceof Dkls23Error && e.kind === 'ban' && e.culprit) throw new PeerBannedError(e.culprit, op.key_id, e.reason);
    throw e;
  }
}

/** The operation must be the one the device asked for, field by field as the node sends it. */
function deviceAuthorizer(c: DeviceCeremony, req: DeviceRequest, vaults: ShareVaults): Authorizer {
  return {
    async admit(op: KeyOperation, coordinator: PartyId): Promise<Admission> {
      const entry = familyEntry(req.family);
      const mismatch = (what: string) => new ProtocolError(`invitation is not the operation asked for (${what})`, coordinator);
      if (op.type !== ENGINE_OPERATIONS[entry.engine][req.kind]) throw mismatch('type');
      if ('family' in op && op.family !== req.family) throw mismatch('family');
      if (op.room_uuid !== c.roomUuid) throw mismatch('room_uuid');
      let key: Admission['key'];
      if (req.kind === 'keygen') {
        if (!('n' in op) || op.n !== req.n || op.t !== req.t) throw mismatch('n/t');
      } else {
        if (!('msgs' in op)) throw mismatch('type');
        if (op.key_id !== req.keyId) throw mismatch('key_id');
        const msgs = req.msgs.map(toHex);
        if (op.msgs.length !== msgs.length || op.msgs.some((m, i) => m !== msgs[i])) throw mismatch('msgs');
        if (op.path.length !== req.path.length || op.path.some((v, i) => v !== req.path[i])) throw mismatch('path');
        if (op.extra_data !== toHex(req.extraData)) throw mismatch('extra_data');
        key = await keyOf(vaults, entry.engine, req.keyId);
      }
      return { known: c.nodes, clients: [], ...(key ? { key } : {}), keep: () => {}, release: async () => {} };
    },
  };
}

/** The parties and threshold of the key the device holds a share of. */
async function keyOf(vaults: ShareVaults, engine: 'frost' | 'dkls23', keyId: string): Promise<Admission['key']> {
  if (engine === 'frost') {
    const share = await vaults.frost.open(keyId);
    share.secretShare.fill(0);
    return { parties: share.publicPackage.parties as PartyId[], threshold: share.publicPackage.threshold };
  }
  const share = await vaults.dkls23.open(keyId);
  try {
    return { parties: share.pub.parties, threshold: share.pub.threshold };
  } finally {
    wipe(share);
  }
}

/** A new share as the device's store keeps it. */
export function deviceShareOf(keyId: string, family: KeyFamily, partyId: string, share: FrostKeyShare | Dkls23KeyShare): DeviceShare {
  if ('pub' in share) {
    return { keyId, family, partyId, publicKey: toHex(encodePoint(share.pub.publicKey)), publicPackage: publicToJson(share.pub), secret: encodeSecret(share) };
  }
  return { keyId, family, partyId, publicKey: toHex(groupPublicKey(frostSuite(family), share.publicPackage)), publicPackage: share.publicPackage, secret: Uint8Array.from(share.secretShare) };
}

/**
 * The device's shares in the app's store. `family` is the family the device's ceremony is
 * of (a keygen keeps its share under it); `held`, a share the device has read already (its
 * secret is copied, never taken): the store is not asked again for it.
 */
export function storeVaults(store: DeviceShareStore, partyId: string, family: KeyFamily, held?: DeviceShare): ShareVaults {
  const load = async (keyId: string, engine: 'frost' | 'dkls23'): Promise<DeviceShare> => {
    const stored = held?.keyId === keyId ? { ...held, secret: Uint8Array.from(held.secret) } : await store.load(keyId);
    if (!stored || stored.partyId !== partyId || familyEntry(stored.family).engine !== engine) {
      stored?.secret.fill(0);
      throw new Error(`this device holds no ${family} share of key ${keyId}`);
    }
    return stored;
  };
  const keep = async (keyId: string, share: FrostKeyShare | Dkls23KeyShare) => {
    const record = deviceShareOf(keyId, family, partyId, share);
    try {
      await store.save(record);
    } finally {
      record.secret.fill(0);
    }
  };
  const forget = (keyId: string) => store.delete(keyId);
  return {
    frost: {
      open: async (keyId) => {
        const s = await load(keyId, 'frost');
        return { party: partyId as PartyId, publicPackage: parseFrostPublicPackage(s.publicPackage), secretShare: s.secret };
      },
      keep,
      forget,
    },
    dkls23: {
      open: async (keyId) => {
        const s = await load(keyId, 'dkls23');
        try {
          return decodeSecret(partyId as PartyId, publicFromJson(s.publicPackage), s.secret);
        } finally {
          s.secret.fill(0);
        }
      },
      keep,
      forget,
    },
  };
}
