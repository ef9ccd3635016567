import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hexKekSources, isInside, kekSourcesFrom, loadKeyring } from '../../../src/crypto/kek-sources.js';
import { Keyring } from '../../../src/crypto/share-seal.js';

/**
 * Where a process's KEKs come from: the variables as read, and the placement check. (Loading
 * from each source, commands included, is test/unit/kek.test.ts.)
 */
const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);
const idOf = (hex: string) => new Keyring(Buffer.from(hex, 'hex')).currentId;

describe('kekSourcesFrom', () => {
  test('reads the variables of its prefix only; lists are comma-separated; defaults', () => {
    const env = {
      TANDEM_KEK: A,
      TANDEM_KEK_PREVIOUS: ` ${B} ,, ${A} `,
      TANDEM_KEK_PREVIOUS_FILE: '/etc/a.kek,/etc/b.kek',
      TANDEM_KEK_PREVIOUS_COMMAND: 'vault read old',
      TANDEM_GATEWAY_KEK_FILE: '/etc/gateway.kek',
    };
    assert.deepEqual(kekSourcesFrom(env, 'TANDEM_KEK'), {
      prefix: 'TANDEM_KEK',
      hex: A,
      previousHex: [B, A],
      previousFiles: ['/etc/a.kek', '/etc/b.kek'],
      previousCommand: 'vault read old',
      commandTimeoutMs: 10_000,
      devInDataDir: false,
    });
    assert.deepEqual(kekSourcesFrom(env, 'TANDEM_GATEWAY_KEK'), {
      prefix: 'TANDEM_GATEWAY_KEK',
      file: '/etc/gateway.kek',
      previousHex: [],
      previousFiles: [],
      commandTimeoutMs: 10_000,
      devInDataDir: false,
    });
  });

  test('<P>_COMMAND_TIMEOUT_MS: 100 to 600000; empty is the default', () => {
    assert.equal(kekSourcesFrom({ TANDEM_KEK_COMMAND_TIMEOUT_MS: '100' }, 'TANDEM_KEK').commandTimeoutMs, 100);
    assert.equal(kekSourcesFrom({ TANDEM_KEK_COMMAND_TIMEOUT_MS: '600000' }, 'TANDEM_KEK').commandTimeoutMs, 600_000);
    assert.equal(kekSourcesFrom({ TANDEM_KEK_COMMAND_TIMEOUT_MS: '' }, 'TANDEM_KEK').commandTimeoutMs, 10_000);
    for (const bad of ['99', '600001', '1.5', 'ten', '-1']) {
      assert.throws(() => kekSourcesFrom({ TANDEM_KEK_COMMAND_TIMEOUT_MS: bad }, 'TANDEM_KEK'), { message: 'TANDEM_KEK_COMMAND_TIMEOUT_MS must be 100..600000 milliseconds' }, bad);
    }
    assert.throws(() => kekSourcesFrom({ TANDEM_GATEWAY_KEK_COMMAND_TIMEOUT_MS: '5' }, 'TANDEM_GATEWAY_KEK'), { message: 'TANDEM_GATEWAY_KEK_COMMAND_TIMEOUT_MS must be 100..600000 milliseconds' });
  });

  test('TANDEM_DEV_KEK_IN_DATA_DIR: 1 sets it, empty or 0 does not, anything else stops the start', () => {
    assert.equal(kekSourcesFrom({ TANDEM_DEV_KEK_IN_DATA_DIR: '1' }, 'TANDEM_KEK').devInDataDir, true);
    assert.equal(kekSourcesFrom({ TANDEM_DEV_KEK_IN_DATA_DIR: ' 1 ' }, 'TANDEM_KEK').devInDataDir, true);
    assert.equal(kekSourcesFrom({ TANDEM_DEV_KEK_IN_DATA_DIR: '0' }, 'TANDEM_KEK').devInDataDir, false);
    assert.equal(kekSourcesFrom({}, 'TANDEM_KEK').devInDataDir, false);
    for (const bad of ['true', 'yes', '2', 'on']) {
      assert.throws(() => kekSourcesFrom({ TANDEM_DEV_KEK_IN_DATA_DIR: bad }, 'TANDEM_KEK'), { message: 'TANDEM_DEV_KEK_IN_DATA_DIR must be 0 or 1' }, bad);
    }
  });

  test('hexKekSources: one hex KEK, nothing else', () => {
    assert.deepEqual(hexKekSources('TANDEM_GATEWAY_KEK', A), { prefix: 'TANDEM_GATEWAY_KEK', hex: A, previousHex: [], previousFiles: [], commandTimeoutMs: 10_000, devInDataDir: false });
    assert.equal('hex' in hexKekSources('TANDEM_GATEWAY_KEK', undefined, true), false);
  });
});

