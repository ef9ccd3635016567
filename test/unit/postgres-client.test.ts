import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ChallengeRecord, GatewayStore } from '../../src/gateway/storage/gateway-store.js';
import { GATEWAY_MIGRATIONS } from '../../src/gateway/storage/migrations.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import type { PartyId, UserId } from '../../src/core/ids.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { migrate } from '../../src/storage/migrations.js';
import { runMigrations } from '../../src/db/migrate.js';
import { checkSchemaName, PostgresClient } from '../../src/db/postgres-client.js';
import { RequestAuthStore } from '../../src/storage/request-auth-store.js';
import { RoomStore } from '../../src/storage/room-store.js';
import { SqlSeenInvitations } from '../../src/storage/seen-invitations.js';
import type { SqlClient } from '../../src/db/sql.js';
import { SqlRuleCounters } from '../../src/storage/sql-policy-store.js';
import { SqlNodeStore } from '../../src/storage/sql-store.js';
import { connectPostgres, dropSchema, freshSchema, pglite, POSTGRES_URL, postgresSkipped, type TestDatabase } from '../helpers/databases.js';

/**
 * What only a PostgreSQL server can show: several processes (pools) on one schema at
 * once, a real connection pool under transactions, schemas on a shared database, and
 * node-postgres' value conversions. Skipped only under TANDEM_TEST_POSTGRES=skip (see
 * test/helpers/databases.ts); an unreachable server fails these tests.
 */
const skip = postgresSkipped ? 'TANDEM_TEST_POSTGRES=skip' : false;

const NODE_MIGRATION_NAMES = ['0001_initial', '0002_policies_and_audit', '0003_signed_requests', '0004_rooms', '0005_key_bans', '0006_seen_invitations', '0007_key_passkeys'];

/** Schemas made here, dropped after the file. */
const made: string[] = [];
/** Pools opened by the running test (closed after it) and by suites' hooks (closed at the end). */
const testPools: SqlClient[] = [];
const suitePools: SqlClient[] = [];

function schema(): string {
  const s = freshSchema();
  made.push(s);
  return s;
}

/** A pool on `s`, closed after the current test (or, with `forSuite`, after the file). */
async function connect(s: string, maxConnections = 5, forSuite = false): Promise<PostgresClient> {
  const c = await connectPostgres(s, { maxConnections });
  (forSuite ? suitePools : testPools).push(c);
  return c;
}

afterEach(async () => {
  await Promise.allSettled(testPools.splice(0).map((c) => c.close()));
});

after(async () => {
  await Promise.allSettled([...testPools, ...suitePools].map((c) => c.close()));
  for (const s of made) await dropSchema(s);
});

/** Two separate pools (as two processes would have) on one fresh, migrated schema. */
async function twoPools(): Promise<[PostgresClient, PostgresClient]> {
  const s = schema();
  const a = await connect(s);
  await migrate(a);
  return [a, await connect(s)];
}

/** `n` calls, alternating between the two pools, all started at once. */
function race<T>(n: number, pools: readonly SqlClient[], call: (sql: SqlClient, i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => call(pools[i % pools.length]!, i)));
}

