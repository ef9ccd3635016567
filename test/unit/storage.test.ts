import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KeyId, PartyId, UserId } from '../../src/core/ids.js';
import { openEmbeddedStore, openNodeStore } from '../../src/storage/open-node-store.js';
import { migrate, NODE_MIGRATIONS } from '../../src/storage/migrations.js';
import { runMigrations } from '../../src/db/migrate.js';
import { SqlBanStore } from '../../src/storage/ban-store.js';
import { SqlSeenInvitations } from '../../src/storage/seen-invitations.js';
import { PgliteClient } from '../../src/db/pglite-client.js';
import { PostgresClient } from '../../src/db/postgres-client.js';
import type { SqlClient } from '../../src/db/sql.js';
import { SqlNodeStore } from '../../src/storage/sql-store.js';
import type { KeyRecord, NodeStore, UserRecord } from '../../src/storage/store.js';
import { backends, type Backend, type TestDatabase } from '../helpers/databases.js';

const ALL_MIGRATIONS = [{ name: '0001_initial' }, { name: '0002_policies_and_audit' }, { name: '0003_signed_requests' }, { name: '0004_rooms' }, { name: '0005_key_bans' }, { name: '0006_seen_invitations' }, { name: '0007_key_passkeys' }];

function user(id: string): UserRecord {
  return {
    userId: id as UserId,
    apiKeyHash: Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + id.length) & 0xff),
    createdAt: new Date('2024-05-06T07:08:09.123Z'),
  };
}

function key(id: string, owner: UserId): KeyRecord {
  return {
    keyId: id as KeyId,
    family: 'bip340',
    ownerUserId: owner,
    // 0x00 and 0xff bytes catch any text/escaping mishandling of bytea.
    publicKey: Uint8Array.from([0, 255, 1, 254, ...new Array<number>(28).fill(0x5c)]),
    threshold: 2,
    parties: ['node-1', 'node-2', 'node-3'] as PartyId[],
    publicPackage: { groupKey: 'ab'.repeat(32), verifyingShares: { 'node-1': '01', 'node-2': '02' }, n: 3, ok: true },
    shareCiphertext: Uint8Array.from({ length: 61 }, (_, i) => 255 - i),
    createdAt: new Date('2024-05-06T07:08:10.456Z'),
  };
}

const carol = user('carol');
const carolsKey = key('key-2', carol.userId);

for (const backend of backends) {
  describe(`SqlNodeStore on ${backend.name}`, () => {
    // Creating a PGlite database takes seconds, so one database serves the suite.
    let db: TestDatabase;
    let store: NodeStore;

    before(async () => {
      db = await backend.open(migrate);
      store = new SqlNodeStore(db.client);
    });

    after(() => db?.close());

    test('settings: missing, insert, then upsert', async () => {
      assert.equal(await store.getSetting('node_id'), undefined);
      await store.setSetting('node_id', 'node-1');
      assert.equal(await store.getSetting('node_id'), 'node-1');
      await store.setSetting('node_id', 'node-2');
      assert.equal(await store.getSetting('node_id'), 'node-2');
    });

    test('users round-trip; duplicate insert returns false and changes nothing', async () => {
      const alice = user('alice');
      assert.equal(await store.insertUser(alice), true);
      assert.deepEqual(await store.getUser(alice.userId), alice);

      const impostor = { ...alice, apiKeyHash: new Uint8Array(32) };
      assert.equal(await store.insertUser(impostor), false);
      assert.deepEqual(await store.getUser(alice.userId), alice);

      await store.deleteUser(alice.userId);
      assert.equal(await store.getUser(alice.userId), undefined);
      assert.equal(await store.getUser('nobody' as UserId), undefined);
    });

    test('keys round-trip bytes and json; duplicate insert returns false', async () => {
      const bob = user('bob');
      await store.insertUser(bob);
      const k = key('key-1', bob.userId);
      assert.equal(await store.insertKey(k), true);
      const got = await store.getKey(k.keyId);
      assert.deepEqual(got, k);
      // Owned plain Uint8Arrays whatever the driver hands back (node-postgres: Buffers).
      assert.equal(Object.getPrototypeOf(got?.publicKey), Uint8Array.prototype);
      assert.equal(Object.getPrototypeOf(got?.shareCiphertext), Uint8Array.prototype);

      assert.equal(await store.insertKey({ ...k, threshold: 3 }), false);
      assert.deepEqual(await store.getKey(k.keyId), k);

      await store.deleteKey(k.keyId);
      assert.equal(await store.getKey(k.keyId), undefined);
    });

    test('a key needs an existing owner', async () => {
      await assert.rejects(store.insertKey(key('orphan', 'ghost' as UserId)));
      assert.equal(await store.getKey('orphan' as KeyId), undefined);
    });

    test('commit, rollback, and a nested rollback that keeps the outer work', async () => {
      const client = db.client;
      const names = async () =>
        (await client.query<{ name: string }>("select name from settings where name like 'tx-%' order by name")).rows.map(
          (r) => r.name,
        );

      await client.transaction((tx) => tx.query("insert into settings values ('tx-a', '1')"));
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.query("insert into settings values ('tx-b', '2')");
          throw new Error('abort');
        }),
        /abort/,
      );
      await client.transaction(async (tx) => {
        await tx.query("insert into settings values ('tx-c', '3')");
        await assert.rejects(
          tx.transaction(async (inner) => {
            await inner.query("insert into settings values ('tx-d', '4')");
            throw new Error('inner abort');
          }),
          /inner abort/,
        );
      });
      assert.deepEqual(await names(), ['tx-a', 'tx-c']);
    });

    test('seen invitations: true at first sight only; an expired entry is swept and frees its id', async () => {
      const seen = new SqlSeenInvitations(db.client);
      const later = new Date(Date.now() + 120_000);
      assert.equal(await seen.firstSight('11111111-1111-4111-8111-111111111111', later), true);
      assert.equal(await seen.firstSight('11111111-1111-4111-8111-111111111111', later), false);
      assert.equal(await seen.firstSight('22222222-2222-4222-8222-222222222222', later), true, 'ids are independent');
      assert.equal(await seen.firstSight('33333333-3333-4333-8333-333333333333', new Date(Date.now() - 1)), true);
      // Its invitation can no longer pass the age check, so the entry has no more work to do.
      assert.equal(await seen.firstSight('33333333-3333-4333-8333-333333333333', later), true);
      assert.equal(await seen.firstSight('11111111-1111-4111-8111-111111111111', later), false, 'unexpired entries stay');
    });
  });
}

