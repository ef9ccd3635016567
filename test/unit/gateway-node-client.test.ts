import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { ed25519 } from '@noble/curves/ed25519.js';
import { parseSignatureHeader, verifyRequestSignature } from '../../src/api/request-signature.js';
import { createGatewayUser, registerRequestKey, SignerNodesClient } from '../../src/gateway/node-client.js';
import { RpcError } from '../../src/wallet/rpc.js';
import { closedPort, standInNode, type SeenRequest, type StandInHandler } from '../helpers/stand-in-node.js';

/**
 * The gateway's client of the signer nodes (over the SDK's TandemNodeClient) against
 * stand-in nodes on port 0: what it sends, which node it asks next, and the JSON-RPC error
 * (`signing_failed`) each kind of node failure becomes.
 */

const KEY = '11'.repeat(16);
const SIG = { signature: 'ab'.repeat(64), recovery_id: 1, der: '3000' };
const PUB = '02' + '33'.repeat(32);
const requestKey = ed25519.utils.randomSecretKey();
const userId = randomBytes(16).toString('hex');

type Req = SeenRequest;
type Handler = StandInHandler;

const json = (status: number, body: unknown): Handler => (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const ok = (req: Req, res: ServerResponse) => json(200, req.path.endsWith('/keygen') ? { key_id: KEY, public_key: PUB } : SIG)(req, res);

const gatewayClient = (nodes: string[], opts: { keygenTimeoutMs?: number; signTimeoutMs?: number } = {}) => new SignerNodesClient({ nodes, credential: { userId, requestKey }, ...opts });

async function signingFailed(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RpcError, `an RpcError, not ${String(e)}`);
    assert.equal(e.kind, 'signing_failed');
    assert.match(e.message, message);
    return true;
  });
}

