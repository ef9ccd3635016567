import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TandemError } from '../../../src/core/errors.js';
import type { UserId } from '../../../src/core/ids.js';
import { emptyReservation, PolicyGate, type AuthorizeRequest } from '../../../src/node/policy-gate.js';
import { MemoryRuleCounters } from '../../../src/policy/memory-counters.js';
import { signingKeyFromSeed } from '../../../src/policy/node-signing-key.js';
import type { RuleCounters, RuleRecord } from '../../../src/policy/types.js';
import type { AuditAppend, AuditEntry } from '../../../src/storage/audit-log.js';
import { keyRecord, ruleRecord } from '../../helpers/policy-fixtures.js';

/**
 * This node's own decision before it contributes anything, and the budgets it reserves: the
 * decision is audited either way, a refusal takes nothing, and a reservation is kept, given
 * back once, or settled by the work it guards. (Budget arithmetic on every store is
 * test/unit/policy-budgets.test.ts; this is the gate's own logic.)
 */
const signer = signingKeyFromSeed('node-a', new Uint8Array(32).fill(7));
const USER = 'user-1' as UserId;
const KEY = keyRecord({ ownerUserId: USER });
const rule = ruleRecord;
const TWO_PER_HOUR = rule('two', { type: 'rate_limit', per: 'user', max: 2, window_seconds: 3600 });
const COUNTER = `rule:${TWO_PER_HOUR.ruleId}:user:${USER}`;

function setup(rules: RuleRecord[], opts: { counters?: RuleCounters; failAudit?: (e: AuditAppend) => boolean } = {}) {
  const counters = new MemoryRuleCounters();
  const audited: AuditAppend[] = [];
  const gate = new PolicyGate({
    nodeId: 'node-a',
    signer,
    counters: opts.counters ?? counters,
    policies: { policiesFor: async () => (rules.length === 0 ? [] : [{ policy: { policyId: 'pol-1', name: 'p', ruleIds: rules.map((r) => r.ruleId), createdAt: new Date(0) }, rules }]) },
    audit: {
      append: async (e) => {
        if (opts.failAudit?.(e)) throw new Error('audit log unavailable');
        audited.push(e);
        return {} as AuditEntry;
      },
    },
  });
  const uses = () => counters.rateUses(COUNTER, 3600, new Date());
  return { gate, audited, uses };
}
const sign = (n: number, extra: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({
  operation: 'sign',
  family: 'bip340',
  userId: USER,
  key: KEY,
  msgs: Array.from({ length: n }, (_, i) => new Uint8Array(32).fill(i + 1)),
  ceremonyId: 'ceremony-1',
  ...extra,
});

describe('PolicyGate.authorize', () => {
  test('with no policy bound: approved and audited, nothing reserved', async () => {
    const { gate, audited } = setup([]);
    const r = await gate.authorize(sign(1));
    await r.release('not selected');
    assert.deepEqual(audited, [{ requestId: 'ceremony-1', actor: USER, operation: 'policy-decision', keyId: 'key-1', result: 'ok', detail: { operation: 'sign', policies: [] } }]);
  });

  test('a keygen (no key yet) is audited without a key id, under a fresh request id when there is no ceremony', async () => {
    const { gate, audited } = setup([]);
    await gate.authorize({ operation: 'keygen', family: 'ecdsa', userId: USER, key: null });
    assert.equal(audited.length, 1);
    assert.equal('keyId' in audited[0]!, false);
    assert.match(audited[0]!.requestId, /^[0-9a-f-]{36}$/);
  });

  test('an approval takes the budget and is audited with the policies and the number of messages', async () => {
    const { gate, audited, uses } = setup([TWO_PER_HOUR]);
    await gate.authorize(sign(2));
    assert.equal(uses(), 2);
    assert.deepEqual(audited, [{ requestId: 'ceremony-1', actor: USER, operation: 'policy-decision', keyId: 'key-1', result: 'ok', detail: { operation: 'sign', policies: ['pol-1'], messages: 2 } }]);
  });

  test('a refusal is a policy_validation_failed naming the rule, audited as refused, and takes nothing', async () => {
    const { gate, audited, uses } = setup([TWO_PER_HOUR]);
    await assert.rejects(gate.authorize(sign(3)), (e: unknown) => {
      assert.ok(e instanceof TandemError);
      assert.equal(e.type, 'policy_validation_failed');
      assert.equal(e.ruleId, 'rule-two');
      assert.match(e.message, /^node-a: rule "two" \(rule-two\) refused: /);
      return true;
    });
    assert.equal(uses(), 0);
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.result, 'refused');
    assert.equal(audited[0]!.ruleId, 'rule-two');
    assert.equal((audited[0]!.detail as { rule?: string }).rule, 'two');
  });

  test('the message that a rule refuses is named by its index', async () => {
    const prefix = rule('prefix', { type: 'message_prefix', prefixes: ['01'] });
    const { gate, audited } = setup([prefix]);
    const msgs = [new Uint8Array([1, 2]), new Uint8Array([1, 3]), new Uint8Array([2, 1])];
    await assert.rejects(gate.authorize(sign(0, { msgs })), /does not start with an allowed prefix/);
    assert.equal((audited[0]!.detail as { message_index?: number }).message_index, 2);
  });

  test('the rules see the derivation path as m/..., and the key itself as m', async () => {
    const paths = rule('paths', { type: 'derivation_paths', allowed: ['m/0/*'] });
    const { gate } = setup([paths]);
    await gate.authorize(sign(1, { path: [0, 5] }));
    await assert.rejects(gate.authorize(sign(1, { path: [1, 5] })), /derivation path m\/1\/5 is not allowed/);
    await assert.rejects(gate.authorize(sign(1, { path: [] })), /derivation path m is not allowed/);
  });

  test('when the approval cannot be audited, the budget is given back and the error surfaces', async () => {
    const { gate, uses } = setup([TWO_PER_HOUR], { failAudit: (e) => e.operation === 'policy-decision' });
    await assert.rejects(gate.authorize(sign(2)), /audit log unavailable/);
    assert.equal(uses(), 0);
  });
});

