import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { keepConnectionAfterTooLarge } from '../../../src/http/too-large-body.js';

/**
 * A body over the limit is refused after it has been read (up to 16 MiB), and the connection
 * is kept: the client sees the refusal, not a reset. A longer one still closes it.
 */
let app: FastifyInstance;
let port: number;
before(async () => {
  app = Fastify({ logger: false, bodyLimit: 1024 });
  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    if (err.statusCode === 413) await keepConnectionAfterTooLarge(req.raw, reply);
    return reply.status(err.statusCode ?? 500).send({ error: err.statusCode === 413 ? 'too_large' : 'other' });
  });
  app.post('/echo', async (req) => ({ got: (req.body as { v?: string }).v?.length ?? 0 }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(() => app.close());

/** One keep-alive socket: what the server wrote on it, and its close. */
function keepAlive(): { socket: Socket; text: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, text: () => text, closed };
}
const post = (body: string, contentLength = Buffer.byteLength(body)) =>
  `POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n${body}`;
const answers = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n/g)].map((m) => ({ status: Number(m[1]), headers: m[2]! }));

// A server that kept the socket open where it should close it would hang the test: bound it.
describe('keepConnectionAfterTooLarge', { timeout: 20_000 }, () => {
  test('a body over the limit is read to its end and refused; the same connection serves the next request', async () => {
    const c = keepAlive();
    const big = JSON.stringify({ v: 'x'.repeat(4000) });
    c.socket.write(post(big) + post(JSON.stringify({ v: 'abc' })));
    // The two answers arrive on the one socket; then the test closes it.
    await new Promise<void>((resolve) => {
      const check = () => (answers(c.text()).length >= 2 && /\{"got":3\}$/.test(c.text()) ? resolve() : undefined);
      c.socket.on('data', check);
      c.socket.on('close', () => resolve());
    });
    const got = answers(c.text());
    assert.deepEqual(got.map((a) => a.status), [413, 200], c.text());
    assert.doesNotMatch(got[0]!.headers, /connection: close/i);
    c.socket.end();
    await c.closed;
  });

  test('a body announced over 16 MiB is refused at once and the connection is closed', async () => {
    const c = keepAlive();
    c.socket.write(post('{"v":"', 17 * 1024 * 1024));
    await c.closed;
    const got = answers(c.text());
    assert.deepEqual(got.map((a) => a.status), [413]);
    assert.match(got[0]!.headers, /connection: close/i);
  });
});
