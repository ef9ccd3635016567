import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Keyring } from '../../../src/crypto/share-seal.js';
import { checkSealedRecords, resealInBackground } from '../../../src/db/kek-startup.js';
import { PgliteClient } from '../../../src/db/pglite-client.js';
import type { SealedColumn } from '../../../src/db/reseal.js';
import type { SqlClient } from '../../../src/db/sql.js';

/**
 * A process refuses to start with a keyring that can't open its sealed records, and re-seals
 * under the current KEK in the background when it holds previous ones. A table of its own
 * stands for the nodes' and the gateway's (in-memory PGlite, a schema per test).
 */
const A = () => new Uint8Array(32).fill(0xa1);
const B = () => new Uint8Array(32).fill(0xb2);
const C = () => new Uint8Array(32).fill(0xc3);
const aad = (row: Record<string, unknown>) => new TextEncoder().encode(`row/${String(row.id)}`);
const COL: SealedColumn = { table: 'sealed', idColumn: 'id', valueColumn: 'v', aadColumns: [], aad };

let db: PgliteClient;
let n = 0;
before(async () => {
  db = await PgliteClient.open('memory://');
});
after(() => db?.close());

/** A fresh schema whose table holds `rows` (id, sealed record). */
async function table(rows: Array<[string, Uint8Array]>): Promise<SqlClient> {
  await db.exec(`create schema k_${++n}; set search_path to k_${n}; create table sealed (id text primary key, v bytea not null)`);
  for (const [id, v] of rows) await db.query('insert into sealed (id, v) values ($1, $2)', [id, v]);
  return db;
}
const sealed = (ring: Keyring, id: string) => ring.seal(Uint8Array.of(1, 2, 3), aad({ id }));
/** A release-0.1.0 record: version 1 | iv | ciphertext | tag, no KEK id, under `raw`. */
function v1(raw: Uint8Array, id: string): Uint8Array {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', raw, iv);
  c.setAAD(aad({ id }));
  const body = Buffer.concat([c.update(Uint8Array.of(7)), c.final()]);
  return new Uint8Array(Buffer.concat([Buffer.of(1), iv, body, c.getAuthTag()]));
}

describe('checkSealedRecords', () => {
  test('records under the keyring\'s KEKs (or none) pass, and the census is returned', async () => {
    const a = new Keyring(A());
    const sql = await table([['1', sealed(a, '1')], ['2', sealed(a, '2')]]);
    assert.deepEqual(Object.fromEntries(await checkSealedRecords(sql, COL, new Keyring(B(), [A()]), 'TANDEM_KEK')), { [a.currentId]: 2 });
    assert.deepEqual(Object.fromEntries(await checkSealedRecords(await table([]), COL, new Keyring(B()), 'TANDEM_KEK')), {});
  });

  test('records under a KEK the keyring lacks stop the start, naming the KEK ids and what to do', async () => {
    const a = new Keyring(A());
    const b = new Keyring(B());
    const sql = await table([['1', sealed(a, '1')]]);
    await assert.rejects(checkSealedRecords(sql, COL, new Keyring(B()), 'TANDEM_GATEWAY_KEK'), {
      message:
        `sealed records are under KEK ${a.currentId}, which TANDEM_GATEWAY_KEK does not give (it gives ${b.currentId}; records: ${a.currentId}: 1). ` +
        'Give that KEK as the current one, or in TANDEM_GATEWAY_KEK_PREVIOUS while rotating',
    });
  });

  test('release 0.1.0 records (no KEK id): one that opens proves the KEK; one that does not stops the start', async () => {
    const sql = await table([['old', v1(A(), 'old')]]);
    assert.deepEqual(Object.fromEntries(await checkSealedRecords(sql, COL, new Keyring(B(), [A()]), 'TANDEM_KEK')), { v1: 1 });
    await assert.rejects(checkSealedRecords(sql, COL, new Keyring(C()), 'TANDEM_KEK'), {
      message: 'records sealed by an earlier release (no KEK id) do not open with the KEK TANDEM_KEK gives: give the KEK that release used',
    });
  });
});

describe('resealInBackground', () => {
  test('with one KEK there is nothing to do', async () => {
    const a = new Keyring(A());
    const sql = await table([['1', sealed(a, '1')]]);
    const logs: string[] = [];
    await resealInBackground(sql, COL, new Keyring(A()), (m) => logs.push(m));
    assert.deepEqual(logs, []);
  });

  test('re-seals under the current KEK and says when the previous ones can go', async () => {
    const a = new Keyring(A());
    const ring = new Keyring(B(), [A()]);
    const sql = await table([['1', sealed(a, '1')], ['2', sealed(a, '2')]]);
    const logs: string[] = [];
    await resealInBackground(sql, COL, ring, (m) => logs.push(m));
    assert.deepEqual(logs, [`KEK rotation: re-sealed 2 records under KEK ${ring.currentId}; none is left under another KEK, so the previous KEKs can be removed`]);
  });

  test('records no KEK opens are counted and left; a failure is logged, never thrown', async () => {
    const stray = new Keyring(C());
    const ring = new Keyring(B(), [A()]);
    const sql = await table([['1', sealed(new Keyring(A()), '1')], ['x', sealed(stray, 'x')]]);
    const logs: string[] = [];
    await resealInBackground(sql, COL, ring, (m) => logs.push(m));
    // The census lists KEK ids in the database's order.
    const census = [`${ring.currentId}: 1`, `${stray.currentId}: 1`];
    assert.ok(
      [census.join(', '), census.reverse().join(', ')].some((c) => logs[0] === `KEK rotation: re-sealed 1 records under KEK ${ring.currentId}; 1 still under another KEK (${c}); 1 opened with no configured KEK`),
      logs[0],
    );
    assert.equal(logs.length, 1);
    logs.length = 0;
    await db.exec('drop table sealed');
    await resealInBackground(sql, COL, ring, (m) => logs.push(m));
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^KEK rotation failed: .*sealed/);
  });
});
