import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';

/**
 * Policies on three signer nodes with real Rule Server processes (scripts/rule-server.ts):
 * every node asks its own Rule Server and verifies the signed answer itself; a refusal
 * anywhere among the signers stops the signature; every policy error type through HTTP.
 */
const RULE_SERVER = join(import.meta.dirname, '../../scripts/rule-server.js');

interface RuleServer {
  url: string;
  publicKey: string;
  child: ChildProcess;
}

function startRuleServer(dir: string, name: string, args: string[]): Promise<RuleServer> {
  const child = spawn(process.execPath, [RULE_SERVER, '--port', '0', '--key', join(dir, `${name}.key`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rule server did not start:\n${out}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const publicKey = /public key: ([0-9a-f]{64})/.exec(out)?.[1];
      if (url && publicKey) {
        clearTimeout(timer);
        resolve({ url, publicKey, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`rule server exited ${code}:\n${out}`)));
  });
}

// Node behaviour through HTTP: three signer nodes and a relay in this process (test/helpers/in-process-nodes.ts);
// test/integration/cluster.test.ts runs the separate processes. One storage backend (embedded): the PostgreSQL
// store's contract is the storage tests' (test/unit/storage.test.ts and others).
describe('policies and the Rule Server (in-process nodes, embedded storage)', { timeout: 300_000 }, () => {
  let tc: InProcessCluster;
  let urls: string[];
  let userKey: string;
  let userId: string;
  let keyId: string;
  let publicKey: Buffer;
  const servers: RuleServer[] = [];
  let approving: RuleServer;
  let slow: RuleServer;

  const admin = (i: number, path: string, body?: unknown) => api(urls[i]!, body === undefined ? 'GET' : 'POST', path, { key: ADMIN_KEY, ...(body === undefined ? {} : { body }) });
  const sign = (node: number, msg: Buffer, key = keyId, family = 'bip340') =>
    api(urls[node]!, 'POST', `/${family}/sign`, { key: userKey, body: { key_id: key, msg: msg.toString('hex') } });

  /** A rule and a policy holding only it, on every node, bound to `key`; returns the policy ids. */
  async function bindRule(tag: string, rule: Record<string, unknown>, key = keyId, nodes = [0, 1, 2]): Promise<string[]> {
    const ids: string[] = [];
    for (const i of nodes) {
      const r = await admin(i, '/admin/create-rule', { name: `${tag}-rule`, ...rule });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const p = await admin(i, '/admin/create-policy', { name: `${tag}-policy` });
      assert.equal((await admin(i, '/admin/add-rule-to-policy', { policy_id: p.body.policy_id, rule_id: r.body.rule_id })).status, 200);
      assert.equal((await admin(i, '/admin/set-key-policy', { key_id: key, policy_id: p.body.policy_id })).status, 200);
      ids.push(String(p.body.policy_id));
    }
    return ids;
  }

  before(async () => {
    tc = await startInProcessCluster();
    urls = tc.cluster.nodes.map((n) => n.url);
    const identities = await Promise.all(urls.map(async (u) => (await api(u, 'GET', '/identity')).body));
    const nodesFile = join(tc.dataDir, 'nodes.json');
    await writeFile(nodesFile, JSON.stringify(identities.map((b) => ({ id: b.node_id, public_key: b.signing_public_key }))));
    approving = await startRuleServer(tc.dataDir, 'approving', ['--nodes', nodesFile, '--deny-prefix', 'dead']);
    slow = await startRuleServer(tc.dataDir, 'slow', ['--nodes', nodesFile, '--delay-ms', '3000']);
    servers.push(approving, slow);
    const user = await api(urls[0]!, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    userKey = String(user.body.api_key);
    userId = String(user.body.user_id);
    const kg = await api(urls[0]!, 'POST', '/bip340/keygen', { key: userKey, body: { num_parties: 3, threshold: 2 } });
    keyId = String(kg.body.key_id);
    publicKey = Buffer.from(String(kg.body.public_key), 'hex');
  });
  after(async () => {
    for (const s of servers) s.child.kill();
    await tc?.destroy();
  });

  test('a signed webhook rule on every node: approved messages are signed, denied ones are not', async () => {
    await bindRule('webhook', { type: 'webhook', url: approving.url, timeout_ms: 2000, public_key: approving.publicKey });
    const ok = randomBytes(32);
    ok[0] = 0x01;
    const r = await sign(1, ok);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(ecc.verifySchnorr(ok, publicKey, Buffer.from(String(r.body.signature), 'hex')));
    const denied = Buffer.concat([Buffer.from('dead', 'hex'), randomBytes(30)]);
    const d = await sign(1, denied);
    assert.equal(d.status, 400);
    assert.equal(d.body.err_type, 'policy_validation_failed');
    assert.match(String(d.body.err_msg), /webhook-rule/);
  });

  test('fail closed: a slow Rule Server, one that is down, one whose answer is signed by another key', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['slow', { type: 'webhook', url: slow.url, timeout_ms: 300 }, /timed out/],
      ['down', { type: 'webhook', url: 'http://127.0.0.1:9/', timeout_ms: 1000 }, /unreachable|refused/],
      ['forged', { type: 'webhook', url: approving.url, public_key: randomEd25519PublicKey() }, /signature/],
    ];
    for (const [tag, rule, why] of cases) {
      await bindRule(tag, rule);
      const t0 = Date.now();
      const r = await sign(0, randomBytes(32));
      assert.equal(r.body.err_type, 'policy_validation_failed', `${tag}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.err_msg), why, tag);
      assert.ok(Date.now() - t0 < 2900, `${tag}: refused before the slow server would answer`);
    }
  });

  test('two nodes, two policies on one 2-of-2 key: the stricter wins, whichever node coordinates', async () => {
    // Ed25519, so that short messages can be checked by an independent verifier (Node's OpenSSL).
    const kg = await api(urls[0]!, 'POST', '/ed25519/keygen', { key: userKey, body: { num_parties: 2, threshold: 2 } });
    const key2 = String(kg.body.key_id);
    const pub2 = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(String(kg.body.public_key), 'hex')]), format: 'der', type: 'spki' });
    const info = await api(urls[0]!, 'GET', `/ed25519/public-key/${key2}`, { key: userKey });
    const other = urls.findIndex((_, i) => i !== 0 && (info.body.parties as string[]).includes(`node-${i + 1}`));
    // node-1 allows anything; the other holder allows at most 8 bytes.
    await bindRule('short', { type: 'message_length', max_bytes: 8 }, key2, [other]);
    for (const coordinator of [0, other]) {
      const long = await sign(coordinator, randomBytes(32), key2, 'ed25519');
      assert.equal(long.body.err_type, 'policy_validation_failed', JSON.stringify(long.body));
      const short = randomBytes(8);
      const ok = await sign(coordinator, short, key2, 'ed25519');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.ok(verify(null, short, pub2, Buffer.from(String(ok.body.signature), 'hex')));
    }
  });

  test('every policy and rule error type through HTTP', async () => {
    const expect = async (p: Promise<{ status: number; body: Record<string, unknown> }>, type: string) => {
      const r = await p;
      assert.equal(r.body.err_type, type, JSON.stringify(r.body));
      assert.equal(r.status, 400);
    };
    const rule = await admin(0, '/admin/create-rule', { name: 'errors-rule', type: 'message_length', max_bytes: 64 });
    const ruleId = rule.body.rule_id;
    await expect(admin(0, '/admin/create-rule', { name: 'errors-rule', type: 'message_length', max_bytes: 64 }), 'unique_violation');
    await expect(admin(0, '/admin/create-rule', { name: 'bad', type: 'no_such_kind' }), 'bad_request_params');
    const policy = await admin(0, '/admin/create-policy', { name: 'errors-policy' });
    const policyId = policy.body.policy_id;
    await expect(admin(0, '/admin/create-policy', { name: 'errors-policy' }), 'unique_violation');
    await admin(0, '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: ruleId });
    await expect(admin(0, '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: ruleId }), 'unique_violation');
    await expect(admin(0, '/admin/delete-rule', { rule_id: ruleId }), 'rule_in_use');
    await expect(admin(0, '/admin/add-rule-to-policy', { policy_id: policyId, rule_id: '00000000-0000-4000-8000-000000000000' }), 'rule_not_found');
    await expect(admin(0, '/admin/add-rule-to-policy', { policy_id: '00000000-0000-4000-8000-000000000000', rule_id: ruleId }), 'policy_not_found');
    const lone = await admin(0, '/admin/create-rule', { name: 'lone-rule', type: 'operations', allowed: ['sign'] });
    await expect(admin(0, '/admin/remove-rule-from-policy', { policy_id: policyId, rule_id: lone.body.rule_id }), 'rule_not_in_policy');
    await expect(admin(0, '/admin/set-user-policy', { user_id: '0'.repeat(32), policy_id: policyId }), 'user_id_not_exists');
    await expect(admin(0, '/admin/set-key-policy', { key_id: '00000000-0000-4000-8000-000000000000', policy_id: policyId }), 'key_id_not_exists');
    assert.equal((await admin(0, '/admin/set-user-policy', { user_id: userId, policy_id: policyId })).status, 200);
    await expect(admin(0, '/admin/delete-policy', { policy_id: policyId }), 'policy_in_use_by_users');
    assert.equal((await admin(0, '/admin/set-user-policy', { user_id: userId, policy_id: null })).status, 200);
    assert.equal((await admin(0, '/admin/set-key-policy', { key_id: keyId, policy_id: policyId })).status, 200);
    await expect(admin(0, '/admin/delete-policy', { policy_id: policyId }), 'policy_in_use_by_keys');
    const asUser = await api(urls[0]!, 'POST', '/admin/create-policy', { key: userKey, body: { name: 'nope' } });
    assert.equal(asUser.body.err_type, 'you_have_to_be_admin');
    // With the 64-byte limit bound on node-1, a 65-byte message is refused there, naming the rule.
    const r = await sign(0, randomBytes(65));
    assert.equal(r.body.err_type, 'policy_validation_failed');
    assert.match(String(r.body.err_msg), /errors-rule/);
  });

  test('the audit log records the decisions, chains them and verifies', async () => {
    const v = await admin(0, '/admin/audit/verify');
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.ok, true, JSON.stringify(v.body));
    const entries = await admin(0, '/admin/audit?limit=1000');
    const list = (entries.body.entries ?? entries.body) as Array<Record<string, unknown>>;
    assert.ok(list.some((e) => e.operation === 'policy-decision' && e.result === 'refused' && e.rule_id), 'a refusal names its rule');
    assert.ok(list.some((e) => e.operation === 'policy-decision' && e.result === 'ok'));
  });
});

function randomEd25519PublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
}
