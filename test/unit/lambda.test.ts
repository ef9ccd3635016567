import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { inAddressRanges, isInternalAddress, isPublicAddress, ownAddresses, parseAddressRanges } from '../../src/gateway/lambda/addresses.js';
import { findAllowEntry } from '../../src/gateway/lambda/allowlist.js';
import { judge } from '../../src/gateway/lambda/executor.js';
import { performFetch, pinnedLookup } from '../../src/gateway/lambda/fetcher.js';
import {
  executeLambda,
  LambdaError,
  parseAllowlist,
  parseLambdaDefinition,
  shutdownSandbox,
  type LambdaDefinition,
  type LambdaErrorCode,
} from '../../src/gateway/lambda/index.js';
import { runInSandbox } from '../../src/gateway/lambda/sandbox.js';
import { substituteCode, substituteJson, substituteText, substituteUrl } from '../../src/gateway/lambda/substitute.js';

after(() => shutdownSandbox());

// ---------------------------------------------------------------- helpers

/** The Passport docs' createLambda example, with a bounded max_executions. */
function docsExample(): Record<string, unknown> {
  return {
    authorization: { type: 'none' },
    triggers: [{ type: 'hook' }],
    verifications: { count: 1 },
    envs: [],
    max_executions: 10,
    conditions: [{ type: 'code', code: 'return true', output_type: 'integer', substitution: true }],
    actions: { type: 'personal_sign', check: '', data: '0x000000', substitution: true },
    postHook: [],
  };
}

function lambda(overrides: Partial<Record<keyof LambdaDefinition, unknown>>): LambdaDefinition {
  return parseLambdaDefinition({ ...docsExample(), ...overrides });
}

function code(source: string, output_type = 'boolean', substitution = true) {
  return { type: 'code', code: source, output_type, substitution };
}

function fetchCond(endpoint: string, extra: Record<string, unknown> = {}) {
  return { type: 'fetch', headers: {}, protocol: 'GET', endpoint, body: {}, substitution: true, ...extra };
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: LambdaErrorCode | LambdaErrorCode[], message?: RegExp): Promise<LambdaError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof LambdaError, `expected LambdaError ${String(code)}, got ${String(caught)}`);
  if (Array.isArray(code)) assert.ok(code.includes(caught.code), `${caught.code}: ${caught.message}`);
  else assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

