import { x25519 } from '@noble/curves/ed25519.js';
import { toHex, fromHex } from '../../core/hex.js';
import { CeremonySession } from '../../ceremony/session.js';
import { BanList, PeerBannedError } from '../../ceremony/bans.js';
import { PortableCeremonyChannel, portableIdentity, type PortableIdentity } from '../../crypto/portable-channel.js';
import { publicFromJson } from '../../protocols/dkls23/keyshare/keyshare.js';
import { parseDerivationPath } from '../../protocols/derivation/path.js';
import { parseFrostPublicPackage } from '../../protocols/frost/messages.js';
import type { CeremonyId, PartyId } from '../../core/ids.js';
import { TandemNodeClient } from '../node-client.js';
import { RelayConnection, type WebSocketConstructor } from '../../relay/connection.js';
import type { CreateRoomResult, KeyFamily, KeygenResult, SignatureOf } from '../types.js';
import { runAsDevice, storeVaults, type DeviceCeremony } from './device-seat.js';
import type { DeviceShareStore } from './share-store.js';

/** A device's X25519 identity for ceremonies: keep `privateKey` as secret as its shares. */
export function generateDeviceIdentity(partyId: string): PortableIdentity {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(partyId)) throw new TypeError('partyId must be 1-64 of A-Z a-z 0-9 _ . -');
  const secret = x25519.utils.randomSecretKey();
  try {
    return portableIdentity(partyId as PartyId, secret);
  } finally {
    secret.fill(0);
  }
}

export interface DevicePartyOptions {
  /** The user's client (API key or request-signing key) for the cluster's nodes. */
  client: TandemNodeClient;
  /** The device's ceremony identity (generateDeviceIdentity); its party id is the device's id in every key it makes. */
  identity: PortableIdentity;
  store: DeviceShareStore;
  /** Defaults to `globalThis.WebSocket`; Node 20 passes `ws`'s WebSocket. */
  WebSocket?: WebSocketConstructor;
  /**
   * The nodes' channel keys (`{ "node-1": hex }`), pinned by the app. Without them they are
   * read once from each node's GET /identity, which trusts the connection to the node.
   */
  nodeKeys?: Record<string, string>;
  /** How long to wait for any one message of a ceremony. Default 30000 ms. */
  timeoutMs?: number;
  /** How long a room stays usable. Default 120 s. */
  roomTtlS?: number;
}

interface NodeEntry {
  url: string;
  id: PartyId;
  key: Uint8Array;
}

/**
 * A device (or app backend) as a party of its own keys: it holds one share, the nodes hold
 * the others, so a 2-of-2 key (device + node) can't sign without the device, and a 2-of-3
 * key (device + two nodes) still signs if either side is lost. Each operation creates a room
 * for it, joins it on the relay and runs the same protocol engines as the nodes, while the
 * node it calls coordinates.
 *
 * ```ts
 * const device = new DeviceParty({ client, identity: generateDeviceIdentity('phone-1'), store, WebSocket });
 * const { key_id, public_key } = await device.keygen('ecdsa', { num_parties: 2, threshold: 2 });
 * const { signature, recovery_id } = await device.sign('ecdsa', { key_id, msg: hashHex });
 * ```
 */
export class DeviceParty {
  readonly #o: DevicePartyOptions;
  readonly #bans: BanList;
  #nodes: Promise<NodeEntry[]> | undefined;

  constructor(options: DevicePartyOptions) {
    if (typeof options.store?.listBans !== 'function' || typeof options.store.saveBan !== 'function') {
      throw new TypeError('the share store must keep bans too (listBans, saveBan): see DeviceShareStore');
    }
    this.#o = options;
    this.#bans = banListOf(options.store);
  }

  get partyId(): string {
    return this.#o.identity.partyId;
  }

