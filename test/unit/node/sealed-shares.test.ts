import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { KeyId, PartyId, UserId } from '../../../src/core/ids.js';
import { Keyring, shareAad } from '../../../src/crypto/share-seal.js';
import { PgliteClient } from '../../../src/db/pglite-client.js';
import { resealAll, sealedCensus } from '../../../src/db/reseal.js';
import { nodeSharesColumn } from '../../../src/node/sealed-shares.js';
import { migrate } from '../../../src/storage/migrations.js';
import { SqlNodeStore } from '../../../src/storage/sql-store.js';

/**
 * A node's sealed shares as its KEK checks and rotation read them: the AAD names the node, the
 * key and the family, so a share moved to another row, another node's table or another family
 * opens nowhere. (In-memory PGlite.)
 */
const A = () => new Uint8Array(32).fill(0xa1);
const B = () => new Uint8Array(32).fill(0xb2);
const USER = 'a'.repeat(32) as UserId;

describe('nodeSharesColumn', () => {
  let db: PgliteClient;
  let store: SqlNodeStore;
  const plain = new Map<string, Uint8Array>();
  const share = async (keyId: string) => (await db.query<{ c: Uint8Array }>('select share_ciphertext as c from keys where key_id = $1', [keyId])).rows[0]!.c;
  const insert = async (node: string, keyId: string, family: 'bip340' | 'ecdsa' | 'ed25519') => {
    const p = new Uint8Array(randomBytes(32));
    plain.set(keyId, p);
    await store.insertKey({
      keyId: keyId as KeyId,
      family,
      ownerUserId: USER,
      publicKey: new Uint8Array(33),
      threshold: 2,
      parties: ['node-1', 'node-2'] as PartyId[],
      publicPackage: {},
      shareCiphertext: new Keyring(A()).seal(p, shareAad(node, keyId, family)),
      createdAt: new Date(0),
    });
  };

  before(async () => {
    db = await PgliteClient.open('memory://');
    await migrate(db);
    store = new SqlNodeStore(db);
    await store.insertUser({ userId: USER, apiKeyHash: new Uint8Array(32), createdAt: new Date(0) });
  });
  after(() => db?.close());

  test("names the node's keys table and the row's id and family as the AAD", () => {
    const col = nodeSharesColumn('node-1');
    assert.equal(col.table, 'keys');
    assert.equal(col.idColumn, 'key_id');
    assert.equal(col.valueColumn, 'share_ciphertext');
    assert.deepEqual(col.aadColumns, ['family']);
    assert.deepEqual(col.aad({ key_id: 'k1', family: 'ecdsa', share_ciphertext: new Uint8Array(1) }), shareAad('node-1', 'k1', 'ecdsa'));
  });

  test("its own rows open and re-seal; another node's column opens none of them", async () => {
    await insert('node-1', 'own-1', 'bip340');
    await insert('node-1', 'own-2', 'ecdsa');
    const before = [await share('own-1'), await share('own-2')];
    assert.deepEqual(await resealAll(db, nodeSharesColumn('node-2'), new Keyring(B(), [A()])), { resealed: 0, failed: ['own-1', 'own-2'] });
    assert.deepEqual([await share('own-1'), await share('own-2')], before, 'refused records are left as they are');
    assert.deepEqual(await resealAll(db, nodeSharesColumn('node-1'), new Keyring(B(), [A()])), { resealed: 2, failed: [] });
    const ring = new Keyring(B());
    assert.deepEqual(ring.open(await share('own-1'), shareAad('node-1', 'own-1', 'bip340')), plain.get('own-1'));
    assert.equal((await sealedCensus(db, nodeSharesColumn('node-1'))).get(ring.currentId), 2);
  });

  test('a share swapped between two rows, or moved to another family, is refused', async () => {
    await insert('node-1', 'swap-1', 'bip340');
    await insert('node-1', 'swap-2', 'bip340');
    await insert('node-1', 'fam-1', 'ed25519');
    await db.query(
      `update keys set share_ciphertext = case key_id when 'swap-1' then (select share_ciphertext from keys where key_id = 'swap-2')
                                                      else (select share_ciphertext from keys where key_id = 'swap-1') end
        where key_id in ('swap-1', 'swap-2')`,
    );
    await db.query(`update keys set family = 'bip340' where key_id = 'fam-1'`);
    const r = await resealAll(db, nodeSharesColumn('node-1'), new Keyring(B(), [A()]));
    assert.deepEqual(r.failed.sort(), ['fam-1', 'swap-1', 'swap-2']);
    const moved = await share('swap-1');
    assert.throws(() => new Keyring(A()).open(moved, shareAad('node-1', 'swap-1', 'bip340')), { message: 'sealed share failed authentication: wrong KEK, wrong row, or tampered data' });
    assert.deepEqual(new Keyring(A()).open(moved, shareAad('node-1', 'swap-2', 'bip340')), plain.get('swap-2'), 'it still opens for the row it was sealed for');
  });
});
