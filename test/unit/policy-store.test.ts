import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import { buildApp } from '../../src/node/http/app.js';
import type { RuleDefinition } from '../../src/policy/types.js';
import { TandemError, type ErrType } from '../../src/core/errors.js';
import type { KeyId, PartyId, UserId } from '../../src/core/ids.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { migrate } from '../../src/storage/migrations.js';
import { SqlPolicyStore, SqlRuleCounters } from '../../src/storage/sql-policy-store.js';
import { SqlNodeStore } from '../../src/storage/sql-store.js';
import type { SqlClient } from '../../src/db/sql.js';
import type { KeyRecord, UserRecord } from '../../src/storage/store.js';
import { backends, type TestDatabase } from '../helpers/databases.js';

function user(id: string): UserRecord {
  return { userId: id as UserId, apiKeyHash: new Uint8Array(32).fill(id.length), createdAt: new Date('2024-05-06T07:08:09.123Z') };
}

function key(id: string, owner: string): KeyRecord {
  return {
    keyId: id as KeyId,
    family: 'bip340',
    ownerUserId: owner as UserId,
    publicKey: new Uint8Array(32).fill(7),
    threshold: 2,
    parties: ['node-1', 'node-2'] as PartyId[],
    publicPackage: { n: 2 },
    shareCiphertext: new Uint8Array(40).fill(9),
    createdAt: new Date('2024-05-06T07:08:10.456Z'),
  };
}

const rate: RuleDefinition = { type: 'rate_limit', per: 'key', max: 10, window_seconds: 60 };
const length: RuleDefinition = { type: 'message_length', min_bytes: 0, max_bytes: 32 };
const ops: RuleDefinition = { type: 'operations', allowed: ['sign'] };

