import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import type { CeremonyId, PartyId } from '../core/ids.js';
import type { Rng } from '../core/rng.js';
import type { KeyObject } from 'node:crypto';
import { generateEphemeral, staticKeyObject, x25519, x25519PublicKeyObject, type Identity } from './identity.js';

/**
 * End-to-end channel between the parties of one ceremony, over an untrusted relay.
 *
 * Every party has an ephemeral X25519 key for the ceremony. A→B is sealed with AES-256-GCM
 * under HKDF of
 *   X25519(eA, eB) ‖ X25519(eA, B) ‖ X25519(A, B)   once A has heard from B, or
 *                    X25519(eA, B) ‖ X25519(A, B)   for A's first words to B,
 * with the ceremony id, both parties and both ephemeral keys bound into the derivation.
 * The static-static term authenticates A to B (only A and B can compute it); the
 * ephemeral terms make keys fresh per ceremony; and the ephemeral-ephemeral term makes
 * everything after the first exchange forward secret: once the ceremony's ephemeral keys
 * are gone, even both parties' long-term keys don't open a recorded message. Protocols
 * send their secrets (DKG shares, OT material) only after hearing from the recipient.
 * A strictly increasing sequence number refuses replays within the ceremony.
 *
 * Envelope: version(1) | sender ephemeral(32) | receiver ephemeral or zeros(32) |
 * seq(4, big-endian) | ciphertext | tag(16).
 */
const VERSION = 2;
const EPH = 32;
const HEADER = 1 + EPH + EPH + 4;
const TAG = 16;
const NONE = Buffer.alloc(EPH);

