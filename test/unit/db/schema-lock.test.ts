import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PgliteClient } from '../../../src/db/pglite-client.js';
import { lockInSchema } from '../../../src/db/schema-lock.js';
import type { SqlClient } from '../../../src/db/sql.js';

/**
 * Advisory locks keyed by the current schema: what one component locks never blocks another
 * component's schema on the same server. Checked in pg_locks (in-memory PGlite).
 */
interface Lock {
  classid: number;
  objid: number;
}
const locks = async (tx: SqlClient) =>
  (await tx.query<Lock>("select classid::int as classid, objid::int as objid from pg_locks where locktype = 'advisory' and objsubid = 2 order by 1, 2")).rows;
const hashtext = async (tx: SqlClient, text: string) => (await tx.query<{ h: number }>('select hashtext($1) as h', [text])).rows[0]!.h;
// Advisory lock keys are stored as oids (unsigned); hashtext is a signed int4.
const asOid = (h: number) => h >>> 0;

let db: PgliteClient;
before(async () => {
  db = await PgliteClient.open('memory://');
  await db.exec('create schema node_1; create schema node_2');
});
after(() => db?.close());

describe('lockInSchema', () => {
  test('takes a transaction lock keyed by (space, hash of schema/name), released at commit', async () => {
    await db.transaction(async (tx) => {
      await tx.exec('set local search_path to node_1');
      await lockInSchema(tx, 7, 'audit');
      const want = asOid(await hashtext(tx, 'node_1/audit'));
      assert.deepEqual((await locks(tx)).map((l) => ({ classid: l.classid, objid: asOid(l.objid) })), [{ classid: 7, objid: want }]);
    });
    assert.deepEqual(await locks(db), [], 'released with the transaction');
  });

  test('the same name in two schemas, or two names in one, are two different locks', async () => {
    await db.transaction(async (tx) => {
      await tx.exec('set local search_path to node_1');
      await lockInSchema(tx, 7, 'audit');
      await lockInSchema(tx, 7);
      await tx.exec('set local search_path to node_2');
      await lockInSchema(tx, 7, 'audit');
      const got = (await locks(tx)).map((l) => asOid(l.objid)).sort();
      const want = [asOid(await hashtext(tx, 'node_1/audit')), asOid(await hashtext(tx, 'node_1/')), asOid(await hashtext(tx, 'node_2/audit'))].sort();
      assert.deepEqual(got, want);
      assert.equal(new Set(got).size, 3);
    });
  });

  test('with no current schema it still locks (hashtext(null) would have made the call a no-op)', async () => {
    await db.transaction(async (tx) => {
      await tx.exec("set local search_path to ''");
      assert.equal((await tx.query<{ s: string | null }>('select current_schema() as s')).rows[0]!.s, null);
      await lockInSchema(tx, 9, 'x');
      const got = await locks(tx);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.classid, 9);
      assert.equal(asOid(got[0]!.objid), asOid(await hashtext(tx, '/x')));
    });
  });
});
