import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Compile } from 'typebox/compile';
import { evaluateDeclarative, type DeclarativeDefinition } from '../../src/policy/declarative.js';
import { evaluatePolicy } from '../../src/policy/evaluate.js';
import { MemoryRuleCounters } from '../../src/policy/memory-counters.js';
import { signingKeyFromSeed } from '../../src/policy/node-signing-key.js';
import { parseRuleDefinition } from '../../src/policy/rule-definition.js';
import { ruleKind } from '../../src/policy/rules/index.js';
import type { OperationContext, RuleDefinition, RuleRecord } from '../../src/policy/types.js';
import { migrate } from '../../src/storage/migrations.js';
import { SqlPolicyStore } from '../../src/storage/sql-policy-store.js';
import { backends, type TestDatabase } from '../helpers/databases.js';

/**
 * Issue 13: rules stored by release 0.1.0 (test/fixtures/rules-v0.1.0.json, made by that
 * release's parseRuleDefinition and evaluateDeclarative) load from the node's database and
 * evaluate exactly as the release evaluated them, and each stored definition is one the
 * kinds' schemas accept (so an administrator can create it again).
 */

interface Fixture {
  times: string[];
  contexts: Array<{ label: string; context: OperationContext }>;
  rules: Array<{
    name: string;
    created_with: Record<string, unknown>;
    stored_definition: RuleDefinition;
    /** [context index, time index, three evaluations in a row on the same fresh counters]. */
    decisions: Array<[number, number, Array<string | null>]>;
  }>;
}

const FIXTURE = JSON.parse(await readFile(join(import.meta.dirname, '../../../test/fixtures/rules-v0.1.0.json'), 'utf8')) as Fixture;
const signer = signingKeyFromSeed('node-a', new Uint8Array(32).fill(3));

test('the fixture has every kind, and decisions for every kind the node checks itself', () => {
  const types = new Set(FIXTURE.rules.map((r) => r.stored_definition.type));
  for (const t of ['webhook', 'derivation_paths', 'message_length', 'message_prefix', 'rate_limit', 'time_window', 'operations', 'eth_transaction']) assert.ok(types.has(t as RuleDefinition['type']), t);
  for (const r of FIXTURE.rules) if (r.stored_definition.type !== 'webhook') assert.ok(r.decisions.length > 0, r.name);
});

test('each stored definition is accepted by its kind\'s schema and parses again to itself', () => {
  for (const r of FIXTURE.rules) {
    const kind = ruleKind(r.stored_definition.type);
    assert.ok(kind, r.name);
    assert.ok(Compile(kind.definitionSchema).Check(r.stored_definition), `${r.name}: the stored shape is valid`);
    assert.deepEqual(parseRuleDefinition({ name: r.name, ...r.stored_definition }), { name: r.name, definition: r.stored_definition }, r.name);
    assert.deepEqual(parseRuleDefinition(r.created_with), { name: r.name, definition: r.stored_definition }, `${r.name}: created today, it is stored as the release stored it`);
  }
});

for (const backend of backends) {
  describe(`rules stored by release 0.1.0, on ${backend.name}`, () => {
    let db: TestDatabase;
    let loaded: RuleRecord[];

    before(async () => {
      db = await backend.open(migrate);
      // Written as the release wrote them: the definition as JSON in rules.definition.
      for (const [i, r] of FIXTURE.rules.entries()) {
        await db.client.query('insert into rules (rule_id, name, definition, created_at) values ($1, $2, $3::jsonb, $4)', [
          `rule-${r.name}`,
          r.name,
          JSON.stringify(r.stored_definition),
          new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        ]);
      }
      const store = new SqlPolicyStore(db.client);
      loaded = await Promise.all(FIXTURE.rules.map(async (r) => (await store.getRule(`rule-${r.name}`))!));
    });
    after(() => db?.close());

    test('they load as they were stored', () => {
      for (const [i, r] of FIXTURE.rules.entries()) assert.deepEqual(loaded[i]?.definition, r.stored_definition, r.name);
    });

    test('they evaluate as the release evaluated them (reasons, approvals and budgets alike)', async () => {
      let compared = 0;
      for (const [i, r] of FIXTURE.rules.entries()) {
        const rule = loaded[i]!;
        for (const [ci, ti, expected] of r.decisions) {
          const counters = new MemoryRuleCounters();
          const ctx = FIXTURE.contexts[ci]!.context;
          const now = new Date(FIXTURE.times[ti]!);
          const got: Array<string | null> = [];
          for (let k = 0; k < expected.length; k++) got.push(await evaluateDeclarative(rule.definition as DeclarativeDefinition, ctx, counters, now, rule.ruleId));
          assert.deepEqual(got, expected, `${r.name} on "${FIXTURE.contexts[ci]!.label}" at ${FIXTURE.times[ti]}`);
          compared++;
        }
      }
      assert.ok(compared > 700, `${compared} decisions compared`);
    });

    test('and through the policy evaluator, with the reason and the rule named', async () => {
      for (const [i, r] of FIXTURE.rules.entries()) {
        const rule = loaded[i]!;
        for (const [ci, ti, expected] of r.decisions) {
          const d = await evaluatePolicy([rule], FIXTURE.contexts[ci]!.context, { counters: new MemoryRuleCounters(), signer, now: new Date(FIXTURE.times[ti]!) });
          assert.deepEqual(d, expected[0] === null ? { allowed: true } : { allowed: false, ruleId: rule.ruleId, ruleName: r.name, reason: expected[0] }, r.name);
        }
      }
    });
  });
}
