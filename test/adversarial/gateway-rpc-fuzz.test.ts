import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { RPC_CODES } from '../../src/wallet/rpc.js';
import { MAIL_DOMAIN, MAIL_MESSAGE, MAIL_TYPES } from '../helpers/eip712-mail.js';
import { anyJson, bodyText, mutated, nastyString, pathSegment, stringEdits } from '../helpers/fuzz-inputs.js';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { rawHttp, request, type RawAnswer } from '../helpers/raw-http.js';

/**
 * The wallet gateway's JSON-RPC API against arbitrary input: every method's params (plain
 * and inside the encrypted fields), the headers, raw bodies and paths. Whatever arrives, the
 * answer is HTTP 200 with a JSON-RPC result or an error of a kind the README lists, never
 * -32603 internal_error, and nothing reaches the log as an internal error (with its stack
 * trace). The gateway runs in this process over an embedded database, with a scope, an
 * account with a live session and a lambda; signer nodes are stubbed (they are behind it).
 *
 * Also the concrete gateway cases of issue 11, finding 6, one test each.
 */

/** The README's error kinds (`data`) of the gateway, standard and Tandem's; internal_error is never an answer to input. */
const RPC_KINDS = [
  'parse_error',
  'invalid_request',
  'method_not_found',
  'invalid_params',
  'unauthorized',
  'user_not_found',
  'invalid_challenge',
  'username_taken',
  'scope_not_found',
  'origin_not_allowed',
  'bad_encryption',
  'forbidden',
  'signing_failed',
  'lambda_failed',
] as const;

const RUNS = 15;

interface Rpc {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: string };
}

/** HTTP 200 and a JSON-RPC answer that is a result or a listed error at its code. */
function assertRpcAnswer(a: RawAnswer, what: string): Rpc {
  const context = `${what} -> ${a.status} ${a.body.slice(0, 300)}`;
  assert.equal(a.status, 200, `JSON-RPC answers travel as HTTP 200: ${context}`);
  let rpc: Rpc;
  try {
    rpc = JSON.parse(a.body) as Rpc;
  } catch {
    return assert.fail(`not JSON: ${context}`);
  }
  assert.equal(rpc.jsonrpc, '2.0', context);
  if (rpc.error === undefined) {
    assert.ok('result' in rpc, context);
    return rpc;
  }
  const kind = rpc.error.data as (typeof RPC_KINDS)[number];
  assert.ok(RPC_KINDS.includes(kind), `error kind ${String(kind)}: ${context}`);
  assert.equal(rpc.error.code, RPC_CODES[kind], context);
  assert.equal(typeof rpc.error.message, 'string', context);
  return rpc;
}

/**
 * Params as a test writes them: `{ $enc: value }` stands for the JSON of `value` encrypted
 * with the client's key, so that fuzzing reaches inside the encrypted fields too.
 */
type Plain = unknown;

