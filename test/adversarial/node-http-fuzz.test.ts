import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { api } from '../helpers/cluster.js';
import { startInProcessNodes, type InProcessNodes } from '../helpers/in-process-nodes.js';
import { anyJson, bodyText, mutated, pathSegment, stringEdits } from '../helpers/fuzz-inputs.js';
import { rawHttp, request, type RawAnswer } from '../helpers/raw-http.js';

/**
 * A signer node's HTTP API against arbitrary input in every place a caller controls: JSON
 * bodies of every POST route, path parameters, query strings, headers and the request line
 * itself. Whatever arrives, the answer is seed 000's: 200, or `{ err_type, err_msg }` with
 * one of the seed's types at the status the type has (README, "Errors"); never a 500, a
 * framework's own error body, a dropped connection or no answer. Two real nodes in this
 * process with a key of each family, so valid inputs reach ceremonies and key reads.
 *
 * Also the concrete cases of issue 11, finding 6 (fuzzing the running cluster), one test each.
 */

/** Seed 000's error types by status, as the README's table lists them; internal_problem (500) is never an answer to input. */
const SEED_TYPES: Record<number, readonly string[]> = {
  400: [
    'already_performed_keygen',
    'bad_n_and_t_params',
    'bad_request_params',
    'batch_too_large',
    'executor_result',
    'key_id_not_exists',
    'key_operation_before_keygen',
    'policy_in_use_by_keys',
    'policy_in_use_by_users',
    'policy_not_found',
    'policy_validation_failed',
    'room_creation_problem',
    'rule_in_use',
    'rule_not_found',
    'rule_not_in_policy',
    'unique_violation',
    'user_id_not_exists',
    'you_have_to_be_admin',
  ],
  401: ['access_denied'],
  404: ['not_found'],
};

const FAMILIES = ['bip340', 'ed25519', 'ecdsa'] as const;
type Family = (typeof FAMILIES)[number];
const HASH = 'ab'.repeat(32);
const RUNS = 25;

/** The answer is 200 or a seed 000 error at its status; returns the error type (undefined for 200). */
function assertSeedAnswer(a: { status: number; body: string }, what: string): string | undefined {
  const context = `${what} -> ${a.status} ${a.body.slice(0, 300)}`;
  if (a.status === 200) return undefined;
  const allowed = SEED_TYPES[a.status];
  assert.ok(allowed, `status ${a.status} is not one seed 000 answers input with: ${context}`);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body) as Record<string, unknown>;
  } catch {
    return assert.fail(`not JSON: ${context}`);
  }
  assert.deepEqual(Object.keys(body).sort(), ['err_msg', 'err_type'], context);
  assert.equal(typeof body.err_msg, 'string', context);
  assert.ok(allowed.includes(String(body.err_type)), `err_type ${String(body.err_type)} at ${a.status}: ${context}`);
  return String(body.err_type);
}


// ---------------------------------------------------------------- the cluster