function fakeSigner() {
  const messages: string[] = [];
  const sign = async (message: string): Promise<string> => {
    messages.push(message);
    return `0xsig${messages.length}`;
  };
  return { messages, sign };
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function server(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const port = (srv.address() as AddressInfo).port;
  // A scope's allowlist no longer opens 127.0.0.1: these tests reach their loopback server
  // through the operator's range (TANDEM_LAMBDA_INTERNAL_ALLOW), passed as `internal`.
  return { port, seen, base: `http://127.0.0.1:${port}`, allow: `127.0.0.1:${port}`, internal: ['127.0.0.1/32'] };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// ---------------------------------------------------------------- definitions

describe('parseLambdaDefinition', () => {
  test('accepts the documented example and returns a normalised copy', () => {
    const input = docsExample();
    input.postHook = [fetchCond('https://hooks.example.com/x', { protocol: 'post', body: { a: [1, { b: null }] } })];
    const def = parseLambdaDefinition(input);
    assert.equal(def.max_executions, 10);
    assert.equal(def.authorization.type, 'none');
    assert.deepEqual(def.conditions[0], { type: 'code', code: 'return true', output_type: 'integer', substitution: true });
    assert.equal(def.postHook[0]?.protocol, 'POST');
    assert.notEqual(def.postHook[0]?.body, (input.postHook as { body: unknown }[])[0]?.body, 'bodies are copied');
  });

  test('a JSON body with a __proto__ key stays a plain property', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const def = lambda({ postHook: [fetchCond('https://h.example.com/', { protocol: 'POST', body })] });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.keys(def.postHook[0]?.body ?? {}), ['__proto__']);
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['not an object', () => parseLambdaDefinition('lambda'), /must be an object/],
    ['unknown field', () => parseLambdaDefinition({ ...docsExample(), post_hook: [] }), /unknown field "post_hook"/],
    ['missing field', () => { const d = docsExample(); delete d.envs; return parseLambdaDefinition(d); }, /envs is required/],
    ['unlimited executions', () => lambda({ max_executions: 0 }), /max_executions/],
    ['too many executions', () => lambda({ max_executions: 1_000_001 }), /max_executions/],
    ['fractional executions', () => lambda({ max_executions: 1.5 }), /max_executions/],
    ['two verifiers', () => lambda({ verifications: { count: 2 } }), /verifications.count/],
    ['unknown authorization', () => lambda({ authorization: { type: 'anyone' } }), /authorization.type/],
    ['no conditions', () => lambda({ conditions: [] }), /conditions must have 1 to 16/],
    ['17 conditions', () => lambda({ conditions: Array.from({ length: 17 }, () => code('return true')) }), /conditions must have 1 to 16/],
    ['9 post hooks', () => lambda({ postHook: Array.from({ length: 9 }, () => fetchCond('https://h.example.com/')) }), /postHook must have 0 to 8/],
    ['code over 16 KiB', () => lambda({ conditions: [code(`return true;${' '.repeat(16 * 1024)}`)] }), /longer than 16384 bytes/],
    ['empty code', () => lambda({ conditions: [code('')] }), /must not be empty/],
    ['unknown output_type', () => lambda({ conditions: [code('return 1', 'float')] }), /output_type/],
    ['unknown condition type', () => lambda({ conditions: [{ type: 'shell', code: 'ls' }] }), /"code" or "fetch"/],
    ['substitution not boolean', () => lambda({ conditions: [code('return 1', 'integer', 'yes' as unknown as boolean)] }), /substitution/],
    ['ftp endpoint', () => lambda({ conditions: [fetchCond('ftp://h.example.com/')] }), /https:\/\/ or http:\/\//],
    ['credentials in endpoint', () => lambda({ conditions: [fetchCond('https://u:p@h.example.com/')] }), /credentials/],
    ['unknown method', () => lambda({ conditions: [fetchCond('https://h.example.com/', { protocol: 'CONNECT' })] }), /protocol/],
    ['GET with a body', () => lambda({ conditions: [fetchCond('https://h.example.com/', { body: { a: 1 } })] }), /body must be \{\} for GET/],
    ['Host header', () => lambda({ conditions: [fetchCond('https://h.example.com/', { headers: { Host: 'internal' } })] }), /may not set host/],
    ['header with CRLF', () => lambda({ conditions: [fetchCond('https://h.example.com/', { headers: { 'x-a': 'a\r\nx-b: c' } })] }), /line break/],
    ['header not a string', () => lambda({ conditions: [fetchCond('https://h.example.com/', { headers: { 'x-a': 1 } })] }), /must be a string/],
    ['deeply nested body', () => {
      let body: Record<string, unknown> = {};
      for (let i = 0; i < 40; i++) body = { a: body };
      return lambda({ conditions: [fetchCond('https://h.example.com/', { protocol: 'POST', body })] });
    }, /nested deeper/],
    ['too many envs', () => lambda({ envs: Array.from({ length: 33 }, (_, i) => i) }), /envs must have 0 to 32/],
    ['oversized envs', () => lambda({ envs: ['x'.repeat(17 * 1024)] }), /envs is \d+ bytes/],
    ['repeated trigger', () => lambda({ triggers: [{ type: 'hook' }, { type: 'hook' }] }), /repeat/],
    ['unknown trigger', () => lambda({ triggers: [{ type: 'cron' }] }), /triggers\[0\].type/],
    ['empty data', () => lambda({ actions: { type: 'personal_sign', check: '', data: '', substitution: false } }), /actions.data must not be empty/],
    ['other action', () => lambda({ actions: { type: 'eth_signTransaction', check: '', data: '0x', substitution: false } }), /actions.type/],
  ];
  for (const [name, fn, message] of bad) {
    test(`refuses: ${name}`, async () => {
      await rejectsWith(fn, 'invalid_definition', message);
    });
  }
});

// ---------------------------------------------------------------- pass rules and substitution

test('pass rules per output_type', () => {
  assert.equal(judge(true, 'boolean'), true);
  assert.match(judge(false, 'boolean') as string, /returned false/);
  assert.match(judge(1, 'boolean') as string, /expected a boolean/);
  assert.equal(judge(true, 'integer'), true, 'the docs example returns true with output_type integer');
  assert.equal(judge(7, 'integer'), true);
  assert.match(judge(0, 'integer') as string, /returned 0/);
  assert.match(judge(1.5, 'integer') as string, /expected an integer/);
  assert.match(judge('1', 'integer') as string, /expected an integer/);
  assert.equal(judge(0.5, 'number'), true);
  assert.equal(judge('ok', 'string'), true);
  assert.match(judge('', 'string') as string, /returned ""/);
  assert.equal(judge({}, 'json'), true);
  assert.match(judge(null, 'json') as string, /returned null/);
  assert.match(judge(undefined, 'json') as string, /returned nothing/);
});

describe('substitution', () => {
  const scope = {
    params: ['a b/c?d=1', 42, { user: { id: 'u1' } }],
    envs: [{ name: 'API_KEY', value: 'k-123' }, 'second'],
    conditions: [{ price: 3100 }],
    signature: '0xabc',
  };

  test('text, URL, JSON and code placements', () => {
    assert.equal(substituteText('id={{params.2.user.id}} key={{ envs.API_KEY }} second={{envs.1}} n={{params.1}} sig={{signature}}', scope), 'id=u1 key=k-123 second=second n=42 sig=0xabc');
    assert.equal(substituteText('{{conditions.0}}', scope), '{"price":3100}');
    assert.equal(substituteUrl('https://h.example.com/q?x={{params.0}}', scope), 'https://h.example.com/q?x=a%20b%2Fc%3Fd%3D1');
    assert.deepEqual(substituteJson({ n: '{{params.1}}', s: 'n is {{params.1}}', o: '{{params.2}}', keep: '{{other.thing}}' }, scope), {
      n: 42,
      s: 'n is 42',
      o: { user: { id: 'u1' } },
      keep: '{{other.thing}}',
    });
    const { source, values } = substituteCode('return {{params.0}} + {{conditions.0.price}}', scope);
    assert.equal(source, 'return (__tandem_subst[0]) + (__tandem_subst[1])');
    assert.deepEqual(values, ['a b/c?d=1', 3100]);
  });

  test('a placeholder without a value fails the execution', async () => {
    await rejectsWith(() => substituteText('{{params.9}}', scope), 'substitution_failed', /params.9/);
    await rejectsWith(() => substituteText('{{envs.MISSING}}', scope), 'substitution_failed');
    await rejectsWith(() => substituteText('{{params.2.constructor}}', scope), 'substitution_failed', /no value/);
    await rejectsWith(() => substituteText('{{signature}}', { ...scope, signature: undefined }), 'substitution_failed');
  });
});

// ---------------------------------------------------------------- sandbox

describe('code conditions in the sandbox', () => {
  test('true signs, false is "condition not met" naming the condition', async () => {
    const { sign, messages } = fakeSigner();
    const ok = await executeLambda(lambda({}), { params: [], allowlist: [] }, sign);
    assert.equal(ok.result, '0xsig1');
    assert.deepEqual(ok.conditions, [{ index: 0, type: 'code', output: true }]);
    assert.deepEqual(messages, ['0x000000']);

    const def = lambda({ conditions: [code('return true'), code('return params.length > 5')] });
    const err = await rejectsWith(executeLambda(def, { params: [1], allowlist: [] }, sign), 'condition_not_met', /^conditions\[1\] \(code\): condition not met: returned false/);
    assert.equal(err.condition, 1);
    assert.equal(messages.length, 1, 'nothing signed');
  });

  test('code sees params, envs and earlier outputs as data, and may await', async () => {
    const def = lambda({
      envs: [{ name: 'LIMIT', value: 10 }],
      conditions: [code('return params[0] * 2', 'integer'), code('await null; return conditions[0] < envs[0].value && {{envs.LIMIT}} === 10')],
    });
    const out = await executeLambda(def, { params: [4], allowlist: [] }, fakeSigner().sign);
    assert.deepEqual(out.conditions.map((c) => c.output), [8, true]);
  });

  test('an infinite loop is stopped by the deadline', async () => {
    const t0 = Date.now();
    await rejectsWith(runInSandbox({ mode: 'body', source: 'while (true) {}', globals: {} }), 'code_timeout', /250 ms/);
    assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
    const caught = await rejectsWith(
      executeLambda(lambda({ conditions: [code('try { for (;;) {} } catch (e) {} return true')] }), { params: [], allowlist: [] }, fakeSigner().sign),
      'code_timeout',
    );
    assert.equal(caught.condition, 0, 'catching the interrupt does not help');
    await rejectsWith(runInSandbox({ mode: 'body', source: 'for (;;) await null', globals: {} }), 'code_timeout');
  });

  test('a memory bomb is stopped by the memory limit', async () => {
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return new ArrayBuffer(64 * 1024 * 1024).byteLength', globals: {} }), 'code_memory', /out of memory/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return "x".repeat(32 << 20).length', globals: {} }), 'code_memory', /out of memory/);
    await rejectsWith(
      runInSandbox({ mode: 'body', source: 'let b = new ArrayBuffer(1 << 20); for (;;) b = new ArrayBuffer(b.byteLength * 2)', globals: {} }, { timeoutMs: 2000 }),
      'code_memory',
    );
    // Many small allocations make QuickJS collect garbage on every allocation near the limit,
    // so such a bomb usually ends at the deadline first; either way it is stopped.
    const t0 = Date.now();
    await rejectsWith(runInSandbox({ mode: 'body', source: 'const a = []; for (let i = 0; ; i++) a.push({ i })', globals: {} }), ['code_memory', 'code_timeout']);
    assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
  });

  test('runaway native builtins and deep recursion are contained; the sandbox keeps working', async () => {
    const t0 = Date.now();
    // QuickJS cannot interrupt this one; the host kills the worker at deadline + grace.
    await rejectsWith(runInSandbox({ mode: 'body', source: 'const a = []; for (;;) a.push(new Uint8Array(1 << 20))', globals: {} }), 'code_timeout');
    assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'function f() { return f() + 1 } return f()', globals: {} }, { timeoutMs: 2000 }), 'code_memory', /stack overflow/);
    assert.equal(await runInSandbox({ mode: 'body', source: 'return 6 * 7', globals: {} }), 42);
  });

  test('syntax errors, throws and unusable results are code errors', async () => {
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return (', globals: {} }), 'code_error', /SyntaxError/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'throw new TypeError("nope")', globals: {} }), 'code_error', /TypeError: nope/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'throw 7', globals: {} }), 'code_error', /uncaught 7/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'await new Promise(() => {})', globals: {} }), 'code_error', /never settles/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return "x".repeat(1 << 20)', globals: {} }), 'code_error', /larger than/);
    assert.equal(await runInSandbox({ mode: 'body', source: 'return', globals: {} }), undefined);
  });

  test('code cannot reach the host: no require, process, fetch, timers or modules', async () => {
    const kinds = await runInSandbox({
      mode: 'body',
      source: `return [typeof require, typeof process, typeof fetch, typeof globalThis.process, typeof setTimeout,
        typeof XMLHttpRequest, typeof WebSocket, typeof Deno, typeof module, typeof Function('return this')().process]`,
      globals: {},
    });
    assert.deepEqual(kinds, Array(10).fill('undefined'));
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return await import("node:child_process")', globals: {} }), 'code_error', /could not load module/);
    await rejectsWith(runInSandbox({ mode: 'body', source: 'return await import("https://example.com/x.js")', globals: {} }), 'code_error');
    // Nothing persists from one evaluation to the next.
    await runInSandbox({ mode: 'body', source: 'globalThis.leak = 1; Object.prototype.polluted = 1', globals: {} });
    assert.deepEqual(await runInSandbox({ mode: 'body', source: 'return [typeof leak, typeof ({}).polluted]', globals: {} }), ['undefined', 'undefined']);
  });

  test('a param crafted as code stays data', async () => {
    const evil = '"); while(true){} ("';
    const { sign, messages } = fakeSigner();
    const def = lambda({
      conditions: [code('return typeof {{params.0}} === "string" && params[0].length === 20', 'boolean')],
      actions: { type: 'personal_sign', check: '{{params.0}} !== "x" && conditions[0] === true', data: 'signed: {{params.0}}', substitution: true },
    });
    const t0 = Date.now();
    const out = await executeLambda(def, { params: [evil], allowlist: [] }, sign);
    assert.ok(Date.now() - t0 < 2500, 'the injected loop never ran');
    assert.equal(out.conditions[0]?.output, true);
    assert.deepEqual(messages, [`signed: ${evil}`]);
  });

  test('actions.check must return exactly true', async () => {
    const { sign, messages } = fakeSigner();
    const def = (check: string) => lambda({ conditions: [code('return 3', 'integer')], actions: { type: 'personal_sign', check, data: '0x01', substitution: true } });
    assert.equal((await executeLambda(def('conditions[0] === 3'), { params: [], allowlist: [] }, sign)).result, '0xsig1');
    await rejectsWith(executeLambda(def('conditions[0] > 3'), { params: [], allowlist: [] }, sign), 'check_failed', /returned false/);
    await rejectsWith(executeLambda(def('1'), { params: [], allowlist: [] }, sign), 'check_failed', /returned 1/);
    await rejectsWith(executeLambda(def('while (true) {}'), { params: [], allowlist: [] }, sign), 'code_timeout', /^actions.check/);
    assert.equal(messages.length, 1);
  });
});