describe('the gateway JSON-RPC API under arbitrary input', { timeout: 120_000 }, () => {
  let gw: InProcessGateway;
  let port: number;
  let lambdaId: string;
  const owner = generateKeyPairSync('ed25519');
  const ownerPublicKey = owner.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

  before(async () => {
    gw = await startInProcessGateway();
    // The operator allows this owner key to create scopes, so createScope's config parsing is fuzzed.
    gw.gateway.scopeCreation = { open: false, ownerKeys: [ownerPublicKey] };
    port = Number(new URL(gw.url).port);
    const made = await call('createLambda', { data: lambdaDefinition() }, gw.sessionHeaders);
    assert.equal(made.error, undefined, JSON.stringify(made.error));
    lambdaId = (made.result as { id: string }).id;
  });
  after(() => gw?.close());

  const lambdaDefinition = () => ({
    authorization: { type: 'none' },
    triggers: [{ type: 'hook' }],
    verifications: { count: 1 },
    envs: [],
    max_executions: 1_000_000,
    conditions: [{ type: 'code', code: 'return 1', output_type: 'integer', substitution: true }],
    actions: { type: 'personal_sign', check: '', data: '0x00', substitution: true },
    postHook: [],
  });

  /** Encrypts every `{ $enc }` (in a copy); a `$enc` that is not JSON-able is sent as its text. */
  const seal = (v: Plain): unknown => {
    if (Array.isArray(v)) return v.map(seal);
    if (typeof v !== 'object' || v === null) return v;
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && '$enc' in o) return gw.client.encrypt(typeof o.$enc === 'string' && o.$enc.startsWith('raw:') ? o.$enc.slice(4) : (JSON.stringify(seal(o.$enc)) ?? 'null'));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, seal(x)]));
  };

  const post = (body: string | Buffer, headers: Record<string, string>) => rawHttp(port, request('POST', '/', { 'Content-Type': 'application/json', ...headers }, body), 20_000);
  async function call(method: string, params: Plain, headers: Record<string, string>): Promise<Rpc> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: seal(params) });
    return assertRpcAnswer(await post(body, headers), `${method} ${body.slice(0, 300)}`);
  }
  const noInternalErrorLogged = () => {
    const bad = gw.logLines.filter((l) => /internal error|"stack"|\bat [^ ]+ \(/.test(l));
    assert.deepEqual(bad, [], 'no internal error (or stack trace) in the log for bad input');
  };

  /** Headers of an unauthenticated call in the test scope, with the client's AES key. */
  const anonymous = () => ({ 'X-Scope-Id': gw.scopeId, 'X-Encrypted-Key': gw.client.encryptedKey });

  describe('issue 11 finding 6: bad params are invalid_params, never -32603', () => {
    const expectInvalidParams = async (method: string, params: Plain, headers: Record<string, string>) => {
      const a = await call(method, params, headers);
      assert.equal(a.error?.code, -32602, `${method}: ${JSON.stringify(a.error ?? a.result)}`);
      assert.equal(a.error?.data, 'invalid_params');
    };

    test('a NUL in challenge_id (completeRegistration, completeAuthentication)', async () => {
      const user = { $enc: { username: 'carol' } };
      await expectInvalidParams('completeRegistration', { encrypted_user: user, challenge_id: 'c\u0000', encrypted_attestation: { $enc: {} } }, anonymous());
      await expectInvalidParams('completeAuthentication', { encrypted_user: user, challenge_id: '\u0000', encrypted_assertion: { $enc: {} } }, anonymous());
      noInternalErrorLogged();
    });

    test('a NUL in a lambda id (executeLambda)', async () => {
      await expectInvalidParams('executeLambda', { data: { id: 'l\u0000', params: [] } }, anonymous());
      noInternalErrorLogged();
    });

    test('a NUL in userDisplayName (initiateRegistration)', async () => {
      await expectInvalidParams('initiateRegistration', { encrypted_user: { $enc: { username: 'dave', userDisplayName: 'D\u0000ve' } } }, anonymous());
      noInternalErrorLogged();
    });

    test('a lone surrogate in username (initiateRegistration, initiateAuthentication)', async () => {
      for (const username of ['\ud800', 'e\udfffve', 'x\ud83d']) {
        await expectInvalidParams('initiateRegistration', { encrypted_user: { $enc: { username } } }, anonymous());
        await expectInvalidParams('initiateAuthentication', { encrypted_user: { $enc: { username } } }, anonymous());
      }
      noInternalErrorLogged();
    });

    test('a bad %-encoding and a 101-character path parameter are plain 400s; an 80 KB header on POST / is JSON-RPC invalid_request', async () => {
      for (const path of ['/wallet/%zz', `/wallet/${'w'.repeat(101)}`]) {
        const a = await rawHttp(port, request('GET', path, {}));
        assert.equal(a.status, 400, `${path}: ${a.body}`);
        assert.deepEqual(JSON.parse(a.body), { error: 'bad request' });
      }
      const big = await rawHttp(port, request('POST', '/', { 'X-Padding': 'p'.repeat(80 * 1024), 'Content-Type': 'application/json' }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] })));
      const rpc = assertRpcAnswer(big, '80 KB header');
      assert.equal(rpc.error?.data, 'invalid_request');
    });
  });

  describe('properties: JSON-RPC answers only, never internal_error', () => {
    const address = () => gw.account.address!;
    /** Each method with a valid (or nearly valid) params sample and the headers it is sent with. */
    const samples = (): Array<[string, Plain, 'anonymous' | 'session']> => {
      const user = { $enc: { username: 'fuzz-new', userDisplayName: 'New User' } };
      return [
        ['initiateRegistration', { encrypted_user: user }, 'anonymous'],
        ['completeRegistration', { challenge_id: randomUUID(), encrypted_attestation: { $enc: { id: 'x', rawId: 'x', type: 'public-key', response: { attestationObject: 'AA', clientDataJSON: 'AA' } } }, encrypted_user: user }, 'anonymous'],
        ['delegatedRegistration', { encrypted_user: user, encrypted_credential: { KeySignature: { $enc: { id: ownerPublicKey, clientData: 'x', signature: 'AA' } } } }, 'anonymous'],
        ['initiateAuthentication', { encrypted_user: { $enc: { username: 'fuzz-owner' } }, regenerate_seed: false }, 'anonymous'],
        ['completeAuthentication', { challenge_id: randomUUID(), encrypted_assertion: { $enc: { id: 'x', rawId: 'x', type: 'public-key', response: { authenticatorData: 'AA', clientDataJSON: 'AA', signature: 'AA' } } }, encrypted_user: { $enc: { username: 'fuzz-owner' } } }, 'anonymous'],
        ['eth_requestAccounts', [], 'session'],
        ['eth_accounts', [], 'session'],
        ['personal_sign', ['0x68656c6c6f', address()], 'session'],
        ['personal_sign', ['hello text', '0x0000000000000000000000000000000000000000'], 'session'],
        ['eth_signTransaction', [{ chainId: '0x1', nonce: '0x0', gas: '0x5208', to: '0x' + '11'.repeat(20), value: '0x1', gasPrice: '0x3b9aca00', data: '0x' }], 'session'],
        ['eth_signTransaction', [{ type: '0x2', chainId: 1, nonce: 1, gas: 21000, maxFeePerGas: '100', maxPriorityFeePerGas: '1', accessList: [{ address: '0x' + '22'.repeat(20), storageKeys: ['0x' + '00'.repeat(32)] }] }], 'session'],
        ['eth_signTypedData_v4', [address(), { types: MAIL_TYPES, primaryType: 'Mail', domain: MAIL_DOMAIN, message: MAIL_MESSAGE }], 'session'],
        ['updateScope', { scope_id: gw.scopeId, config: '{}', signature: 'AA', public_key: ownerPublicKey }, 'anonymous'],
        ['createLambda', { data: lambdaDefinition() }, 'session'],
        ['listLambda', [], 'session'],
        ['executeLambda', { data: { id: lambdaId, params: ['a', 1] } }, 'anonymous'],
        ['revokeSession', [], 'anonymous'],
      ];
    };

    test('every method: its sample with each string broken, then arbitrary and mutated params, with and without a session', async () => {
      for (const [method, sample, auth] of samples()) {
        const headers = auth === 'session' ? gw.sessionHeaders : anonymous();
        for (const params of [sample, ...stringEdits(sample as object)]) await call(method, params, headers);
        await fc.assert(
          fc.asyncProperty(fc.oneof({ weight: 1, arbitrary: anyJson }, { weight: 3, arbitrary: mutated(sample as object) }), fc.constantFrom(headers, anonymous(), {}), async (params, h) => {
            await call(method, params, h);
          }),
          { numRuns: RUNS },
        );
      }
      noInternalErrorLogged();
    });

    test('createScope and updateScope with configs signed by their owner key, so the config itself is what is fuzzed', async () => {
      const valid = { rp: { id: 'localhost', name: 'Fuzz', origin: ['http://localhost:3000'] }, lambda: { fetch_allowlist: ['api.example.com'] } };
      const signed = (config: unknown) => {
        const text = typeof config === 'string' ? config : (JSON.stringify(config) ?? 'null');
        return { config: text, signature: sign(null, Buffer.from(text, 'utf8'), owner.privateKey).toString('base64'), public_key: ownerPublicKey };
      };
      const made = await call('createScope', signed(valid), {});
      const scopeId = (made.result as { scope_id: string }).scope_id;
      assert.equal(typeof scopeId, 'string', JSON.stringify(made));
      for (const config of stringEdits(valid)) {
        await call('createScope', signed(config), {});
        await call('updateScope', { ...signed(config), scope_id: scopeId }, {});
      }
      await fc.assert(
        fc.asyncProperty(fc.oneof(anyJson, mutated(valid), nastyString), fc.oneof(fc.constant(scopeId), nastyString), async (config, id) => {
          await call('createScope', signed(config), {});
          await call('updateScope', { ...signed(config), scope_id: id }, {});
        }),
        { numRuns: 40 },
      );
      noInternalErrorLogged();
    });

    test('headers: scope id, encrypted key, user, session and passkey headers with arbitrary content', async () => {
      const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 80 });
      const user = fc.oneof(mutated({ username: 'fuzz-owner', userDisplayName: 'Owner', timestamp: Date.now() }), anyJson);
      const headerSet = fc.record(
        {
          'X-Scope-Id': fc.oneof(fc.constant(gw.scopeId), latin1),
          'X-Encrypted-Key': fc.oneof(fc.constant(gw.client.encryptedKey), latin1, fc.nat({ max: 5000 }).map((n) => 'A'.repeat(n))),
          'X-Encrypted-User': fc.oneof(user.map((u) => gw.client.encrypt(JSON.stringify(u) ?? 'null')), latin1),
          'X-Encrypted-Session': fc.oneof(fc.constant(gw.sessionHeaders['X-Encrypted-Session']!), latin1.map((s) => gw.client.encrypt(s))),
          'X-Encrypted-WebAuthn-Signature': fc.oneof(anyJson.map((v) => gw.client.encrypt(JSON.stringify(v) ?? 'null')), mutated({ challenge_id: randomUUID(), assertion: {} }).map((v) => gw.client.encrypt(JSON.stringify(v) ?? 'null'))),
          'X-Encrypted-Key-Signature': fc.oneof(anyJson.map((v) => gw.client.encrypt(JSON.stringify(v) ?? 'null')), latin1),
        },
        { requiredKeys: [] },
      );
      const method = fc.constantFrom('eth_accounts', 'personal_sign', 'listLambda', 'revokeSession', 'initiateAuthentication', 'executeLambda');
      await fc.assert(
        fc.asyncProperty(method, headerSet, async (m, headers) => {
          const params = m === 'personal_sign' ? ['0x00', address()] : m === 'initiateAuthentication' ? { encrypted_user: headers['X-Encrypted-User'] ?? '' } : m === 'executeLambda' ? { data: { id: lambdaId } } : [];
          // A revokeSession that succeeds would end the session the other properties use.
          if (m === 'revokeSession' && headers['X-Encrypted-Session'] === gw.sessionHeaders['X-Encrypted-Session']) return;
          const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: m, params });
          assertRpcAnswer(await post(body, headers as Record<string, string>), `${m} with ${JSON.stringify(headers).slice(0, 300)}`);
        }),
        { numRuns: 80 },
      );
      noInternalErrorLogged();
    });

    test('raw bodies: not JSON, not JSON-RPC, batches, ids of every type', async () => {
      const envelope = fc.record(
        { jsonrpc: fc.oneof(fc.constant('2.0'), anyJson), id: anyJson, method: fc.oneof(fc.constantFrom('eth_accounts', 'initiateRegistration', 'toString', '__proto__', 'constructor', 'hasOwnProperty'), nastyString), params: anyJson },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(bodyText(fc.oneof(envelope, fc.array(envelope, { maxLength: 3 }), anyJson)), async (body) => {
          assertRpcAnswer(await post(body, anonymous()), `body ${String(body).slice(0, 200)}`);
        }),
        { numRuns: 80 },
      );
      noInternalErrorLogged();
    });

    test('paths and methods other than POST /: a status below 500, in the gateway\'s formats', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('GET', 'POST', 'OPTIONS', 'PUT', 'DELETE'), fc.constantFrom('/', '/wallet/', '/enclave-public-key/', '/health/', '/x/'), pathSegment, async (method, prefix, segment) => {
          const target = prefix + segment;
          const a = await rawHttp(port, request(method, target, {}, method === 'POST' ? '{}' : undefined));
          assert.ok(a.status >= 200 && a.status < 500, `${method} ${target.slice(0, 200)} -> ${a.status} ${a.body.slice(0, 200)}`);
          if (method === 'POST' && target.split('?')[0] === '/') assertRpcAnswer(a, target);
        }),
        { numRuns: 80 },
      );
    });

    test('the session still works afterwards', async () => {
      const r = await call('eth_accounts', [], gw.sessionHeaders);
      assert.deepEqual(r.result, [gw.account.address]);
      noInternalErrorLogged();
    });
  });
});
