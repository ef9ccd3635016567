import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { createKeyFile, readKeyFile } from './kek-file.js';
import { toHex } from '../core/hex.js';

/**
 * A node's (or the gateway's) key-encryption key: seals key shares and secrets before they
 * reach the database, so a copy of the database (backup, stolen disk, shared PostgreSQL)
 * reveals nothing without it.
 */
export interface Kek {
  /** `aad` names the row the ciphertext belongs to; `open` must be given the same. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
}

export const KEK_BYTES = 32;
/** Release 0.1.0: version | iv | ciphertext | tag, no KEK id. Still opened, never written. */
const V1 = 1;
/** version | KEK id | iv | ciphertext | tag; version and id are authenticated too. */
const V2 = 2;
export const KEK_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const V2_HEADER = 1 + KEK_ID_BYTES;
const KEK_HEX_RE = /^[0-9a-fA-F]{64}$/;

// Error messages below never include key bytes, hex or lengths derived from a secret.

/**
 * A KEK's public name: HMAC-SHA256(KEK, label), first 8 bytes. It tells which KEK sealed a
 * record (rotation, misconfiguration) and, being a MAC output under a 256-bit key, says
 * nothing about the key.
 */
function kekIdOf(key: KeyObject): Buffer {
  return createHmac('sha256', key).update('tandem/kek-id/v1').digest().subarray(0, KEK_ID_BYTES);
}

class AesGcmKey {
  // A KeyObject rather than a Buffer: it can't be logged or JSON-serialised by accident.
  readonly key: KeyObject;
  readonly id: Buffer;
  readonly idHex: string;

  constructor(raw: Uint8Array) {
    this.key = createSecretKey(raw);
    this.id = kekIdOf(this.key);
    this.idHex = this.id.toString('hex');
  }

  decrypt(iv: Uint8Array, body: Uint8Array, tag: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const out = decipher.update(body);
    try {
      return new Uint8Array(Buffer.concat([out, decipher.final()]));
    } catch {
      return undefined;
    } finally {
      out.fill(0);
    }
  }
}

const FAILED = 'sealed share failed authentication: wrong KEK, wrong row, or tampered data';

/**
 * The current KEK, which seals, and earlier ones that still open records sealed under them
 * until they are re-sealed (rotation). A v2 record names its KEK; a v1 record (release
 * 0.1.0) doesn't, so each KEK is tried on it, the current one first: GCM's tag makes a
 * wrong key fail, never open to garbage.
 */
export class Keyring implements Kek {
  readonly #current: AesGcmKey;
  readonly #all: AesGcmKey[];