async function rejectsWith(p: Promise<unknown>, type: ErrType): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TandemError, `expected a TandemError, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    return true;
  });
}

for (const backend of backends) {
  describe(`policy store on ${backend.name}`, () => {
    // Creating a PGlite database takes seconds, so one database serves the backend's suites;
    // each test uses names and ids of its own.
    let db: TestDatabase;
    let client: SqlClient;
    let nodeStore: SqlNodeStore;
    let policies: SqlPolicyStore;
    let counters: SqlRuleCounters;
    let audit: AuditLog;

    before(async () => {
      db = await backend.open(migrate);
      client = db.client;
      nodeStore = new SqlNodeStore(client);
      policies = new SqlPolicyStore(client);
      counters = new SqlRuleCounters(client);
      audit = new AuditLog(client);
    });

    after(() => db?.close());

    describe(`migrations on ${backend.name}`, () => {
      test('0002 is applied after 0001 and migrate is idempotent', async () => {
        const { rows } = await client.query<{ name: string }>('select name from tandem_migrations order by name');
        assert.deepEqual(rows.map((r) => r.name), ['0001_initial', '0002_policies_and_audit', '0003_signed_requests', '0004_rooms', '0005_key_bans', '0006_seen_invitations', '0007_key_passkeys']);
        assert.deepEqual(await migrate(client), []);
      });
    });

    describe(`SqlPolicyStore: rules and policies on ${backend.name}`, () => {
      test('rules round-trip; names are unique; list is by name', async () => {
        const b = await policies.createRule('r-b', rate);
        const a = await policies.createRule('r-a', length);
        assert.match(b.ruleId, /^[0-9a-f]{32}$/);
        assert.deepEqual(await policies.getRule(b.ruleId), b);
        await rejectsWith(policies.createRule('r-b', ops), 'unique_violation');
        const names = (await policies.listRules()).map((r) => r.name);
        assert.ok(names.indexOf('r-a') < names.indexOf('r-b'));
        assert.equal(await policies.getRule('nope'), undefined);
        assert.deepEqual((await policies.getRule(a.ruleId))?.definition, length);
      });

      test('policies: unique names; unknown ids', async () => {
        const p = await policies.createPolicy('p-unique');
        assert.deepEqual(await policies.getPolicy(p.policyId), p);
        await rejectsWith(policies.createPolicy('p-unique'), 'unique_violation');
        assert.equal(await policies.getPolicy('nope'), undefined);
        await rejectsWith(policies.policyBindings('nope'), 'policy_not_found');
        await rejectsWith(policies.deletePolicy('nope'), 'policy_not_found');
      });

      test('add and remove rules: order, duplicates, not found, not in policy', async () => {
        const p = await policies.createPolicy('p-order');
        const r1 = await policies.createRule('o-1', rate);
        const r2 = await policies.createRule('o-2', length);
        const r3 = await policies.createRule('o-3', ops);
        assert.deepEqual(await policies.addRuleToPolicy(p.policyId, r2.ruleId), [r2.ruleId]);
        assert.deepEqual(await policies.addRuleToPolicy(p.policyId, r1.ruleId), [r2.ruleId, r1.ruleId]);
        await rejectsWith(policies.addRuleToPolicy(p.policyId, r1.ruleId), 'unique_violation');
        await rejectsWith(policies.addRuleToPolicy('nope', r1.ruleId), 'policy_not_found');
        await rejectsWith(policies.addRuleToPolicy(p.policyId, 'nope'), 'rule_not_found');
        assert.deepEqual(await policies.addRuleToPolicy(p.policyId, r3.ruleId), [r2.ruleId, r1.ruleId, r3.ruleId]);

        await rejectsWith(policies.removeRuleFromPolicy(p.policyId, 'nope'), 'rule_not_found');
        await rejectsWith(policies.removeRuleFromPolicy('nope', r1.ruleId), 'policy_not_found');
        assert.deepEqual(await policies.removeRuleFromPolicy(p.policyId, r2.ruleId), [r1.ruleId, r3.ruleId]);
        await rejectsWith(policies.removeRuleFromPolicy(p.policyId, r2.ruleId), 'rule_not_in_policy');
        // Added again, it goes to the end.
        assert.deepEqual(await policies.addRuleToPolicy(p.policyId, r2.ruleId), [r1.ruleId, r3.ruleId, r2.ruleId]);
        assert.deepEqual((await policies.getPolicy(p.policyId))?.ruleIds, [r1.ruleId, r3.ruleId, r2.ruleId]);
        const listed = (await policies.listPolicies()).find((x) => x.policyId === p.policyId);
        assert.deepEqual(listed?.ruleIds, [r1.ruleId, r3.ruleId, r2.ruleId]);
      });

      test('a rule in a policy is in use; deleting the policy frees it', async () => {
        const p = await policies.createPolicy('p-rule-in-use');
        const r = await policies.createRule('in-use', rate);
        await policies.addRuleToPolicy(p.policyId, r.ruleId);
        await rejectsWith(policies.deleteRule(r.ruleId), 'rule_in_use');
        await rejectsWith(policies.deleteRule('nope'), 'rule_not_found');
        await policies.deletePolicy(p.policyId);
        assert.equal(await policies.getPolicy(p.policyId), undefined);
        await policies.deleteRule(r.ruleId);
        assert.equal(await policies.getRule(r.ruleId), undefined);
      });

      test('concurrent adds to one policy keep distinct positions', async () => {
        const p = await policies.createPolicy('p-concurrent');
        const rules = await Promise.all(Array.from({ length: 10 }, (_, i) => policies.createRule(`c-${i}`, rate)));
        await Promise.all(rules.map((r) => policies.addRuleToPolicy(p.policyId, r.ruleId)));
        const got = (await policies.getPolicy(p.policyId))?.ruleIds ?? [];
        assert.deepEqual([...got].sort(), rules.map((r) => r.ruleId).sort());
      });
    });

    describe(`SqlPolicyStore: bindings on ${backend.name}`, () => {
      test('set-user-policy and set-key-policy: not found, bind, rebind, unbind', async () => {
        await nodeStore.insertUser(user('bind-u'));
        await nodeStore.insertKey(key('bind-k', 'bind-u'));
        const p = await policies.createPolicy('p-bind');
        const q = await policies.createPolicy('q-bind');
        await rejectsWith(policies.setUserPolicy('nobody', p.policyId), 'user_id_not_exists');
        await rejectsWith(policies.setUserPolicy('bind-u', 'nope'), 'policy_not_found');
        await rejectsWith(policies.setKeyPolicy('no-key', p.policyId), 'key_id_not_exists');
        await rejectsWith(policies.setKeyPolicy('bind-k', 'nope'), 'policy_not_found');
        await rejectsWith(policies.setUserPolicy('nobody', null), 'user_id_not_exists');

        await policies.setUserPolicy('bind-u', p.policyId);
        await policies.setKeyPolicy('bind-k', p.policyId);
        assert.deepEqual(await policies.policyBindings(p.policyId), { userIds: ['bind-u'], keyIds: ['bind-k'] });
        await policies.setUserPolicy('bind-u', q.policyId);
        assert.deepEqual(await policies.policyBindings(p.policyId), { userIds: [], keyIds: ['bind-k'] });
        assert.equal((await policies.getUserSummary('bind-u'))?.policyId, q.policyId);
        assert.equal((await policies.getKeySummary('bind-k'))?.policyId, p.policyId);

        await policies.setUserPolicy('bind-u', null);
        await policies.setUserPolicy('bind-u', null);
        await policies.setKeyPolicy('bind-k', null);
        assert.equal((await policies.getUserSummary('bind-u'))?.policyId, null);
        assert.equal((await policies.getKeySummary('bind-k'))?.policyId, null);
      });

      test('a bound policy is in use by keys, then by users', async () => {
        await nodeStore.insertUser(user('inuse-u'));
        await nodeStore.insertKey(key('inuse-k', 'inuse-u'));
        const p = await policies.createPolicy('p-in-use');
        const r = await policies.createRule('p-in-use-rule', ops);
        await policies.addRuleToPolicy(p.policyId, r.ruleId);
        await policies.setUserPolicy('inuse-u', p.policyId);
        await policies.setKeyPolicy('inuse-k', p.policyId);
        await rejectsWith(policies.deletePolicy(p.policyId), 'policy_in_use_by_keys');
        await policies.setKeyPolicy('inuse-k', null);
        await rejectsWith(policies.deletePolicy(p.policyId), 'policy_in_use_by_users');
        await policies.setUserPolicy('inuse-u', null);
        await policies.deletePolicy(p.policyId);
        // The policy's list went with it; the rule stays and is free again.
        const { rows } = await client.query('select 1 from policy_rules where policy_id = $1', [p.policyId]);
        assert.equal(rows.length, 0);
        assert.ok(await policies.getRule(r.ruleId));
        await policies.deleteRule(r.ruleId);
      });

      test('bindings go with their key or user (cascade)', async () => {
        await nodeStore.insertUser(user('cascade-u'));
        await nodeStore.insertKey(key('cascade-k', 'cascade-u'));
        const p = await policies.createPolicy('p-cascade');
        await policies.setUserPolicy('cascade-u', p.policyId);
        await policies.setKeyPolicy('cascade-k', p.policyId);
        await nodeStore.deleteKey('cascade-k' as KeyId);
        await nodeStore.deleteUser('cascade-u' as UserId);
        assert.deepEqual(await policies.policyBindings(p.policyId), { userIds: [], keyIds: [] });
        await policies.deletePolicy(p.policyId);
      });

      test('policiesFor: the user\'s policy then the key\'s, rules in order, each policy once', async () => {
        await nodeStore.insertUser(user('pf-u'));
        await nodeStore.insertKey(key('pf-k', 'pf-u'));
        await nodeStore.insertKey(key('pf-k2', 'pf-u'));
        assert.deepEqual(await policies.policiesFor('pf-u', 'pf-k'), []);
        assert.deepEqual(await policies.policiesFor('pf-u', null), []);

        const up = await policies.createPolicy('pf-user-policy');
        const kp = await policies.createPolicy('pf-key-policy');
        const [a, b, c] = await Promise.all([policies.createRule('pf-a', rate), policies.createRule('pf-b', length), policies.createRule('pf-c', ops)]);
        await policies.addRuleToPolicy(up.policyId, b.ruleId);
        await policies.addRuleToPolicy(up.policyId, a.ruleId);
        await policies.addRuleToPolicy(kp.policyId, c.ruleId);

        await policies.setKeyPolicy('pf-k', kp.policyId);
        let got = await policies.policiesFor('pf-u', 'pf-k');
        assert.deepEqual(got.map((g) => g.policy.policyId), [kp.policyId]);
        assert.deepEqual(got[0]?.rules, [c]);

        await policies.setUserPolicy('pf-u', up.policyId);
        got = await policies.policiesFor('pf-u', 'pf-k');
        assert.deepEqual(got.map((g) => g.policy.name), ['pf-user-policy', 'pf-key-policy']);
        assert.deepEqual(got[0]?.rules.map((r) => r.name), ['pf-b', 'pf-a']);
        assert.deepEqual(got[0]?.policy.ruleIds, [b.ruleId, a.ruleId]);
        assert.deepEqual(got[0]?.rules[1], a);

        // keygen (no key) and a key with no policy: the user's only.
        assert.deepEqual((await policies.policiesFor('pf-u', null)).map((g) => g.policy.policyId), [up.policyId]);
        assert.deepEqual((await policies.policiesFor('pf-u', 'pf-k2')).map((g) => g.policy.policyId), [up.policyId]);

        // Same policy on both: once. An empty policy still shows (with no rules).
        await policies.setKeyPolicy('pf-k2', up.policyId);
        got = await policies.policiesFor('pf-u', 'pf-k2');
        assert.equal(got.length, 1);
        assert.deepEqual(got[0]?.rules.map((r) => r.name), ['pf-b', 'pf-a']);
        const empty = await policies.createPolicy('pf-empty');
        await policies.setKeyPolicy('pf-k2', empty.policyId);
        got = await policies.policiesFor('pf-u', 'pf-k2');
        assert.deepEqual(got.map((g) => [g.policy.name, g.rules.length]), [['pf-user-policy', 2], ['pf-empty', 0]]);
      });
    });

    describe(`SqlPolicyStore: users and keys on ${backend.name}`, () => {
      test('list users a page at a time; summaries; keys of a user', async () => {
        for (const id of ['zz-1', 'zz-2', 'zz-3']) await nodeStore.insertUser(user(id));
        await nodeStore.insertKey(key('zz-key-b', 'zz-2'));
        await nodeStore.insertKey(key('zz-key-a', 'zz-2'));
        const first = await policies.listUsers('zz-', 2);
        assert.deepEqual(first.map((u) => u.userId), ['zz-1', 'zz-2']);
        assert.equal(first[1]?.keyCount, 2);
        assert.equal(first[0]?.keyCount, 0);
        const next = await policies.listUsers('zz-2', 2);
        assert.deepEqual(next.map((u) => u.userId), ['zz-3']);
        assert.ok((await policies.listUsers(null, 1000)).length >= 3);
        assert.deepEqual((await policies.keysOfUser('zz-2')).map((k) => k.keyId), ['zz-key-a', 'zz-key-b']);
        assert.equal(await policies.getUserSummary('nobody'), undefined);
        assert.equal(await policies.getKeySummary('nope'), undefined);
        assert.deepEqual(await policies.getKeySummary('zz-key-a'), {
          keyId: 'zz-key-a',
          family: 'bip340',
          ownerUserId: 'zz-2',
          policyId: null,
          createdAt: new Date('2024-05-06T07:08:10.456Z'),
        });
      });

      test('delete user: unknown, owns keys, then gone with its binding', async () => {
        await nodeStore.insertUser(user('del-u'));
        await nodeStore.insertKey(key('del-k', 'del-u'));
        const p = await policies.createPolicy('p-del-user');
        await policies.setUserPolicy('del-u', p.policyId);
        await rejectsWith(policies.deleteUser('nobody'), 'user_id_not_exists');
        await rejectsWith(policies.deleteUser('del-u'), 'bad_request_params');
        await nodeStore.deleteKey('del-k' as KeyId);
        await policies.deleteUser('del-u');
        assert.equal(await nodeStore.getUser('del-u' as UserId), undefined);
        assert.deepEqual((await policies.policyBindings(p.policyId)).userIds, []);
      });
    });

    describe(`SqlRuleCounters on ${backend.name}`, () => {
      const t0 = new Date('2024-06-01T12:00:00.000Z');
      const at = (s: number) => new Date(t0.getTime() + s * 1000);

      test('takeRate: a sliding window of max uses', async () => {
        assert.equal(await counters.takeRate('w', 60, 3, at(0)), true);
        assert.equal(await counters.takeRate('w', 60, 3, at(10)), true);
        assert.equal(await counters.takeRate('w', 60, 3, at(20)), true);
        assert.equal(await counters.takeRate('w', 60, 3, at(30)), false);
        assert.equal(await counters.takeRate('other', 60, 3, at(30)), true, 'counters are per key');
        // At 60 s the first use leaves the window (a use counts while it is less than 60 s old).
        assert.equal(await counters.takeRate('w', 60, 3, at(59)), false);
        assert.equal(await counters.takeRate('w', 60, 3, at(60)), true);
        assert.equal(await counters.takeRate('w', 60, 3, at(61)), false);
        assert.equal(await counters.takeRate('w', 60, 3, at(200)), true);
        assert.equal(await counters.takeRate('zero', 60, 0, at(0)), false);
        await assert.rejects(counters.takeRate('w', 0, 3, at(0)), RangeError);
        // Refused uses aren't recorded, and pruned ones are gone.
        const { rows } = await client.query<{ n: number }>("select count(*)::int as n from rule_rate_events where counter_key = 'w'");
        assert.equal(rows[0]?.n, 1);
      });

      test('takeRate: 20 concurrent requests with max 5, exactly 5 succeed', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => counters.takeRate('concurrent', 60, 5, at(0))));
        assert.equal(results.filter(Boolean).length, 5);
        assert.equal(await counters.takeRate('concurrent', 60, 5, at(1)), false);
      });

      test('addDaily: up to the cap, per day, exact wei', async () => {
        assert.equal(await counters.addDaily('d', '2024-06-01', 60n, 100n), true);
        assert.equal(await counters.addDaily('d', '2024-06-01', 40n, 100n), true);
        assert.equal(await counters.addDaily('d', '2024-06-01', 1n, 100n), false);
        assert.equal(await counters.dailyTotal('d', '2024-06-01'), 100n);
        assert.equal(await counters.addDaily('d', '2024-06-02', 100n, 100n), true, 'a new day starts at 0');
        assert.equal(await counters.addDaily('d', '2024-06-03', 101n, 100n), false, 'over the cap on its own');
        assert.equal(await counters.dailyTotal('d', '2024-06-03'), 0n);
        assert.equal(await counters.addDaily('d', '2024-06-04', 0n, 100n), true);

        const eth = 10n ** 18n;
        const big = (1n << 255n) + 12345n;
        const cap = (1n << 256n) - 1n;
        assert.equal(await counters.addDaily('wei', '2024-06-01', big, cap), true);
        assert.equal(await counters.addDaily('wei', '2024-06-01', big, cap), false);
        assert.equal(await counters.addDaily('wei', '2024-06-01', eth, cap), true);
        assert.equal(await counters.dailyTotal('wei', '2024-06-01'), big + eth);
        await assert.rejects(counters.addDaily('d', '2024-06-01', -1n, 100n), RangeError);
        await assert.rejects(counters.addDaily('d', '06/01/2024', 1n, 100n), RangeError);
      });

      test('addDaily: concurrent adds never pass the cap', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => counters.addDaily('dc', '2024-06-01', 10n, 55n)));
        assert.equal(results.filter(Boolean).length, 5);
        assert.equal(await counters.dailyTotal('dc', '2024-06-01'), 50n);
      });
    });

    describe(`admin routes on ${backend.name}`, () => {
      let app: FastifyInstance;
      const ADMIN = 'Bearer admin';
      const logs: string[] = [];

      before(async () => {
        await nodeStore.insertUser(user('http-u'));
        await nodeStore.insertKey(key('http-k', 'http-u'));
        const ctx = {
          self: 'node-1',
          store: nodeStore,
          policies,
          audit,
          network: { connected: true, peerIds: [] },
          stepTimeoutMs: 1000,
          callers: {
            async admin(credential: string | undefined) {
              if (credential === 'admin') return;
              if (credential === 'user') throw new TandemError('you_have_to_be_admin', 'this operation needs the admin API key');
              throw new TandemError('access_denied', 'invalid API key');
            },
            async user() {
              throw new TandemError('access_denied', 'invalid API key');
            },
          },
          async authorize() {},
          log: (m: string) => logs.push(m),
        } as unknown as NodeContext;
        app = await buildApp(ctx, { version: 'test', maxBatch: 4 });
      });

      after(async () => {
        await app.close();
      });

      const call = async (method: 'GET' | 'POST', url: string, body?: unknown, auth = ADMIN) => {
        const res = await app.inject({ method, url, headers: { authorization: auth }, ...(body === undefined ? {} : { payload: body as object }) });
        return { status: res.statusCode, body: res.json() as Record<string, unknown> };
      };
      const expectError = async (p: ReturnType<typeof call>, type: ErrType, status = 400) => {
        const res = await p;
        assert.equal(res.body.err_type, type, JSON.stringify(res.body));
        assert.equal(res.status, status);
      };

      test('admin only', async () => {
        await expectError(call('POST', '/admin/create-policy', { name: 'x' }, 'Bearer user'), 'you_have_to_be_admin');
        await expectError(call('GET', '/admin/rules', undefined, 'Bearer wrong'), 'access_denied', 401);
      });

      test('rules, policies and bindings end to end, every error type', async () => {
        const rule = await call('POST', '/admin/create-rule', { name: 'http-rate', type: 'rate_limit', per: 'user', max: 5, window_seconds: 60 });
        assert.equal(rule.status, 200, JSON.stringify(rule.body));
        const ruleId = rule.body.rule_id as string;
        assert.deepEqual(Object.keys(rule.body), ['rule_id']);
        await expectError(call('POST', '/admin/create-rule', { name: 'http-rate', type: 'rate_limit', per: 'user', max: 5, window_seconds: 60 }), 'unique_violation');
        await expectError(call('POST', '/admin/create-rule', { name: 'bad', type: 'rate_limit', per: 'user', max: 0, window_seconds: 60 }), 'bad_request_params');
        await expectError(call('POST', '/admin/create-rule', { name: 'bad', type: 'rate_limit', per: 'user', max: 5, window_seconds: 60, extra: 1 }), 'bad_request_params');
        await expectError(call('POST', '/admin/create-rule', { name: 'bad', type: 'nonsense' }), 'bad_request_params');
        const hook = await call('POST', '/admin/create-rule', { name: 'http-hook', type: 'webhook', url: 'https://rules.example.com/x' });
        assert.equal(hook.status, 200);

        const got = await call('GET', `/admin/rules/${ruleId}`);
        assert.deepEqual(got.body.definition, { type: 'rate_limit', per: 'user', max: 5, window_seconds: 60 });
        assert.equal(got.body.name, 'http-rate');
        await expectError(call('GET', '/admin/rules/nope'), 'rule_not_found');
        const hookRead = await call('GET', `/admin/rules/${hook.body.rule_id as string}`);
        assert.deepEqual(hookRead.body.definition, { type: 'webhook', url: 'https://rules.example.com/x', timeout_ms: 2000, public_key: null });
        const rules = (await call('GET', '/admin/rules')).body.rules as Array<{ name: string }>;
        assert.ok(rules.some((r) => r.name === 'http-hook'));

        const pol = await call('POST', '/admin/create-policy', { name: 'http-policy' });
        const policyId = pol.body.policy_id as string;
        await expectError(call('POST', '/admin/create-policy', { name: 'http-policy' }), 'unique_violation');
        await expectError(call('POST', '/admin/create-policy', { name: '' }), 'bad_request_params');

        const added = await call('POST', '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: ruleId });
        assert.deepEqual(added.body, { policy_id: policyId, rule_ids: [ruleId] });
        await expectError(call('POST', '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: ruleId }), 'unique_violation');
        await expectError(call('POST', '/admin/add-rule-to-policy', { policy_id: 'nope', rule_id: ruleId }), 'policy_not_found');
        await expectError(call('POST', '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: 'nope' }), 'rule_not_found');
        await call('POST', '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: hook.body.rule_id });
        await expectError(call('POST', '/admin/delete-rule', { rule_id: ruleId }), 'rule_in_use');

        await expectError(call('POST', '/admin/set-user-policy', { user_id: 'nobody', policy_id: policyId }), 'user_id_not_exists');
        await expectError(call('POST', '/admin/set-key-policy', { key_id: 'nope', policy_id: policyId }), 'key_id_not_exists');
        await expectError(call('POST', '/admin/set-key-policy', { key_id: 'http-k', policy_id: 'nope' }), 'policy_not_found');
        assert.deepEqual((await call('POST', '/admin/set-user-policy', { user_id: 'http-u', policy_id: policyId })).body, { user_id: 'http-u', policy_id: policyId });
        assert.deepEqual((await call('POST', '/admin/set-key-policy', { key_id: 'http-k', policy_id: policyId })).body, { key_id: 'http-k', policy_id: policyId });

        const read = await call('GET', `/admin/policies/${policyId}`);
        assert.deepEqual(read.body.rule_ids, [ruleId, hook.body.rule_id]);
        assert.deepEqual((read.body.rules as Array<{ rule_id: string }>).map((r) => r.rule_id), [ruleId, hook.body.rule_id]);
        assert.deepEqual(read.body.user_ids, ['http-u']);
        assert.deepEqual(read.body.key_ids, ['http-k']);
        await expectError(call('GET', '/admin/policies/nope'), 'policy_not_found');
        assert.ok(((await call('GET', '/admin/policies')).body.policies as Array<{ policy_id: string }>).some((p) => p.policy_id === policyId));

        const u = await call('GET', '/admin/users/http-u');
        assert.equal(u.body.policy_id, policyId);
        assert.equal(u.body.policy_name, 'http-policy');
        assert.equal(u.body.key_count, 1);
        assert.equal((u.body.keys as Array<{ key_id: string; policy_id: string }>)[0]?.policy_id, policyId);
        await expectError(call('GET', '/admin/users/nobody'), 'user_id_not_exists');
        assert.equal((await call('GET', '/admin/keys/http-k')).body.policy_id, policyId);
        await expectError(call('GET', '/admin/keys/nope'), 'key_id_not_exists');
        const page = await call('GET', '/admin/users?limit=1');
        assert.equal((page.body.users as unknown[]).length, 1);
        assert.equal(typeof page.body.next_after, 'string');
        await expectError(call('GET', '/admin/users?limit=0'), 'bad_request_params');
        await expectError(call('GET', '/admin/users?limit=abc'), 'bad_request_params');

        await expectError(call('POST', '/admin/delete-policy', { policy_id: policyId }), 'policy_in_use_by_keys');
        await call('POST', '/admin/set-key-policy', { key_id: 'http-k', policy_id: null });
        await expectError(call('POST', '/admin/delete-policy', { policy_id: policyId }), 'policy_in_use_by_users');
        await call('POST', '/admin/set-user-policy', { user_id: 'http-u', policy_id: null });
        await expectError(call('POST', '/admin/remove-rule-from-policy', { policy_id: policyId, rule_id: 'nope' }), 'rule_not_found');
        assert.deepEqual((await call('POST', '/admin/remove-rule-from-policy', { policy_id: policyId, rule_id: ruleId })).body, { policy_id: policyId, rule_ids: [hook.body.rule_id] });
        await expectError(call('POST', '/admin/remove-rule-from-policy', { policy_id: policyId, rule_id: ruleId }), 'rule_not_in_policy');
        assert.deepEqual((await call('POST', '/admin/delete-rule', { rule_id: ruleId })).body, { rule_id: ruleId });
        await expectError(call('POST', '/admin/delete-rule', { rule_id: ruleId }), 'rule_not_found');
        assert.deepEqual((await call('POST', '/admin/delete-policy', { policy_id: policyId })).body, { policy_id: policyId });
        await expectError(call('POST', '/admin/delete-policy', { policy_id: policyId }), 'policy_not_found');

        await expectError(call('POST', '/admin/delete-user', { user_id: 'http-u' }), 'bad_request_params');
        await expectError(call('POST', '/admin/delete-user', { user_id: 'nobody' }), 'user_id_not_exists');
      });

      test('every admin mutation is in the audit log, which verifies', async () => {
        const before = (await audit.verify()) as { ok: true; entries: number };
        await call('POST', '/admin/create-policy', { name: 'audited' });
        await call('POST', '/admin/create-policy', { name: 'audited' });
        const res = await call('GET', `/admin/audit?after_seq=${before.entries}&limit=10`);
        const entries = res.body.entries as Array<Record<string, unknown>>;
        assert.deepEqual(entries.map((e) => [e.actor, e.operation, e.result]), [
          ['admin', 'create-policy', 'ok'],
          ['admin', 'create-policy', 'refused'],
        ]);
        assert.equal((entries[1]?.detail as Record<string, unknown>).err_type, 'unique_violation');
        assert.equal(res.body.next_after_seq, null);
        const all = await call('GET', '/admin/audit?limit=1000');
        const ops = new Set((all.body.entries as Array<{ operation: string }>).map((e) => e.operation));
        for (const op of ['create-rule', 'create-policy', 'add-rule-to-policy', 'remove-rule-from-policy', 'set-user-policy', 'set-key-policy', 'delete-rule', 'delete-policy', 'delete-user']) {
          assert.ok(ops.has(op), op);
        }
        // Nothing secret: the admin credential never reaches the log.
        assert.doesNotMatch(JSON.stringify(all.body), /Bearer|"admin"[^,]*admin/);

        const verified = await call('GET', '/admin/audit/verify');
        assert.equal(verified.body.ok, true);
        assert.equal(verified.body.entries, before.entries + 2);
        const anchored = await call('GET', `/admin/audit/verify?anchor_seq=${String(verified.body.entries)}&anchor_hash=${String(verified.body.head)}`);
        assert.equal(anchored.body.ok, true);
        const wrong = await call('GET', `/admin/audit/verify?anchor_seq=${String(verified.body.entries)}&anchor_hash=${'0'.repeat(64)}`);
        assert.deepEqual([wrong.body.ok, wrong.body.first_bad_seq], [false, verified.body.entries]);
        await expectError(call('GET', '/admin/audit/verify?anchor_seq=1'), 'bad_request_params');
        await expectError(call('GET', '/admin/audit?limit=5000'), 'bad_request_params');
      });

      test('CORS: a configured origin may call from a browser, any other gets no CORS headers; off by default', async () => {
        const ctx = { self: 'node-1', store: nodeStore, policies, audit, network: { connected: true, peerIds: [] }, log: () => {} } as unknown as NodeContext;
        const withCors = await buildApp(ctx, { version: 'test', maxBatch: 4, corsOrigins: ['http://localhost:5173'] });
        try {
          const preflight = (origin: string) =>
            withCors.inject({ method: 'OPTIONS', url: '/ecdsa/sign', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
          const ok = await preflight('http://localhost:5173');
          assert.equal(ok.statusCode, 204);
          assert.equal(ok.headers['access-control-allow-origin'], 'http://localhost:5173');
          assert.match(String(ok.headers['access-control-allow-headers']), /authorization/);
          const evil = await preflight('https://evil.example');
          assert.equal(evil.headers['access-control-allow-origin'], undefined);
          const health = await withCors.inject({ method: 'GET', url: '/live', headers: { origin: 'http://localhost:5173' } });
          assert.equal(health.headers['access-control-allow-origin'], 'http://localhost:5173');
        } finally {
          await withCors.close();
        }
        const off = await app.inject({ method: 'OPTIONS', url: '/ecdsa/sign', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' } });
        assert.equal(off.headers['access-control-allow-origin'], undefined);
      });

      test('the endpoints are in the OpenAPI document with summaries', async () => {
        const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { summary?: string; responses?: Record<string, unknown> }>> };
        const expected: Array<[string, string]> = [
          ['/admin/create-rule', 'post'],
          ['/admin/create-policy', 'post'],
          ['/admin/add-rule-to-policy', 'post'],
          ['/admin/remove-rule-from-policy', 'post'],
          ['/admin/set-user-policy', 'post'],
          ['/admin/set-key-policy', 'post'],
          ['/admin/delete-rule', 'post'],
          ['/admin/delete-policy', 'post'],
          ['/admin/delete-user', 'post'],
          ['/admin/rules', 'get'],
          ['/admin/rules/{rule_id}', 'get'],
          ['/admin/policies', 'get'],
          ['/admin/policies/{policy_id}', 'get'],
          ['/admin/users', 'get'],
          ['/admin/users/{user_id}', 'get'],
          ['/admin/keys/{key_id}', 'get'],
          ['/admin/audit', 'get'],
          ['/admin/audit/verify', 'get'],
        ];
        for (const [path, method] of expected) {
          const op = doc.paths[path]?.[method];
          assert.ok(op?.summary, `${method} ${path}`);
          assert.ok(op.responses?.['400'] && op.responses['200'], `${method} ${path} responses`);
        }
        assert.deepEqual(logs, []);
      });
    });
  });
}
