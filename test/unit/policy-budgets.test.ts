import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PolicyGate, type Reservation } from '../../src/node/policy-gate.js';
import { MemoryRuleCounters } from '../../src/policy/memory-counters.js';
import { signingKeyFromSeed } from '../../src/policy/node-signing-key.js';
import type { RuleCounters, RuleRecord } from '../../src/policy/types.js';
import { TandemError } from '../../src/core/errors.js';
import type { UserId } from '../../src/core/ids.js';
import type { AuditAppend, AuditEntry } from '../../src/storage/audit-log.js';
import { migrate } from '../../src/storage/migrations.js';
import { SqlRuleCounters } from '../../src/storage/sql-policy-store.js';
import { keyRecord, ruleRecord } from '../helpers/policy-fixtures.js';
import { backends, type TestDatabase } from '../helpers/databases.js';

/**
 * Issue 12, finding 12: rate-limit and daily-cap budgets are spent only by what is actually
 * done. A refused batch takes nothing, a later rule's refusal gives back what earlier rules
 * took, and a released reservation (node not selected, ceremony failed) is returned.
 */

const signer = signingKeyFromSeed('node-a', new Uint8Array(32).fill(7));
const key = keyRecord();
const rule = ruleRecord;
const FIVE = rule('five', { type: 'rate_limit', per: 'user', max: 5, window_seconds: 3600 });
const THREE_PER_KEY = rule('three-per-key', { type: 'rate_limit', per: 'key', max: 3, window_seconds: 3600 });
const msgs = (n: number) => Array.from({ length: n }, (_, i) => new Uint8Array(32).fill(i + 1));

function gate(counters: RuleCounters, rules: RuleRecord[], audited: AuditAppend[] = []): PolicyGate {
  return new PolicyGate({
    nodeId: 'node-a',
    signer,
    counters,
    policies: { policiesFor: async () => [{ policy: { policyId: 'p', name: 'p', ruleIds: rules.map((r) => r.ruleId), createdAt: new Date(0) }, rules }] },
    audit: {
      append: async (e) => {
        audited.push(e);
        return {} as AuditEntry;
      },
    },
  });
}

const sign = (g: PolicyGate, n: number): Promise<Reservation> => g.authorize({ operation: 'sign', family: 'bip340', userId: 'user-1' as UserId, key, msgs: msgs(n) });
const refused = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => e instanceof TandemError && e.type === 'policy_validation_failed');

type Uses = (counterKey: string) => Promise<number>;

function suite(name: string, open: () => Promise<{ counters: RuleCounters; uses: Uses; close(): Promise<void> }>): void {
  describe(`policy budgets on ${name}`, () => {
    let counters: RuleCounters;
    let uses: Uses;
    let close: () => Promise<void>;
    before(async () => {
      ({ counters, uses, close } = await open());
    });
    after(() => close?.());

    test('max 5: a refused batch of 6 consumes nothing, and a single signature still passes', async () => {
      const r = { ...FIVE, ruleId: `${FIVE.ruleId}-${name}-batch` };
      const g = gate(counters, [r]);
      await refused(sign(g, 6));
      assert.equal(await uses(`rule:${r.ruleId}:user:user-1`), 0, 'the refused batch took nothing');
      await sign(g, 1);
      await sign(g, 4);
      assert.equal(await uses(`rule:${r.ruleId}:user:user-1`), 5);
      await refused(sign(g, 1));
    });

    test('a later rule refusing gives back what an earlier one took', async () => {
      const a = { ...FIVE, ruleId: `${FIVE.ruleId}-${name}-two` };
      const b = { ...THREE_PER_KEY, ruleId: `${THREE_PER_KEY.ruleId}-${name}-two` };
      const g = gate(counters, [a, b]);
      await sign(g, 3);
      await refused(sign(g, 1));
      assert.equal(await uses(`rule:${a.ruleId}:user:user-1`), 3, 'the per-user budget was given back when the per-key one refused');
      assert.equal(await uses(`rule:${b.ruleId}:key:key-1`), 3);
    });

    test('a released reservation is returned once; a kept one stays; a settled failure is returned', async () => {
      const r = { ...FIVE, ruleId: `${FIVE.ruleId}-${name}-release` };
      const audited: AuditAppend[] = [];
      const g = gate(counters, [r], audited);
      const counter = `rule:${r.ruleId}:user:user-1`;
      const first = await sign(g, 2);
      assert.equal(await uses(counter), 2);
      await first.release('not selected');
      await first.release('not selected');
      assert.equal(await uses(counter), 0, 'given back, once');
      const released = audited.find((e) => e.operation === 'policy-release');
      assert.equal((released?.detail as { why?: string } | undefined)?.why, 'not selected');
      const kept = await sign(g, 2);
      kept.keep();
      await kept.release('too late');
      assert.equal(await uses(counter), 2, 'kept stays spent');
      const failing = await sign(g, 3);
      await assert.rejects(failing.settle(async () => { throw new Error('ceremony failed'); }), /ceremony failed/);
      assert.equal(await uses(counter), 2);
      const ok = await sign(g, 3);
      assert.equal(await ok.settle(async () => 'signed'), 'signed');
      assert.equal(await uses(counter), 5);
      await refused(sign(g, 1));
    });

    test('concurrent batches never pass the limit and a refused one takes nothing', async () => {
      const r = { ...FIVE, ruleId: `${FIVE.ruleId}-${name}-concurrent` };
      const g = gate(counters, [r]);
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => sign(g, 1 + (i % 2))));
      const taken = results.reduce((n, res, i) => n + (res.status === 'fulfilled' ? 1 + (i % 2) : 0), 0);
      assert.ok(taken <= 5, `taken ${taken}`);
      assert.equal(await uses(`rule:${r.ruleId}:user:user-1`), taken);
      assert.ok(taken >= 4, `a refused request must leave room for others: taken ${taken}`);
    });
  });
}

suite('memory', async () => {
  const c = new MemoryRuleCounters();
  return { counters: c, uses: async (k) => c.rateUses(k, 3600, new Date()), close: async () => {} };
});

for (const backend of backends) {
  suite(backend.name, async () => {
    const db: TestDatabase = await backend.open(migrate);
    const c = new SqlRuleCounters(db.client);
    return { counters: c, uses: (k) => c.rateUses(k, 3600, new Date()), close: () => db.close() };
  });
}
