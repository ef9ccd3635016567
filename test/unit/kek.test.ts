import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kekSourcesFrom, loadKeyring } from '../../src/crypto/kek-sources.js';
import { Keyring, sealedKekId, shareAad } from '../../src/crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN, settingAad } from '../../src/gateway/sealed-settings.js';
import { GATEWAY_MIGRATIONS } from '../../src/gateway/storage/migrations.js';
import { SqlGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { nodeSharesColumn } from '../../src/node/sealed-shares.js';
import type { KeyId, PartyId, UserId } from '../../src/core/ids.js';
import { checkSealedRecords } from '../../src/db/kek-startup.js';
import { migrate } from '../../src/storage/migrations.js';
import { runMigrations } from '../../src/db/migrate.js';
import { resealAll, sealedCensus } from '../../src/db/reseal.js';
import { SqlNodeStore } from '../../src/storage/sql-store.js';
import { backends, type TestDatabase } from '../helpers/databases.js';

/**
 * KEKs kept away from the data (issue 12, finding 7): records name their KEK, old records
 * (made by release 0.1.0's code, test/fixtures/sealed-v1.json) still open, a keyring opens
 * records of every KEK it holds while sealing under the current one, and a node or gateway
 * refuses a KEK file in its data directory unless the development flag says so.
 */
const FIXTURE = JSON.parse(await readFile(join(import.meta.dirname, '../../../test/fixtures/sealed-v1.json'), 'utf8')) as {
  kek_hex: string;
  share: { node: string; key_id: string; family: string; plaintext_hex: string; sealed_hex: string };
  gateway_setting: { name: string; plaintext_hex: string; sealed_hex: string };
};
const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const keyring = (current: string, ...previous: string[]) => new Keyring(hex(current), previous.map(hex));
const A = FIXTURE.kek_hex;
const B = 'b1'.repeat(32);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-kek-src-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('sealed records of release 0.1.0 (fixture made by the code of 0e84d6e)', () => {
  const share = FIXTURE.share;
  const shareAadV1 = shareAad(share.node, share.key_id, share.family);

  test('open under the same KEK, as current or as a previous one', () => {
    assert.equal(sealedKekId(hex(share.sealed_hex)), 'v1');
    assert.deepEqual(keyring(A).open(hex(share.sealed_hex), shareAadV1), hex(share.plaintext_hex));
    assert.deepEqual(keyring(B, A).open(hex(share.sealed_hex), shareAadV1), hex(share.plaintext_hex));
    const g = FIXTURE.gateway_setting;
    assert.deepEqual(keyring(A).open(hex(g.sealed_hex), settingAad(g.name)), hex(g.plaintext_hex));
  });

  test('another KEK or another row does not open them', () => {
    assert.throws(() => keyring(B).open(hex(share.sealed_hex), shareAadV1), /failed authentication/);
    assert.throws(() => keyring(A).open(hex(share.sealed_hex), shareAad('node-2', share.key_id, share.family)), /failed authentication/);
  });

  test('re-sealing makes a v2 record under the current KEK', () => {
    const ring = keyring(B, A);
    assert.equal(ring.needsReseal(hex(share.sealed_hex)), true);
    const fresh = ring.reseal(hex(share.sealed_hex), shareAadV1);
    assert.equal(fresh[0], 2);
    assert.equal(sealedKekId(fresh), ring.currentId);
    assert.equal(ring.needsReseal(fresh), false);
    assert.deepEqual(keyring(B).open(fresh, shareAadV1), hex(share.plaintext_hex));
    assert.throws(() => keyring(A).open(fresh, shareAadV1), /under KEK [0-9a-f]{16}, which is not configured/);
  });
});

describe('Keyring', () => {
  const aad = shareAad('node-1', 'k', 'ecdsa');
  test('seals under the current KEK, opens every KEK it holds, ids are stable and differ per KEK', () => {
    const old = keyring(A);
    const both = keyring(B, A);
    assert.equal(both.currentId, keyring(B).currentId);
    assert.deepEqual(both.ids, [keyring(B).currentId, old.currentId]);
    assert.notEqual(old.currentId, both.currentId);
    const underOld = old.seal(Uint8Array.of(1, 2, 3), aad);
    assert.deepEqual(both.open(underOld, aad), Uint8Array.of(1, 2, 3));
    assert.equal(sealedKekId(both.seal(Uint8Array.of(4), aad)), both.currentId);
    // The id is not the key: nothing of the KEK's hex appears in it.
    assert.ok(!A.includes(old.currentId) && !B.includes(both.currentId));
  });

  test('zeroes the raw keys it is given', () => {
    const raw = hex(B);
    const prev = hex(A);
    new Keyring(raw, [prev]);
    assert.ok(raw.every((b) => b === 0) && prev.every((b) => b === 0));
  });
});

describe('KEK sources', () => {
  const dataDir = () => join(dir, 'data');
  const load = (env: NodeJS.ProcessEnv, warn?: (m: string) => void) =>
    loadKeyring(kekSourcesFrom(env, 'TANDEM_KEK'), { dataDirs: [dataDir()], ...(warn ? { warn } : {}) });
  const idOf = (h: string) => keyring(h).currentId;

  before(async () => {
    await mkdir(dataDir(), { recursive: true });
  });

  test('TANDEM_KEK (hex), TANDEM_KEK_FILE (raw or hex text) and TANDEM_KEK_COMMAND give the same key', async () => {
    const raw = join(dir, 'raw.kek');
    const text = join(dir, 'text.kek');
    await writeFile(raw, hex(B), { mode: 0o600 });
    await writeFile(text, `${B}\n`, { mode: 0o600 });
    for (const env of [{ TANDEM_KEK: B }, { TANDEM_KEK_FILE: raw }, { TANDEM_KEK_FILE: text }, { TANDEM_KEK_COMMAND: `printf '%s\\n' ${B}` }]) {
      assert.equal((await load(env)).currentId, idOf(B), JSON.stringify(Object.keys(env)));
    }
  });

  test('previous KEKs from each source are in the keyring after the current one', async () => {
    const prevFile = join(dir, 'prev.kek');
    await writeFile(prevFile, hex(A), { mode: 0o600 });
    const c = '0c'.repeat(32);
    const ring = await load({ TANDEM_KEK: B, TANDEM_KEK_PREVIOUS_FILE: prevFile, TANDEM_KEK_PREVIOUS: c, TANDEM_KEK_PREVIOUS_COMMAND: `echo ${'0d'.repeat(32)}` });
    assert.deepEqual(ring.ids, [idOf(B), idOf(c), idOf(A), idOf('0d'.repeat(32))]);
  });

  test('more than one current source is refused', async () => {
    await assert.rejects(load({ TANDEM_KEK: B, TANDEM_KEK_COMMAND: 'true' }), /set only one of TANDEM_KEK, TANDEM_KEK_COMMAND/);
  });

  test('a command that fails, prints something else or runs too long is a clear error that never echoes its output', async () => {
    await assert.rejects(load({ TANDEM_KEK_COMMAND: 'exit 3' }), /TANDEM_KEK_COMMAND failed \(exit code 3\)/);
    await assert.rejects(load({ TANDEM_KEK_COMMAND: 'echo not-a-key-1234' }), (e: Error) => /64 hex characters/.test(e.message) && !e.message.includes('not-a-key'));
    await assert.rejects(load({ TANDEM_KEK_COMMAND: `echo ${B.slice(2)}` }), /64 hex characters/);
    const t0 = Date.now();
    await assert.rejects(load({ TANDEM_KEK_COMMAND: 'sleep 5', TANDEM_KEK_COMMAND_TIMEOUT_MS: '300' }), /did not finish within 300 ms/);
    assert.ok(Date.now() - t0 < 3000, 'the command is killed at its timeout');
    await assert.rejects(load({ TANDEM_KEK_COMMAND: 'head -c 10000 /dev/zero' }), /more than 4096 bytes/);
  });

  test('the command does not get the admin key or the KEK variables', async () => {
    const out = join(dir, 'command-env');
    const saved = { ...process.env };
    process.env.TANDEM_ADMIN_KEY = 'tdm_admin_secret';
    process.env.TANDEM_KEK_PREVIOUS = A;
    try {
      await load({ TANDEM_KEK_COMMAND: `env > ${out}; echo ${B}` });
    } finally {
      process.env = saved;
    }
    const seen = await readFile(out, 'utf8');
    assert.ok(!seen.includes('TANDEM_ADMIN_KEY') && !seen.includes('TANDEM_KEK') && !seen.includes(A));
  });

  test('a KEK file inside the data directory is refused, also through a symlink, unless the development flag is set', async () => {
    const inside = join(dataDir(), 'kek.key');
    await writeFile(inside, hex(B), { mode: 0o600 });
    await symlink(join(dataDir(), 'sub'), join(dir, 'link-dir'));
    await mkdir(join(dataDir(), 'sub'));
    await writeFile(join(dataDir(), 'sub', 'k'), hex(B), { mode: 0o600 });
    for (const env of [{ TANDEM_KEK_FILE: inside }, { TANDEM_KEK_FILE: join(dir, 'link-dir', 'k') }, { TANDEM_KEK: A, TANDEM_KEK_PREVIOUS_FILE: inside }]) {
      await assert.rejects(load(env), /is inside the data directory .*TANDEM_DEV_KEK_IN_DATA_DIR=1/, JSON.stringify(env));
    }
    const warnings: string[] = [];
    assert.equal((await load({ TANDEM_KEK_FILE: inside, TANDEM_DEV_KEK_IN_DATA_DIR: '1' }, (m) => warnings.push(m))).currentId, idOf(B));
    assert.match(warnings.join('\n'), /inside the data directory.*development only/);
    await rm(inside);
  });

  test('no KEK at all: refused in production; the development flag makes <data>/kek.key', async () => {
    await assert.rejects(load({}), /no KEK configured: set TANDEM_KEK_FILE \(a file outside the data directory/);
    const ring = await load({ TANDEM_DEV_KEK_IN_DATA_DIR: '1' });
    assert.equal((await stat(join(dataDir(), 'kek.key'))).mode & 0o777, 0o600);
    assert.equal((await load({ TANDEM_DEV_KEK_IN_DATA_DIR: '1' })).currentId, ring.currentId, 'kept across starts');
  });

  test('a data directory of an earlier release (kek.key inside) is refused in production with how to move the KEK', async () => {
    // The previous test left <data>/kek.key, exactly where release 0.1.0 made it.
    await assert.rejects(load({}), (e: Error) => /kek\.key is a KEK inside the data directory/.test(e.message) && /Move it out of the data directory .* set TANDEM_KEK_FILE to its new path/.test(e.message));
  });

  test('a missing TANDEM_KEK_FILE says how to make one; the gateway reads its own variables', async () => {
    await assert.rejects(load({ TANDEM_KEK_FILE: join(dir, 'nope.kek') }), /does not exist; make one with/);
    const g = kekSourcesFrom({ TANDEM_KEK: A, TANDEM_GATEWAY_KEK: B }, 'TANDEM_GATEWAY_KEK');
    assert.equal((await loadKeyring(g, { dataDirs: [dataDir()] })).currentId, idOf(B));
  });
});

const alice = 'a'.repeat(32) as UserId;

for (const backend of backends) {
  describe(`re-sealing on ${backend.name}`, () => {
    let db: TestDatabase;
    before(async () => {
      db = await backend.open(migrate);
    });
    after(() => db?.close());

    test("a node's shares: old (v1) and current records re-sealed under the new KEK, census and start checks follow", async () => {
      const store = new SqlNodeStore(db.client);
      await store.insertUser({ userId: alice, apiKeyHash: new Uint8Array(32), createdAt: new Date() });
      const col = nodeSharesColumn('node-1');
      const plain = new Map<string, Uint8Array>();
      const insert = async (keyId: string, family: 'bip340' | 'ecdsa', sealed: (p: Uint8Array, aad: Uint8Array) => Uint8Array) => {
        const p = randomBytes(48);
        plain.set(keyId, Uint8Array.from(p));
        await store.insertKey({
          keyId: keyId as KeyId,
          family,
          ownerUserId: alice,
          publicKey: new Uint8Array(33),
          threshold: 2,
          parties: ['node-1', 'node-2'] as PartyId[],
          publicPackage: {},
          shareCiphertext: sealed(p, shareAad('node-1', keyId, family)),
          createdAt: new Date(),
        });
      };
      // The fixture's exact bytes, as release 0.1.0 stored them, plus records under A as v2.
      await insert(FIXTURE.share.key_id, 'bip340', () => hex(FIXTURE.share.sealed_hex));
      plain.set(FIXTURE.share.key_id, hex(FIXTURE.share.plaintext_hex));
      for (let i = 0; i < 70; i++) await insert(`k${String(i).padStart(3, '0')}`, i % 2 ? 'ecdsa' : 'bip340', (p, aad) => keyring(A).seal(p, aad));

      const idA = keyring(A).currentId;
      const idB = keyring(B).currentId;
      assert.deepEqual(Object.fromEntries(await sealedCensus(db.client, col)), { v1: 1, [idA]: 70 });
      await checkSealedRecords(db.client, col, keyring(A), 'TANDEM_KEK');
      await assert.rejects(checkSealedRecords(db.client, col, keyring(B), 'TANDEM_KEK'), new RegExp(`under KEK ${idA}, which TANDEM_KEK does not give`));

      const r = await resealAll(db.client, col, keyring(B, A));
      assert.deepEqual(r, { resealed: 71, failed: [] });
      assert.deepEqual(Object.fromEntries(await sealedCensus(db.client, col)), { [idB]: 71 });
      for (const [keyId, p] of plain) {
        const key = (await store.getKey(keyId as KeyId))!;
        assert.equal(sealedKekId(key.shareCiphertext), idB);
        assert.deepEqual(keyring(B).open(key.shareCiphertext, shareAad('node-1', keyId, key.family)), p);
      }
      assert.deepEqual(await resealAll(db.client, col, keyring(B, A)), { resealed: 0, failed: [] }, 'nothing left to do');
      await checkSealedRecords(db.client, col, keyring(B), 'TANDEM_KEK');
      await assert.rejects(checkSealedRecords(db.client, col, keyring(A), 'TANDEM_KEK'), /does not give/);
    });

    test('a record no KEK of the keyring opens is reported and left as it is', async () => {
      const col = nodeSharesColumn('node-1');
      const store = new SqlNodeStore(db.client);
      const stray = keyring('0e'.repeat(32));
      await store.insertKey({
        keyId: 'stray' as KeyId,
        family: 'ed25519',
        ownerUserId: alice,
        publicKey: new Uint8Array(32),
        threshold: 2,
        parties: [] as PartyId[],
        publicPackage: {},
        shareCiphertext: stray.seal(Uint8Array.of(1), shareAad('node-1', 'stray', 'ed25519')),
        createdAt: new Date(),
      });
      assert.deepEqual(await resealAll(db.client, col, keyring(B, A)), { resealed: 0, failed: ['stray'] });
      assert.equal(sealedKekId((await store.getKey('stray' as KeyId))!.shareCiphertext), stray.currentId);
    });
  });

  describe(`gateway settings re-sealing on ${backend.name}`, () => {
    let db: TestDatabase;
    before(async () => {
      db = await backend.open((sql) => runMigrations(sql, GATEWAY_MIGRATIONS));
    });
    after(() => db?.close());

    test('a release 0.1.0 setting opens, re-seals under the new KEK and opens only with it', async () => {
      const store = new SqlGatewayStore(db.client);
      const g = FIXTURE.gateway_setting;
      await store.putSettingIfAbsent(g.name, hex(g.sealed_hex));
      // Only records without a KEK id: one of them must open, or the start is refused.
      await assert.rejects(checkSealedRecords(db.client, GATEWAY_SETTINGS_COLUMN, keyring(B), 'TANDEM_GATEWAY_KEK'), /earlier release \(no KEK id\) do not open with the KEK TANDEM_GATEWAY_KEK gives/);
      await checkSealedRecords(db.client, GATEWAY_SETTINGS_COLUMN, keyring(B, A), 'TANDEM_GATEWAY_KEK');
      await store.putSettingIfAbsent('node-api-key', keyring(A).seal(Buffer.from('tdm_x'), settingAad('node-api-key')));
      await checkSealedRecords(db.client, GATEWAY_SETTINGS_COLUMN, keyring(A), 'TANDEM_GATEWAY_KEK');
      await assert.rejects(checkSealedRecords(db.client, GATEWAY_SETTINGS_COLUMN, keyring(B), 'TANDEM_GATEWAY_KEK'), /TANDEM_GATEWAY_KEK does not give/);
      assert.deepEqual(await resealAll(db.client, GATEWAY_SETTINGS_COLUMN, keyring(B, A)), { resealed: 2, failed: [] });
      assert.deepEqual(keyring(B).open((await store.getSetting(g.name))!, settingAad(g.name)), hex(g.plaintext_hex));
      assert.deepEqual(Object.fromEntries(await sealedCensus(db.client, GATEWAY_SETTINGS_COLUMN)), { [keyring(B).currentId]: 2 });
    });
  });
}
