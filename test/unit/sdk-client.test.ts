import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { standInNode } from '../helpers/stand-in-node.js';
import { until as waitUntil } from '../helpers/wait.js';
import { TandemApiError, TandemNetworkError, TandemNodeClient, type FailoverOptions } from '../../src/sdk/index.js';

/**
 * The SDK client's per-call options (cancellation, a timeout per call) and its failover
 * rules (round robin, err_types another node may answer differently, keygen moving on),
 * against stand-in nodes: a stub fetch, or HTTP servers on port 0 where the connection
 * itself matters. test/integration/sdk-client.test.ts covers the defaults against a cluster.
 */

const apiKey = 'tdm_' + 'ab'.repeat(16) + '_' + 'cd'.repeat(16);
const KEY = '11'.repeat(16);
const MSG = '22'.repeat(32);
const ecdsaAnswer = { signature: 'ab'.repeat(64), recovery_id: 1, der: '3000' };

interface Seen {
  url: string;
  body: unknown;
}

/** A fetch that answers from `answer(url, index)` and records what was asked. */
function stubFetch(answer: (url: string, i: number) => { status: number; body: unknown }): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  return {
    seen,
    fetch: async (input, init) => {
      const url = String(input);
      seen.push({ url, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined });
      const a = answer(url, seen.length - 1);
      return new Response(typeof a.body === 'string' ? a.body : JSON.stringify(a.body), { status: a.status });
    },
  };
}

const nodesOf = (n: number) => Array.from({ length: n }, (_, i) => `http://node-${i + 1}.invalid:7001`);
const hostOf = (url: string) => new URL(url).hostname.split('.')[0];