// ---------------------------------------------------------------- fetch

describe('fetch conditions', () => {
  test('an allow-listed server is reached; the condition passes on 2xx with its JSON body', async (t) => {
    const srv = await server(t, (_req, res) => json(res, 200, { price: 3100 }));
    const def = lambda({
      conditions: [fetchCond(`${srv.base}/price?user={{params.0}}`, { protocol: 'POST', headers: { 'x-key': '{{envs.KEY}}' }, body: { n: '{{params.1}}' } })],
      envs: [{ name: 'KEY', value: 'secret' }],
    });
    const out = await executeLambda(def, { params: ['a&b', 5], allowlist: [srv.allow], internalAllow: srv.internal }, fakeSigner().sign);
    assert.deepEqual(out.conditions, [{ index: 0, type: 'fetch', status: 200, output: { price: 3100 } }]);
    assert.equal(srv.seen.length, 1);
    assert.equal(srv.seen[0]?.method, 'POST');
    assert.equal(srv.seen[0]?.url, '/price?user=a%26b');
    assert.equal(srv.seen[0]?.headers['x-key'], 'secret');
    assert.equal(srv.seen[0]?.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(srv.seen[0]?.body ?? ''), { n: 5 });
  });

  test('a host or port not on the allowlist is refused before any request', async (t) => {
    const srv = await server(t, (_req, res) => json(res, 200, {}));
    const def = lambda({ conditions: [fetchCond(`${srv.base}/x`)] });
    const err = await rejectsWith(executeLambda(def, { params: [], allowlist: [] }, fakeSigner().sign), 'fetch_refused', /^conditions\[0\] \(fetch\): 127\.0\.0\.1:\d+ is not on the scope's fetch allowlist/);
    assert.equal(err.condition, 0);
    await rejectsWith(executeLambda(def, { params: [], allowlist: ['127.0.0.1'] }, fakeSigner().sign), 'fetch_refused', /allowlist/);
    await rejectsWith(executeLambda(def, { params: [], allowlist: ['*.0.0.1'] }, fakeSigner().sign), 'fetch_refused', /allowlist/);
    // An allow-listed name that resolves to an internal address the allowlist does not name.
    const byName = lambda({ conditions: [fetchCond(`http://localhost:${srv.port}/x`)] });
    await rejectsWith(executeLambda(byName, { params: [], allowlist: [`localhost:${srv.port}`] }, fakeSigner().sign), 'fetch_refused', /internal address/);
    // DNS that answers with a private address (as in DNS rebinding) is refused too.
    const rebind = lambda({ conditions: [fetchCond('https://api.example.com/x')] });
    const resolve = async () => ['93.184.216.34', '10.0.0.7'];
    await rejectsWith(executeLambda(rebind, { params: [], allowlist: ['api.example.com'], resolve }, fakeSigner().sign), 'fetch_refused', /internal address/);
    assert.equal(srv.seen.length, 0, 'no request reached the server');
  });

  test('a substituted endpoint is allowlist-checked after substitution', async (t) => {
    const srv = await server(t, (_req, res) => json(res, 200, {}));
    const def = lambda({ conditions: [fetchCond('http://{{params.0}}/x')] });
    await rejectsWith(executeLambda(def, { params: [`169.254.169.254`], allowlist: [srv.allow] }, fakeSigner().sign), 'fetch_refused', /169\.254\.169\.254:80 is not on/);
    assert.equal(srv.seen.length, 0);
  });

  test('redirects are not followed', async (t) => {
    const srv = await server(t, (req, res) => {
      if (req.url === '/start') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      } else json(res, 200, { reached: true });
    });
    const def = lambda({ conditions: [fetchCond(`${srv.base}/start`)] });
    await rejectsWith(executeLambda(def, { params: [], allowlist: [srv.allow], internalAllow: srv.internal }, fakeSigner().sign), 'fetch_failed', /redirect \(302\)/);
    assert.deepEqual(srv.seen.map((s) => s.url), ['/start']);
  });

  test('a slow server times out', async (t) => {
    const srv = await server(t, () => undefined); // never answers
    const def = lambda({ conditions: [fetchCond(`${srv.base}/slow`)] });
    const t0 = Date.now();
    await rejectsWith(executeLambda(def, { params: [], allowlist: [srv.allow], internalAllow: srv.internal, limits: { fetchTimeoutMs: 300 } }, fakeSigner().sign), 'fetch_failed', /timed out after 300 ms/);
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

  test('an oversized body is refused, declared or streamed', async (t) => {
    const big = 'x'.repeat(100 * 1024);
    const srv = await server(t, (req, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(big.length) });
        res.end(big);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }); // chunked, no length
        for (let i = 0; i < 100; i++) res.write('y'.repeat(1024));
        res.end();
      }
    });
    for (const path of ['/declared', '/streamed']) {
      const def = lambda({ conditions: [fetchCond(`${srv.base}${path}`)] });
      await rejectsWith(executeLambda(def, { params: [], allowlist: [srv.allow], internalAllow: srv.internal }, fakeSigner().sign), 'fetch_failed', /exceeds 65536 bytes/);
    }
  });

  test('a non-2xx answer fails the condition', async (t) => {
    const srv = await server(t, (_req, res) => json(res, 403, { error: 'no' }));
    const def = lambda({ conditions: [fetchCond(`${srv.base}/x`)] });
    await rejectsWith(executeLambda(def, { params: [], allowlist: [srv.allow], internalAllow: srv.internal }, fakeSigner().sign), 'condition_not_met', /answered 403/);
  });

  test('text responses are returned as text', async (t) => {
    const srv = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    });
    const out = await performFetch({ method: 'GET', url: `${srv.base}/`, headers: {}, body: {} }, parseAllowlist([srv.allow]), undefined, undefined, parseAddressRanges(srv.internal));
    assert.deepEqual(out, { status: 200, body: 'hello' });
  });
});

