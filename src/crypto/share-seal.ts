import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A node's key-encryption key: seals key shares before they reach the database, so a
 * copy of the database (backup, stolen disk, shared PostgreSQL) reveals no share.
 */
export interface Kek {
  /** `aad` names the row the ciphertext belongs to; `open` must be given the same. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array;
}

const KEK_BYTES = 32;
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEK_HEX_RE = /^[0-9a-fA-F]{64}$/;

// Error messages below never include key bytes, hex or lengths derived from a secret.

class AesGcmKek implements Kek {
  // A KeyObject rather than a Buffer: it can't be logged or JSON-serialised by accident.
  readonly #key: KeyObject;

  constructor(raw: Uint8Array) {
    this.#key = createSecretKey(raw);
  }

  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    // Random 96-bit IVs: collision risk stays negligible far beyond the number of
    // shares one node will ever seal under a KEK.
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return new Uint8Array(Buffer.concat([Buffer.of(VERSION), iv, body, cipher.getAuthTag()]));
  }

  open(ciphertext: Uint8Array, aad: Uint8Array): Uint8Array {
    if (ciphertext.length < 1 + IV_BYTES + TAG_BYTES) throw new Error('sealed share is truncated');
    if (ciphertext[0] !== VERSION) throw new Error('sealed share has an unsupported format version');
    const iv = ciphertext.subarray(1, 1 + IV_BYTES);
    const body = ciphertext.subarray(1 + IV_BYTES, ciphertext.length - TAG_BYTES);
    const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const out = decipher.update(body);
    try {
      return new Uint8Array(Buffer.concat([out, decipher.final()]));
    } catch {
      out.fill(0);
      throw new Error('sealed share failed authentication: wrong KEK, wrong row, or tampered data');
    }
  }
}

function kekFromRaw(raw: Buffer): Kek {
  try {
    return new AesGcmKek(raw);
  } finally {
    raw.fill(0);
  }
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

const POSIX = process.platform !== 'win32';

async function readKeyFile(keyFile: string): Promise<Kek> {
  // O_NOFOLLOW and fstat on the opened descriptor: the checks apply to the very file
  // read, not to whatever a symlink or a swapped path pointed at a moment earlier.
  const fh = await open(keyFile, constants.O_RDONLY | (POSIX ? constants.O_NOFOLLOW : 0));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`KEK file ${keyFile} is not a regular file`);
    if (POSIX && (st.mode & 0o077) !== 0) {
      throw new Error(`KEK file ${keyFile} is accessible by group or others; run chmod 600 on it`);
    }
    if (st.size !== KEK_BYTES) throw new Error(`KEK file ${keyFile} must hold exactly ${KEK_BYTES} raw bytes`);
    const raw = Buffer.alloc(KEK_BYTES);
    const { bytesRead } = await fh.read(raw, 0, KEK_BYTES, 0);
    if (bytesRead !== KEK_BYTES) throw new Error(`KEK file ${keyFile} changed while being read`);
    return kekFromRaw(raw);
  } finally {
    await fh.close();
  }
}

/** Leaves an existing file alone: another process may have created it first. */
async function createKeyFile(keyFile: string): Promise<void> {
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  let fh;
  try {
    fh = await open(keyFile, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  const raw = randomBytes(KEK_BYTES);
  try {
    await fh.writeFile(raw);
    // Losing the KEK loses every share sealed under it: make it durable before use.
    await fh.sync();
  } finally {
    raw.fill(0);
    await fh.close();
  }
}

/**
 * The node's KEK: from `env` (64 hex characters, e.g. TANDEM_KEK) when given, else
 * from `keyFile` (32 raw bytes, mode 0600), generating that file on first start.
 */
export async function loadKek(opts: { env?: string; keyFile: string }): Promise<Kek> {
  if (opts.env !== undefined) {
    if (!KEK_HEX_RE.test(opts.env)) throw new Error(`KEK from the environment must be ${KEK_BYTES * 2} hex characters`);
    return kekFromRaw(Buffer.from(opts.env, 'hex'));
  }
  try {
    return await readKeyFile(opts.keyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await createKeyFile(opts.keyFile);
  // Read back through the same checks, whichever process won the creation race.
  return readKeyFile(opts.keyFile);
}
