import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import type { CeremonyId, PartyId } from '../shared/ids.js';
import { generateEphemeral, x25519, type Identity } from './identity.js';

/**
 * End-to-end channel between the parties of one ceremony, over an untrusted relay.
 *
 * Each direction (A→B) has its own AES-256-GCM key from HKDF over
 * X25519(eA, B) ‖ X25519(A, B): the static-static term authenticates A to B (only A and B
 * can compute it), the ephemeral term makes keys fresh for every ceremony, and the
 * ceremony id, both parties and the ephemeral key are bound into the derivation, so an
 * envelope can't be read, forged, or moved to another ceremony or direction. A strictly
 * increasing sequence number refuses replays within the ceremony.
 *
 * Envelope: version(1) | ephemeral public key(32) | seq(4, big-endian) | ciphertext | tag(16).
 */
const VERSION = 1;
const HEADER = 1 + 32 + 4;
const TAG = 16;

export class ChannelError extends Error {
  constructor(
    readonly party: PartyId,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

interface Direction {
  key: Buffer;
  seq: number;
}

export class CeremonyChannel {
  readonly #identity: Identity;
  readonly #ceremony: CeremonyId;
  readonly #peers: ReadonlyMap<PartyId, Uint8Array>;
  readonly #ephemeral = generateEphemeral();
  readonly #send = new Map<PartyId, Direction>();
  readonly #recv = new Map<PartyId, Direction & { eph: Buffer }>();
  readonly #salt: Buffer;

  constructor(identity: Identity, ceremony: CeremonyId, peers: ReadonlyMap<PartyId, Uint8Array>) {
    this.#identity = identity;
    this.#ceremony = ceremony;
    this.#peers = peers;
    this.#salt = createHash('sha256').update(`tandem/ceremony/v1\0${ceremony}`).digest();
  }

  get ceremony(): CeremonyId {
    return this.#ceremony;
  }

  seal(to: PartyId, plaintext: Uint8Array): Uint8Array {
    let dir = this.#send.get(to);
    if (!dir) {
      const peer = this.#peerKey(to);
      const ikm = Buffer.concat([x25519(this.#ephemeral.privateKey, peer), this.#identity.agreeStatic(peer)]);
      dir = { key: this.#derive(this.#identity.partyId, to, this.#ephemeral.publicKey, ikm), seq: 0 };
      ikm.fill(0);
      this.#send.set(to, dir);
    }
    dir.seq += 1;
    if (dir.seq > 0xffffffff) throw new ChannelError(to, 'channel sequence exhausted');
    const header = Buffer.alloc(HEADER);
    header[0] = VERSION;
    header.set(this.#ephemeral.publicKey, 1);
    header.writeUInt32BE(dir.seq, 33);
    const cipher = createCipheriv('aes-256-gcm', dir.key, ivFor(dir.seq));
    cipher.setAAD(header);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, ct, cipher.getAuthTag()]);
  }

  /** Throws ChannelError naming `from` when the envelope is not authentic, fresh and in order. */
  open(from: PartyId, envelope: Uint8Array): Uint8Array {
    if (envelope.length < HEADER + TAG || envelope[0] !== VERSION) {
      throw new ChannelError(from, 'malformed envelope');
    }
    const env = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    const eph = env.subarray(1, 33);
    const seq = env.readUInt32BE(33);
    let dir = this.#recv.get(from);
    if (!dir) {
      const peer = this.#peerKey(from);
      let ikm: Buffer;
      try {
        ikm = Buffer.concat([this.#identity.agree(eph), this.#identity.agreeStatic(peer)]);
      } catch {
        throw new ChannelError(from, 'bad ephemeral key');
      }
      dir = { key: this.#derive(from, this.#identity.partyId, eph, ikm), seq: 0, eph: Buffer.from(eph) };
      ikm.fill(0);
    } else if (!dir.eph.equals(eph)) {
      throw new ChannelError(from, 'ephemeral key changed within a ceremony');
    }
    if (seq <= dir.seq) throw new ChannelError(from, 'replayed or reordered message');
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', dir.key, ivFor(seq));
      decipher.setAAD(env.subarray(0, HEADER));
      decipher.setAuthTag(env.subarray(env.length - TAG));
      plaintext = Buffer.concat([decipher.update(env.subarray(HEADER, env.length - TAG)), decipher.final()]);
    } catch {
      throw new ChannelError(from, 'message failed authentication');
    }
    // Only an authentic message advances the state, so garbage can't desynchronise us.
    dir.seq = seq;
    this.#recv.set(from, dir);
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  /** Best-effort erasure of the derived keys once the ceremony is over. */
  close(): void {
    for (const d of [...this.#send.values(), ...this.#recv.values()]) d.key.fill(0);
    this.#send.clear();
    this.#recv.clear();
  }

  #peerKey(party: PartyId): Uint8Array {
    const key = this.#peers.get(party);
    if (!key) throw new ChannelError(party, `unknown party ${party}`);
    return key;
  }

  #derive(from: PartyId, to: PartyId, eph: Uint8Array, ikm: Buffer): Buffer {
    const info = Buffer.concat([
      Buffer.from(`tandem/channel/v1\0${from}\0${to}\0`),
      eph,
      this.#peers.get(from) ?? this.#identity.publicKey,
      this.#peers.get(to) ?? this.#identity.publicKey,
    ]);
    return Buffer.from(hkdfSync('sha256', ikm, this.#salt, info, 32));
  }
}

function ivFor(seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(seq, 8);
  return iv;
}
