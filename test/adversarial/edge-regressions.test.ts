import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';
import { rawHttp, type RawAnswer } from '../helpers/raw-http.js';

/**
 * The concrete cases of issue 11, finding 6 (fuzzing the running cluster), one test each:
 * input storage can't hold (a NUL, a lone surrogate) or the HTTP framework refuses itself
 * (a bad %-encoding, an over-long path parameter, an oversized header) must be answered as
 * the caller's error in the API's own format: seed 000's `{ err_type, err_msg }` on a node,
 * JSON-RPC `invalid_params` on the gateway; never 500 / -32603.
 */

const FAMILIES = ['bip340', 'ed25519', 'ecdsa'] as const;
const HASH = 'ab'.repeat(32);

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function seedError(a: RawAnswer): { err_type: string; err_msg: string } {
  const body = JSON.parse(a.body) as { err_type: string; err_msg: string };
  assert.deepEqual(Object.keys(body).sort(), ['err_msg', 'err_type'], a.body);
  return body;
}

/** A request as bytes on the wire, so nothing between the test and the server rewrites it. */
function request(method: string, path: string, headers: Record<string, string>, body?: unknown): string {
  const text = body === undefined ? '' : JSON.stringify(body);
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(text)}`);
  return `${lines.join('\r\n')}\r\n\r\n${text}`;
}

describe('issue 11 finding 6: a node answers bad ids and framework refusals as 400 bad_request_params', { timeout: 120_000 }, () => {
  let cluster: InProcessNodes;
  let port: number;
  before(async () => {
    cluster = await startInProcessNodes(2);
    port = portOf(cluster.url);
  });
  after(() => cluster?.close());

  const call = (method: string, path: string, body?: unknown, key = cluster.userKey) => rawHttp(port, request(method, path, { Authorization: key }, body));
  const expectBadRequest = async (a: Promise<RawAnswer>, what: string) => {
    const answer = await a;
    assert.equal(answer.status, 400, `${what}: ${answer.status} ${answer.body}`);
    assert.equal(seedError(answer).err_type, 'bad_request_params', `${what}: ${answer.body}`);
  };

  for (const family of FAMILIES) {
    const msg = family === 'ecdsa' ? HASH : 'c0ffee';
    test(`${family}: a NUL in key_id of sign, derive and public-key`, async () => {
      await expectBadRequest(call('POST', `/${family}/sign`, { key_id: 'k\u0000', msg }), 'sign');
      await expectBadRequest(call('POST', `/${family}/derive`, { key_id: '\u0000', derivation_path: 'm/0' }), 'derive');
      await expectBadRequest(call('GET', `/${family}/public-key/%00`), 'public-key');
      await expectBadRequest(call('GET', `/${family}/public-key/a%00b`), 'public-key');
    });

    test(`${family}: an unknown but well-formed key id is still key_id_not_exists`, async () => {
      for (const a of [call('POST', `/${family}/sign`, { key_id: 'no-such-key', msg }), call('GET', `/${family}/public-key/no-such-key`)]) {
        const answer = await a;
        assert.equal(answer.status, 400, answer.body);
        assert.equal(seedError(answer).err_type, 'key_id_not_exists');
      }
    });
  }

  test('a NUL in every admin id (path parameters and bodies)', async () => {
    const admin = (method: string, path: string, body?: unknown) => call(method, path, body, cluster.adminKey);
    for (const path of ['/admin/keys/%00', '/admin/users/%00', '/admin/rules/%00', '/admin/policies/%00']) {
      await expectBadRequest(admin('GET', path), path);
    }
    const bodies: Array<[string, unknown]> = [
      ['/admin/delete-rule', { rule_id: '\u0000' }],
      ['/admin/delete-policy', { policy_id: 'p\u0000' }],
      ['/admin/add-rule-to-policy', { policy_id: '\u0000', rule_id: 'r' }],
      ['/admin/remove-rule-from-policy', { policy_id: 'p', rule_id: '\u0000' }],
      ['/admin/set-user-policy', { user_id: '\u0000', policy_id: null }],
      ['/admin/set-key-policy', { key_id: '\u0000', policy_id: null }],
      ['/admin/delete-user', { user_id: '\u0000' }],
    ];
    for (const [path, body] of bodies) await expectBadRequest(admin('POST', path, body), path);
  });

  test('a NUL in the after= cursor', async () => {
    await expectBadRequest(call('GET', '/admin/users?after=%00', undefined, cluster.adminKey), 'after=%00');
  });

  test('a bad %-encoding in the path', async () => {
    await expectBadRequest(call('GET', '/bip340/public-key/%zz'), '%zz');
    await expectBadRequest(call('GET', '/admin/keys/%E0%A4%A', undefined, cluster.adminKey), 'truncated UTF-8');
  });

  test('a path parameter of 101 characters', async () => {
    await expectBadRequest(call('GET', `/ecdsa/public-key/${'k'.repeat(101)}`), '101-character key_id');
  });

  test('an 80 KB header', async () => {
    const answer = await rawHttp(port, request('GET', '/bip340/public-key/k', { Authorization: cluster.userKey, 'X-Padding': 'p'.repeat(80 * 1024) }));
    assert.equal(answer.status, 400, answer.body);
    assert.equal(seedError(answer).err_type, 'bad_request_params');
    assert.match(answer.headers, /content-type: application\/json/i);
  });

  test('the node still serves afterwards', async () => {
    const answer = await call('GET', '/bip340/public-key/no-such-key');
    assert.equal(seedError(answer).err_type, 'key_id_not_exists');
  });
});

describe('issue 11 finding 6: the gateway answers bad params as JSON-RPC invalid_params', { timeout: 60_000 }, () => {
  let gw: InProcessGateway;
  before(async () => {
    gw = await startInProcessGateway();
  });
  after(() => gw?.close());

  /** Headers of an unauthenticated call in the test scope, with the client's AES key. */
  const anonymous = () => ({ 'X-Scope-Id': gw.scopeId, 'X-Encrypted-Key': gw.client.encryptedKey });
  const encryptedUser = (json: string) => gw.client.encrypt(json);

  const expectInvalidParams = async (method: string, params: unknown, headers: Record<string, string>) => {
    const a = await gw.client.call(method, params, headers);
    assert.equal(a.status, 200);
    assert.equal(a.error?.code, -32602, `${method}: ${JSON.stringify(a.error ?? a.result)}`);
    assert.equal(a.error?.data, 'invalid_params');
  };
  const noInternalErrorLogged = () => {
    const bad = gw.logLines.filter((l) => /internal error|"stack"|\bat [^ ]+ \(/.test(l));
    assert.deepEqual(bad, [], 'no internal error (or stack trace) in the log for bad input');
  };

  test('a NUL in challenge_id (completeRegistration, completeAuthentication)', async () => {
    const common = { encrypted_user: encryptedUser('{"username":"carol"}') };
    await expectInvalidParams('completeRegistration', { ...common, challenge_id: 'c\u0000', encrypted_attestation: gw.client.encrypt('{}') }, anonymous());
    await expectInvalidParams('completeAuthentication', { ...common, challenge_id: '\u0000', encrypted_assertion: gw.client.encrypt('{}') }, anonymous());
    noInternalErrorLogged();
  });

  test('a NUL in a lambda id (executeLambda)', async () => {
    await expectInvalidParams('executeLambda', { data: { id: 'l\u0000', params: [] } }, anonymous());
    noInternalErrorLogged();
  });

  test('a NUL in userDisplayName (initiateRegistration)', async () => {
    await expectInvalidParams('initiateRegistration', { encrypted_user: encryptedUser('{"username":"dave","userDisplayName":"D\\u0000ve"}') }, anonymous());
    noInternalErrorLogged();
  });

  test('a lone surrogate in username (initiateRegistration, initiateAuthentication)', async () => {
    for (const username of ['\\ud800', 'e\\udfffve', 'x\\ud83d']) {
      const user = encryptedUser(`{"username":"${username}"}`);
      await expectInvalidParams('initiateRegistration', { encrypted_user: user }, anonymous());
      await expectInvalidParams('initiateAuthentication', { encrypted_user: user }, anonymous());
    }
    noInternalErrorLogged();
  });

  test('a bad %-encoding and a 101-character path parameter are plain 400s, an 80 KB header on POST / is JSON-RPC invalid_request', async () => {
    const port = portOf(gw.url);
    for (const path of ['/wallet/%zz', `/wallet/${'w'.repeat(101)}`]) {
      const a = await rawHttp(port, request('GET', path, {}));
      assert.equal(a.status, 400, `${path}: ${a.body}`);
      assert.deepEqual(JSON.parse(a.body), { error: 'bad request' });
    }
    const big = await rawHttp(port, request('POST', '/', { 'X-Padding': 'p'.repeat(80 * 1024) }, { jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] }));
    assert.equal(big.status, 200, big.body);
    const rpc = JSON.parse(big.body) as { jsonrpc: string; id: unknown; error: { code: number; data: string } };
    assert.equal(rpc.jsonrpc, '2.0');
    assert.equal(rpc.error.code, -32600);
    assert.equal(rpc.error.data, 'invalid_request');
  });
});