describe('loadKeyring (hex sources)', () => {
  test('current then previous, in order; a bad previous KEK names its variable, never its value', async () => {
    const ring = await loadKeyring(kekSourcesFrom({ TANDEM_KEK: A, TANDEM_KEK_PREVIOUS: B }, 'TANDEM_KEK'), { dataDirs: ['/nonexistent'] });
    assert.deepEqual(ring.ids, [idOf(A), idOf(B)]);
    const bad = 'c3'.repeat(31);
    await assert.rejects(loadKeyring(kekSourcesFrom({ TANDEM_KEK: A, TANDEM_KEK_PREVIOUS: `${B},${bad}` }, 'TANDEM_KEK'), { dataDirs: ['/nonexistent'] }), {
      message: 'each KEK in TANDEM_KEK_PREVIOUS must be 64 hex characters',
    });
    await assert.rejects(loadKeyring(kekSourcesFrom({ TANDEM_KEK: bad }, 'TANDEM_KEK'), { dataDirs: ['/nonexistent'] }), { message: 'TANDEM_KEK must be 64 hex characters' });
  });

  test('two or three current sources are refused, naming them', async () => {
    await assert.rejects(loadKeyring(kekSourcesFrom({ TANDEM_KEK: A, TANDEM_KEK_FILE: '/x', TANDEM_KEK_COMMAND: 'y' }, 'TANDEM_KEK'), { dataDirs: ['/d'] }), {
      message: 'set only one of TANDEM_KEK, TANDEM_KEK_FILE, TANDEM_KEK_COMMAND',
    });
  });
});

describe('isInside: is a KEK file in a data directory?', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tandem-inside-'));
    await mkdir(join(dir, 'data', 'node-1'), { recursive: true });
    await mkdir(join(dir, 'secrets'));
    await symlink(join(dir, 'data'), join(dir, 'data-link'));
    await symlink(join(dir, 'data', 'node-1', 'kek.key'), join(dir, 'secrets', 'link.kek'));
    await writeFile(join(dir, 'data', 'node-1', 'kek.key'), '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the directory itself and anything under it, existing or not', () => {
    assert.equal(isInside(join(dir, 'data'), join(dir, 'data')), true);
    assert.equal(isInside(join(dir, 'data', 'node-1', 'kek.key'), join(dir, 'data')), true);
    assert.equal(isInside(join(dir, 'data', 'not', 'yet', 'made.kek'), join(dir, 'data')), true);
    assert.equal(isInside(join(dir, 'secrets', '..', 'data', 'x.kek'), join(dir, 'data')), true);
    assert.equal(isInside(join(dir, 'data', '.kek'), join(dir, 'data')), true, 'a hidden file');
    assert.equal(isInside(join(dir, 'data', '..kek'), join(dir, 'data')), true, 'a name that begins with two dots is not a parent');
    assert.equal(isInside(join(dir, 'data', '...', 'k'), join(dir, 'data')), true);
  });

  test('a sibling with the same prefix, a parent, or another tree is outside', () => {
    assert.equal(isInside(join(dir, 'data-secrets', 'node-1.kek'), join(dir, 'data')), false);
    assert.equal(isInside(join(dir, 'datax'), join(dir, 'data')), false);
    assert.equal(isInside(dir, join(dir, 'data')), false);
    assert.equal(isInside(join(dir, 'secrets', 'node-1.kek'), join(dir, 'data')), false);
    assert.equal(isInside('/etc/tandem/node-1.kek', join(dir, 'data')), false);
  });

  test('symlinks are resolved, on either side', () => {
    assert.equal(isInside(join(dir, 'secrets', 'link.kek'), join(dir, 'data')), true, 'a link out here to a file in there');
    assert.equal(isInside(join(dir, 'data-link', 'node-1', 'kek.key'), join(dir, 'data')), true, 'a path through a link to the directory');
    assert.equal(isInside(join(dir, 'data', 'node-1', 'kek.key'), join(dir, 'data-link')), true, 'the data directory given as a link');
  });
});