export class ChannelError extends Error {
  constructor(
    readonly party: PartyId,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

export class CeremonyChannel {
  readonly #identity: Identity;
  readonly #ceremony: CeremonyId;
  readonly #peers: Map<PartyId, Uint8Array>;
  /** Made at the first seal or reply: an invitation that fails authentication costs no key generation. */
  #eph: { privateKey: KeyObject; publicKey: Buffer } | undefined;
  /** A peer's ephemeral key, pinned by its first authentic message. */
  readonly #peerEph = new Map<PartyId, Buffer>();
  readonly #sendSeq = new Map<PartyId, number>();
  readonly #recvSeq = new Map<PartyId, number>();
  readonly #keys = new Map<string, Buffer>();
  readonly #salt: Buffer;
  readonly #rng: Rng | undefined;

  /**
   * `rng` makes the ephemeral key (its first 32 bytes are the X25519 secret). Production code
   * never passes it (the key then comes from OpenSSL's CSPRNG); it exists so that tests can
   * check known-answer vectors (test/vectors/channel.json) with a fixed ephemeral key.
   */
  constructor(identity: Identity, ceremony: CeremonyId, peers: ReadonlyMap<PartyId, Uint8Array>, rng?: Rng) {
    this.#identity = identity;
    this.#ceremony = ceremony;
    this.#peers = new Map(peers);
    this.#rng = rng;
    this.#salt = createHash('sha256').update(`tandem/ceremony/v1\0${ceremony}`).digest();
  }

  get ceremony(): CeremonyId {
    return this.#ceremony;
  }

  get #ephemeral(): { privateKey: KeyObject; publicKey: Buffer } {
    if (!this.#eph) {
      const e = generateEphemeral(this.#rng);
      this.#eph = { privateKey: e.privateKey, publicKey: Buffer.from(e.publicKey) };
    }
    return this.#eph;
  }

  get #ownEph(): Buffer {
    return this.#ephemeral.publicKey;
  }

  /**
   * Adds a party that is not a configured peer (a room's client, whose key the node has
   * from the room). A known party keeps its key: a room can't take over a node's id.
   */
  admit(party: PartyId, publicKey: Uint8Array): void {
    const known = this.#peers.get(party);
    if (known && !Buffer.from(known).equals(Buffer.from(publicKey))) throw new ChannelError(party, `party ${party} has another key`);
    if (party === this.#identity.partyId) throw new ChannelError(party, 'a room client cannot take our own id');
    this.#peers.set(party, publicKey);
  }

  /** True once `party` has sent us an authentic message, so ours to it are forward secret. */
  heardFrom(party: PartyId): boolean {
    return this.#peerEph.has(party);
  }

  seal(to: PartyId, plaintext: Uint8Array): Uint8Array {
    const peer = this.#peerKey(to);
    const theirEph = this.#peerEph.get(to) ?? NONE;
    const seq = (this.#sendSeq.get(to) ?? 0) + 1;
    if (seq > 0xffffffff) throw new ChannelError(to, 'channel sequence exhausted');
    this.#sendSeq.set(to, seq);
    const key = this.#key(`send|${to}|${theirEph.toString('hex')}`, () => {
      const ee = theirEph === NONE ? Buffer.alloc(0) : x25519(this.#ephemeral.privateKey, this.#ephObject(theirEph));
      return Buffer.concat([ee, x25519(this.#ephemeral.privateKey, staticKeyObject(peer)), this.#identity.agreeStatic(peer)]);
    }, this.#identity.partyId, to, this.#ownEph, theirEph);
    const header = Buffer.alloc(HEADER);
    header[0] = VERSION;
    this.#ownEph.copy(header, 1);
    theirEph.copy(header, 1 + EPH);
    header.writeUInt32BE(seq, 1 + 2 * EPH);
    const cipher = createCipheriv('aes-256-gcm', key, ivFor(seq));
    cipher.setAAD(header);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, ct, cipher.getAuthTag()]);
  }

  /** Throws ChannelError naming `from` when the envelope is not authentic, fresh and in order. */
  open(from: PartyId, envelope: Uint8Array): Uint8Array {
    if (envelope.length < HEADER + TAG || envelope[0] !== VERSION) throw new ChannelError(from, 'malformed envelope');
    const peer = this.#peerKey(from);
    const env = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    const theirEph = Buffer.from(env.subarray(1, 1 + EPH));
    const ourEph = env.subarray(1 + EPH, 1 + 2 * EPH);
    const seq = env.readUInt32BE(1 + 2 * EPH);
    const pinned = this.#peerEph.get(from);
    if (pinned && !pinned.equals(theirEph)) throw new ChannelError(from, 'ephemeral key changed within a ceremony');
    const firstContact = ourEph.equals(NONE);
    // Before we have sent anything, no authentic message can name an ephemeral key of ours.
    if (!firstContact && (!this.#eph || !ourEph.equals(this.#eph.publicKey))) throw new ChannelError(from, 'message for another session');
    if (seq <= (this.#recvSeq.get(from) ?? 0)) throw new ChannelError(from, 'replayed or reordered message');
    let plaintext: Buffer;
    try {
      const key = this.#key(`recv|${from}|${theirEph.toString('hex')}|${firstContact}`, () => {
        const eph = this.#ephObject(theirEph);
        const ee = firstContact ? Buffer.alloc(0) : x25519(this.#ephemeral.privateKey, eph);
        return Buffer.concat([ee, this.#identity.agree(eph), this.#identity.agreeStatic(peer)]);
      }, from, this.#identity.partyId, theirEph, firstContact ? NONE : this.#ownEph);
      const decipher = createDecipheriv('aes-256-gcm', key, ivFor(seq));
      decipher.setAAD(env.subarray(0, HEADER));
      decipher.setAuthTag(env.subarray(env.length - TAG));
      plaintext = Buffer.concat([decipher.update(env.subarray(HEADER, env.length - TAG)), decipher.final()]);
    } catch (e) {
      // Keys are kept only for ephemeral keys that proved authentic, so forgeries can't fill memory.
      if (!pinned) this.#forget(`recv|${from}|`);
      throw e instanceof ChannelError ? e : new ChannelError(from, 'message failed authentication');
    }
    // Only an authentic message advances the state, so garbage can't desynchronise us.
    this.#recvSeq.set(from, seq);
    if (!pinned) this.#peerEph.set(from, theirEph);
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  /** Best-effort erasure of the derived keys once the ceremony is over. */
  close(): void {
    for (const k of this.#keys.values()) k.fill(0);
    this.#keys.clear();
  }

  /** Key objects of peers' ephemeral keys, made once per ceremony (Node's conversion is slow). */
  readonly #ephObjects = new Map<string, KeyObject>();
  #ephObject(raw: Buffer): KeyObject {
    const id = raw.toString('hex');
    let k = this.#ephObjects.get(id);
    if (!k) {
      k = x25519PublicKeyObject(raw);
      if (this.#ephObjects.size < 64) this.#ephObjects.set(id, k);
    }
    return k;
  }

  #forget(prefix: string): void {
    for (const [id, k] of this.#keys) {
      if (id.startsWith(prefix)) {
        k.fill(0);
        this.#keys.delete(id);
      }
    }
  }

  #peerKey(party: PartyId): Uint8Array {
    const key = this.#peers.get(party);
    if (!key) throw new ChannelError(party, `unknown party ${party}`);
    return key;
  }

  #key(id: string, ikm: () => Buffer, from: PartyId, to: PartyId, fromEph: Uint8Array, toEph: Uint8Array): Buffer {
    const cached = this.#keys.get(id);
    if (cached) return cached;
    let material: Buffer;
    try {
      material = ikm();
    } catch {
      throw new ChannelError(from === this.#identity.partyId ? to : from, 'bad ephemeral key');
    }
    const info = Buffer.concat([
      Buffer.from(`tandem/channel/v2\0${from}\0${to}\0`),
      fromEph,
      toEph,
      this.#peers.get(from) ?? this.#identity.publicKey,
      this.#peers.get(to) ?? this.#identity.publicKey,
    ]);
    const key = Buffer.from(hkdfSync('sha256', material, this.#salt, info, 32));
    material.fill(0);
    this.#keys.set(id, key);
    return key;
  }
}

function ivFor(seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(seq, 8);
  return iv;
}
