import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../../src/gateway/gateway.js';
import { buildGatewayApp } from '../../src/gateway/server.js';

// The HTTP edge of the gateway over a real socket: refusals that happen before any method
// runs need no gateway state, so none is given.
describe('gateway HTTP edge', () => {
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = await buildGatewayApp({} as Gateway);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  const post = async (body: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, json: (await res.json()) as { error?: { code: number; data?: unknown; message: string } } };
  };

  test('a body over 1 MiB is read to its end before the JSON-RPC refusal, and the connection stays open', async () => {
    // A client still writing when the server answers and closes sees a reset, not the
    // answer (undici's fetch did, on a busy machine). So the answer must come after the body.
    const length = 2 << 20;
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    let answeredAt = -1;
    let written = 0;
    socket.on('data', (d) => {
      if (answeredAt < 0) answeredAt = written;
      reply += d.toString();
    });
    socket.write(`POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
    const chunk = Buffer.alloc(length / 16, 'x');
    for (let i = 0; i < 16; i++) {
      await sleep(15);
      socket.write(chunk);
      written += chunk.length;
    }
    for (let i = 0; i < 200 && !reply.includes('}'); i++) await sleep(10);
    assert.equal(answeredAt, length, 'the answer came before the body was read');
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(reply, /connection: close/i);
    assert.match(reply, /"the request body is too large","data":"invalid_request"/);
    // Still usable: a second request on the same socket is answered.
    reply = '';
    socket.write('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{]');
    for (let i = 0; i < 200 && !reply.includes('}'); i++) await sleep(10);
    assert.match(reply, /"code":-32700/);
    socket.destroy();
  });

  test('fetch gets the same JSON-RPC error for an oversized body, every time', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'personal_sign', params: ['x'.repeat(2 << 20)] });
    for (let i = 0; i < 10; i++) {
      const { status, json } = await post(big);
      assert.equal(status, 200);
      assert.equal(json.error?.data, 'invalid_request');
    }
  });

  test('an unknown method is a JSON-RPC error with HTTP 200', async () => {
    const { status, json } = await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'eth_nothing', params: [] }));
    assert.equal(status, 200);
    assert.equal(json.error?.code, -32601);
  });
});
