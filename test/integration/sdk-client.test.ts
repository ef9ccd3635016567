import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HDKey } from '@scure/bip32';
import { computeAddress, recoverAddress, Signature, SigningKey } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import type { RULE_TYPES } from '../../src/policy/rule-definition.js';
import type { RuleDefinition as NodeRuleDefinition } from '../../src/policy/types.js';
import { parseSignatureHeader, verifyRequestSignature } from '../../src/api/request-signature.js';
import {
  generateRequestKey,
  TandemApiError,
  TandemNetworkError,
  TandemNodeClient,
  type AuditEntry,
  type CreateRuleRequest,
  type EcdsaSignature,
  type RuleDefinition,
  type RuleType,
} from '../../src/sdk/index.js';
import { ADMIN_KEY } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';

/**
 * The client SDK against three signer nodes and a relay (in this process): every call goes
 * through TandemNodeClient, every signature is checked by an independent implementation
 * (libsecp256k1, Node's OpenSSL Ed25519, ethers).
 */

// Compile-time: the SDK's hand-written rule types are exactly the node's.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const ruleDefinitionsMatch: Equal<RuleDefinition, NodeRuleDefinition> = true;
export const ruleTypesMatch: Equal<RuleType, (typeof RULE_TYPES)[number]> = true;

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
let tc: InProcessCluster;
let urls: string[];
let admin: TandemNodeClient;
let user: TandemNodeClient;
let userId: string;
let userApiKey: string;
const servers: Array<{ close(): Promise<void> }> = [];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Buffer.from(h, 'hex');
const edKey = (pubHex: string): KeyObject => createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes(pubHex)]), format: 'der', type: 'spki' });

async function rejectsApi(p: Promise<unknown>, errType: string, status = 400): Promise<TandemApiError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof TandemApiError, `expected a TandemApiError, got ${String(caught)}`);
  assert.equal(caught.errType, errType, caught.message);
  assert.equal(caught.status, status, caught.message);
  assert.equal(typeof caught.errMsg, 'string');
  return caught;
}

async function rejectsNetwork(p: Promise<unknown>): Promise<TandemNetworkError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof TandemNetworkError, `expected a TandemNetworkError, got ${String(caught)}`);
  return caught;
}

function checkEcdsa(pubHex: string, hash: Buffer, s: EcdsaSignature) {
  const sig = bytes(s.signature);
  assert.equal(sig.length, 64);
  assert.ok(ecc.verify(hash, bytes(pubHex), sig, true), 'libsecp256k1 accepts it (strict low-S)');
  const ethSig = Signature.from({ r: '0x' + hex(sig.subarray(0, 32)), s: '0x' + hex(sig.subarray(32)), v: 27 + s.recovery_id });
  assert.equal(recoverAddress(hash, ethSig), computeAddress('0x' + pubHex), 'ethers recovers the address');
  assert.equal(SigningKey.recoverPublicKey(hash, ethSig), SigningKey.computePublicKey('0x' + pubHex, false), 'and the public key');
  assert.match(s.der, /^30[0-9a-f]+$/);
}

/** A stand-in node on a local port: counts requests, answers with `handler` (or never). */
async function fakeNode(handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    handler?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const s = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(s);
  return s;
}

const answer = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<string> {
  const s = await fakeNode();
  await s.close();
  return s.url;
}

/** fetch that records every URL it is asked for. */
function recordingFetch(): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(String(input));
      return fetch(input, init);
    },
  };
}

