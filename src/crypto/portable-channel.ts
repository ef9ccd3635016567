import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { toHex } from '../core/hex.js';
import type { CeremonyId, PartyId } from '../core/ids.js';
import { cryptoRng, type Rng } from '../core/rng.js';

/**
 * The ceremony channel of `channel.ts`, byte for byte, without Node built-ins: for a user's
 * device (browser or Node) that takes part in ceremonies as a party. Only `@noble/curves`
 * (X25519), `@noble/hashes` (HKDF-SHA256), `@noble/ciphers` (AES-256-GCM) and
 * `globalThis.crypto.getRandomValues` (core/rng.ts) are used, so it bundles for the browser as is.
 *
 * Everything on the wire and in the derivation is the same as `CeremonyChannel`:
 *   envelope  version 2 (1) | sender ephemeral (32) | receiver ephemeral or zeros (32) |
 *             seq (4, big-endian) | ciphertext | tag (16); the 69-byte header is the GCM AAD;
 *   nonce     8 zero bytes ‖ seq (4, big-endian);
 *   salt      SHA-256("tandem/ceremony/v1\0" ‖ ceremony);
 *   info      "tandem/channel/v2\0" ‖ from ‖ "\0" ‖ to ‖ "\0" ‖ fromEph ‖ toEph ‖ fromStatic ‖ toStatic,
 *             where toEph is 32 zero bytes for a first contact;
 *   ikm (A→B) X25519(eA, eB) ‖ X25519(eA, B) ‖ X25519(A, B) once A has heard from B,
 *             or X25519(eA, B) ‖ X25519(A, B) before;
 *   key       HKDF-SHA256(ikm, salt, info, 32).
 * Sequence numbers start at 1 per recipient and must strictly increase per sender; only an
 * authentic message advances the receive state or pins the sender's ephemeral key; a peer's
 * ephemeral key can't change within a ceremony. Errors are `ChannelError`s naming the peer,
 * with the same messages, raised in the same order, as `CeremonyChannel`'s.
 *
 * One deliberate difference: `close()` also erases this channel's ephemeral secret, after
 * which `seal`/`open` throw `ChannelError(party, 'channel closed')` (the Node channel keeps
 * its ephemeral key object, which it can't erase, and keeps working).
 */

/**
 * A party's long-term X25519 identity in portable form.
 * `privateKey` is the 32-byte X25519 secret exactly as `identity.ts` stores it in the identity
 * key file (the raw key of the PKCS#8 encoding, i.e. the RFC 7748 scalar before clamping);
 * `publicKey` is its 32-byte X25519 public key. Build one with `portableIdentity`.
 */
export interface PortableIdentity {
  readonly partyId: PartyId;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** DER prefix of an X25519 PKCS#8 private key (RFC 8410), as used by `identity.ts`. */
const X25519_PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20);

/**
 * A portable identity from the bytes of an identity key file (raw 32 bytes, the format
 * `loadOrCreateIdentity` reads and writes) or from a 48-byte X25519 PKCS#8 DER key.
 * The key is copied, so the caller may erase its buffer.
 */
export function portableIdentity(partyId: PartyId, privateKey: Uint8Array): PortableIdentity {
  let raw: Uint8Array;
  if (privateKey.length === 32) raw = privateKey;
  else if (privateKey.length === X25519_PKCS8_PREFIX.length + 32 && X25519_PKCS8_PREFIX.every((b, i) => privateKey[i] === b)) {
    raw = privateKey.subarray(X25519_PKCS8_PREFIX.length);
  } else throw new Error('X25519 private key must be 32 raw bytes or PKCS#8 DER');
  const key = Uint8Array.from(raw);
  return { partyId, privateKey: key, publicKey: x25519.getPublicKey(key) };
}