  /** A key of which this device holds one share: `num_parties` counts the device. */
  async keygen(family: KeyFamily, req: { num_parties: number; threshold: number }): Promise<KeygenResult> {
    const nodes = await this.#directory();
    const room = await this.#createRoom(req.num_parties);
    const coordinator = this.#coordinator(nodes, room, nodes.map((n) => n.id));
    const vaults = storeVaults(this.#o.store, this.partyId, family);
    return this.#inRoom(room, nodes, coordinator, async (c) => {
      const ask = this.#o.client.forNode(coordinator.url).keygen(family, { num_parties: req.num_parties, threshold: req.threshold, room_uuid: room.room_uuid });
      const [flow, answer] = await both(c, runAsDevice(c, { kind: 'keygen', family, n: req.num_parties, t: req.threshold }, vaults), ask);
      return this.#checkKey((flow as { keyId: string }).keyId, answer);
    });
  }

  /** One signature with a key this device holds a share of; the device is always one of the signers. */
  async sign<F extends KeyFamily>(family: F, req: { key_id: string; msg: string; derivation_path?: string; extra_data?: string }): Promise<SignatureOf[F]> {
    const stored = await this.#o.store.load(req.key_id);
    if (!stored || stored.family !== family || stored.partyId !== this.partyId) throw new Error(`this device holds no ${family} share of key ${req.key_id}`);
    try {
      const path = parseDerivationPath(req.derivation_path ?? 'm');
      const msg = fromHex(req.msg);
      const extraData = fromHex(req.extra_data ?? '');
      const nodes = await this.#directory();
      const body = { key_id: req.key_id, msg: req.msg, ...(req.derivation_path ? { derivation_path: req.derivation_path } : {}), ...(req.extra_data ? { extra_data: req.extra_data } : {}) };
      const vaults = storeVaults(this.#o.store, this.partyId, family, stored);
      const pub = stored.family === 'ecdsa' ? publicFromJson(stored.publicPackage) : parseFrostPublicPackage(stored.publicPackage);
      const parties = pub.parties as PartyId[];
      let eligible: readonly string[] = parties;
      if (family === 'ecdsa') {
        // Never ask a node this device has banned for the key to coordinate: it would get nothing.
        const bans = await this.#bans.load(req.key_id);
        eligible = parties.filter((p) => p !== this.partyId && !bans.some((b) => b.party === p));
        if (eligible.length < pub.threshold - 1) throw new PeerBannedError(bans[0]!.party, req.key_id, bans[0]!.reason);
      }
      const room = await this.#createRoom(pub.threshold);
      const coordinator = this.#coordinator(nodes, room, eligible);
      return await this.#inRoom(room, nodes, coordinator, async (c) => {
        const ask = this.#o.client.forNode(coordinator.url).sign(family, { ...body, room_uuid: room.room_uuid });
        const [, answer] = await both(c, runAsDevice(c, { kind: 'sign', family, keyId: req.key_id, msgs: [msg], path, extraData }, vaults), ask);
        return answer;
      });
    } finally {
      stored.secret.fill(0);
    }
  }

  /** The node's answer must name the key the device took part in, with the public key the device computed. */
  async #checkKey(keyId: string, answer: KeygenResult): Promise<KeygenResult> {
    const saved = await this.#o.store.load(keyId);
    saved?.secret.fill(0);
    if (answer.key_id !== keyId || saved?.publicKey !== answer.public_key.toLowerCase()) {
      throw new Error(`the node answered key ${answer.key_id} (${answer.public_key}); the device took part in ${keyId} (${saved?.publicKey ?? 'no share kept'})`);
    }
    return answer;
  }

  #createRoom(numParties: number): Promise<CreateRoomResult> {
    const { identity } = this.#o;
    return this.#o.client.createRoom({
      num_parties: numParties,
      parties: [{ party_id: identity.partyId, public_key: toHex(identity.publicKey) }],
      ttl_s: this.#o.roomTtlS ?? 120,
    });
  }

  /** The node that made the room coordinates, if it may; otherwise another node holding the room. */
  #coordinator(nodes: NodeEntry[], room: CreateRoomResult, eligible: readonly string[]): NodeEntry {
    for (const id of room.nodes) {
      const node = nodes.find((n) => n.id === id);
      if (node && eligible.includes(id)) return node;
    }
    throw new Error(`no node that holds room ${room.room_uuid} can take part (room on ${room.nodes.join(', ')})`);
  }

  async #inRoom<T>(room: CreateRoomResult, nodes: NodeEntry[], coordinator: NodeEntry, run: (c: DeviceCeremony) => Promise<T>): Promise<T> {
    const self = this.partyId as PartyId;
    const relay = await RelayConnection.connect(relayUrl(room.relay_address), this.#o.WebSocket ? { WebSocket: this.#o.WebSocket } : {});
    const channel = new PortableCeremonyChannel(this.#o.identity, room.room_uuid as CeremonyId, new Map(nodes.map((n) => [n.id, n.key])));
    const session = new CeremonySession(self, channel, relay);
    try {
      // The room's capability for this party: the relay admits no room client without one.
      const capability = room.relay_capabilities?.[self];
      await relay.join(room.room_uuid, self, (from, data) => session.deliver(from as PartyId, data), capability === undefined ? {} : { capability });
      return await run({
        session,
        self,
        coordinator: coordinator.id,
        nodes: new Set(nodes.map((n) => n.id)),
        roomUuid: room.room_uuid,
        timeoutMs: this.#o.timeoutMs ?? 30_000,
        bans: this.#bans,
      });
    } finally {
      session.close();
      await relay.close();
    }
  }

  /** Node ids and channel keys, read once; a pinned key that differs from the node's answer is refused. */
  #directory(): Promise<NodeEntry[]> {
    this.#nodes ??= Promise.all(
      this.#o.client.nodes.map(async (url) => {
        const id = await this.#o.client.forNode(url).identity();
        const pinned = this.#o.nodeKeys?.[id.node_id];
        if (pinned !== undefined && pinned.toLowerCase() !== id.channel_public_key.toLowerCase()) {
          throw new Error(`node ${id.node_id} at ${url} presents another channel key than the pinned one`);
        }
        const key = fromHex(pinned ?? id.channel_public_key);
        if (key.length !== 32) throw new Error(`node ${id.node_id} at ${url} has no 32-byte channel key`);
        return { url, id: id.node_id as PartyId, key };
      }),
    ).catch((e: unknown) => {
      this.#nodes = undefined;
      throw e;
    });
    return this.#nodes;
  }
}