  /** Takes ownership of the raw keys and zeroes them. */
  constructor(current: Uint8Array, previous: Uint8Array[] = []) {
    try {
      this.#current = new AesGcmKey(current);
      const keys = [this.#current];
      for (const raw of previous) {
        const k = new AesGcmKey(raw);
        if (!keys.some((o) => o.idHex === k.idHex)) keys.push(k);
      }
      this.#all = keys;
    } finally {
      current.fill(0);
      for (const raw of previous) raw.fill(0);
    }
  }

  /** The id (hex) new records are sealed under. */
  get currentId(): string {
    return this.#current.idHex;
  }

  /** Every KEK id this keyring opens, the current first. */
  get ids(): string[] {
    return this.#all.map((k) => k.idHex);
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    // Random 96-bit IVs: collision risk stays negligible far beyond the number of
    // records one node will ever seal under a KEK.
    const iv = randomBytes(IV_BYTES);
    const header = Buffer.concat([Buffer.of(V2), this.#current.id]);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.concat([header, aad]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return new Uint8Array(Buffer.concat([header, iv, body, cipher.getAuthTag()]));
  }

  open(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    const version = ciphertext[0];
    if (version === V2) {
      if (ciphertext.length < V2_HEADER + IV_BYTES + TAG_BYTES) throw new Error('sealed share is truncated');
      const idHex = toHex(ciphertext.subarray(1, V2_HEADER));
      const key = this.#all.find((k) => k.idHex === idHex);
      if (!key) throw new Error(`sealed share is under KEK ${idHex}, which is not configured (have ${this.ids.join(', ')})`);
      const { iv, body, tag } = parts(ciphertext, V2_HEADER);
      const out = key.decrypt(iv, body, tag, Buffer.concat([ciphertext.subarray(0, V2_HEADER), aad]));
      if (!out) throw new Error(FAILED);
      return out;
    }
    if (version === V1) {
      if (ciphertext.length < 1 + IV_BYTES + TAG_BYTES) throw new Error('sealed share is truncated');
      const { iv, body, tag } = parts(ciphertext, 1);
      for (const key of this.#all) {
        const out = key.decrypt(iv, body, tag, aad);
        if (out) return out;
      }
      throw new Error(FAILED);
    }
    if (ciphertext.length === 0) throw new Error('sealed share is truncated');
    throw new Error('sealed share has an unsupported format version');
  }

  /** True when `ciphertext` is not yet a v2 record under the current KEK (what rotation re-seals). */
  needsReseal(ciphertext: Uint8Array): boolean {
    return sealedKekId(ciphertext) !== this.#current.idHex;
  }

  /** Opens under whichever KEK sealed it and seals under the current one; the plaintext is zeroed. */
  reseal(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    const plain = this.open(ciphertext, aad);
    try {
      return this.seal(plain, aad);
    } finally {
      plain.fill(0);
    }
  }
}

function parts(ciphertext: Uint8Array, headerBytes: number) {
  return {
    iv: ciphertext.subarray(headerBytes, headerBytes + IV_BYTES),
    body: ciphertext.subarray(headerBytes + IV_BYTES, ciphertext.length - TAG_BYTES),
    tag: ciphertext.subarray(ciphertext.length - TAG_BYTES),
  };
}

/** The KEK id (hex) a sealed record names, `v1` for a release-0.1.0 record (no id), `unknown` otherwise. */
export function sealedKekId(ciphertext: Uint8Array): string {
  if (ciphertext[0] === V1) return 'v1';
  if (ciphertext[0] === V2 && ciphertext.length >= V2_HEADER) return toHex(ciphertext.subarray(1, V2_HEADER));
  return 'unknown';
}

/** 64 hex characters to a fresh 32-byte buffer; the message never echoes the input. */
export function kekBytesFromHex(hex: string, what: string): Buffer {
  if (!KEK_HEX_RE.test(hex)) throw new Error(`${what} must be ${KEK_BYTES * 2} hex characters`);
  return Buffer.from(hex, 'hex');
}

/**
 * The AAD for a share row. Every field is length-prefixed, so no two distinct
 * (node, key, family) triples encode alike, whatever characters the ids contain.
 */
export function shareAad(nodeId: string, keyId: string, family: string): Uint8Array {
  const parts = ['tandem/share-aad/v1', nodeId, keyId, family].map((s) => Buffer.from(s, 'utf8'));
  const out: Buffer[] = [];
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    out.push(len, p);
  }
  return new Uint8Array(Buffer.concat(out));
}

/**
 * One KEK without rotation, as release 0.1.0 loaded it: from `env` (64 hex) when given,
 * else from `keyFile`, generating that file on first start. For tests and tools; the
 * node and the gateway load theirs with `loadKeyring` (kek-sources.ts), which also
 * refuses a key file inside the data directory.
 */
export async function loadKek(opts: { env?: string; keyFile: string }): Promise<Keyring> {
  if (opts.env !== undefined) return new Keyring(kekBytesFromHex(opts.env, 'KEK from the environment'));
  try {
    return new Keyring(await readKeyFile(opts.keyFile));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await createKeyFile(opts.keyFile);
  // Read back through the same checks, whichever process won the creation race.
  return new Keyring(await readKeyFile(opts.keyFile));
}