/**
 * Persistence: rows written, the client closed, the database opened again. PGlite reopens
 * the same directory; PostgreSQL reconnects a new pool to the same schema. Either way the
 * data is there and the migrations are not applied again.
 */
function persistenceSuites(backend: Backend, titles: { raw: string; store: string }, reopenClient: (db: TestDatabase) => Promise<SqlClient>, reopenStore: (db: TestDatabase) => Promise<SqlNodeStore>): void {
  describe(`${backend.name}: close and reopen`, () => {
    let db: TestDatabase;

    before(async () => {
      db = await backend.open(migrate);
      // Rows for the last suite to find after reopening.
      const store = new SqlNodeStore(db.client);
      await store.insertUser(carol);
      await store.insertKey(carolsKey);
      await store.setSetting('kept', 'yes');
      await store.close();
    });

    after(() => db?.close());

    describe(titles.raw, () => {
      let client: SqlClient;

      before(async () => {
        client = await reopenClient(db);
      });

      after(() => client?.close());

      test('migrations are not re-applied', async () => {
        assert.deepEqual(await migrate(client), []);
        const { rows } = await client.query<{ name: string }>('select name from tandem_migrations order by name');
        assert.deepEqual(rows, ALL_MIGRATIONS);
      });
    });

    describe(titles.store, () => {
      let store: SqlNodeStore;

      before(async () => {
        store = await reopenStore(db);
      });

      after(() => store?.close());

      test('data survives close and reopen', async () => {
        assert.deepEqual(await store.getUser(carol.userId), carol);
        assert.deepEqual(await store.getKey(carolsKey.keyId), carolsKey);
        assert.equal(await store.getSetting('kept'), 'yes');
      });
    });
  });
}

for (const backend of backends) {
  if (backend.name === 'pglite') {
    persistenceSuites(
      backend,
      { raw: 'PgliteClient on the reopened directory (pglite)', store: 'embedded store reopened (pglite)' },
      (db) => PgliteClient.open((db.config as { dir: string }).dir),
      // openEmbeddedStore keeps its database in <dataDir>/db, which is where the helper put it.
      (db) => openEmbeddedStore(dirname((db.config as { dir: string }).dir)),
    );
  } else {
    persistenceSuites(
      backend,
      { raw: 'PostgresClient reconnected to the same schema (postgres)', store: 'PostgreSQL store reconnected (postgres)' },
      (db) => {
        const c = db.config as { url: string; schema: string };
        return PostgresClient.connect(c.url, c.schema);
      },
      (db) => openNodeStore(db.config),
    );
  }
}

for (const backend of backends) {
  describe(`${backend.name}: a database of release 0.1.0 with DKLs23 bans`, () => {
    test('bans kept as settings rows move to key_bans, and keep refusing', async () => {
      // Release 0.1.0's schema (migrations 0001-0004), with a ban as its recordBan wrote it.
      const db = await backend.open((sql) => runMigrations(sql, NODE_MIGRATIONS.slice(0, 4)));
      try {
        const old = new SqlNodeStore(db.client);
        const keyId = '3f2b9c1e-5a47-4d0e-9b2a-7c1d8e6f4a30';
        await old.setSetting(`dkls23-ban:${keyId}:node-2`, 'OT extension consistency check failed');
        await old.setSetting('admin_key_hash', 'ab'.repeat(32));
        assert.deepEqual(await migrate(db.client), ['0005_key_bans', '0006_seen_invitations', '0007_key_passkeys']);
        const bans = await new SqlBanStore(db.client).listBans(keyId);
        assert.deepEqual(bans.map((b) => [b.keyId, b.party, b.reason]), [[keyId, 'node-2', 'OT extension consistency check failed']]);
        assert.equal(await old.getSetting(`dkls23-ban:${keyId}:node-2`), undefined, 'moved, not copied');
        assert.equal(await old.getSetting('admin_key_hash'), 'ab'.repeat(32), 'other settings untouched');
      } finally {
        await db.close();
      }
    });
  });
}