// ---------------------------------------------------------------- internal addresses: only the operator opens them

/** An http server on 127.0.0.1, port 0, that counts TCP connections (not just requests). */
async function countingServer(t: TestContext) {
  const srv = createServer((_req, res) => json(res, 200, { secret: 'loopback' }));
  const counter = { connections: 0 };
  srv.on('connection', () => counter.connections++);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { counter, port: (srv.address() as AddressInfo).port };
}

describe("internal addresses: a scope's allowlist never opens them, the operator's ranges do", () => {
  test('an allow-listed 127.0.0.1, a name resolving to it, and a private 10.x address are refused without any connection', async (t) => {
    const { counter, port } = await countingServer(t);
    const run = (url: string, allowlist: string[], resolve?: (host: string) => Promise<string[]>) =>
      executeLambda(lambda({ conditions: [fetchCond(url)] }), { params: [], allowlist, ...(resolve ? { resolve } : {}) }, fakeSigner().sign);
    const internal = /internal address that the gateway's operator has not opened/;
    await rejectsWith(run(`http://127.0.0.1:${port}/`, [`127.0.0.1:${port}`]), 'fetch_refused', internal);
    await rejectsWith(run(`http://[::ffff:127.0.0.1]:${port}/`, [`[::ffff:127.0.0.1]:${port}`]), 'fetch_refused', internal);
    await rejectsWith(run(`http://[::1]:${port}/`, [`[::1]:${port}`]), 'fetch_refused', internal);
    await rejectsWith(run(`http://0.0.0.0:${port}/`, [`0.0.0.0:${port}`]), 'fetch_refused', internal);
    // The allowlist used to open the address it named: naming it too changes nothing now.
    await rejectsWith(run(`http://meta.test:${port}/`, [`meta.test:${port}`, '127.0.0.1'], async () => ['127.0.0.1']), 'fetch_refused', internal);
    // Every address of a name is checked, not only the first.
    await rejectsWith(run(`http://meta.test:${port}/`, [`meta.test:${port}`], async () => ['93.184.216.34', '::ffff:127.0.0.1']), 'fetch_refused', internal);
    // A private address: refused by the check (fetch_refused), so no connection is attempted.
    await rejectsWith(run(`http://10.0.0.7:${port}/`, [`10.0.0.7:${port}`]), 'fetch_refused', internal);
    await rejectsWith(run(`http://intranet.test:${port}/`, [`intranet.test:${port}`], async () => ['10.1.2.3']), 'fetch_refused', internal);
    assert.equal(counter.connections, 0, 'nothing connected to the loopback server');
  });

  test("the operator's range opens what it lists, by IP and by name, and nothing else", async (t) => {
    const { counter, port } = await countingServer(t);
    const run = (url: string, allowlist: string[], internalAllow: string[], resolve?: (host: string) => Promise<string[]>) =>
      executeLambda(lambda({ conditions: [fetchCond(url)] }), { params: [], allowlist, internalAllow, ...(resolve ? { resolve } : {}) }, fakeSigner().sign);
    const out = await run(`http://127.0.0.1:${port}/`, [`127.0.0.1:${port}`], ['127.0.0.0/8']);
    assert.deepEqual(out.conditions[0]?.output, { secret: 'loopback' });
    await run(`http://meta.test:${port}/`, [`meta.test:${port}`], ['127.0.0.1'], async () => ['127.0.0.1']);
    assert.equal(counter.connections, 2);
    // The scope's allowlist still decides which URLs may be fetched at all.
    await rejectsWith(run(`http://127.0.0.1:${port}/`, [], ['127.0.0.0/8']), 'fetch_refused', /not on the scope's fetch allowlist/);
    // A range opens only itself.
    await rejectsWith(run(`http://10.0.0.7:${port}/`, [`10.0.0.7:${port}`], ['127.0.0.0/8']), 'fetch_refused', /internal address/);
    await rejectsWith(run(`http://meta.test:${port}/`, [`meta.test:${port}`], ['127.0.0.1/32'], async () => ['127.0.0.1', '127.0.0.2']), 'fetch_refused', /internal address/);
    assert.equal(counter.connections, 2);
  });

  test('operator ranges: CIDR and single addresses, IPv4-mapped addresses match IPv4 ranges, bad entries throw', async () => {
    const r = parseAddressRanges(['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::1']);
    for (const ip of ['10.255.0.1', '127.0.0.1', '::ffff:a00:1', '::ffff:127.0.0.1', 'fd12::3', '::1']) assert.ok(inAddressRanges(ip, r), ip);
    for (const ip of ['11.0.0.1', '127.0.0.2', 'fe80::1', '::2', '192.168.0.1']) assert.ok(!inAddressRanges(ip, r), ip);
    assert.ok(!inAddressRanges('127.0.0.1', []));
    for (const bad of ['10.0.0.0/33', 'localhost', '10.0.0/8', '::1/129', '', '1.2.3.4/']) assert.throws(() => parseAddressRanges([bad]), TypeError, bad);
    await assert.rejects(executeLambda(lambda({}), { params: [], allowlist: [], internalAllow: ['nope'] }, fakeSigner().sign), TypeError);
  });

  test("this host's own interface addresses are internal, public or not", () => {
    const own = [...ownAddresses()];
    assert.ok(own.includes('127.0.0.1'));
    for (const ip of own) assert.equal(isInternalAddress(ip), true, ip);
    assert.equal(isInternalAddress('93.184.216.34'), own.includes('93.184.216.34'));
  });
});

// ---------------------------------------------------------------- DNS rebinding: the connection is pinned

/** An http server on one loopback address (the whole 127/8 is loopback on Linux); port 0 picks one. */
async function serverAt(t: TestContext, address: string, port: number) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    json(res, 200, { at: address });
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, address, resolve);
  });
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { seen, port: (srv.address() as AddressInfo).port };
}

