import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * KEK files: 32 raw bytes, or 64 hex characters with an optional final newline (what a
 * secret manager mounting a text secret, or `openssl rand -hex 32 > file`, produces).
 * Mode 0600, a regular file, never followed through a symlink.
 */
const KEK_BYTES = 32;
const HEX_RE = /^[0-9a-fA-F]{64}\r?\n?$/;
const POSIX = process.platform !== 'win32';

/** The key's 32 bytes; the caller zeroes them. */
export async function readKeyFile(keyFile: string): Promise<Buffer> {
  // O_NOFOLLOW and fstat on the opened descriptor: the checks apply to the very file
  // read, not to whatever a symlink or a swapped path pointed at a moment earlier.
  const fh = await open(keyFile, constants.O_RDONLY | (POSIX ? constants.O_NOFOLLOW : 0));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`KEK file ${keyFile} is not a regular file`);
    if (POSIX && (st.mode & 0o077) !== 0) {
      throw new Error(`KEK file ${keyFile} is accessible by group or others; run chmod 600 on it`);
    }
    if (st.size !== KEK_BYTES && (st.size < 64 || st.size > 66)) {
      throw new Error(`KEK file ${keyFile} must hold exactly ${KEK_BYTES} raw bytes or 64 hex characters`);
    }
    const raw = Buffer.alloc(st.size);
    try {
      const { bytesRead } = await fh.read(raw, 0, raw.length, 0);
      if (bytesRead !== raw.length) throw new Error(`KEK file ${keyFile} changed while being read`);
      if (raw.length === KEK_BYTES) return Buffer.from(raw);
      const text = raw.toString('latin1');
      if (!HEX_RE.test(text)) throw new Error(`KEK file ${keyFile} must hold exactly ${KEK_BYTES} raw bytes or 64 hex characters`);
      return Buffer.from(text.slice(0, 64), 'hex');
    } finally {
      raw.fill(0);
    }
  } finally {
    await fh.close();
  }
}

/** Writes a new random KEK file (mode 0600). Leaves an existing file alone: another process may have created it first. */
export async function createKeyFile(keyFile: string): Promise<void> {
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
