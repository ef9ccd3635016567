import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { AUDIT_LOCK_SPACE, AuditLog, auditHash, canonicalJson, GENESIS_HASH, toJsonValue, type AuditEntry } from '../../src/storage/audit-log.js';
import { openDatabase } from '../../src/db/open-database.js';
import { lockInSchema } from '../../src/db/schema-lock.js';
import { migrate } from '../../src/storage/migrations.js';
import type { SqlClient } from '../../src/db/sql.js';
import { backends, postgres, postgresSkipped, type TestDatabase } from '../helpers/databases.js';
import { withTimeout } from '../../src/core/timeout.js';

describe('canonical encoding', () => {
  test('sorted keys at every depth, no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { y: 'é', x: null }], c: false } }), '{"a":{"c":false,"d":[3,{"x":null,"y":"é"}]},"b":1}');
    assert.equal(canonicalJson([]), '[]');
    assert.equal(canonicalJson('a"b'), '"a\\"b"');
  });

  test('details become plain JSON; secrets are redacted', () => {
    assert.deepEqual(toJsonValue({ amount: 10n ** 20n, msg: Uint8Array.from([0, 255]), at: new Date(0), skip: undefined, list: [undefined] }), {
      amount: '100000000000000000000',
      msg: '00ff',
      at: '1970-01-01T00:00:00.000Z',
      list: [null],
    });
    assert.deepEqual(toJsonValue({ api_key: 'x', authorization: 'y', share: 'z', note: 'tdm_0123456789abcdef_QUJDREVGR0hJSktMTU5PUA' }), {
      api_key: '[redacted]',
      authorization: '[redacted]',
      share: '[redacted]',
      note: '[redacted]',
    });
    assert.throws(() => toJsonValue({ x: Number.NaN }), TypeError);
    assert.throws(() => toJsonValue({ x: new Map() }), TypeError);
  });

  test('the hash is SHA-256 of the canonical JSON of the entry', () => {
    const e = {
      seq: 1,
      ts: '2024-01-02T03:04:05.678Z',
      requestId: 'r',
      actor: 'admin',
      operation: 'create-policy',
      keyId: null,
      ruleId: null,
      result: 'ok' as const,
      detail: { name: 'p' },
      prevHash: GENESIS_HASH,
    };
    const text = `{"actor":"admin","detail":{"name":"p"},"key_id":null,"operation":"create-policy","prev_hash":"${GENESIS_HASH}","request_id":"r","result":"ok","rule_id":null,"seq":1,"ts":"2024-01-02T03:04:05.678Z"}`;
    assert.equal(auditHash(e), createHash('sha256').update(text).digest('hex'));
  });
});