/** Answers the first lookup with `first` and every later one with `then`, counting calls. */
function rebindingResolver(first: string, then: string) {
  const calls: string[] = [];
  const resolve = async (host: string): Promise<string[]> => {
    calls.push(host);
    return [calls.length === 1 ? first : then];
  };
  return { calls, resolve };
}

describe('DNS rebinding', () => {
  test('the request connects to the address that was checked, not to a later answer', async (t) => {
    const checked = await serverAt(t, '127.0.0.1', 0);
    const rebound = await serverAt(t, '127.0.0.2', checked.port); // same port, other address
    const { calls, resolve } = rebindingResolver('127.0.0.1', '127.0.0.2');
    // 127.0.0.1 is opened by the operator's range (so the check passes); 127.0.0.2 is not.
    // (Before the operator's range existed, the scope's allowlist named 127.0.0.1 here.)
    const allowlist = parseAllowlist([`rebind.test:${checked.port}`]);
    const out = await performFetch({ method: 'GET', url: `http://rebind.test:${checked.port}/x`, headers: {}, body: {} }, allowlist, undefined, resolve, parseAddressRanges(['127.0.0.1/32']));
    assert.deepEqual(out, { status: 200, body: { at: '127.0.0.1' } });
    assert.equal(checked.seen.length, 1, 'the checked address got the request');
    assert.equal(rebound.seen.length, 0, 'the rebound address got nothing');
    assert.deepEqual(calls, ['rebind.test'], 'resolved once, for the check; the connection did not resolve again');
    assert.equal(checked.seen[0]?.headers.host, `rebind.test:${checked.port}`, 'the Host header keeps the name');

    // Through executeLambda too, twice: each request does its own check and its own pinned connection.
    const def = lambda({ conditions: [fetchCond(`http://rebind.test:${checked.port}/y`), fetchCond(`http://rebind.test:${checked.port}/z`)] });
    const flip = rebindingResolver('127.0.0.1', '127.0.0.2');
    // The second condition's check sees 127.0.0.2, which the operator's range does not open: refused.
    await rejectsWith(
      executeLambda(def, { params: [], allowlist: [`rebind.test:${checked.port}`], internalAllow: ['127.0.0.1/32'], resolve: flip.resolve }, fakeSigner().sign),
      'fetch_refused',
      /^conditions\[1\] \(fetch\): rebind\.test resolves to an internal address/,
    );
    assert.deepEqual(checked.seen.map((s) => s.url), ['/x', '/y']);
    assert.equal(rebound.seen.length, 0);
  });

  test('the pin holds the other way round too: a checked 127.0.0.2 is not swapped for 127.0.0.1', async (t) => {
    const other = await serverAt(t, '127.0.0.1', 0);
    const checked = await serverAt(t, '127.0.0.2', other.port);
    const { calls, resolve } = rebindingResolver('127.0.0.2', '127.0.0.1');
    const allowlist = parseAllowlist([`rebind.test:${other.port}`]);
    const out = await performFetch({ method: 'POST', url: `http://rebind.test:${other.port}/p`, headers: {}, body: { a: 1 } }, allowlist, undefined, resolve, parseAddressRanges(['127.0.0.2/32']));
    assert.deepEqual(out, { status: 200, body: { at: '127.0.0.2' } });
    assert.equal(checked.seen.length, 1);
    assert.equal(other.seen.length, 0);
    assert.equal(calls.length, 1);
  });

  test('https: the socket goes to the pinned address while TLS SNI still carries the host name', async (t) => {
    // A raw TCP listener records the ClientHello (SNI travels in clear) and hangs up.
    const hello: Buffer[] = [];
    const sockets = new Set<Socket>();
    const raw = createNetServer((sock) => {
      sockets.add(sock);
      sock.once('data', (b: Buffer) => {
        hello.push(b);
        sock.destroy();
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      raw.close();
    });
    const port = (raw.address() as AddressInfo).port;
    const { calls, resolve } = rebindingResolver('127.0.0.1', '127.0.0.2');
    const allowlist = parseAllowlist([`sni.rebind.test:${port}`]);
    await rejectsWith(
      performFetch({ method: 'GET', url: `https://sni.rebind.test:${port}/`, headers: {}, body: {} }, allowlist, undefined, resolve, parseAddressRanges(['127.0.0.1/32'])),
      'fetch_failed',
    );
    assert.equal(hello.length, 1, 'the TLS handshake reached the checked address');
    assert.equal(hello[0]?.[0], 0x16, 'a TLS handshake record');
    assert.ok(hello[0]?.includes('sni.rebind.test'), 'SNI names the host');
    assert.equal(calls.length, 1);
  });

  test('pinnedLookup answers net.connect with the checked addresses only, in both callback forms', async (t) => {
    const lookup = pinnedLookup(['127.0.0.1', '::1']);
    const ask = (options: Parameters<typeof lookup>[1]) =>
      new Promise<unknown[]>((resolve) => lookup('anything.invalid', options, (err, address, family) => resolve([err?.message ?? null, address, family])));
    assert.deepEqual(await ask({ all: true }), [null, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }], undefined]);
    assert.deepEqual(await ask({}), [null, '127.0.0.1', 4]);
    assert.deepEqual(await ask({ family: 6 }), [null, '::1', 6]);
    assert.deepEqual(await ask({ family: 'IPv6', all: true }), [null, [{ address: '::1', family: 6 }], undefined]);
    const v4only = pinnedLookup(['127.0.0.1']);
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => v4only('x', { family: 6 }, (e) => resolve(e)));
    assert.equal(err?.code, 'ENOTFOUND');

    // A real socket to a name that does not exist connects to the pinned address.
    const srv = await serverAt(t, '127.0.0.1', 0);
    const sock = netConnect({ host: 'no-such-host.invalid', port: srv.port, lookup: pinnedLookup(['127.0.0.1']) });
    t.after(() => sock.destroy());
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    assert.equal(sock.remoteAddress, '127.0.0.1');
  });
});