/** The same error shape as `channel.ts`'s `ChannelError` (a separate class: that module imports node:crypto). */
export class ChannelError extends Error {
  constructor(
    readonly party: PartyId,
    message: string,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

const VERSION = 2;
const EPH = 32;
const HEADER = 1 + EPH + EPH + 4;
const TAG = 16;
const NONE = new Uint8Array(EPH);
const EMPTY = new Uint8Array(0);

export class PortableCeremonyChannel {
  readonly #identity: PortableIdentity;
  readonly #ceremony: CeremonyId;
  readonly #peers: ReadonlyMap<PartyId, Uint8Array>;
  readonly #ephSecret: Uint8Array;
  readonly #ownEph: Uint8Array;
  /** A peer's ephemeral key, pinned by its first authentic message. */
  readonly #peerEph = new Map<PartyId, Uint8Array>();
  readonly #sendSeq = new Map<PartyId, number>();
  readonly #recvSeq = new Map<PartyId, number>();
  readonly #keys = new Map<string, Uint8Array>();
  readonly #salt: Uint8Array;
  #closed = false;

  /**
   * `rng` makes the ephemeral key (its first 32 bytes are the X25519 secret). Production code
   * never passes it (the default is WebCrypto's getRandomValues); it exists so that tests can
   * check known-answer vectors (test/vectors/channel.json) with a fixed ephemeral key.
   */
  constructor(identity: PortableIdentity, ceremony: CeremonyId, peers: ReadonlyMap<PartyId, Uint8Array>, rng: Rng = cryptoRng) {
    this.#identity = identity;
    this.#ceremony = ceremony;
    this.#peers = peers;
    this.#ephSecret = rng(32);
    this.#ownEph = x25519.getPublicKey(this.#ephSecret);
    this.#salt = sha256(utf8ToBytes(`tandem/ceremony/v1\0${ceremony}`));
  }

  get ceremony(): CeremonyId {
    return this.#ceremony;
  }

  /** True once `party` has sent us an authentic message, so ours to it are forward secret. */
  heardFrom(party: PartyId): boolean {
    return this.#peerEph.has(party);
  }

  seal(to: PartyId, plaintext: Uint8Array): Uint8Array {
    const peer = this.#peerKey(to);
    this.#open(to);
    const theirEph = this.#peerEph.get(to) ?? NONE;
    const seq = (this.#sendSeq.get(to) ?? 0) + 1;
    if (seq > 0xffffffff) throw new ChannelError(to, 'channel sequence exhausted');
    this.#sendSeq.set(to, seq);
    const key = this.#key(`send|${to}|${toHex(theirEph)}`, () => {
      const ee = theirEph === NONE ? EMPTY : x25519.getSharedSecret(this.#ephSecret, theirEph);
      return concatErase(ee, x25519.getSharedSecret(this.#ephSecret, peer), x25519.getSharedSecret(this.#identity.privateKey, peer));
    }, this.#identity.partyId, to, this.#ownEph, theirEph);
    const header = new Uint8Array(HEADER);
    header[0] = VERSION;
    header.set(this.#ownEph, 1);
    header.set(theirEph, 1 + EPH);
    new DataView(header.buffer).setUint32(1 + 2 * EPH, seq, false);
    return concatBytes(header, gcm(key, ivFor(seq), header).encrypt(plaintext));
  }

  /** Throws ChannelError naming `from` when the envelope is not authentic, fresh and in order. */
  open(from: PartyId, envelope: Uint8Array): Uint8Array {
    if (envelope.length < HEADER + TAG || envelope[0] !== VERSION) throw new ChannelError(from, 'malformed envelope');
    const peer = this.#peerKey(from);
    this.#open(from);
    const theirEph = envelope.slice(1, 1 + EPH);
    const ourEph = envelope.subarray(1 + EPH, 1 + 2 * EPH);
    const seq = new DataView(envelope.buffer, envelope.byteOffset, envelope.byteLength).getUint32(1 + 2 * EPH, false);
    const pinned = this.#peerEph.get(from);
    if (pinned && !equal(pinned, theirEph)) throw new ChannelError(from, 'ephemeral key changed within a ceremony');
    const firstContact = equal(ourEph, NONE);
    if (!firstContact && !equal(ourEph, this.#ownEph)) throw new ChannelError(from, 'message for another session');
    if (seq <= (this.#recvSeq.get(from) ?? 0)) throw new ChannelError(from, 'replayed or reordered message');
    let plaintext: Uint8Array;
    try {
      const key = this.#key(`recv|${from}|${toHex(theirEph)}|${firstContact}`, () => {
        const ee = firstContact ? EMPTY : x25519.getSharedSecret(this.#ephSecret, theirEph);
        return concatErase(ee, x25519.getSharedSecret(this.#identity.privateKey, theirEph), x25519.getSharedSecret(this.#identity.privateKey, peer));
      }, from, this.#identity.partyId, theirEph, firstContact ? NONE : this.#ownEph);
      plaintext = gcm(key, ivFor(seq), envelope.subarray(0, HEADER)).decrypt(envelope.subarray(HEADER));
    } catch (e) {
      // Keys are kept only for ephemeral keys that proved authentic, so forgeries can't fill memory.
      if (!pinned) this.#forget(`recv|${from}|`);
      throw e instanceof ChannelError ? e : new ChannelError(from, 'message failed authentication');
    }
    // Only an authentic message advances the state, so garbage can't desynchronise us.
    this.#recvSeq.set(from, seq);
    if (!pinned) this.#peerEph.set(from, theirEph);
    return plaintext;
  }

  /** Erases the derived keys and this channel's ephemeral secret once the ceremony is over. */
  close(): void {
    for (const k of this.#keys.values()) k.fill(0);
    this.#keys.clear();
    this.#ephSecret.fill(0);
    this.#closed = true;
  }

  #open(party: PartyId): void {
    if (this.#closed) throw new ChannelError(party, 'channel closed');
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

  #key(id: string, ikm: () => Uint8Array, from: PartyId, to: PartyId, fromEph: Uint8Array, toEph: Uint8Array): Uint8Array {
    const cached = this.#keys.get(id);
    if (cached) return cached;
    let material: Uint8Array;
    try {
      material = ikm();
    } catch {
      throw new ChannelError(from === this.#identity.partyId ? to : from, 'bad ephemeral key');
    }
    const info = concatBytes(
      utf8ToBytes(`tandem/channel/v2\0${from}\0${to}\0`),
      fromEph,
      toEph,
      this.#peers.get(from) ?? this.#identity.publicKey,
      this.#peers.get(to) ?? this.#identity.publicKey,
    );
    const key = hkdf(sha256, material, this.#salt, info, 32);
    material.fill(0);
    this.#keys.set(id, key);
    return key;
  }
}

/** Concatenates shared secrets and erases the parts. */
function concatErase(...parts: Uint8Array[]): Uint8Array {
  const out = concatBytes(...parts);
  for (const p of parts) p.fill(0);
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function ivFor(seq: number): Uint8Array {
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setUint32(8, seq, false);
  return iv;
}