describe("the gateway's signer node client", () => {
  test("sign: the request is signed with the gateway's key and carries hash, extra data and passkey evidence", async () => {
    const node = await standInNode(ok);
    const evidence = { request_body: '{"jsonrpc":"2.0"}', challenge: 'Y2hhbA', assertion: { id: 'x' } };
    const hash = randomBytes(32);
    const sig = await gatewayClient([node.url]).sign(KEY, hash, Uint8Array.of(1, 2), undefined, evidence);
    assert.deepEqual(sig, { signature: SIG.signature, recoveryId: 1 });
    const [req] = node.seen;
    assert.equal(req!.path, '/ecdsa/sign');
    assert.deepEqual(JSON.parse(req!.body), { key_id: KEY, msg: hash.toString('hex'), extra_data: '0102', passkey_evidence: evidence });
    const h = parseSignatureHeader(req!.authorization);
    assert.equal(h?.user, userId);
    assert.ok(verifyRequestSignature({ type: 'ed25519', publicKey: ed25519.getPublicKey(requestKey) }, h!, { method: 'POST', path: '/ecdsa/sign', body: req!.body }));
  });

  test('keygen: a 2-of-3 ecdsa key, bound to the owner passkey when given', async () => {
    const node = await standInNode(ok);
    const owner = { rp_id: 'localhost', origins: ['http://localhost:*'], credential_id: 'Y3JlZA', public_key: 'cHVi' };
    assert.deepEqual(await gatewayClient([node.url]).keygen(undefined, owner), { keyId: KEY, publicKey: PUB });
    assert.deepEqual(JSON.parse(node.seen[0]!.body), { num_parties: 3, threshold: 2, owner_passkey: owner });
    await gatewayClient([node.url]).keygen();
    assert.deepEqual(JSON.parse(node.seen[1]!.body), { num_parties: 3, threshold: 2 });
  });

  test('each call starts at the next node in turn', async () => {
    const nodes = [await standInNode(ok), await standInNode(ok), await standInNode(ok)];
    const c = gatewayClient(nodes.map((n) => n.url));
    for (let i = 0; i < 4; i++) await c.sign(KEY, randomBytes(32));
    assert.deepEqual(nodes.map((n) => n.seen.length), [2, 1, 1]);
  });

  test('a node down, failing (5xx) or whose ceremony failed (executor_result) is skipped, for keygen and sign alike', async () => {
    const s500 = await standInNode(json(500, { err_type: 'internal_problem', err_msg: 'boom' }));
    const ceremony = await standInNode(json(400, { err_type: 'executor_result', err_msg: 'too few peers' }));
    const good = await standInNode(ok);
    const c = gatewayClient([await closedPort(), s500.url, ceremony.url, good.url]);
    // The first call starts at the dead node, the next at the 5xx one.
    assert.equal((await c.keygen()).keyId, KEY);
    assert.equal((await c.sign(KEY, randomBytes(32))).recoveryId, 1);
    assert.deepEqual([s500.seen.length, ceremony.seen.length, good.seen.length], [2, 2, 2]);
  });

  test('a refusal another node would repeat is final: signing_failed, the cluster refused', async () => {
    const refusing = await standInNode(json(400, { err_type: 'key_id_not_exists', err_msg: 'no such key' }));
    const good = await standInNode(ok);
    await signingFailed(gatewayClient([refusing.url, good.url]).sign(KEY, randomBytes(32)), /^the signer cluster refused: key_id_not_exists: no such key$/);
    const denying = await standInNode(json(401, { err_type: 'access_denied', err_msg: "this key signs only on its owner's passkey assertion" }));
    await signingFailed(gatewayClient([denying.url, good.url]).sign(KEY, randomBytes(32)), /^the signer cluster refused: access_denied: /);
    assert.equal(good.seen.length, 0, 'no other node was asked');
  });

  test('no node completes it: signing_failed naming each node', async () => {
    const dead = await closedPort();
    const s500 = await standInNode(json(500, { err_type: 'internal_problem', err_msg: 'boom' }));
    await signingFailed(gatewayClient([dead, dead]).sign(KEY, randomBytes(32)), /^no signer node could complete the request \(.*unreachable.*\)$/);
    await signingFailed(gatewayClient([dead, s500.url]).keygen(), /^no signer node could complete the request \(.*internal_problem: boom.*\)$/);
    const ceremony = await standInNode(json(400, { err_type: 'executor_result', err_msg: 'too few peers' }));
    await signingFailed(gatewayClient([ceremony.url, ceremony.url]).sign(KEY, randomBytes(32)), /^no signer node could complete the request \(.*executor_result: too few peers.*\)$/);
  });

  test('every node times out: signing_failed within the per-node limits', async () => {
    const hang = await standInNode();
    const hang2 = await standInNode();
    const c = gatewayClient([hang.url, hang2.url], { signTimeoutMs: 300, keygenTimeoutMs: 300 });
    const started = Date.now();
    await signingFailed(c.sign(KEY, randomBytes(32)), /^no signer node could complete the request \(.*no answer.*300 ms.*no answer.*300 ms\)$/);
    await signingFailed(c.keygen(), /^no signer node could complete the request \(.*no answer.*no answer.*\)$/);
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual([hang.seen.length, hang2.seen.length], [2, 2], 'keygen moved on after a timeout too');
  });

  test('answers of the wrong shape are signing_failed', async () => {
    const badKey = await standInNode(json(200, { key_id: KEY, public_key: '04' + '33'.repeat(64) }));
    await signingFailed(gatewayClient([badKey.url]).keygen(), /answered keygen with an unexpected body/);
    const badSig = await standInNode(json(200, { signature: 'ab'.repeat(64), recovery_id: 2, der: '' }));
    await signingFailed(gatewayClient([badSig.url]).sign(KEY, randomBytes(32)), /answered sign with an unexpected body/);
    const page = await standInNode((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'));
    await signingFailed(gatewayClient([page.url]).sign(KEY, randomBytes(32)), /^no signer node could complete the request/);
  });

  test('the caller went away: the node request is closed and no other node asked', async () => {
    const hang = await standInNode();
    const good = await standInNode(ok);
    const calls = [(c: SignerNodesClient, s: AbortSignal) => c.keygen(s), (c: SignerNodesClient, s: AbortSignal) => c.sign(KEY, randomBytes(32), undefined, s)];
    for (const [i, call] of calls.entries()) {
      const ac = new AbortController();
      // A new client starts at the first node: the one that never answers.
      const pending = call(gatewayClient([hang.url, good.url]), ac.signal);
      while (hang.seen.length === i) await delay(10);
      ac.abort(new Error('gone'));
      await signingFailed(pending, /^the caller went away$/);
      while (hang.state.closedUnanswered === i) await delay(10);
    }
    await signingFailed(gatewayClient([good.url]).sign(KEY, randomBytes(32), undefined, AbortSignal.abort()), /^the caller went away$/);
    assert.equal(good.seen.length, 0, 'no other node was asked');
  });

  test('readyNodes counts the nodes that answer ready within 2 s', async () => {
    const ready = await standInNode(json(200, { status: 'ok', node_id: 'node-1', relay_connected: true, storage_ok: true }));
    const starting = await standInNode(json(503, { status: 'starting', node_id: 'node-2', relay_connected: false, storage_ok: true }));
    const hang = await standInNode();
    const started = Date.now();
    assert.equal(await gatewayClient([ready.url, starting.url, hang.url, await closedPort()]).readyNodes(), 1);
    assert.ok(Date.now() - started < 5000);
  });
});

describe("the gateway's user on the nodes", () => {
  const adminKey = 'tandem-admin-key';

  test('createGatewayUser: each node is asked in turn with the admin key until one makes the user', async () => {
    const other = await standInNode(json(401, { err_type: 'access_denied', err_msg: 'not this node’s admin key' }));
    const made = randomBytes(16).toString('hex');
    const node = await standInNode(json(200, { user_id: made, api_key: 'tdm_x' }));
    const later = await standInNode(json(200, { user_id: made, api_key: 'tdm_x' }));
    assert.equal(await createGatewayUser([other.url, node.url, later.url], adminKey, requestKey), made);
    assert.equal(later.seen.length, 0);
    assert.equal(node.seen[0]!.authorization, adminKey);
    assert.deepEqual(JSON.parse(node.seen[0]!.body), { public_key: { type: 'ed25519', key: Buffer.from(ed25519.getPublicKey(requestKey)).toString('hex') } });
    await assert.rejects(createGatewayUser([other.url, await closedPort()], adminKey, requestKey), /could not create the gateway's user on the signer nodes \(.*access_denied.*unreachable\)/);
  });

  test('registerRequestKey: the API key registers the request key on every node itself; one failure fails it', async () => {
    const nodes = [await standInNode(json(200, { ok: true })), await standInNode(json(200, { ok: true }))];
    await registerRequestKey(nodes.map((n) => n.url), 'tdm_old', requestKey);
    for (const n of nodes) {
      assert.equal(n.seen.length, 1);
      assert.equal(n.seen[0]!.path, '/request-key');
      assert.equal(n.seen[0]!.authorization, 'tdm_old');
    }
    const refusing = await standInNode(json(401, { err_type: 'access_denied', err_msg: 'changing it needs the current key' }));
    await assert.rejects(registerRequestKey([nodes[0]!.url, refusing.url], 'tdm_old', requestKey), /could not register the gateway's request key on every signer node \(.*access_denied.*\); start the gateway again/);
  });
});