// ---------------------------------------------------------------- whole executions

describe('executeLambda', () => {
  test('conditions, check, signature over substituted data, then the post hook gets the signature', async (t) => {
    const srv = await server(t, (req, res) => (req.url === '/price' ? json(res, 200, { price: 3100 }) : json(res, 201, { stored: true })));
    const { sign, messages } = fakeSigner();
    const def = lambda({
      envs: [{ name: 'MIN', value: 3000 }],
      conditions: [code('return params[0].startsWith("0x")'), fetchCond(`${srv.base}/price`)],
      actions: { type: 'personal_sign', check: 'conditions[1].price > {{envs.MIN}}', data: '{{params.0}}', substitution: true },
      postHook: [fetchCond(`${srv.base}/hook`, { protocol: 'POST', body: { signature: '{{signature}}', price: '{{conditions.1.price}}' } })],
    });
    const out = await executeLambda(def, { params: ['0xdeadbeef'], allowlist: [srv.allow], internalAllow: srv.internal }, sign);
    assert.deepEqual(messages, ['0xdeadbeef']);
    assert.equal(out.result, '0xsig1');
    assert.deepEqual(out.conditions.map((c) => c.output), [true, { price: 3100 }]);
    assert.deepEqual(out.post_hooks, [{ index: 0, ok: true, status: 201 }]);
    const hook = srv.seen.find((s) => s.url === '/hook');
    assert.deepEqual(JSON.parse(hook?.body ?? ''), { signature: '0xsig1', price: 3100 });
  });

  test('failing post hooks are reported and do not undo the signature', async (t) => {
    const srv = await server(t, (_req, res) => json(res, 500, {}));
    const def = lambda({
      postHook: [
        fetchCond(`${srv.base}/a`, { protocol: 'POST' }),
        fetchCond('https://not-allowed.example.com/b', { protocol: 'POST' }),
        fetchCond(`${srv.base}/c?x={{params.7}}`, { protocol: 'POST' }),
      ],
    });
    const out = await executeLambda(def, { params: [], allowlist: [srv.allow], internalAllow: srv.internal }, fakeSigner().sign);
    assert.equal(out.result, '0xsig1');
    assert.deepEqual(out.post_hooks[0], { index: 0, ok: false, status: 500 });
    assert.match(out.post_hooks[1]?.error ?? '', /not on the scope's fetch allowlist/);
    assert.match(out.post_hooks[2]?.error ?? '', /\{\{params.7\}\} has no value/);
  });

  test('the overall budget bounds a chain of conditions', async () => {
    const def = lambda({ conditions: Array.from({ length: 5 }, () => code('const t = Date.now(); while (Date.now() - t < 100) {} return true')) });
    await rejectsWith(executeLambda(def, { params: [], allowlist: [], limits: { totalTimeoutMs: 250 } }, fakeSigner().sign), ['code_timeout', 'timeout']);
  });

  test('execution input is validated', async () => {
    await rejectsWith(executeLambda(lambda({}), { params: 'x' as unknown as unknown[], allowlist: [] }, fakeSigner().sign), 'invalid_input');
    await rejectsWith(executeLambda(lambda({}), { params: ['x'.repeat(70 * 1024)], allowlist: [] }, fakeSigner().sign), 'invalid_input');
    await rejectsWith(executeLambda(lambda({}), { params: [], allowlist: ['*.com'] }, fakeSigner().sign), 'invalid_input');
    await rejectsWith(executeLambda({ ...lambda({}), max_executions: 0 }, { params: [], allowlist: [] }, fakeSigner().sign), 'invalid_definition');
  });
});

// ---------------------------------------------------------------- addresses and allowlist

test('internal addresses are recognised', () => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.31.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::a00:1', '2002:a00:1::1', '2001:db8::1', 'ff02::1',
    '0.1.2.3', '100.127.255.255', 'fc00::1', '::ffff:10.0.0.1', '::ffff:0.0.0.0', '::ffff:169.254.169.254', '::ffff:255.255.255.255', '239.255.255.250']) {
    assert.equal(isPublicAddress(ip), false, ip);
  }
  for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPublicAddress(ip), true, ip);
});

test('allowlist entries and matching', async () => {
  const list = parseAllowlist(['api.example.com', '*.hooks.example.org:8443', '[::1]:9000', '127.0.0.1:8080']);
  const allowed = (u: string) => findAllowEntry(new URL(u), list) !== undefined;
  assert.ok(allowed('https://api.example.com/x'));
  assert.ok(allowed('http://API.example.com./x'), 'case and trailing dot');
  assert.ok(!allowed('https://api.example.com:8443/x'), 'no port in the entry means the default port');
  assert.ok(!allowed('https://evil.api.example.com/x'));
  assert.ok(allowed('https://a.b.hooks.example.org:8443/'));
  assert.ok(!allowed('https://hooks.example.org:8443/'), 'a wildcard does not match its own suffix');
  assert.ok(allowed('http://[0:0::1]:9000/'));
  assert.ok(allowed('http://0x7f.1:8080/'), 'IPv4 spellings are normalised by the URL parser');
  assert.ok(!allowed('http://127.0.0.1:8081/'));
  for (const bad of ['*.com', '*', 'http://x.example.com', 'a.example.com:99999', 'a b', '1.2.3']) {
    await rejectsWith(() => parseAllowlist([bad]), 'invalid_input');
  }
});