describe('the node HTTP API under arbitrary input', { timeout: 240_000 }, () => {
  let nodes: InProcessNodes;
  let port: number;
  const keyIds = {} as Record<Family, string>;

  before(async () => {
    nodes = await startInProcessNodes(2);
    port = Number(new URL(nodes.url).port);
    for (const family of FAMILIES) {
      const r = await api(nodes.url, 'POST', `/${family}/keygen`, { key: nodes.userKey, body: { num_parties: 2, threshold: 2 } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      keyIds[family] = String(r.body.key_id);
    }
  });
  after(() => nodes?.close());

  const raw = (bytes: Buffer, timeoutMs = 15_000) => rawHttp(port, bytes, timeoutMs);
  const call = (method: string, target: string, body?: unknown, key = nodes.userKey): Promise<RawAnswer> =>
    raw(request(method, target, { Authorization: key, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, body === undefined ? undefined : JSON.stringify(body)));

  describe('issue 11 finding 6: bad ids and framework refusals are 400 bad_request_params', () => {
    const expectBadRequest = async (a: Promise<RawAnswer>, what: string) => {
      const answer = await a;
      assert.equal(answer.status, 400, `${what}: ${answer.status} ${answer.body}`);
      assert.equal(assertSeedAnswer(answer, what), 'bad_request_params', `${what}: ${answer.body}`);
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
        for (const a of [call('POST', `/${family}/sign`, { key_id: 'no-such-key', msg }), call('GET', `/${family}/public-key/no-such-key`), call('POST', `/${family}/derive`, { key_id: 'no-such-key', derivation_path: 'm/1' })]) {
          const answer = await a;
          assert.equal(answer.status, 400, answer.body);
          assert.equal(assertSeedAnswer(answer, 'unknown key'), 'key_id_not_exists');
        }
      });
    }

    test('a NUL in every admin id (path parameters and bodies)', async () => {
      const admin = (method: string, path: string, body?: unknown) => call(method, path, body, nodes.adminKey);
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
      await expectBadRequest(call('GET', '/admin/users?after=%00', undefined, nodes.adminKey), 'after=%00');
      const page = await call('GET', '/admin/users?after=&limit=1', undefined, nodes.adminKey);
      assert.equal(page.status, 200, 'an empty cursor still means "from the first user"');
    });

    test('a bad %-encoding in the path', async () => {
      await expectBadRequest(call('GET', '/bip340/public-key/%zz'), '%zz');
      await expectBadRequest(call('GET', '/admin/keys/%E0%A4%A', undefined, nodes.adminKey), 'truncated UTF-8');
    });

    test('a path parameter of 101 characters', async () => {
      await expectBadRequest(call('GET', `/ecdsa/public-key/${'k'.repeat(101)}`), '101-character key_id');
    });

    test('an 80 KB header', async () => {
      const answer = await raw(request('GET', `/bip340/public-key/${keyIds.bip340}`, { Authorization: nodes.userKey, 'X-Padding': 'p'.repeat(80 * 1024) }));
      assert.equal(answer.status, 400, answer.body);
      assert.equal(assertSeedAnswer(answer, '80 KB header'), 'bad_request_params');
      assert.match(answer.headers, /content-type: application\/json/i);
    });
  });

  describe('properties: only seed 000 answers, whatever the input', () => {
    const userRoutes = (family: Family): Array<[string, Record<string, unknown>]> => [
      [`/${family}/keygen`, { num_parties: 3, threshold: 2 }],
      [`/${family}/sign`, { key_id: keyIds[family], msg: family === 'ecdsa' ? HASH : 'c0ffee', derivation_path: 'm/1', extra_data: '01' }],
      [`/${family}/derive`, { key_id: keyIds[family], derivation_path: 'm/0/1' }],
    ];
    const adminRoutes: Array<[string, Record<string, unknown>]> = [
      ['/admin/create-user', { public_key: { type: 'ed25519', key: '11'.repeat(32) } }],
      ['/admin/create-rule', { name: 'fuzz', type: 'rate_limit', per: 'user', max: 5, window_seconds: 60 }],
      ['/admin/create-rule', { name: 'fuzz-hook', type: 'webhook', url: 'https://rules.example.com/x', timeout_ms: 100 }],
      ['/admin/create-rule', { name: 'fuzz-eth', type: 'eth_transaction', chain_ids: [1], recipients: ['0x' + '11'.repeat(20)], max_value_wei: '1' }],
      ['/admin/delete-rule', { rule_id: 'nope' }],
      ['/admin/create-policy', { name: 'fuzz' }],
      ['/admin/delete-policy', { policy_id: 'nope' }],
      ['/admin/add-rule-to-policy', { policy_id: 'nope', rule_id: 'nope' }],
      ['/admin/remove-rule-from-policy', { policy_id: 'nope', rule_id: 'nope' }],
      ['/admin/set-user-policy', { user_id: 'nobody', policy_id: null }],
      ['/admin/set-key-policy', { key_id: 'no-key', policy_id: null }],
      ['/admin/delete-user', { user_id: 'nobody' }],
    ];

    const postFuzz = async (path: string, sample: Record<string, unknown>, key: string, runs: number) => {
      for (const body of stringEdits(sample)) {
        const text = JSON.stringify(body);
        assertSeedAnswer(await raw(request('POST', path, { Authorization: key, 'Content-Type': 'application/json' }, text)), `POST ${path} ${text.slice(0, 200)}`);
      }
      const contentType = fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, fc.constantFrom('text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'multipart/form-data', ''));
      await fc.assert(
        fc.asyncProperty(bodyText(fc.oneof(anyJson, mutated(sample))), contentType, async (body, type) => {
          const a = await raw(request('POST', path, { Authorization: key, ...(type ? { 'Content-Type': type } : {}) }, body));
          assertSeedAnswer(a, `POST ${path} ${String(body).slice(0, 200)}`);
        }),
        { numRuns: runs },
      );
    };

    for (const family of FAMILIES) {
      test(`${family}: bodies of keygen, sign and derive`, async () => {
        for (const [path, sample] of userRoutes(family)) await postFuzz(path, sample, nodes.userKey, RUNS);
      });
    }

    test('create-room bodies', async () => {
      await postFuzz('/create-room', { num_parties: 3, parties: [{ party_id: 'device-1', public_key: '11'.repeat(32) }], ttl_s: 60 }, nodes.userKey, RUNS);
    });

    test('admin bodies', async () => {
      for (const [path, sample] of adminRoutes) await postFuzz(path, sample, nodes.adminKey, 15);
    });

    test('path parameters of every route that has one, and any path', async () => {
      const prefixes = [
        ...FAMILIES.map((f) => `/${f}/public-key/`),
        '/admin/keys/',
        '/admin/users/',
        '/admin/rules/',
        '/admin/policies/',
        '/admin/',
        '/',
        '/bip340/',
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
          fc.constantFrom(...prefixes),
          fc.array(pathSegment, { minLength: 1, maxLength: 3 }),
          fc.constantFrom(nodes.userKey, nodes.adminKey),
          async (method, prefix, segments, key) => {
            const target = prefix + segments.join('/');
            const a = await raw(request(method, target, { Authorization: key }, method === 'POST' ? '{}' : undefined));
            assertSeedAnswer(a, `${method} ${target.slice(0, 200)}`);
          },
        ),
        { numRuns: 150 },
      );
    });

    test('query strings', async () => {
      const routes = ['/admin/users', '/admin/audit', '/admin/audit/verify', '/admin/bans', `/bip340/public-key/${keyIds.bip340}`, '/identity'];
      const name = fc.oneof(fc.constantFrom('after', 'limit', 'after_seq', 'anchor_seq', 'anchor_hash', 'key_id', '__proto__', 'constructor'), pathSegment);
      const value = fc.oneof(pathSegment, fc.nat().map(String), fc.constantFrom('', '0', '1000', '1001', '-1', '1e3', '0x10', 'a'.repeat(64), '9'.repeat(20)));
      const query = fc.array(fc.tuple(name, fc.option(value)), { minLength: 1, maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join('&'));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), query, async (route, q) => {
          const a = await raw(request('GET', `${route}?${q}`, { Authorization: nodes.adminKey }));
          assertSeedAnswer(a, `GET ${route}?${q.slice(0, 200)}`);
        }),
        { numRuns: 120 },
      );
    });

    test('headers: Authorization, Content-Type and any other, including control characters and huge values', async () => {
      const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 });
      const authorization = fc.oneof(
        fc.constantFrom(nodes.userKey, nodes.adminKey, `Bearer ${nodes.userKey}`, `bearer  ${nodes.adminKey} `, '', 'Bearer', 'Tandem-Signature', 'Tandem-Signature ', `${nodes.userKey}x`),
        latin1,
        latin1.map((s) => `Tandem-Signature ${s}`),
        fc.dictionary(fc.constantFrom('user', 'ts', 'nonce', 'sig', 'key', 'alg', 'v'), latin1, { maxKeys: 5 }).map((d) => `Tandem-Signature ${Object.entries(d).map(([k, v]) => `${k}=${v}`).join(',')}`),
        fc.nat({ max: 100_000 }).map((n) => `Bearer ${'a'.repeat(n)}`),
      );
      const headerName = fc.oneof(fc.constantFrom('X-Request-Id', 'Content-Type', 'Accept', 'Origin', 'Transfer-Encoding', 'Expect', 'Host', 'X-Forwarded-For', 'Cookie'), fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/));
      const headerValue = fc.oneof(latin1, fc.nat({ max: 120_000 }).map((n) => 'v'.repeat(n)), fc.constantFrom('chunked', 'gzip, chunked', '100-continue', 'application/json', ''));
      const targets: Array<[string, string, string | undefined]> = [
        ['GET', `/bip340/public-key/${keyIds.bip340}`, undefined],
        ['POST', '/ecdsa/derive', JSON.stringify({ key_id: keyIds.ecdsa, derivation_path: 'm/3' })],
        ['GET', '/admin/users', undefined],
        ['POST', '/admin/create-policy', JSON.stringify({ name: 'from-the-header-fuzz' })],
      ];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...targets), authorization, fc.array(fc.tuple(headerName, headerValue), { maxLength: 3 }), async ([method, path, body], auth, extra) => {
          const headers: Record<string, string> = { Authorization: auth, ...(body ? { 'Content-Type': 'application/json' } : {}) };
          for (const [k, v] of extra) headers[k] = v;
          // A chunked request without a body is the client still sending: the server rightly waits.
          fc.pre(body !== undefined || !Object.keys(headers).some((k) => k.toLowerCase() === 'transfer-encoding'));
          const a = await raw(request(method, path, headers, body));
          assertSeedAnswer(a, `${method} ${path} with ${JSON.stringify(headers).slice(0, 300)}`);
        }),
        { numRuns: 120 },
      );
    });

    test('request lines that are not HTTP', async () => {
      const line = fc.oneof(
        fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
        fc.tuple(fc.constantFrom('GET', 'POST', 'G\u0000T', 'BREW', ''), pathSegment, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 extra', '')).map(([m, p, v]) => `${m} /${p} ${v}`),
      );
      await fc.assert(
        fc.asyncProperty(line, async (l) => {
          const bytes = Buffer.from(`${l.replace(/[\r\n]/g, '')}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
          assertSeedAnswer(await raw(bytes), `request line ${JSON.stringify(l)}`);
        }),
        { numRuns: 80 },
      );
    });

    test('the nodes still sign afterwards', async () => {
      const r = await api(nodes.url, 'POST', '/bip340/sign', { key: nodes.userKey, body: { key_id: keyIds.bip340, msg: 'c0ffee' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    });
  });
});