function client(nodes: string[], f: typeof fetch, failover?: FailoverOptions, timeoutMs?: number): TandemNodeClient {
  return new TandemNodeClient({ nodes, credential: { apiKey }, fetch: f, ...(failover ? { failover } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

const until = (cond: () => boolean, what: string) => waitUntil(cond, what, 5000);

describe('SDK per-call options', () => {
  test('signal: aborting closes the request in flight, asks no other node and rejects with the reason', async () => {
    const hang = await standInNode(); // accepts, never answers
    const other = await standInNode((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ecdsaAnswer)));
    const c = new TandemNodeClient({ nodes: [hang.url, other.url], credential: { apiKey } });
    const ac = new AbortController();
    const reason = new Error('the caller went away');
    const started = Date.now();
    const signing = c.sign('ecdsa', { key_id: KEY, msg: MSG }, { signal: ac.signal });
    await until(() => hang.state.hits === 1, 'the first node to get the request');
    ac.abort(reason);
    await assert.rejects(signing, (e) => e === reason);
    assert.ok(Date.now() - started < 5000, 'well before the 60 s timeout');
    await until(() => hang.state.closedUnanswered === 1, 'the connection to the node closed');
    assert.equal(other.state.hits, 0, 'no other node was asked');

    // Keygen too (its node abandons the ceremony when the connection closes).
    const ac2 = new AbortController();
    const making = c.keygen('ecdsa', { num_parties: 3, threshold: 2 }, { signal: ac2.signal });
    await until(() => hang.state.hits === 2, 'the keygen at the first node');
    ac2.abort();
    await assert.rejects(making, (e: Error) => e.name === 'AbortError');
    await until(() => hang.state.closedUnanswered === 2, 'the keygen connection closed');
    assert.equal(other.state.hits, 0);
  });

  test('signal: an already aborted call sends nothing', async () => {
    const { fetch: f, seen } = stubFetch(() => ({ status: 200, body: ecdsaAnswer }));
    const c = client(nodesOf(2), f);
    await assert.rejects(c.sign('ecdsa', { key_id: KEY, msg: MSG }, { signal: AbortSignal.abort(new Error('gone')) }), /gone/);
    assert.equal(seen.length, 0);
  });

  test('signal: aborted while one node fails, the next node is not asked', async () => {
    const ac = new AbortController();
    const { fetch: f, seen } = stubFetch(() => {
      ac.abort(new Error('gone'));
      return { status: 500, body: { err_type: 'internal_problem', err_msg: 'x' } };
    });
    await assert.rejects(client(nodesOf(3), f).sign('ecdsa', { key_id: KEY, msg: MSG }, { signal: ac.signal }), /gone/);
    assert.equal(seen.length, 1);
  });

  test('timeoutMs: replaces the client timeout for one call', async () => {
    const hang = await standInNode();
    const c = new TandemNodeClient({ nodes: [hang.url], credential: { apiKey }, timeoutMs: 60_000 });
    const started = Date.now();
    await assert.rejects(c.sign('ecdsa', { key_id: KEY, msg: MSG }, { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof TandemNetworkError, String(e));
      assert.equal(e.timedOut, true);
      assert.equal(e.failures[0]!.message, 'no answer within 200 ms');
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    // And for the per-node endpoints (a readiness probe).
    await assert.rejects(c.health({ timeoutMs: 200 }), (e: unknown) => e instanceof TandemNetworkError && e.timedOut);
    await assert.rejects(c.sign('ecdsa', { key_id: KEY, msg: MSG }, { timeoutMs: 0 }), /timeoutMs must be a positive number/);
  });
});

describe('SDK passkey-bound ecdsa keys', () => {
  const owner = { rp_id: 'localhost', origins: ['http://localhost:*'], credential_id: 'Y3JlZA', public_key: 'cHVi' };
  const evidence = { request_body: '{"jsonrpc":"2.0"}', challenge: 'Y2hhbA', assertion: { id: 'Y3JlZA', response: {} } };

  test('keygen sends owner_passkey; sign and signBatch send passkey_evidence', async () => {
    const { fetch: f, seen } = stubFetch((url) =>
      url.endsWith('/keygen') ? { status: 200, body: { key_id: KEY, public_key: '02' + '33'.repeat(32) } } : { status: 200, body: { ...ecdsaAnswer, signatures: [ecdsaAnswer] } },
    );
    const c = client(nodesOf(1), f);
    await c.keygen('ecdsa', { num_parties: 3, threshold: 2, owner_passkey: owner });
    await c.sign('ecdsa', { key_id: KEY, msg: MSG, passkey_evidence: evidence });
    await c.signBatch('ecdsa', { key_id: KEY, msg: [MSG], passkey_evidence: evidence });
    assert.deepEqual(seen[0]!.body, { num_parties: 3, threshold: 2, owner_passkey: owner });
    assert.deepEqual(seen[1]!.body, { key_id: KEY, msg: MSG, passkey_evidence: evidence });
    assert.deepEqual(seen[2]!.body, { key_id: KEY, msg: [MSG], passkey_evidence: evidence });
  });
});

describe('SDK failover options', () => {
  const fail500 = { status: 500, body: { err_type: 'internal_problem', err_msg: 'boom' } };
  const ceremonyFailed = { status: 400, body: { err_type: 'executor_result', err_msg: 'too few peers' } };

  test('rotate: each cluster-wide call starts at the next node; per-node calls stay on the first', async () => {
    const { fetch: f, seen } = stubFetch((url) => (url.endsWith('/health') ? { status: 200, body: { status: 'ok' } } : { status: 200, body: ecdsaAnswer }));
    const rotating = client(nodesOf(3), f, { rotate: true });
    for (let i = 0; i < 4; i++) await rotating.sign('ecdsa', { key_id: KEY, msg: MSG });
    await rotating.health();
    assert.deepEqual(seen.map((s) => hostOf(s.url)), ['node-1', 'node-2', 'node-3', 'node-1', 'node-1']);

    // Moving on from a failing node follows the rotated order.
    const { fetch: f2, seen: seen2 } = stubFetch((url) => (url.includes('node-3') ? fail500 : { status: 200, body: ecdsaAnswer }));
    const c2 = client(nodesOf(3), f2, { rotate: true });
    await c2.sign('ecdsa', { key_id: KEY, msg: MSG });
    await c2.sign('ecdsa', { key_id: KEY, msg: MSG });
    await c2.sign('ecdsa', { key_id: KEY, msg: MSG });
    assert.deepEqual(seen2.map((s) => hostOf(s.url)), ['node-1', 'node-2', 'node-3', 'node-1']);

    // Without it, every call starts at the first node.
    const { fetch: f3, seen: seen3 } = stubFetch(() => ({ status: 200, body: ecdsaAnswer }));
    const fixed = client(nodesOf(3), f3);
    for (let i = 0; i < 3; i++) await fixed.sign('ecdsa', { key_id: KEY, msg: MSG });
    assert.deepEqual(seen3.map((s) => hostOf(s.url)), ['node-1', 'node-1', 'node-1']);
  });

  test('retryErrTypes: sign moves on after a listed err_type; other 4xx answers stay final', async () => {
    const answers = (url: string) => (url.includes('node-1') ? ceremonyFailed : { status: 200, body: ecdsaAnswer });
    const { fetch: f, seen } = stubFetch(answers);
    const signature = await client(nodesOf(2), f, { retryErrTypes: ['executor_result'] }).sign('ecdsa', { key_id: KEY, msg: MSG });
    assert.equal(signature.signature, ecdsaAnswer.signature);
    assert.deepEqual(seen.map((s) => hostOf(s.url)), ['node-1', 'node-2']);

    // By default executor_result is final.
    const { fetch: f2, seen: seen2 } = stubFetch(answers);
    await assert.rejects(client(nodesOf(2), f2).sign('ecdsa', { key_id: KEY, msg: MSG }), (e) => e instanceof TandemApiError && e.errType === 'executor_result');
    assert.equal(seen2.length, 1);

    // A 4xx not listed is final even so.
    const { fetch: f3, seen: seen3 } = stubFetch(() => ({ status: 400, body: { err_type: 'key_id_not_exists', err_msg: 'no' } }));
    await assert.rejects(client(nodesOf(2), f3, { retryErrTypes: ['executor_result'] }).sign('ecdsa', { key_id: KEY, msg: MSG }), (e) => e instanceof TandemApiError && e.errType === 'key_id_not_exists');
    assert.equal(seen3.length, 1);

    // Every node's ceremony failed: the last node's answer, each node asked once.
    const { fetch: f4, seen: seen4 } = stubFetch(() => ceremonyFailed);
    await assert.rejects(client(nodesOf(3), f4, { retryErrTypes: ['executor_result'] }).sign('ecdsa', { key_id: KEY, msg: MSG }), (e) => {
      assert.ok(e instanceof TandemApiError && e.errType === 'executor_result' && e.node === nodesOf(3)[2], String(e));
      return true;
    });
    assert.equal(seen4.length, 3);

    // unexpected_response covers a 2xx that is not the node's answer (a proxy's page).
    const { fetch: f5, seen: seen5 } = stubFetch((url) => (url.includes('node-1') ? { status: 200, body: '<html>' } : { status: 200, body: ecdsaAnswer }));
    await client(nodesOf(2), f5, { retryErrTypes: ['unexpected_response'] }).sign('ecdsa', { key_id: KEY, msg: MSG });
    assert.equal(seen5.length, 2);
  });

  test("keygen: 'failover' moves on after a 5xx or a timeout, where the default stops", async () => {
    const keyAnswer = { status: 200, body: { key_id: KEY, public_key: '02' + '33'.repeat(32) } };
    const answers = (url: string) => (url.includes('node-1') ? fail500 : keyAnswer);
    const { fetch: f, seen } = stubFetch(answers);
    assert.equal((await client(nodesOf(2), f, { keygen: 'failover' }).keygen('ecdsa', { num_parties: 3, threshold: 2 })).key_id, KEY);
    assert.deepEqual(seen.map((s) => hostOf(s.url)), ['node-1', 'node-2']);
    const { fetch: f2, seen: seen2 } = stubFetch(answers);
    await assert.rejects(client(nodesOf(2), f2).keygen('ecdsa', { num_parties: 3, threshold: 2 }), (e) => e instanceof TandemApiError && e.status === 500);
    assert.equal(seen2.length, 1);

    // A node that times out.
    const hang = await standInNode();
    const ok = await standInNode((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keyAnswer.body)));
    const moving = new TandemNodeClient({ nodes: [hang.url, ok.url], credential: { apiKey }, failover: { keygen: 'failover' } });
    assert.equal((await moving.keygen('ecdsa', { num_parties: 3, threshold: 2 }, { timeoutMs: 200 })).key_id, KEY);
    const stopping = new TandemNodeClient({ nodes: [hang.url, ok.url], credential: { apiKey } });
    await assert.rejects(stopping.keygen('ecdsa', { num_parties: 3, threshold: 2 }, { timeoutMs: 200 }), (e) => e instanceof TandemNetworkError && e.timedOut);
    assert.equal(ok.state.hits, 1);
  });

  test('bad failover options are refused at construction', () => {
    const f = stubFetch(() => ({ status: 200, body: {} })).fetch;
    assert.throws(() => client(nodesOf(1), f, { keygen: 'always' as 'failover' }), /failover.keygen/);
    assert.throws(() => client(nodesOf(1), f, { retryErrTypes: 'executor_result' as unknown as string[] }), /retryErrTypes/);
  });
});