/**
 * Runs the device's side and the node call together. Whichever fails ends the other at once:
 * a device that refuses tells the coordinator (abort), and a node's refusal closes the
 * device's session. The node's answer decides what the caller sees (a policy refusal, say);
 * the device's own failure comes second.
 */
async function both<A, B>(c: DeviceCeremony, flow: Promise<A>, answer: Promise<B>): Promise<[A, B]> {
  const guarded = flow.catch((e: unknown) => {
    c.session.send(c.coordinator, { kind: 'abort', code: isBan(e) ? 'banned' : 'client_refused' });
    throw e;
  });
  const watched = answer.catch((e: unknown) => {
    c.session.close();
    throw e;
  });
  const [f, a] = await Promise.allSettled([guarded, watched]);
  // A ban is the device's own finding about a node: whatever that node answers, the app must see it.
  if (f.status === 'rejected' && isBan(f.reason)) throw f.reason;
  if (a.status === 'rejected') throw a.reason;
  if (f.status === 'rejected') throw f.reason;
  return [f.value, a.value];
}

const isBan = (e: unknown): e is PeerBannedError => e instanceof PeerBannedError;

/** One ban list per share store: two DeviceParty objects on one store see each other's bans at once. */
const banLists = new WeakMap<DeviceShareStore, BanList>();
function banListOf(store: DeviceShareStore): BanList {
  let list = banLists.get(store);
  if (!list) banLists.set(store, (list = new BanList(store)));
  return list;
}

function relayUrl(address: string): string {
  if (!/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$/.test(address)) throw new Error(`invalid relay address ${address}`);
  return `ws://${address}/`;
}
