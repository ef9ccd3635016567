import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as ecc from 'tiny-secp256k1';
import { api } from '../helpers/cluster.js';
import { startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';

/**
 * Issue 12, finding 12, through three real nodes in this process (relay and nodes on port
 * 0): a rate_limit rule of max 5 per key on every node, a 2-of-3 bip340 key. Each produced
 * signature spends one use on each of the two nodes that made it; a node invited but not
 * selected, or a ceremony that failed, gives its use back. So the number of signatures is
 * exactly what the five uses per node allow, never more, never less.
 *
 * What each node spent is read from its own audit log: `policy-decision` ok entries for the
 * key minus its `policy-release` entries, against the `signed` entries of the coordinators
 * (whose `signers` name who took part).
 */

const MAX = 5;
const NODES = 3;

interface AuditRow {
  seq: number;
  request_id: string;
  operation: string;
  key_id: string | null;
  result: string;
  detail: Record<string, unknown> | null;
}

let cluster: InProcessNodes;

async function audit(i: number, keyId: string): Promise<AuditRow[]> {
  const out: AuditRow[] = [];
  let after = 0;
  for (;;) {
    const r = await api(cluster.nodes[i]!.url, 'GET', `/admin/audit?after_seq=${after}&limit=500`, { key: cluster.adminKey });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const entries = r.body.entries as AuditRow[];
    out.push(...entries);
    if (r.body.next_after_seq === null) return out.filter((e) => e.key_id === keyId);
    after = Number(r.body.next_after_seq);
  }
}

/** Per node: uses still held (decisions approved minus released) and signatures taken part in. */
async function ledger(keyId: string): Promise<Array<{ held: number; signed: number }>> {
  const logs = await Promise.all(cluster.nodes.map((_, i) => audit(i, keyId)));
  const signedBy = new Map<string, number>();
  for (const log of logs) {
    for (const e of log) {
      if (e.operation !== 'signed') continue;
      for (const s of (e.detail?.signers as string[]) ?? []) signedBy.set(s, (signedBy.get(s) ?? 0) + 1);
    }
  }
  return cluster.nodes.map((n, i) => ({
    held:
      logs[i]!.filter((e) => e.operation === 'policy-decision' && e.result === 'ok').length -
      logs[i]!.filter((e) => e.operation === 'policy-release').length,
    signed: signedBy.get(n.id) ?? 0,
  }));
}

/** Waits for the nodes that were not selected to give their use back (they hear so asynchronously). */
async function settled(keyId: string): Promise<Array<{ held: number; signed: number }>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const l = await ledger(keyId);
    if (l.every((n) => n.held === n.signed) || Date.now() > deadline) return l;
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Family = 'bip340' | 'ecdsa';

async function keygen(family: Family = 'bip340'): Promise<{ keyId: string; publicKey: Uint8Array }> {
  const r = await api(cluster.url, 'POST', `/${family}/keygen`, { key: cluster.userKey, body: { num_parties: 3, threshold: 2 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { keyId: String(r.body.key_id), publicKey: Buffer.from(String(r.body.public_key), 'hex') };
}

let counter = 0;
async function sign(coordinator: number, keyId: string, family: Family = 'bip340'): Promise<{ msg: Uint8Array; signature: Uint8Array } | { refused: string }> {
  const msg = new Uint8Array(32);
  msg.fill(0xa0 + (++counter % 0x50));
  new DataView(msg.buffer).setUint32(0, counter);
  const r = await api(cluster.nodes[coordinator]!.url, 'POST', `/${family}/sign`, { key: cluster.userKey, body: { key_id: keyId, msg: Buffer.from(msg).toString('hex') } });
  if (r.status === 200) return { msg, signature: Buffer.from(String(r.body.signature), 'hex') };
  assert.equal(r.status, 400, JSON.stringify(r.body));
  return { refused: String((r.body as { error_type?: unknown }).error_type ?? JSON.stringify(r.body)) };
}

/** Whether a signature coordinated by `c` can be made with the uses the nodes have left. */
function possible(l: Array<{ signed: number }>, c: number): boolean {
  return l[c]!.signed < MAX && l.some((n, i) => i !== c && n.signed < MAX);
}

describe('rate-limit budgets with the rule on every node (finding 12)', () => {
  before(async () => {
    cluster = await startInProcessNodes(NODES);
    const users = await api(cluster.url, 'GET', '/admin/users', { key: cluster.adminKey });
    const userId = String((users.body.users as Array<{ user_id: string }>)[0]!.user_id);
    for (const n of cluster.nodes) {
      const admin = (path: string, body: unknown) => api(n.url, 'POST', path, { key: cluster.adminKey, body });
      const rule = await admin('/admin/create-rule', { name: 'five per key', type: 'rate_limit', per: 'key', max: MAX, window_seconds: 3600 });
      assert.equal(rule.status, 200, JSON.stringify(rule.body));
      const policy = await admin('/admin/create-policy', { name: 'budget' });
      assert.equal((await admin('/admin/add-rule-to-policy', { policy_id: policy.body.policy_id, rule_id: rule.body.rule_id })).status, 200);
      assert.equal((await admin('/admin/set-user-policy', { user_id: userId, policy_id: policy.body.policy_id })).status, 200);
    }
  });

  after(() => cluster?.close());

  test('15 sequential signatures through the three coordinators: exactly as many as the budgets allow (6 or 7, never 5)', async (t) => {
    const { keyId, publicKey } = await keygen();
    let produced = 0;
    for (let i = 0; i < 15; i++) {
      const c = i % NODES;
      const before = await settled(keyId);
      for (const n of before) assert.equal(n.held, n.signed, `uses held for signatures never produced: ${JSON.stringify(before)}`);
      const expected = possible(before, c);
      const r = await sign(c, keyId);
      if ('signature' in r) {
        assert.ok(ecc.verifySchnorr(r.msg, publicKey, r.signature), `signature ${i} verifies`);
        produced++;
      }
      assert.equal('signature' in r, expected, `request ${i} via node-${c + 1} with ${JSON.stringify(before)}: ${JSON.stringify(r)}`);
    }
    const end = await settled(keyId);
    for (const n of end) {
      assert.ok(n.signed <= MAX, `never exceeded: ${JSON.stringify(end)}`);
      assert.equal(n.held, n.signed);
    }
    assert.ok(end.filter((n) => n.signed < MAX).length <= 1, `the limit is reached: no two nodes have uses left (${JSON.stringify(end)})`);
    // Two uses per signature out of 3 x 5: 7, or 6 when the selections left 3 uses on one node.
    t.diagnostic(`produced ${produced} of 15; uses per node ${end.map((n) => n.signed).join(', ')}`);
    assert.ok(produced === 6 || produced === 7, `produced ${produced}`);
    assert.equal(end.reduce((s, n) => s + n.signed, 0), 2 * produced);
  });

  test('12 concurrent callers over the three coordinators: the limit is never exceeded, and then reached', async (t) => {
    const { keyId, publicKey } = await keygen();
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => sign(i % NODES, keyId)));
    const signatures = burst.filter((r): r is { msg: Uint8Array; signature: Uint8Array } => 'signature' in r);
    const afterBurst = await settled(keyId);
    t.diagnostic(`burst: ${signatures.length} of 12 signed; uses per node ${afterBurst.map((n) => n.signed).join(', ')}`);
    for (const n of afterBurst) {
      assert.ok(n.signed <= MAX, `exceeded under concurrency: ${JSON.stringify(afterBurst)}`);
      assert.equal(n.held, n.signed, `uses held for signatures never produced: ${JSON.stringify(afterBurst)}`);
    }
    // Concurrent reservations may refuse a request that a later release would have let
    // through; what they may not do is lose uses. So sequential requests afterwards get
    // exactly the rest, until no two nodes have a use left.
    let failedInARow = 0;
    for (let i = 0; failedInARow < NODES; i++) {
      assert.ok(i < 30, 'drained');
      const c = i % NODES;
      const l = await settled(keyId);
      const expected = possible(l, c);
      const r = await sign(c, keyId);
      assert.equal('signature' in r, expected, `drain ${i} via node-${c + 1} with ${JSON.stringify(l)}: ${JSON.stringify(r)}`);
      if ('signature' in r) {
        signatures.push(r);
        failedInARow = 0;
      } else failedInARow++;
    }
    for (const s of signatures) assert.ok(ecc.verifySchnorr(s.msg, publicKey, s.signature));
    const end = await settled(keyId);
    for (const n of end) {
      assert.ok(n.signed <= MAX, `never exceeded: ${JSON.stringify(end)}`);
      assert.equal(n.held, n.signed);
    }
    assert.ok(end.filter((n) => n.signed < MAX).length <= 1, `the limit is reached: ${JSON.stringify(end)}`);
    assert.equal(end.reduce((s, n) => s + n.signed, 0), 2 * signatures.length);
    t.diagnostic(`after draining: ${signatures.length} signed; uses per node ${end.map((n) => n.signed).join(', ')}`);
    assert.ok(signatures.length >= 6 && signatures.length <= 7, `produced ${signatures.length}`);
  });

  test('ECDSA (DKLs23): 9 sequential signatures through the three coordinators, exactly as the budgets allow', async (t) => {
    const { keyId, publicKey } = await keygen('ecdsa');
    let produced = 0;
    for (let i = 0; i < 9; i++) {
      const c = i % NODES;
      const l = await settled(keyId);
      for (const n of l) assert.equal(n.held, n.signed, `uses held for signatures never produced: ${JSON.stringify(l)}`);
      const expected = possible(l, c);
      const r = await sign(c, keyId, 'ecdsa');
      if ('signature' in r) {
        assert.ok(ecc.verify(r.msg, publicKey, r.signature), `ecdsa signature ${i} verifies`);
        produced++;
      }
      assert.equal('signature' in r, expected, `request ${i} via node-${c + 1} with ${JSON.stringify(l)}: ${JSON.stringify(r)}`);
    }
    const end = await settled(keyId);
    t.diagnostic(`produced ${produced} of 9; uses per node ${end.map((n) => n.signed).join(', ')}`);
    for (const n of end) assert.ok(n.signed <= MAX && n.held === n.signed, JSON.stringify(end));
    assert.ok(end.filter((n) => n.signed < MAX).length <= 1, `the limit is reached: ${JSON.stringify(end)}`);
    assert.ok(produced === 6 || produced === 7, `produced ${produced}`);
  });
});