describe('Reservation', () => {
  test('release gives the budget back once and audits why', async () => {
    const { gate, audited, uses } = setup([TWO_PER_HOUR]);
    const r = await gate.authorize(sign(2));
    await r.release('not selected');
    await r.release('again');
    assert.equal(uses(), 0);
    const releases = audited.filter((e) => e.operation === 'policy-release');
    assert.equal(releases.length, 1);
    assert.deepEqual(releases[0]!.detail, { why: 'not selected', budgets: [{ counter: COUNTER, uses: 2 }] });
    await gate.authorize(sign(2));
    assert.equal(uses(), 2, 'the second release gave nothing more back');
  });

  test('keep makes the budget stay spent; a release after it does nothing', async () => {
    const { gate, audited, uses } = setup([TWO_PER_HOUR]);
    const r = await gate.authorize(sign(2));
    r.keep();
    await r.release('too late');
    assert.equal(uses(), 2);
    assert.equal(audited.filter((e) => e.operation === 'policy-release').length, 0);
  });

  test('settle keeps on success and releases on failure, passing the value or the error through', async () => {
    const { gate, uses } = setup([TWO_PER_HOUR]);
    const ok = await gate.authorize(sign(1));
    assert.equal(await ok.settle(async () => 'signature'), 'signature');
    await ok.release('after success');
    assert.equal(uses(), 1, 'a settled success stays spent');
    const bad = await gate.authorize(sign(1));
    const err = new Error('ceremony failed');
    await assert.rejects(bad.settle(async () => Promise.reject(err)), (e) => e === err);
    assert.equal(uses(), 1, 'the failed one was given back');
  });

  test('a release whose audit entry fails never throws, and the budget is back', async () => {
    const { gate, uses } = setup([TWO_PER_HOUR], { failAudit: (e) => e.operation === 'policy-release' });
    const r = await gate.authorize(sign(2));
    await r.release('not selected');
    assert.equal(uses(), 0);
  });

  test('a give-back that fails never throws, and the budget stays spent (the safe side)', async () => {
    const real = new MemoryRuleCounters();
    const counters: RuleCounters = {
      takeRate: (...a) => real.takeRate(...a),
      returnRate: async () => {
        throw new Error('database down');
      },
      addDaily: (...a) => real.addDaily(...a),
      returnDaily: (...a) => real.returnDaily(...a),
    };
    const { gate } = setup([TWO_PER_HOUR], { counters });
    const r = await gate.authorize(sign(2));
    await r.release('not selected');
    assert.equal(real.rateUses(COUNTER, 3600, new Date()), 2);
  });

  test('emptyReservation: keep and release do nothing; settle runs the work', async () => {
    const r = emptyReservation();
    r.keep();
    await r.release('x');
    assert.equal(await r.settle(async () => 5), 5);
    await assert.rejects(r.settle(async () => Promise.reject(new Error('no'))), /no/);
  });
});
