import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createKeyFile, readKeyFile } from '../../../src/crypto/kek-file.js';

/** KEK files: 32 raw bytes or 64 hex (with one optional line end), mode 0600, a regular file, no symlink. */
const POSIX = process.platform !== 'win32';
const HEX = 'c4'.repeat(32);
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-kek-file-'));
});
after(() => rm(dir, { recursive: true, force: true }));
const file = async (name: string, content: string | Buffer, mode = 0o600) => {
  const path = join(dir, name);
  await writeFile(path, content, { mode });
  return path;
};
const wrongSize = (path: string) => ({ message: `KEK file ${path} must hold exactly 32 raw bytes or 64 hex characters` });

describe('readKeyFile', () => {
  test('raw bytes, or hex text with no line end, \\n or \\r\\n, give the same key', async () => {
    const want = Buffer.alloc(32, 0xc4);
    for (const [name, content] of [['raw', want], ['hex', HEX], ['hex-lf', `${HEX}\n`], ['hex-crlf', `${HEX}\r\n`], ['hex-upper', HEX.toUpperCase()]] as const) {
      assert.deepEqual(await readKeyFile(await file(name, content)), want, name);
    }
  });

  test('other sizes and other text are refused', async () => {
    for (const [name, content] of [
      ['empty', ''],
      ['short', Buffer.alloc(31)],
      ['long', Buffer.alloc(33)],
      ['hex-short', HEX.slice(2)],
      ['hex-space', `${HEX} `],
      ['hex-two-lines', `${HEX}\n\n`],
      ['not-hex', 'zz'.repeat(32)],
      ['hex-67', `${HEX}\r\n\n`],
    ] as const) {
      const path = await file(name, content);
      await assert.rejects(readKeyFile(path), wrongSize(path), name);
    }
  });

  test('a file readable by group or others is refused', { skip: !POSIX }, async () => {
    for (const mode of [0o640, 0o604, 0o660]) {
      const path = await file(`open-${mode.toString(8)}`, HEX, mode);
      await assert.rejects(readKeyFile(path), { message: `KEK file ${path} is accessible by group or others; run chmod 600 on it` });
    }
  });

  test('a directory is not a key file, and a symlink is not followed', { skip: !POSIX }, async () => {
    const d = join(dir, 'a-directory');
    await mkdir(d);
    await assert.rejects(readKeyFile(d), { message: `KEK file ${d} is not a regular file` });
    const target = await file('target', HEX);
    const link = join(dir, 'link.kek');
    await symlink(target, link);
    await assert.rejects(readKeyFile(link), { code: 'ELOOP' });
  });

  test('a missing file is ENOENT, for the caller to explain', async () => {
    await assert.rejects(readKeyFile(join(dir, 'missing')), { code: 'ENOENT' });
  });
});

describe('createKeyFile', () => {
  test('writes 32 random bytes, mode 0600, in a 0700 directory it makes', async () => {
    const path = join(dir, 'new', 'node-1.kek');
    await createKeyFile(path);
    const raw = await readFile(path);
    assert.equal(raw.length, 32);
    assert.notDeepEqual(raw, Buffer.alloc(32));
    if (POSIX) {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'new'))).mode & 0o777, 0o700);
    }
    assert.deepEqual(await readKeyFile(path), raw);
  });

  test('leaves an existing file alone (another process may have made it first)', async () => {
    const path = await file('existing.kek', HEX);
    await createKeyFile(path);
    assert.equal(await readFile(path, 'utf8'), HEX);
    const two = join(dir, 'raced.kek');
    await Promise.all([createKeyFile(two), createKeyFile(two)]);
    assert.equal((await readFile(two)).length, 32);
  });
});