// Node behaviour through HTTP: three signer nodes and a relay in this process (test/helpers/in-process-nodes.ts);
// test/integration/cluster.test.ts runs the separate processes. One storage backend (embedded): the PostgreSQL
// store's contract is the storage tests' (test/unit/storage.test.ts and others).
describe('client SDK against signer nodes (in-process nodes, embedded storage)', { timeout: 600_000 }, () => {
  before(async () => {
    tc = await startInProcessCluster();
    urls = tc.cluster.nodes.map((n) => n.url);
    admin = new TandemNodeClient({ nodes: urls, credential: { apiKey: ADMIN_KEY } });
    const u = await admin.createUser();
    assert.match(u.user_id, /^[0-9a-f]{32}$/);
    assert.match(u.api_key, /^tdm_/);
    userId = u.user_id;
    userApiKey = u.api_key;
    user = new TandemNodeClient({ nodes: urls, credential: { apiKey: u.api_key } });
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => {});
    await tc?.destroy();
  });

  test('health and identity, one node at a time', async () => {
    const nodes = admin.eachNode();
    assert.equal(nodes.length, 3);
    for (const [i, n] of nodes.entries()) {
      const h = await n.health();
      assert.deepEqual(h, { status: 'ok', node_id: `node-${i + 1}`, relay_connected: true, storage_ok: true });
      const id = await n.identity();
      assert.equal(id.node_id, `node-${i + 1}`);
      assert.match(id.signing_public_key, /^[0-9a-f]{64}$/);
    }
    assert.equal((await admin.identity()).node_id, 'node-1', 'per-node calls go to the first node');
    assert.equal((await admin.forNode(urls[2]!).health()).node_id, 'node-3');
  });

  test('bip340: keygen, sign, batch, public key, derive and child signatures (libsecp256k1)', async () => {
    const { key_id, public_key } = await user.keygen('bip340', { num_parties: 3, threshold: 2 });
    assert.match(public_key, /^[0-9a-f]{64}$/);
    const msg = randomBytes(32);
    const { signature } = await user.sign('bip340', { key_id, msg: hex(msg) });
    assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes(signature)));
    assert.ok(!ecc.verifySchnorr(randomBytes(32), bytes(public_key), bytes(signature)));

    const msgs = Array.from({ length: 5 }, () => randomBytes(32));
    const batch = await user.signBatch('bip340', { key_id, msg: msgs.map(hex) });
    assert.equal(batch.signatures.length, 5);
    batch.signatures.forEach((s, i) => assert.ok(ecc.verifySchnorr(msgs[i]!, bytes(public_key), bytes(s.signature)), `batch signature ${i}`));

    for (const n of user.eachNode()) {
      const info = await n.publicKey('bip340', key_id);
      assert.equal(info.public_key, public_key);
      assert.equal(info.threshold, 2);
      assert.equal(info.num_parties, 3);
      assert.deepEqual([...info.parties].sort(), ['node-1', 'node-2', 'node-3']);
      assert.match(info.chain_code, /^[0-9a-f]{64}$/);
    }
    const child = await user.derive('bip340', { key_id, derivation_path: 'm/0/5' });
    assert.equal(child.key_id, key_id);
    assert.equal(child.derivation_path, 'm/0/5');
    assert.notEqual(child.public_key, public_key);
    const cmsg = randomBytes(32);
    const cs = await user.sign('bip340', { key_id, msg: hex(cmsg), derivation_path: 'm/0/5' });
    assert.ok(ecc.verifySchnorr(cmsg, bytes(child.public_key), bytes(cs.signature)), 'the child key signs');
  });

  test('ed25519: keygen, sign (any length), batch, derive (Node crypto.verify)', async () => {
    const { key_id, public_key } = await user.keygen('ed25519', { num_parties: 3, threshold: 2 });
    const spki = edKey(public_key);
    for (const len of [0, 32, 300]) {
      const msg = randomBytes(len);
      const { signature } = await user.sign('ed25519', { key_id, msg: hex(msg) });
      assert.ok(verify(null, msg, spki, bytes(signature)), `${len}-byte message`);
      assert.ok(!verify(null, Buffer.concat([msg, Buffer.of(0)]), spki, bytes(signature)));
    }
    const msgs = [randomBytes(5), randomBytes(64), randomBytes(1)];
    const batch = await user.signBatch('ed25519', { key_id, msg: msgs.map(hex) });
    batch.signatures.forEach((s, i) => assert.ok(verify(null, msgs[i]!, spki, bytes(s.signature)), `batch signature ${i}`));
    assert.equal((await user.publicKey('ed25519', key_id)).public_key, public_key);
    const child = await user.derive('ed25519', { key_id, derivation_path: 'm/9' });
    const msg = randomBytes(40);
    const cs = await user.sign('ed25519', { key_id, msg: hex(msg), derivation_path: 'm/9' });
    assert.ok(verify(null, msg, edKey(child.public_key), bytes(cs.signature)), 'the child key signs');
  });

  test('ecdsa: keygen, sign with recovery id (ethers), batch, derive matching BIP32 xpub derivation', async () => {
    const { key_id, public_key } = await user.keygen('ecdsa', { num_parties: 3, threshold: 2 });
    assert.match(public_key, /^0[23][0-9a-f]{64}$/);
    const hash = randomBytes(32);
    const s = await user.sign('ecdsa', { key_id, msg: hex(hash) });
    assert.ok(s.recovery_id === 0 || s.recovery_id === 1);
    checkEcdsa(public_key, hash, s);

    const hashes = Array.from({ length: 3 }, () => randomBytes(32));
    const batch = await user.signBatch('ecdsa', { key_id, msg: hashes.map(hex) });
    batch.signatures.forEach((sig, i) => checkEcdsa(public_key, hashes[i]!, sig));

    const info = await user.publicKey('ecdsa', key_id);
    const child = await user.derive('ecdsa', { key_id, derivation_path: 'm/0/7' });
    const xpubChild = new HDKey({ publicKey: bytes(info.public_key), chainCode: bytes(info.chain_code) }).derive('m/0/7');
    assert.equal(child.public_key, hex(xpubChild.publicKey!), 'a wallet holding the xpub derives the same child');
    assert.equal(child.chain_code, hex(xpubChild.chainCode!));
    const ch = randomBytes(32);
    checkEcdsa(child.public_key, ch, await user.sign('ecdsa', { key_id, msg: hex(ch), derivation_path: 'm/0/7' }));
  });

  test('errors surface as TandemApiError with the seed err_type and status', async () => {
    const msg = '00'.repeat(32);
    await rejectsApi(user.sign('bip340', { key_id: randomUUID(), msg }), 'key_id_not_exists');
    await rejectsApi(user.publicKey('ecdsa', randomUUID()), 'key_id_not_exists');
    await rejectsApi(user.createUser(), 'you_have_to_be_admin');
    await rejectsApi(user.forNode(urls[1]!).listRules(), 'you_have_to_be_admin');
    await rejectsApi(user.createRule({ name: 'x', type: 'operations', allowed: ['sign'] }), 'you_have_to_be_admin');
    const stranger = new TandemNodeClient({ nodes: urls, credential: { apiKey: 'tdm_nonsense' } });
    await rejectsApi(stranger.sign('bip340', { key_id: randomUUID(), msg }), 'access_denied', 401);
    await rejectsApi(stranger.keygen('bip340', { num_parties: 3, threshold: 2 }), 'access_denied', 401);
    await rejectsApi(user.keygen('bip340', { num_parties: 5, threshold: 2 }), 'bad_n_and_t_params');
    await rejectsApi(user.keygen('ed25519', { num_parties: 3, threshold: 1 }), 'bad_n_and_t_params');
    const { key_id } = await user.keygen('bip340', { num_parties: 2, threshold: 2 });
    await rejectsApi(user.derive('bip340', { key_id, derivation_path: "m/0'" }), 'bad_request_params');
    await rejectsApi(user.signBatch('bip340', { key_id, msg: Array.from({ length: 65 }, () => msg) }), 'batch_too_large');
    await rejectsApi(user.sign('ed25519', { key_id, msg }), 'key_id_not_exists', 400);
    // Refused before anything is sent.
    await assert.rejects(user.signBatch('bip340', { key_id, msg: [] }), TypeError);
    await assert.rejects(user.sign('nope' as 'bip340', { key_id, msg }), TypeError);
    assert.throws(() => new TandemNodeClient({ nodes: [], credential: { apiKey: 'x' } }), TypeError);
    assert.throws(() => new TandemNodeClient({ nodes: ['not a url'], credential: { apiKey: 'x' } }), TypeError);
    assert.throws(() => new TandemNodeClient({ nodes: urls, credential: { userId: 'bob', key: generateRequestKey('ed25519') } }), TypeError);
  });

  test('every admin policy endpoint round trip on one node; a policy on every node is enforced', async () => {
    const n1 = admin.forNode(urls[0]!);
    const tag = randomBytes(4).toString('hex');
    const rules: CreateRuleRequest[] = [
      { name: `${tag}-webhook`, type: 'webhook', url: 'http://127.0.0.1:9/check' },
      { name: `${tag}-paths`, type: 'derivation_paths', allowed: ['m', 'm/0/*'] },
      { name: `${tag}-length`, type: 'message_length', max_bytes: 64 },
      { name: `${tag}-prefix`, type: 'message_prefix', prefixes: ['AA01'] },
      { name: `${tag}-rate`, type: 'rate_limit', per: 'key', max: 100, window_seconds: 60 },
      { name: `${tag}-time`, type: 'time_window', start_utc: '00:00', end_utc: '24:00' },
      { name: `${tag}-ops`, type: 'operations', allowed: ['sign', 'public-key'] },
      { name: `${tag}-eth`, type: 'eth_transaction', chain_ids: [1], max_value_wei_per_day: '1000000000000000000' },
    ];
    const ids: string[] = [];
    for (const r of rules) ids.push((await n1.createRule(r)).rule_id);
    const [webhookId, pathsId, lengthId, prefixId] = ids as [string, string, string, string];

    const listed = await n1.listRules();
    for (const id of ids) assert.ok(listed.rules.some((r) => r.rule_id === id), id);
    const webhook = await n1.getRule(webhookId);
    assert.equal(webhook.name, `${tag}-webhook`);
    assert.deepEqual(webhook.definition, { type: 'webhook', url: 'http://127.0.0.1:9/check', timeout_ms: 2000, public_key: null }, 'defaults filled in');
    assert.deepEqual((await n1.getRule(prefixId)).definition, { type: 'message_prefix', prefixes: ['aa01'] }, 'normalised');
    assert.deepEqual((await n1.getRule(lengthId)).definition, { type: 'message_length', min_bytes: 0, max_bytes: 64 });
    await rejectsApi(n1.createRule({ name: `${tag}-webhook`, type: 'operations', allowed: ['sign'] }), 'unique_violation');
    await rejectsApi(n1.createRule({ name: `${tag}-bad`, type: 'message_length', max_bytes: 1_000_000 }), 'bad_request_params');
    await rejectsApi(n1.getRule(randomUUID()), 'rule_not_found');
    assert.equal((await admin.forNode(urls[1]!).listRules()).rules.some((r) => r.rule_id === webhookId), false, 'rules are per node');

    const { policy_id } = await n1.createPolicy(`${tag}-policy`);
    assert.ok((await n1.listPolicies()).policies.some((p) => p.policy_id === policy_id && p.name === `${tag}-policy`));
    assert.deepEqual(await n1.addRuleToPolicy(policy_id, pathsId), { policy_id, rule_ids: [pathsId] });
    assert.deepEqual((await n1.addRuleToPolicy(policy_id, lengthId)).rule_ids, [pathsId, lengthId]);
    await rejectsApi(n1.addRuleToPolicy(policy_id, lengthId), 'unique_violation');
    assert.deepEqual((await n1.removeRuleFromPolicy(policy_id, pathsId)).rule_ids, [lengthId]);
    await rejectsApi(n1.removeRuleFromPolicy(policy_id, pathsId), 'rule_not_in_policy');
    await rejectsApi(n1.deleteRule(lengthId), 'rule_in_use');
    await rejectsApi(n1.getPolicy(randomUUID()), 'policy_not_found');

    // Bindings: a user and a key.
    assert.deepEqual(await n1.setUserPolicy(userId, policy_id), { user_id: userId, policy_id });
    const u = await n1.getUser(userId);
    assert.equal(u.policy_id, policy_id);
    assert.equal(u.policy_name, `${tag}-policy`);
    assert.ok(u.key_count > 0 && u.keys.length === u.key_count);
    await rejectsApi(n1.deletePolicy(policy_id), 'policy_in_use_by_users');
    assert.deepEqual(await n1.setUserPolicy(userId, null), { user_id: userId, policy_id: null });

    const someKey = u.keys[0]!;
    assert.deepEqual(await n1.setKeyPolicy(someKey.key_id, policy_id), { key_id: someKey.key_id, policy_id });
    const k = await n1.getKey(someKey.key_id);
    assert.equal(k.owner_user_id, userId);
    assert.equal(k.policy_id, policy_id);
    const p = await n1.getPolicy(policy_id);
    assert.deepEqual(p.rule_ids, [lengthId]);
    assert.equal(p.rules[0]!.rule_id, lengthId);
    assert.deepEqual(p.key_ids, [someKey.key_id]);
    assert.deepEqual(p.user_ids, []);
    await rejectsApi(n1.deletePolicy(policy_id), 'policy_in_use_by_keys');
    assert.equal((await n1.setKeyPolicy(someKey.key_id, null)).policy_id, null);
    await rejectsApi(n1.getKey(randomUUID()), 'key_id_not_exists');
    await rejectsApi(n1.setUserPolicy(randomBytes(16).toString('hex'), policy_id), 'user_id_not_exists');

    // Users: paging, and delete-user of a user without keys (this node only).
    const page1 = await n1.listUsers({ limit: 1 });
    assert.equal(page1.users.length, 1);
    assert.equal(typeof page1.next_after, 'string');
    const page2 = await n1.listUsers({ after: page1.next_after!, limit: 1000 });
    assert.ok(page2.users.every((x) => x.user_id > page1.users[0]!.user_id));
    const spare = await admin.createUser();
    assert.ok((await n1.listUsers({ limit: 1000 })).users.some((x) => x.user_id === spare.user_id));
    assert.deepEqual(await n1.deleteUser(spare.user_id), { user_id: spare.user_id });
    await rejectsApi(n1.getUser(spare.user_id), 'user_id_not_exists');
    assert.equal((await admin.forNode(urls[1]!).getUser(spare.user_id)).user_id, spare.user_id, 'other nodes keep it');

    // Enforcement: a prefix rule bound to a key on every node.
    const { key_id, public_key } = await user.keygen('bip340', { num_parties: 3, threshold: 2 });
    const bound: Array<{ node: TandemNodeClient; policy: string; rule: string }> = [];
    for (const node of admin.eachNode()) {
      const rule = (await node.createRule({ name: `${tag}-only-aa`, type: 'message_prefix', prefixes: ['aa'] })).rule_id;
      const policy = (await node.createPolicy(`${tag}-enforced`)).policy_id;
      await node.addRuleToPolicy(policy, rule);
      await node.setKeyPolicy(key_id, policy);
      bound.push({ node, policy, rule });
    }
    const refused = await rejectsApi(user.sign('bip340', { key_id, msg: 'bb' + '00'.repeat(31) }), 'policy_validation_failed');
    assert.match(refused.errMsg, new RegExp(`${tag}-only-aa`));
    const okMsg = Buffer.concat([Buffer.of(0xaa), randomBytes(31)]);
    assert.ok(ecc.verifySchnorr(okMsg, bytes(public_key), bytes((await user.sign('bip340', { key_id, msg: hex(okMsg) })).signature)));
    for (const b of bound) {
      await b.node.setKeyPolicy(key_id, null);
      await b.node.deletePolicy(b.policy);
      await b.node.deleteRule(b.rule);
    }

    // Clean up the first policy and the rules.
    assert.deepEqual(await n1.deletePolicy(policy_id), { policy_id });
    await rejectsApi(n1.getPolicy(policy_id), 'policy_not_found');
    for (const id of ids) assert.deepEqual(await n1.deleteRule(id), { rule_id: id });
    await rejectsApi(n1.deleteRule(webhookId), 'rule_not_found');
  });

  test('audit: paging through a hash-chained log, and verify with an anchor', async () => {
    const n1 = admin.forNode(urls[0]!);
    const all: AuditEntry[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await n1.audit({ limit: 7, ...(after !== undefined ? { after_seq: after } : {}) });
      assert.ok(page.entries.length <= 7);
      all.push(...page.entries);
      if (page.next_after_seq === null) break;
      after = page.next_after_seq;
    }
    assert.ok(all.length > 10, `${all.length} entries`);
    all.forEach((e, i) => {
      assert.equal(e.seq, i + 1);
      assert.equal(e.prev_hash, i === 0 ? '0'.repeat(64) : all[i - 1]!.hash);
      assert.ok(['ok', 'refused', 'failed'].includes(e.result));
    });
    assert.ok(all.some((e) => e.actor === 'admin' && e.operation === 'create-rule' && e.result === 'ok'));
    assert.ok(all.some((e) => e.actor === 'admin' && e.operation === 'delete-policy' && e.result === 'refused'));
    assert.ok(!JSON.stringify(all).includes(userApiKey) && !JSON.stringify(all).includes(ADMIN_KEY), 'no API key in the log');

    const v = await n1.verifyAudit();
    assert.ok(v.ok, JSON.stringify(v));
    assert.ok(v.entries >= all.length);
    const anchored = await n1.verifyAudit({ anchor_seq: all.length, anchor_hash: all[all.length - 1]!.hash });
    assert.equal(anchored.ok, true, JSON.stringify(anchored));
    const wrong = await n1.verifyAudit({ anchor_seq: 1, anchor_hash: 'f'.repeat(64) });
    assert.deepEqual(wrong.ok ? wrong : { ok: wrong.ok, first_bad_seq: wrong.first_bad_seq }, { ok: false, first_bad_seq: 1 });
    const future = await n1.verifyAudit({ anchor_seq: 1_000_000, anchor_hash: '0'.repeat(64) });
    assert.equal(future.ok, false);
    await rejectsApi(n1.verifyAudit({ anchor_seq: 1 }), 'bad_request_params');
  });

  test('failover: a node that refuses connections is skipped, keygen included', async () => {
    const closed = await closedPort();
    for (const first of ['http://127.0.0.1:1', closed]) {
      const rec = recordingFetch();
      const c = new TandemNodeClient({ nodes: [first, urls[1]!], credential: { apiKey: userApiKey }, fetch: rec.fetch });
      const { key_id, public_key } = await c.keygen('bip340', { num_parties: 3, threshold: 2 });
      const msg = randomBytes(32);
      assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes((await c.sign('bip340', { key_id, msg: hex(msg) })).signature)));
      assert.equal((await c.publicKey('bip340', key_id)).public_key, public_key);
      assert.equal((await c.derive('bip340', { key_id, derivation_path: 'm/1' })).derivation_path, 'm/1');
      assert.deepEqual(rec.calls.map((u) => u.startsWith(`${first}/`)), [true, false, true, false, true, false, true, false], 'each call tried the dead node first');
    }
    // Nobody answers.
    const dead = new TandemNodeClient({ nodes: ['http://127.0.0.1:1', closed], credential: { apiKey: userApiKey } });
    const e = await rejectsNetwork(dead.sign('bip340', { key_id: randomUUID(), msg: '00' }));
    assert.deepEqual(e.failures.map((f) => f.kind), ['connect', 'connect']);
    assert.equal(e.timedOut, false);
    // The per-node admin API never moves to another node.
    const pinned = new TandemNodeClient({ nodes: ['http://127.0.0.1:1', urls[0]!], credential: { apiKey: ADMIN_KEY } });
    const pe = await rejectsNetwork(pinned.listRules());
    assert.equal(pe.failures.length, 1);
    assert.ok(Array.isArray((await pinned.forNode(urls[0]!).listRules()).rules));
  });

  test('failover: 5xx and timeouts move sign on, but not keygen; a 4xx answer is final', async () => {
    const s500 = await fakeNode(answer(500, { err_type: 'internal_problem', err_msg: 'internal error (request 1)' }));
    const s400 = await fakeNode(answer(400, { err_type: 'key_id_not_exists', err_msg: 'no such key' }));
    const hang = await fakeNode(); // accepts, never answers
    const { key_id, public_key } = await user.keygen('bip340', { num_parties: 3, threshold: 2 });
    const keyCount = async () => (await admin.forNode(urls[0]!).getUser(userId)).key_count;
    const client = (first: string, timeoutMs = 60_000) => {
      const rec = recordingFetch();
      return { rec, c: new TandemNodeClient({ nodes: [first, urls[0]!], credential: { apiKey: userApiKey }, fetch: rec.fetch, timeoutMs }) };
    };

    // 5xx: sign goes on to the next node; keygen doesn't (the first node may have made the key).
    {
      const { c, rec } = client(s500.url);
      const msg = randomBytes(32);
      assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes((await c.sign('bip340', { key_id, msg: hex(msg) })).signature)));
      assert.equal(rec.calls.length, 2);
      const before = await keyCount();
      const e = await rejectsApi(c.keygen('bip340', { num_parties: 3, threshold: 2 }), 'internal_problem', 500);
      assert.equal(e.node, s500.url);
      assert.equal(rec.calls.length, 3, 'keygen was not retried');
      assert.equal(await keyCount(), before);
      // Only 5xx answers: the node's own error.
      await rejectsApi(new TandemNodeClient({ nodes: [s500.url, s500.url], credential: { apiKey: userApiKey } }).sign('bip340', { key_id, msg: '00' }), 'internal_problem', 500);
    }
    // 4xx: final, the next node is not asked.
    {
      const { c, rec } = client(s400.url);
      await rejectsApi(c.sign('bip340', { key_id, msg: hex(randomBytes(32)) }), 'key_id_not_exists');
      assert.deepEqual(rec.calls, [`${s400.url}/bip340/sign`]);
    }
    // Timeout: sign goes on; keygen stops with a TandemNetworkError that says it timed out.
    {
      const { c, rec } = client(hang.url, 3000);
      const msg = randomBytes(32);
      assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes((await c.sign('bip340', { key_id, msg: hex(msg) })).signature)));
      assert.equal(rec.calls.length, 2);
      const before = await keyCount();
      const e = await rejectsNetwork(c.keygen('bip340', { num_parties: 3, threshold: 2 }));
      assert.equal(e.timedOut, true);
      assert.deepEqual(e.failures.map((f) => [f.node, f.kind]), [[hang.url, 'timeout']]);
      assert.equal(rec.calls.length, 3, 'keygen was not retried after a timeout');
      assert.equal(await keyCount(), before);
    }
  });

  test('request signing on the wire: the exact body bytes and the path with its query are signed, anew per attempt', async () => {
    const key = generateRequestKey('p256');
    const uid = randomBytes(16).toString('hex');
    const seen: Array<{ url: string; method: string; body: string; authorization: string }> = [];
    const stub: typeof fetch = async (input, init) => {
      const headers = init?.headers as Record<string, string>;
      seen.push({ url: String(input), method: String(init?.method), body: typeof init?.body === 'string' ? init.body : '', authorization: headers.authorization ?? '' });
      if (seen.length === 1) return new Response(JSON.stringify({ err_type: 'internal_problem', err_msg: 'x' }), { status: 500 });
      return new Response(JSON.stringify({ signature: 'ab'.repeat(64) }), { status: 200 });
    };
    const c = new TandemNodeClient({ nodes: ['http://a.invalid:1', 'http://b.invalid:2/'], credential: { userId: uid, key }, fetch: stub });
    await c.sign('bip340', { key_id: 'k', msg: 'c0ffee', extra_data: '01' });
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.url, 'http://b.invalid:2/bip340/sign', 'trailing slash of a base URL dropped');
    assert.equal(seen[0]!.body, JSON.stringify({ key_id: 'k', msg: 'c0ffee', extra_data: '01' }));
    assert.equal(seen[0]!.body, seen[1]!.body, 'the same bytes to every node');
    const pub = { type: 'p256' as const, publicKey: bytes(key.publicKey) };
    const headers = seen.map((s) => parseSignatureHeader(s.authorization)!);
    for (const [i, h] of headers.entries()) {
      assert.equal(h.user, uid);
      assert.ok(verifyRequestSignature(pub, h, { method: 'POST', path: '/bip340/sign', body: seen[i]!.body }));
      assert.ok(!verifyRequestSignature(pub, h, { method: 'POST', path: '/bip340/sign', body: seen[i]!.body + ' ' }), 'one more byte breaks it');
    }
    assert.notEqual(headers[0]!.nonce, headers[1]!.nonce, 'a fresh nonce per attempt');

    seen.length = 0;
    const pinnedSeen: string[] = [];
    const ed = generateRequestKey('ed25519');
    const c2 = new TandemNodeClient({
      nodes: ['http://a.invalid:1'],
      credential: { userId: uid, key: ed },
      fetch: async (input, init) => {
        pinnedSeen.push(String(input));
        const h = parseSignatureHeader((init?.headers as Record<string, string>).authorization!)!;
        const path = new URL(String(input)).pathname + new URL(String(input)).search;
        assert.equal(init?.body, undefined, 'a GET has no body');
        assert.ok(verifyRequestSignature({ type: 'ed25519', publicKey: bytes(ed.publicKey) }, h, { method: 'GET', path, body: '' }));
        return new Response(JSON.stringify({ entries: [], next_after_seq: null }), { status: 200 });
      },
    });
    await c2.audit({ after_seq: 5, limit: 10 });
    assert.deepEqual(pinnedSeen, ['http://a.invalid:1/admin/audit?after_seq=5&limit=10']);
  });

  describe('signed requests', () => {
    for (const type of ['p256', 'ed25519'] as const) {
      test(`a user with a ${type} request key signs every request with it`, async () => {
        const key = generateRequestKey(type);
        const created = await admin.createUser({ publicKey: { type, key: key.publicKey } });
        const c = new TandemNodeClient({ nodes: urls, credential: { userId: created.user_id, key } });
        const { key_id, public_key } = await c.keygen('bip340', { num_parties: 3, threshold: 2 });
        for (const n of c.eachNode()) {
          const msg = randomBytes(32);
          assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes((await n.sign('bip340', { key_id, msg: hex(msg) })).signature)));
          assert.equal((await n.publicKey('bip340', key_id)).public_key, public_key);
        }
        // Another key for the same user is refused.
        const impostor = new TandemNodeClient({ nodes: urls, credential: { userId: created.user_id, key: generateRequestKey(type) } });
        await rejectsApi(impostor.publicKey('bip340', key_id), 'access_denied', 401);
        // A captured request can't be replayed, nor its body changed.
        let captured: { url: string; init: RequestInit } | undefined;
        const tap = new TandemNodeClient({
          nodes: [urls[0]!],
          credential: { userId: created.user_id, key },
          fetch: (input, init) => {
            captured = { url: String(input), init: init! };
            return fetch(input, init);
          },
        });
        await tap.sign('bip340', { key_id, msg: hex(randomBytes(32)) });
        const replay = await fetch(captured!.url, { ...captured!.init, signal: null });
        assert.equal(replay.status, 401, 'replayed request refused');
        // A signed request that was never sent, with another message in its body: refused, and
        // the untouched original still works (its nonce was not spent by the forgery).
        let unsent: { url: string; init: RequestInit } | undefined;
        const hold = new TandemNodeClient({
          nodes: [urls[0]!],
          credential: { userId: created.user_id, key },
          fetch: (input, init) => {
            unsent = { url: String(input), init: init! };
            return Promise.reject(new Error('held back by the test'));
          },
        });
        const msg = hex(randomBytes(32));
        await assert.rejects(hold.sign('bip340', { key_id, msg }));
        const otherMsg = msg.startsWith('00') ? `ff${msg.slice(2)}` : `00${msg.slice(2)}`;
        const body = String(unsent!.init.body);
        assert.ok(body.includes(`"msg":"${msg}"`));
        const tampered = await fetch(unsent!.url, { ...unsent!.init, signal: null, body: body.replace(msg, otherMsg) });
        assert.equal(tampered.status, 401, 'changed body refused');
        const original = await fetch(unsent!.url, { ...unsent!.init, signal: null });
        assert.equal(original.status, 200, 'the unchanged request is accepted once');
        const { signature } = (await original.json()) as { signature: string };
        assert.ok(ecc.verifySchnorr(bytes(msg), bytes(public_key), bytes(signature)));
      });
    }
  });
});