describe('PostgresClient: several clients on one schema', { skip }, () => {
  test('clients connecting to a fresh schema at the same time all succeed', async () => {
    // `create schema if not exists` from sessions racing on a fresh database: all but one
    // used to fail on pg_namespace's unique index (23505).
    for (let round = 0; round < 8; round++) {
      const s = schema();
      const settled = await Promise.allSettled(Array.from({ length: 6 }, () => connectPostgres(s, { maxConnections: 1 })));
      await Promise.all(settled.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
      const failed = settled.filter((r) => r.status === 'rejected');
      assert.deepEqual(failed, [], `round ${round}: ${failed.map((r) => String((r as PromiseRejectedResult).reason)).join('; ')}`);
    }
  });

  test('concurrent migrate from four clients applies each migration once', async () => {
    const s = schema();
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(s, 2)));
    const applied = await Promise.all(clients.map((c) => migrate(c)));
    assert.deepEqual(applied.flat().sort(), NODE_MIGRATION_NAMES, 'every migration applied exactly once in all');
    assert.equal(applied.filter((a) => a.length > 0).length, 1, 'one client applied them all, under the advisory lock');
    const { rows } = await clients[3]!.query<{ name: string }>('select name from tandem_migrations order by name');
    assert.deepEqual(rows.map((r) => r.name), NODE_MIGRATION_NAMES);
    assert.deepEqual(await migrate(clients[0]!), []);
  });

  test('two gateway copies opening one fresh schema at once both come up, migrated once', async () => {
    const s = schema();
    const config = { kind: 'postgres' as const, url: POSTGRES_URL, schema: s };
    const stores = await Promise.all([openGatewayStore(config), openGatewayStore(config)]);
    try {
      const c = await connect(s, 1);
      const { rows } = await c.query<{ name: string }>('select name from tandem_migrations order by name');
      assert.deepEqual(rows.map((r) => r.name), GATEWAY_MIGRATIONS.map((m) => m.name));
      assert.deepEqual(await runMigrations(c, GATEWAY_MIGRATIONS), []);
      // Both see one database.
      await stores[0].putSettingIfAbsent('k', Uint8Array.from([1]));
      assert.deepEqual(await stores[1].putSettingIfAbsent('k', Uint8Array.from([2])), Uint8Array.from([1]));
    } finally {
      await Promise.all(stores.map((st) => st.close()));
    }
  });

  test('RoomStore.claim: one winner across two pools', async () => {
    const [a, b] = await twoPools();
    const owner = 'c'.repeat(32) as UserId;
    await new SqlNodeStore(a).insertUser({ userId: owner, apiKeyHash: new Uint8Array(32), createdAt: new Date() });
    const roomUuid = '44444444-4444-4444-8444-444444444444';
    await new RoomStore(a).insert({
      roomUuid,
      ownerUserId: owner,
      numParties: 2,
      clients: [{ partyId: 'phone' as PartyId, publicKey: new Uint8Array(32).fill(1) }],
      relayAddress: '127.0.0.1:7000',
      expiresAt: new Date(Date.now() + 60_000),
    });
    const results = await race(16, [a, b], (sql) => new RoomStore(sql).claim(roomUuid, owner, 2));
    const won = results.filter((r) => !('refused' in r));
    assert.equal(won.length, 1);
    assert.equal(won[0] && 'roomUuid' in won[0] && won[0].roomUuid, roomUuid);
    assert.ok(results.every((r) => !('refused' in r) || r.refused === 'was already used'));
  });

  test('RequestAuthStore.useNonce: one winner across two pools; other nonces are independent', async () => {
    const [a, b] = await twoPools();
    const expires = new Date(Date.now() + 60_000);
    const results = await race(16, [a, b], (sql) => new RequestAuthStore(sql).useNonce('u1', 'n-shared', expires));
    assert.equal(results.filter(Boolean).length, 1);
    const distinct = await race(8, [a, b], (sql, i) => new RequestAuthStore(sql).useNonce('u1', `n-${i}`, expires));
    assert.deepEqual(distinct, new Array(8).fill(true));
    assert.equal(await new RequestAuthStore(b).useNonce('u2', 'n-shared', expires), true, 'nonces are per user');
  });

  test('SqlSeenInvitations.firstSight: one winner across two pools', async () => {
    const [a, b] = await twoPools();
    const expires = new Date(Date.now() + 60_000);
    const results = await race(16, [a, b], (sql) => new SqlSeenInvitations(sql).firstSight('55555555-5555-4555-8555-555555555555', expires));
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('audit appends from two pools: gapless seqs and one chain', async () => {
    const [a, b] = await twoPools();
    const entries = await race(30, [a, b], (sql, i) => new AuditLog(sql).append({ requestId: `r-${i}`, actor: 'admin', operation: 'sign', result: 'ok' }));
    assert.deepEqual(entries.map((e) => e.seq).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
    const v = await new AuditLog(b).verify();
    assert.deepEqual(v, { ok: true, entries: 30, head: entries.find((e) => e.seq === 30)?.hash });
  });

  test('rate limit from two pools: exactly max succeed', async () => {
    const [a, b] = await twoPools();
    const now = new Date();
    const results = await race(20, [a, b], (sql) => new SqlRuleCounters(sql).takeRate('shared', 60, 5, now));
    assert.equal(results.filter(Boolean).length, 5);
    const daily = await race(20, [a, b], (sql) => new SqlRuleCounters(sql).addDaily('d', '2024-06-01', 10n, 55n));
    assert.equal(daily.filter(Boolean).length, 5);
    assert.equal(await new SqlRuleCounters(a).dailyTotal('d', '2024-06-01'), 50n);
  });

  describe('gateway store: single-use operations across two copies', () => {
    let stores: GatewayStore[];
    const scopeId = 'scope-1';
    const accountId = 'acct-1';

    before(async () => {
      const config = { kind: 'postgres' as const, url: POSTGRES_URL, schema: schema() };
      stores = [await openGatewayStore(config), await openGatewayStore(config)];
      await stores[0]!.insertScope({ scopeId, config: { rp: { id: 'example.com', name: 'Example', origins: ['https://example.com'] }, lambda_allowlist: [] }, ownerPublicKey: null });
      assert.equal(
        await stores[0]!.reserveAccount({ accountId, scopeId, kind: 'passkey', username: 'alice', displayName: 'Alice', userHandle: 'aGFuZGxl', keyId: null, publicKey: null, address: null }),
        true,
      );
    });

    after(async () => {
      await Promise.all((stores ?? []).map((s) => s.close()));
    });

    const both = <T>(n: number, call: (s: GatewayStore, i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => call(stores[i % 2]!, i)));

    test('a challenge is consumed once', async () => {
      const ch: ChallengeRecord = {
        challengeId: 'ch-1',
        purpose: 'registration',
        scopeId,
        username: 'bob',
        keyBinding: 'kb',
        challenge: 'Y2hhbGxlbmdl',
        payload: { displayName: 'Bob', n: 1, nested: { ok: true } },
        expiresAt: new Date('2030-01-02T03:04:05.678Z'),
      };
      await stores[0]!.insertChallenge(ch);
      const got = await both(16, (s) => s.consumeChallenge('ch-1'));
      const winners = got.filter((g) => g !== undefined);
      assert.equal(winners.length, 1);
      assert.deepEqual(winners[0], ch);
    });

    test('a username is reserved once; a signature is used once; a lambda runs at most max times', async () => {
      const reserved = await both(10, (s, i) =>
        s.reserveAccount({ accountId: `acct-race-${i}`, scopeId, kind: 'passkey', username: 'carol', displayName: 'Carol', userHandle: `h${i}`, keyId: null, publicKey: null, address: null }),
      );
      assert.equal(reserved.filter(Boolean).length, 1);

      const expires = new Date(Date.now() + 60_000);
      const used = await both(16, (s) => s.markSignatureUsed('digest-1', expires));
      assert.equal(used.filter(Boolean).length, 1);

      await stores[0]!.insertLambda({ lambdaId: 'l-1', scopeId, accountId, definition: { steps: [] }, maxExecutions: 3, executions: 0, createdAt: new Date() });
      const runs = await both(12, (s) => s.claimLambdaExecution('l-1'));
      assert.equal(runs.filter(Boolean).length, 3);
      assert.equal((await stores[1]!.getLambda('l-1'))?.executions, 3);
    });

    test('a credential counter (bigint column) moves once per compare-and-set, read back as a number', async () => {
      const start = 2 ** 32 - 2; // a WebAuthn counter is a uint32
      await stores[0]!.insertCredential({ credentialId: 'cred-1', accountId, publicKey: Uint8Array.from([0, 1, 254, 255]), counter: start, transports: ['internal'] });
      const bumped = await both(10, (s) => s.bumpCounter('cred-1', start, start + 1));
      assert.equal(bumped.filter(Boolean).length, 1);
      const [cred] = await stores[1]!.credentialsOf(accountId);
      assert.deepEqual(cred, { credentialId: 'cred-1', accountId, publicKey: Uint8Array.from([0, 1, 254, 255]), counter: start + 1, transports: ['internal'] });
    });
  });
});

describe('PostgresClient: transactions', { skip }, () => {
  let client: PostgresClient;
  let other: PostgresClient;

  before(async () => {
    const s = schema();
    // One connection: a transaction that left its connection broken or mid-transaction
    // would hang or fail every statement after it.
    client = await connect(s, 1, true);
    other = await connect(s, 1, true);
    await client.exec('create table t (name text primary key)');
  });

  const names = async () => (await client.query<{ name: string }>('select name from t order by name')).rows.map((r) => r.name);

  test('a transaction that throws is rolled back, and its connection is usable again', async () => {
    await client.query('delete from t');
    await assert.rejects(
      client.transaction(async (tx) => {
        await tx.query("insert into t values ('a')");
        await tx.query("insert into t values ('b')");
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.deepEqual(await names(), []);
    // A statement that fails (not just JS that throws) rolls back too.
    await assert.rejects(
      client.transaction(async (tx) => {
        await tx.query("insert into t values ('c')");
        await tx.query("insert into t values ('c')");
      }),
      (e: unknown) => (e as { code?: string }).code === '23505',
    );
    assert.deepEqual(await names(), []);
    await client.transaction((tx) => tx.query("insert into t values ('d')"));
    assert.deepEqual(await names(), ['d']);
  });

  test('nested transactions (savepoints) roll back only their own part', async () => {
    await client.query('delete from t');
    await client.transaction(async (tx) => {
      await tx.query("insert into t values ('outer')");
      await tx.transaction((inner) => inner.query("insert into t values ('kept')"));
      await assert.rejects(
        tx.transaction(async (inner) => {
          await inner.query("insert into t values ('dropped')");
          throw new Error('inner abort');
        }),
        /inner abort/,
      );
      // A failed statement aborts a PostgreSQL transaction; rolling back to the savepoint
      // must leave the outer one usable.
      await assert.rejects(tx.transaction((inner) => inner.query("insert into t values ('outer')")), (e: unknown) => (e as { code?: string }).code === '23505');
      await tx.transaction(async (inner) => {
        await inner.query("insert into t values ('deep-kept')");
        await assert.rejects(
          inner.transaction(async (deeper) => {
            await deeper.query("insert into t values ('deep-dropped')");
            throw new Error('deeper abort');
          }),
        );
      });
      await tx.query("insert into t values ('last')");
    });
    assert.deepEqual(await names(), ['deep-kept', 'kept', 'last', 'outer']);
  });

  test('an inner success is undone when the outer transaction throws', async () => {
    await client.query('delete from t');
    await assert.rejects(
      client.transaction(async (tx) => {
        await tx.transaction((inner) => inner.query("insert into t values ('inner')"));
        throw new Error('outer abort');
      }),
      /outer abort/,
    );
    assert.deepEqual(await names(), []);
  });

  test('uncommitted work is invisible to another pool until commit', async () => {
    await client.query('delete from t');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const didInsert = new Promise<void>((r) => (inserted = r));
    const tx = client.transaction(async (t) => {
      await t.query("insert into t values ('pending')");
      inserted();
      await gate;
    });
    await didInsert;
    assert.deepEqual((await other.query('select name from t')).rows, []);
    release();
    await tx;
    assert.deepEqual((await other.query('select name from t')).rows, [{ name: 'pending' }]);
  });

  test("a transaction's client can't be closed", async () => {
    await client.transaction(async (tx) => {
      await assert.rejects(tx.close(), /cannot close a transaction/);
    });
  });
});

describe('PostgresClient: values', { skip }, () => {
  let client: PostgresClient;
  let embedded: TestDatabase;

  before(async () => {
    client = await connect(schema(), 2, true);
    embedded = await pglite.open(async () => {});
  });

  after(() => embedded?.close());

  test('bytea round-trips as bytes, every byte value', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const { rows } = await client.query<{ b: Uint8Array; len: number }>('select $1::bytea as b, length($1::bytea) as len', [all]);
    assert.ok(rows[0]!.b instanceof Uint8Array);
    assert.deepEqual(new Uint8Array(rows[0]!.b), all);
    assert.equal(rows[0]!.len, 256, 'the server got the bytes, not text');
    // An offset view into a larger buffer sends only its own bytes.
    const view = all.subarray(10, 14);
    const v = await client.query<{ b: Uint8Array }>('select $1::bytea as b', [view]);
    assert.deepEqual(new Uint8Array(v.rows[0]!.b), Uint8Array.from([10, 11, 12, 13]));
  });

  test('jsonb and json parsed; JSON parameters go in as text with ::jsonb', async () => {
    const value = { a: [1, 'two', null, { d: true }], 'ü': 'é', n: -1.5 };
    const { rows } = await client.query<{ j: unknown; arr: unknown; s: unknown; plain: unknown }>(
      `select $1::jsonb as j, '[1,2]'::jsonb as arr, '"x"'::jsonb as s, '{"k": 1}'::json as plain`,
      [JSON.stringify(value)],
    );
    assert.deepEqual(rows[0], { j: value, arr: [1, 2], s: 'x', plain: { k: 1 } });
  });

  test('timestamptz as Date, to the millisecond', async () => {
    const at = new Date('2024-05-06T07:08:09.123Z');
    const { rows } = await client.query<{ t: Date; iso: string }>(`select $1::timestamptz as t, to_char($1::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') as iso`, [at]);
    assert.ok(rows[0]!.t instanceof Date);
    assert.equal(rows[0]!.t.getTime(), at.getTime());
    assert.equal(rows[0]!.iso, '2024-05-06T07:08:09.123', 'the server stored the instant, not a local wall time');
  });

  test('int8 and count(*) as numbers; past 2^53 an exact bigint, not a rounded number', async () => {
    await client.exec('create table n (v bigint)');
    await client.query('insert into n values ($1), ($2), ($3)', [1, Number.MAX_SAFE_INTEGER, -5]);
    const { rows } = await client.query<{ c: unknown; total: unknown; biggest: unknown }>('select count(*) as c, sum(v)::int8 - $1::int8 as total, max(v) as biggest from n', [Number.MAX_SAFE_INTEGER]);
    assert.deepEqual(rows[0], { c: 3, total: -4, biggest: Number.MAX_SAFE_INTEGER });
    const big = await client.query<{ x: unknown; y: unknown; z: unknown }>("select '9007199254740993'::int8 as x, '-9007199254740993'::int8 as y, '9223372036854775807'::int8 as z");
    assert.deepEqual(big.rows[0], { x: 9007199254740993n, y: -9007199254740993n, z: 9223372036854775807n });
    const param = await client.query<{ x: unknown }>('select $1::int8 + 1 as x', [9007199254740993n]);
    assert.deepEqual(param.rows[0], { x: 9007199254740994n });
  });

  test('values come back as PGlite gives them (bytes compared as bytes)', async () => {
    const sql = `select 1::int8 as small8, '9007199254740993'::int8 as big8, count(*) as cnt, 7::int4 as i4, 2::int2 as i2,
                        1.5::float8 as f8, '12345678901234567890.5'::numeric as num, true as bo, 'x'::text as t, null::text as nul,
                        '\\x00ff'::bytea as b, '{"a":[1,{"b":null}]}'::jsonb as j, '2024-05-06T07:08:09.123Z'::timestamptz as ts,
                        array[1,2]::int4[] as arr
                 from (values (1), (2)) v(x)`;
    const norm = (r: Record<string, unknown>) => ({ ...r, b: new Uint8Array(r.b as Uint8Array) });
    const onServer = (await client.query<Record<string, unknown>>(sql)).rows.map(norm);
    const onPglite = (await embedded.client.query<Record<string, unknown>>(sql)).rows.map(norm);
    assert.deepEqual(onServer, onPglite);
  });
});

// Needs no server (the name is checked before connecting), so it runs under TANDEM_TEST_POSTGRES=skip too.
describe('PostgresClient: schema names', () => {
  test('a schema name that is not a plain lower-case identifier is refused before connecting', async () => {
    // Port 1: a connection attempt would fail with ECONNREFUSED, not with the name check.
    const nowhere = 'postgres://127.0.0.1:1/none';
    for (const bad of ['', 'Tandem', 'bad-name', '1abc', 'a b', 'x;drop schema public cascade', 'x"y', 'é', 'a'.repeat(64), 'public.x']) {
      await assert.rejects(PostgresClient.connect(nowhere, bad), /invalid schema name/, JSON.stringify(bad));
      assert.throws(() => checkSchemaName(bad), /invalid schema name/);
    }
    for (const good of ['tandem_node_1', '_x', 'a'.repeat(63), 't_0123abcd']) assert.equal(checkSchemaName(good), good);
  });
});

describe('PostgresClient: schemas', { skip }, () => {

  test('an unreachable server fails connect itself', async () => {
    await assert.rejects(PostgresClient.connect('postgres://127.0.0.1:1/none', 't_nowhere', { connectTimeoutMs: 2000 }), (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED');
  });

  test('search_path isolation: each client sees its own schema only', async () => {
    const s1 = schema();
    const s2 = schema();
    const a = await connect(s1, 2);
    const b = await connect(s2, 2);
    assert.deepEqual((await a.query('select current_schema() as s')).rows, [{ s: s1 }]);
    assert.deepEqual((await b.query('select current_schema() as s')).rows, [{ s: s2 }]);

    await a.exec("create table only_here (v text); insert into only_here values ('secret')");
    await assert.rejects(b.query('select v from only_here'), (e: unknown) => (e as { code?: string }).code === '42P01');
    // Created unqualified from b, a table of the same name is b's own.
    await b.exec("create table only_here (v text); insert into only_here values ('mine')");
    assert.deepEqual((await b.query('select v from only_here')).rows, [{ v: 'mine' }]);
    assert.deepEqual((await a.query('select v from only_here')).rows, [{ v: 'secret' }]);

    // Migrations are bookkept per schema: migrating s1 does nothing for s2.
    assert.deepEqual(await migrate(a), NODE_MIGRATION_NAMES);
    assert.deepEqual(await migrate(b), NODE_MIGRATION_NAMES);
    await new SqlNodeStore(a).setSetting('node_id', 'node-a');
    assert.equal(await new SqlNodeStore(b).getSetting('node_id'), undefined);
    // Even inside a transaction (a pooled connection of its own).
    await b.transaction(async (tx) => {
      assert.deepEqual((await tx.query('select current_schema() as s')).rows, [{ s: s2 }]);
    });
  });
});