for (const backend of backends) {
  describe(`AuditLog on ${backend.name}`, () => {
    let db: TestDatabase;
    let client: SqlClient;
    let log: AuditLog;

    before(async () => {
      db = await backend.open(migrate);
      client = db.client;
      log = new AuditLog(client);
    });

    after(() => db?.close());

    /** Starts each tamper scenario from a fresh chain of n entries (only a test empties the log). */
    async function fresh(n: number): Promise<AuditEntry[]> {
      await client.query('delete from audit_log');
      const out: AuditEntry[] = [];
      for (let i = 0; i < n; i++) {
        out.push(
          await log.append({
            requestId: `req-${i}`,
            actor: i % 2 ? 'admin' : 'user-1',
            operation: i % 2 ? 'create-rule' : 'sign',
            keyId: i % 2 ? null : 'key-1',
            ruleId: i === 2 ? 'rule-9' : undefined,
            result: i === 2 ? 'refused' : 'ok',
            detail: { i, msg: 'ab'.repeat(4), nested: { z: 1, a: [true, null, 'x'] } },
          }),
        );
      }
      return out;
    }

    test('an empty log verifies, with the genesis hash as head', async () => {
      await client.query('delete from audit_log');
      assert.deepEqual(await log.verify(), { ok: true, entries: 0, head: GENESIS_HASH });
    });

    test('append chains entries; list pages; verify is ok', async () => {
      const entries = await fresh(5);
      assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3, 4, 5]);
      assert.equal(entries[0]?.prevHash, GENESIS_HASH);
      for (let i = 1; i < entries.length; i++) assert.equal(entries[i]?.prevHash, entries[i - 1]?.hash);
      for (const e of entries) assert.equal(auditHash(e), e.hash);
      assert.equal(entries[2]?.ruleId, 'rule-9');
      assert.equal(entries[2]?.result, 'refused');
      assert.equal(entries[1]?.keyId, null);

      assert.deepEqual(await log.list(0, 100), entries, 'what is read back is what was appended');
      assert.deepEqual((await log.list(2, 2)).map((e) => e.seq), [3, 4]);
      assert.deepEqual(await log.list(5, 10), []);
      assert.deepEqual(await log.verify(), { ok: true, entries: 5, head: entries[4]?.hash });
    });

    test('bad input is refused before anything is written', async () => {
      await fresh(1);
      await assert.rejects(log.append({ requestId: '', actor: 'admin', operation: 'x', result: 'ok' }), TypeError);
      await assert.rejects(log.append({ requestId: 'r', actor: 'admin', operation: 'x', result: 'maybe' as 'ok' }), TypeError);
      assert.equal((await log.list(0, 10)).length, 1);
    });

    test('concurrent appends get gapless seqs and one chain', async () => {
      await fresh(0);
      const entries = await Promise.all(Array.from({ length: 25 }, (_, i) => log.append({ requestId: `c-${i}`, actor: 'admin', operation: 'sign', result: 'ok' })));
      assert.deepEqual(entries.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
      const v = await log.verify();
      assert.equal(v.ok, true);
      assert.equal(v.ok && v.entries, 25);
    });

    test('verify pages through a long log', async () => {
      await fresh(0);
      for (let i = 0; i < 1005; i++) await log.append({ requestId: `l-${i}`, actor: 'admin', operation: 'sign', result: 'ok' });
      const v = await log.verify();
      assert.equal(v.ok && v.entries, 1005);
    });

    const bad = async (seq: number) => {
      const v = await log.verify();
      assert.equal(v.ok, false, 'tampering must be detected');
      assert.equal(!v.ok && v.firstBadSeq, seq, !v.ok ? v.reason : '');
      return v;
    };

    test('an altered field is detected at its entry', async () => {
      await fresh(5);
      await client.query("update audit_log set result = 'ok' where seq = 3");
      await bad(3);

      await fresh(5);
      await client.query("update audit_log set actor = 'someone-else' where seq = 2");
      await bad(2);

      await fresh(5);
      await client.query(`update audit_log set detail = '{"i":3,"msg":"ff"}' where seq = 4`);
      await bad(4);

      await fresh(5);
      await client.query("update audit_log set ts = ts + interval '1 second' where seq = 1");
      await bad(1);

      await fresh(5);
      await client.query("update audit_log set key_id = 'key-2' where seq = 5");
      await bad(5);

      await fresh(5);
      await client.query("update audit_log set detail = 'not json' where seq = 2");
      await bad(2);
    });

    test('an entry altered and re-hashed breaks the next link', async () => {
      const entries = await fresh(5);
      const e = entries[2]!;
      const forged = { ...e, result: 'ok' as const };
      await client.query("update audit_log set result = 'ok', hash = $1 where seq = 3", [auditHash(forged)]);
      const v = await bad(4);
      assert.match(!v.ok ? v.reason : '', /prev_hash/);
    });

    test('a removed entry is detected: middle, first', async () => {
      await fresh(5);
      await client.query('delete from audit_log where seq = 3');
      const v = await bad(3);
      assert.match(!v.ok ? v.reason : '', /missing/);

      await fresh(5);
      await client.query('delete from audit_log where seq = 1');
      await bad(1);

      // Removed and the rest renumbered to close the gap.
      await fresh(5);
      await client.query('delete from audit_log where seq = 3');
      // One row at a time, lowest first: a single `set seq = seq - 1` hits the primary key
      // mid-statement whenever the server happens to visit 5 before 4 (heap order).
      for (const seq of [4, 5]) await client.query('update audit_log set seq = $1 where seq = $2', [seq - 1, seq]);
      await bad(3);
    });

    test('reordered entries are detected', async () => {
      // Entries 2 and 3 swap places (through a free number: seq is the primary key).
      await fresh(5);
      await client.query('update audit_log set seq = 100 where seq = 2');
      await client.query('update audit_log set seq = 2 where seq = 3');
      await client.query('update audit_log set seq = 3 where seq = 100');
      await bad(2);
    });

    test('a removed tail is not detected alone; an anchor detects it', async () => {
      const entries = await fresh(5);
      const head = entries[4]!;
      assert.deepEqual(await log.verify({ seq: 5, hash: head.hash }), { ok: true, entries: 5, head: head.hash });
      await client.query('delete from audit_log where seq = 5');
      // A valid shorter chain: this is why verify returns the head, to be anchored elsewhere.
      assert.deepEqual(await log.verify(), { ok: true, entries: 4, head: entries[3]?.hash });
      const v = await log.verify({ seq: 5, hash: head.hash });
      assert.equal(v.ok, false);
      assert.equal(!v.ok && v.firstBadSeq, 5);
      // An anchor that names a different hash for an entry still there.
      const w = await log.verify({ seq: 2, hash: GENESIS_HASH });
      assert.equal(!w.ok && w.firstBadSeq, 2);
    });

    test('appending after entries were removed from the tail still chains to what is there', async () => {
      await fresh(3);
      await client.query('delete from audit_log where seq = 3');
      const e = await log.append({ requestId: 'after', actor: 'admin', operation: 'sign', result: 'ok' });
      assert.equal(e.seq, 3);
      assert.equal((await log.verify()).ok, true);
    });
  });
}

// Two nodes sharing one PostgreSQL database, each in its own schema, must not wait for each
// other's audit lock; two writers on the same schema must.
if (!postgresSkipped) {
  describe('audit appends lock their own schema only (postgres)', () => {
    let a: TestDatabase;
    let b: TestDatabase;
    let a2: SqlClient;

    before(async () => {
      a = await postgres.open(migrate);
      b = await postgres.open(migrate);
      a2 = await openDatabase(a.config, migrate);
    });

    after(async () => {
      await a2?.close();
      await a?.close();
      await b?.close();
    });

    test('a held lock on schema A blocks appends to A, not to B', async () => {
      const entry = (requestId: string) => ({ requestId, actor: 'admin', operation: 'create-rule', result: 'ok' as const });
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = a.client.transaction(async (tx) => {
        await lockInSchema(tx, AUDIT_LOCK_SPACE);
        locked();
        await released;
      });
      await isLocked;
      let aDone = false;
      const onA = new AuditLog(a2).append(entry('on-a')).then((e) => ((aDone = true), e));
      try {
        const onB = await withTimeout(new AuditLog(b.client).append(entry('on-b')), 15_000, 'append on schema B waited for schema A');
        assert.equal(onB.seq, 1);
        // onB finished while A's lock was held; the append to A must still be waiting.
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(aDone, false, 'append on schema A went through a held lock');
      } finally {
        release();
        await holder;
      }
      assert.equal((await onA).seq, 1);
    });
  });
}
