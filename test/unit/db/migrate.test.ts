import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runMigrations, type Migration } from '../../../src/db/migrate.js';
import { PgliteClient } from '../../../src/db/pglite-client.js';

/** The migration runner (in-memory PGlite): in order, once, and all or nothing. */
const M1: Migration = { name: '0001_a', sql: 'create table a (id int primary key)' };
const M2: Migration = { name: '0002_b', sql: 'create table b (id int primary key); insert into a values (1)' };
const M3: Migration = { name: '0003_c', sql: 'alter table b add column note text' };

// One in-memory database (opening one takes seconds); each test works in a schema of its own.
let db: PgliteClient;
let schemas = 0;
before(async () => {
  db = await PgliteClient.open('memory://');
});
after(() => db?.close());
async function withDb(fn: (db: PgliteClient) => Promise<void>): Promise<void> {
  const schema = `m_${++schemas}`;
  await db.exec(`create schema ${schema}; set search_path to ${schema}`);
  await fn(db);
}
const applied = async (db: PgliteClient) => (await db.query<{ name: string }>('select name from tandem_migrations order by name')).rows.map((r) => r.name);
const tables = async (db: PgliteClient) =>
  (await db.query<{ t: string }>("select table_name as t from information_schema.tables where table_schema = current_schema() order by 1")).rows.map((r) => r.t);

describe('runMigrations', () => {
  test('applies every migration in order and returns their names; a second run applies nothing', async () => {
    await withDb(async (db) => {
      assert.deepEqual(await runMigrations(db, [M1, M2]), ['0001_a', '0002_b']);
      assert.deepEqual(await tables(db), ['a', 'b', 'tandem_migrations']);
      assert.deepEqual((await db.query('select id from a')).rows, [{ id: 1 }]);
      assert.deepEqual(await runMigrations(db, [M1, M2]), []);
      assert.deepEqual(await applied(db), ['0001_a', '0002_b']);
    });
  });

  test('a later release applies only its new migrations', async () => {
    await withDb(async (db) => {
      await runMigrations(db, [M1, M2]);
      assert.deepEqual(await runMigrations(db, [M1, M2, M3]), ['0003_c']);
      assert.deepEqual((await db.query<{ c: string }>("select column_name as c from information_schema.columns where table_schema = current_schema() and table_name = 'b' order by ordinal_position")).rows.map((r) => r.c), ['id', 'note']);
    });
  });

  test('a failing migration leaves neither its changes, nor the ones before it in the run, nor a log entry', async () => {
    await withDb(async (db) => {
      await runMigrations(db, [M1]);
      const broken: Migration = { name: '0003_broken', sql: 'create table c (id int); select no_such_function()' };
      await assert.rejects(runMigrations(db, [M1, M2, broken]), /no_such_function/);
      assert.deepEqual(await applied(db), ['0001_a']);
      assert.deepEqual(await tables(db), ['a', 'tandem_migrations'], 'b (0002) and c are gone with the failed run');
      assert.deepEqual((await db.query('select id from a')).rows, []);
      assert.deepEqual(await runMigrations(db, [M1, M2]), ['0002_b'], 'the next start applies what was rolled back');
    });
  });

  test('the log records when each migration was applied', async () => {
    await withDb(async (db) => {
      const t0 = Date.now();
      await runMigrations(db, [M1]);
      const { rows } = await db.query<{ name: string; applied_at: Date }>('select name, applied_at from tandem_migrations');
      assert.equal(rows.length, 1);
      assert.ok(rows[0]!.applied_at instanceof Date);
      assert.ok(Math.abs(rows[0]!.applied_at.getTime() - t0) < 60_000);
    });
  });
});
