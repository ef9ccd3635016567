import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { frameworkRefusals, REFUSAL_MESSAGES, refuseUnmetExpectations, type FrameworkRefusal, type RefusedRequest } from '../../../src/http/framework-refusals.js';
import { rawHttp, request } from '../../helpers/raw-http.js';

/**
 * Requests refused before any route runs, by Fastify's router or Node's HTTP parser, are
 * answered in the API's own format, which here records what the format was told.
 */
const seen: Array<{ refusal: FrameworkRefusal; req: RefusedRequest }> = [];
const STATUS: Record<FrameworkRefusal, number> = { bad_url: 400, param_too_long: 414, headers_too_large: 431, request_timeout: 408, malformed_request: 400, unmet_expectation: 417 };
const format = (refusal: FrameworkRefusal, req: RefusedRequest) => {
  seen.push({ refusal, req });
  return { status: STATUS[refusal], body: { error: refusal, message: REFUSAL_MESSAGES[refusal] } };
};
const body = (refusal: FrameworkRefusal) => ({ error: refusal, message: REFUSAL_MESSAGES[refusal] });

let app: FastifyInstance;
let port: number;
before(async () => {
  app = Fastify({ logger: false, maxParamLength: 16, ...frameworkRefusals(format) });
  refuseUnmetExpectations(app.server, format);
  app.get('/items/:id', async (req) => ({ id: (req.params as { id: string }).id }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(() => app.close());

describe("Fastify's router refusals (through inject)", () => {
  test('a path whose %-encoding does not decode is bad_url', async () => {
    seen.length = 0;
    const r = await app.inject({ method: 'GET', url: '/items/%E0%A4%A' });
    assert.equal(r.statusCode, 400);
    assert.deepEqual(r.json(), body('bad_url'));
    assert.deepEqual(seen, [{ refusal: 'bad_url', req: { method: 'GET', url: '/items/%E0%A4%A' } }]);
  });

  test('a path parameter over maxParamLength is param_too_long; one within it reaches the route', async () => {
    const r = await app.inject({ method: 'GET', url: `/items/${'x'.repeat(17)}` });
    assert.equal(r.statusCode, 414);
    assert.deepEqual(r.json(), body('param_too_long'));
    const ok = await app.inject({ method: 'GET', url: `/items/${'x'.repeat(16)}` });
    assert.deepEqual(ok.json(), { id: 'x'.repeat(16) });
  });
});

describe("Node's parser refusals (on a socket)", () => {
  test('headers over the limit are headers_too_large, with the request line', async () => {
    seen.length = 0;
    const a = await rawHttp(port, request('GET', '/items/1', { 'x-big': 'y'.repeat(20_000) }));
    assert.equal(a.status, 431);
    assert.deepEqual(JSON.parse(a.body), body('headers_too_large'));
    assert.match(a.headers, /content-type: application\/json; charset=utf-8/i);
    assert.match(a.headers, /connection: close/i);
    assert.deepEqual(seen, [{ refusal: 'headers_too_large', req: { method: 'GET', url: '/items/1' } }]);
  });

  test('what is not HTTP is malformed_request, with no request line to report', async () => {
    seen.length = 0;
    const a = await rawHttp(port, 'HELLO THERE\r\n\r\n');
    assert.equal(a.status, 400);
    assert.deepEqual(JSON.parse(a.body), body('malformed_request'));
    assert.deepEqual(seen, [{ refusal: 'malformed_request', req: {} }]);
  });

  test('a broken header after a good request line is malformed_request, naming the method and path', async () => {
    seen.length = 0;
    const a = await rawHttp(port, 'POST /items/2?x=1 HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n');
    assert.equal(a.status, 400);
    assert.deepEqual(JSON.parse(a.body), body('malformed_request'));
    assert.deepEqual(seen, [{ refusal: 'malformed_request', req: { method: 'POST', url: '/items/2?x=1' } }]);
  });

  test('an Expect other than 100-continue is unmet_expectation, before any route', async () => {
    seen.length = 0;
    const a = await rawHttp(port, request('GET', '/items/1', { Expect: 'the-impossible' }));
    assert.equal(a.status, 417);
    assert.deepEqual(JSON.parse(a.body), body('unmet_expectation'));
    assert.deepEqual(seen, [{ refusal: 'unmet_expectation', req: { method: 'GET', url: '/items/1' } }]);
  });

  test('the server keeps serving after each', async () => {
    const a = await rawHttp(port, request('GET', '/items/ok', {}));
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.body), { id: 'ok' });
  });
});

describe('REFUSAL_MESSAGES', () => {
  test('one message for each refusal', () => {
    assert.deepEqual(Object.keys(REFUSAL_MESSAGES).sort(), Object.keys(STATUS).sort());
    for (const m of Object.values(REFUSAL_MESSAGES)) assert.ok(m.length > 0);
  });
});
