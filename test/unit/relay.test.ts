import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { RelayClient, relayUrl } from '../../src/relay/client.js';
import { RelayPool } from '../../src/relay/pool.js';
import { MAX_FRAME_BYTES } from '../../src/relay/protocol.js';
import { startRelay, type RelayOptions } from '../../src/relay/server.js';
import { rawRelaySocket } from '../helpers/raw-relay-socket.js';
import { TEST_RELAY } from '../helpers/relay-auth.js';
import { until as waitUntil } from '../helpers/wait.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

async function relayFor(
  t: TestContext,
  opts: Omit<RelayOptions, 'port' | 'host' | 'log' | 'nodes'> & { nodes?: RelayOptions['nodes'] } = {},
) {
  const logs: string[] = [];
  const relay = await startRelay({ host: '127.0.0.1', port: 0, log: (m) => logs.push(m), nodes: TEST_RELAY.nodes, ...opts });
  t.after(() => relay.close());
  return { relay, logs, address: `127.0.0.1:${relay.port}`, url: relayUrl(`127.0.0.1:${relay.port}`) };
}

/** A client whose joins present a capability, as a room client's do (see helpers/relay-auth.ts). */
async function clientFor(t: TestContext, url: string): Promise<RelayClient> {
  const client = TEST_RELAY.admit(await RelayClient.connect(url));
  t.after(() => client.close());
  return client;
}

const until = (cond: () => boolean, what: string, ms = 2000) => waitUntil(cond, what, ms);

let flushes = 0;
/** The relay handles a socket's frames in order: once this join is answered, all earlier ones were handled. */
async function flush(client: RelayClient): Promise<void> {
  await client.join('flush', `f${++flushes}`, () => {});
}

/** Records what a joined party receives, decoded as text. */
function inbox() {
  const got: Array<{ from: string; text: string }> = [];
  const raw: Uint8Array[] = [];
  return {
    got,
    raw,
    onMessage: (from: string, data: Uint8Array) => {
      raw.push(data);
      got.push({ from, text: Buffer.from(data).toString('utf8') });
    },
    waitFor: (n: number) => until(() => got.length >= n, `${n} messages (have ${got.length})`),
  };
}

/** A bare socket, to send what RelayClient never would. */
const rawSocket = (t: TestContext, url: string) => rawRelaySocket(t, url, 2000);

test('relay delivers between two parties, both ways', async (t) => {
  const { url } = await relayFor(t);
  const [a, b] = [await clientFor(t, url), await clientFor(t, url)];
  const [inA, inB] = [inbox(), inbox()];
  await a.join('cer-1', 'alice', inA.onMessage);
  await b.join('cer-1', 'bob', inB.onMessage);

  a.send('cer-1', 'alice', 'bob', bytes('hello bob'));
  await inB.waitFor(1);
  b.send('cer-1', 'bob', 'alice', new Uint8Array([0, 255, 7]));
  await inA.waitFor(1);

  assert.deepEqual(inB.got, [{ from: 'alice', text: 'hello bob' }]);
  assert.equal(inA.got.length, 1);
  assert.equal(inA.got[0]?.from, 'bob');
  assert.deepEqual(inA.raw[0], new Uint8Array([0, 255, 7]));
});

test('the relay port also answers GET /health and /metrics (Prometheus), and nothing else over plain HTTP', async (t) => {
  const { relay, url } = await relayFor(t);
  const a = await clientFor(t, url);
  await a.join('cer-metrics', 'alice', () => {});
  const health = await fetch(`http://127.0.0.1:${relay.port}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok', backplane: 'memory', connections: 1 });
  const metrics = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  assert.match(metrics, /^tandem_relay_frames_total\{[^}]*type="join"[^}]*\} 1$/m);
  assert.match(metrics, /^tandem_relay_connections\{[^}]*\} 1$/m);
  assert.match(metrics, /^tandem_relay_backplane_up\{[^}]*\} 1$/m);
  assert.equal((await fetch(`http://127.0.0.1:${relay.port}/`)).status, 426);
});

test('relay buffers messages until the recipient joins, then delivers them in order', async (t) => {
  const { url } = await relayFor(t);
  const a = await clientFor(t, url);
  await a.join('cer-2', 'alice', () => {});
  for (const n of [1, 2, 3]) a.send('cer-2', 'alice', 'bob', bytes(`m${n}`));
  a.send('cer-2', 'alice', 'carol', bytes('for carol'));
  await flush(a);

  const b = await clientFor(t, url);
  const inB = inbox();
  await b.join('cer-2', 'bob', inB.onMessage);
  a.send('cer-2', 'alice', 'bob', bytes('m4'));
  await inB.waitFor(4);
  await delay(50);

  assert.deepEqual(
    inB.got.map((m) => m.text),
    ['m1', 'm2', 'm3', 'm4'],
  );
});

test('relay fans a party message out to every socket joined as that party', async (t) => {
  const { url } = await relayFor(t);
  const a = await clientFor(t, url);
  const [b1, b2] = [await clientFor(t, url), await clientFor(t, url)];
  const [in1, in2] = [inbox(), inbox()];
  await a.join('cer-3', 'alice', () => {});
  await b1.join('cer-3', 'bob', in1.onMessage);
  await b2.join('cer-3', 'bob', in2.onMessage);

  a.send('cer-3', 'alice', 'bob', bytes('to both'));
  await in1.waitFor(1);
  await in2.waitFor(1);

  assert.deepEqual(in1.got, [{ from: 'alice', text: 'to both' }]);
  assert.deepEqual(in2.got, [{ from: 'alice', text: 'to both' }]);
});

test('one socket joined as two parties of a room routes each message to its party', async (t) => {
  const { url } = await relayFor(t);
  const c = await clientFor(t, url);
  const [inA, inB] = [inbox(), inbox()];
  await c.join('cer-4', 'alice', inA.onMessage);
  await c.join('cer-4', 'bob', inB.onMessage);

  c.send('cer-4', 'alice', 'bob', bytes('a->b'));
  c.send('cer-4', 'bob', 'alice', bytes('b->a'));
  await inA.waitFor(1);
  await inB.waitFor(1);

  assert.deepEqual(inA.got, [{ from: 'bob', text: 'b->a' }]);
  assert.deepEqual(inB.got, [{ from: 'alice', text: 'a->b' }]);
});

test('relay refuses a send from a socket that has not joined as the sender', async (t) => {
  const { url } = await relayFor(t);
  const [a, mallory] = [await clientFor(t, url), await clientFor(t, url)];
  const errors: string[] = [];
  mallory.onError((reason) => errors.push(reason));
  const inA = inbox();
  await a.join('cer-5', 'alice', inA.onMessage);
  await mallory.join('cer-5', 'mallory', () => {});

  mallory.send('cer-5', 'bob', 'alice', bytes('forged'));
  await until(() => errors.length > 0, 'an error frame');
  mallory.send('cer-5', 'mallory', 'alice', bytes('honest'));
  await inA.waitFor(1);

  assert.match(errors[0]!, /not joined as bob/);
  assert.deepEqual(inA.got, [{ from: 'mallory', text: 'honest' }]);
});

test('relay answers malformed frames with error and keeps serving', async (t) => {
  const { url } = await relayFor(t);
  const raw = await rawSocket(t, url);

  raw.ws.send('{not json');
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid JSON' });
  raw.ws.send(JSON.stringify({ t: 'join', room: 'bad room!', party: 'p', req: 7 }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid room', req: 7 });
  raw.ws.send(JSON.stringify({ t: 'join', room: 'r', party: 'bad/party', req: 8 }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid party', req: 8 });
  raw.ws.send(JSON.stringify({ t: 'dance', req: 9 }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'unknown frame type', req: 9 });
  raw.ws.send(JSON.stringify({ t: 'send', room: 'r', from: 'a', to: 'b', data: 42 }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'data must be a string' });
  raw.ws.send(JSON.stringify({ t: 'send', room: 'r', from: 'a', to: 'b', data: 'x'.repeat(MAX_FRAME_BYTES) }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'frame too large' });

  // The same socket still works after all that.
  raw.ws.send(JSON.stringify({ t: 'join', room: 'r', party: 'a', req: 10, cap: TEST_RELAY.capability('r', 'a') }));
  assert.deepEqual(await raw.next(), { t: 'joined', room: 'r', party: 'a', req: 10 });

  // Far beyond the limit ws drops the socket (1009) without reading it all; others are unaffected.
  raw.ws.send('x'.repeat(3 * MAX_FRAME_BYTES));
  assert.equal(await raw.closed, 1009);
  const c = await clientFor(t, url);
  await c.join('r', 'b', () => {});
});

test('one connection joins at most maxJoinsPerConnection rooms; leaving frees a place; other sockets are unaffected', async (t) => {
  const { url } = await relayFor(t, { maxJoinsPerConnection: 3 });
  const raw = await rawSocket(t, url);
  for (let i = 0; i < 3; i++) {
    raw.ws.send(JSON.stringify({ t: 'join', room: `r${i}`, party: 'a', req: i, cap: TEST_RELAY.capability(`r${i}`, 'a') }));
    assert.deepEqual(await raw.next(), { t: 'joined', room: `r${i}`, party: 'a', req: i });
  }
  raw.ws.send(JSON.stringify({ t: 'join', room: 'r3', party: 'a', req: 3, cap: TEST_RELAY.capability('r3', 'a') }));
  assert.deepEqual(await raw.next(), { t: 'error', reason: 'more than 3 rooms joined on one connection', req: 3 });
  // Joining a room it is in already is no new place.
  raw.ws.send(JSON.stringify({ t: 'join', room: 'r0', party: 'a', req: 4, cap: TEST_RELAY.capability('r0', 'a') }));
  assert.deepEqual(await raw.next(), { t: 'joined', room: 'r0', party: 'a', req: 4 });
  raw.ws.send(JSON.stringify({ t: 'leave', room: 'r1', party: 'a' }));
  raw.ws.send(JSON.stringify({ t: 'join', room: 'r3', party: 'a', req: 5, cap: TEST_RELAY.capability('r3', 'a') }));
  assert.deepEqual(await raw.next(), { t: 'joined', room: 'r3', party: 'a', req: 5 });
  const other = await clientFor(t, url);
  await other.join('r4', 'b', () => {});
});

test('client join rejects with the relay reason', async (t) => {
  const { url } = await relayFor(t);
  const c = await clientFor(t, url);
  await assert.rejects(c.join('no spaces allowed', 'alice', () => {}), /invalid room/);
  await c.join('fine', 'alice', () => {});
});

test('an idle room expires with its buffer; a joined member keeps it alive', async (t) => {
  const { url, logs } = await relayFor(t, { roomTtlMs: 100 });
  const a = TEST_RELAY.admit(await RelayClient.connect(url));
  await a.join('idle', 'alice', () => {});
  a.send('idle', 'alice', 'bob', bytes('lost'));
  const keeper = await clientFor(t, url);
  await keeper.join('kept', 'alice', () => {});
  keeper.send('kept', 'alice', 'bob', bytes('kept'));
  await flush(a);
  await flush(keeper);
  await a.close();
  await delay(400);

  const b = await clientFor(t, url);
  const [inIdle, inKept] = [inbox(), inbox()];
  await b.join('idle', 'bob', inIdle.onMessage);
  await b.join('kept', 'bob', inKept.onMessage);
  // The room is fresh again: a new message is the first thing bob gets.
  const a2 = await clientFor(t, url);
  await a2.join('idle', 'alice', () => {});
  a2.send('idle', 'alice', 'bob', bytes('fresh'));
  await inIdle.waitFor(1);
  await inKept.waitFor(1);

  assert.deepEqual(
    inIdle.got.map((m) => m.text),
    ['fresh'],
  );
  assert.deepEqual(
    inKept.got.map((m) => m.text),
    ['kept'],
  );
  assert.ok(logs.some((l) => /room idle expired with 1 undelivered/.test(l)));
  assert.ok(!logs.some((l) => l.includes('lost')), 'relay must never log message data');
});

test('a full room buffer drops its oldest message', async (t) => {
  const { url, logs } = await relayFor(t, { maxBufferedPerRoom: 2 });
  const a = await clientFor(t, url);
  await a.join('full', 'alice', () => {});
  for (const n of [1, 2, 3]) a.send('full', 'alice', 'bob', bytes(`m${n}`));
  await flush(a);
  const b = await clientFor(t, url);
  const inB = inbox();
  await b.join('full', 'bob', inB.onMessage);
  await inB.waitFor(2);
  await delay(50);

  assert.deepEqual(
    inB.got.map((m) => m.text),
    ['m2', 'm3'],
  );
  assert.ok(logs.some((l) => /buffer full/.test(l)));
});

test('buffers are bounded in bytes: a room drops its oldest, the relay refuses beyond its total', async (t) => {
  // base64 of 300 bytes is 400 characters: two fit a 1,000-character room, three don't. Of
  // 3,000 characters in all, half is kept for nodes: this client may hold three messages.
  const { url, logs } = await relayFor(t, { maxRoomBufferBytes: 1000, maxTotalBufferBytes: 3000 });
  const a = await clientFor(t, url);
  const errors: string[] = [];
  a.onError((reason) => errors.push(reason));
  await a.join('big', 'alice', () => {});
  for (const n of [1, 2, 3]) a.send('big', 'alice', 'bob', new Uint8Array(300).fill(n));
  await flush(a);
  assert.ok(logs.some((l) => /buffer full, dropped oldest/.test(l)));
  await a.join('big2', 'alice', () => {});
  a.send('big2', 'alice', 'carol', new Uint8Array(300).fill(9));
  a.send('big2', 'alice', 'carol', new Uint8Array(300).fill(9));
  await flush(a);
  await until(() => errors.some((e) => /buffers are full/.test(e)), 'a refusal');
  const b = await clientFor(t, url);
  const inB = inbox();
  await b.join('big', 'bob', inB.onMessage);
  await inB.waitFor(2);
  await delay(50);
  assert.deepEqual(inB.raw.map((d) => d[0]), [2, 3], 'the oldest was dropped, the rest delivered in order');
});

test('leave stops delivery to that socket; later messages are buffered', async (t) => {
  const { url } = await relayFor(t);
  const [a, b] = [await clientFor(t, url), await clientFor(t, url)];
  const inB = inbox();
  await a.join('lv', 'alice', () => {});
  await b.join('lv', 'bob', inB.onMessage);
  b.leave('lv', 'bob');
  await flush(b);
  a.send('lv', 'alice', 'bob', bytes('while away'));

  const b2 = await clientFor(t, url);
  const inB2 = inbox();
  await b2.join('lv', 'bob', inB2.onMessage);
  await inB2.waitFor(1);

  assert.deepEqual(inB2.got, [{ from: 'alice', text: 'while away' }]);
  assert.deepEqual(inB.got, []);
});

test('client connect rejects on a closed port and on a silent server', async (t) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  const closedUrl = relayUrl(`127.0.0.1:${closedPort}`);
  await assert.rejects(RelayClient.connect(closedUrl), (err: Error) => {
    assert.ok(err.message.startsWith(`relay ${closedUrl}: `), err.message);
    assert.match(err.message, /ECONNREFUSED/);
    return true;
  });

  // Accepts TCP but never answers the upgrade.
  const silent = createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    silent.close();
  });
  const silentUrl = relayUrl(`127.0.0.1:${(silent.address() as AddressInfo).port}`);
  await assert.rejects(RelayClient.connect(silentUrl, { timeoutMs: 150 }), /timed out after 150 ms/);
});

test('client reports a dropped socket and refuses to send afterwards', async (t) => {
  const { relay, url } = await relayFor(t);
  const c = TEST_RELAY.admit(await RelayClient.connect(url));
  const pendingJoin = c.join('drop', 'alice', () => {}, { timeoutMs: 5000 });
  await pendingJoin;
  const reasons: string[] = [];
  c.onClose((r) => reasons.push(r));
  await relay.close();
  await until(() => reasons.length === 1, 'onClose');

  assert.equal(c.closed, true);
  assert.throws(() => c.send('drop', 'alice', 'bob', bytes('x')), /socket is closed/);
  await assert.rejects(c.join('drop', 'alice', () => {}), /socket is closed/);
  // Registering after the fact still gets told.
  const late = await new Promise<string>((resolve) => c.onClose(resolve));
  assert.equal(late, reasons[0]);
});

test('pool shares one connect per address and reconnects after a drop', async (t) => {
  const { address } = await relayFor(t);
  const pool = new RelayPool();
  t.after(() => pool.closeAll());

  const [c1, c2] = await Promise.all([pool.get(address), pool.get(address)]);
  assert.equal(c1, c2);
  const dropped = new Promise<void>((resolve) => c1.onClose(() => resolve()));
  await c1.close();
  await dropped;
  const c3 = await pool.get(address);
  assert.notEqual(c3, c1);
  assert.equal(c3.closed, false);

  await assert.rejects(pool.get('not an address'), /invalid relay address/);
  await pool.closeAll();
  assert.equal(c3.closed, true);
});

test('client refuses an oversized relay frame from its header, without reading it, and closes with 1009', async (t) => {
  // A stand-in relay that answers the join, then starts a 64 MiB text frame it never finishes.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const relayClose = new Promise<number>((resolve) => {
    wss.on('connection', (ws, req) => {
      ws.on('error', () => {});
      ws.on('close', (code) => resolve(code));
      ws.once('message', (raw) => {
        const join = JSON.parse(String(raw)) as { room: string; party: string; req: number };
        ws.send(JSON.stringify({ t: 'joined', room: join.room, party: join.party, req: join.req }));
        // FIN + text, 64-bit length 2^26, unmasked (server to client): the header and 3 bytes.
        req.socket.write(Buffer.from([0x81, 127, 0, 0, 0, 0, 0x04, 0, 0, 0, 0x7b, 0x22, 0x74]));
      });
    });
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  const c = await RelayClient.connect(relayUrl(`127.0.0.1:${(wss.address() as AddressInfo).port}`));
  t.after(() => c.close());
  const reason = new Promise<string>((resolve) => c.onClose(resolve));
  const got = inbox();
  await c.join('r', 'p', got.onMessage);
  assert.equal(await reason, 'Max payload size exceeded');
  // The relay (or whatever sent it) is told why: 1009, message too big.
  assert.equal(await relayClose, 1009);
  assert.equal(c.closed, true);
  assert.deepEqual(got.got, []);
});

test('relayUrl accepts host:port forms and rejects everything else', () => {
  assert.equal(relayUrl('localhost:7000'), 'ws://localhost:7000/');
  assert.equal(relayUrl('relay-1.example.com:443'), 'ws://relay-1.example.com:443/');
  assert.equal(relayUrl('10.0.0.1:1'), 'ws://10.0.0.1:1/');
  assert.equal(relayUrl('[::1]:65535'), 'ws://[::1]:65535/');
  assert.equal(relayUrl('[2001:db8::7]:7000'), 'ws://[2001:db8::7]:7000/');

  for (const bad of [
    '',
    'localhost',
    'localhost:',
    ':7000',
    'localhost:0',
    'localhost:65536',
    'localhost:07000',
    'localhost:-1',
    'localhost:7000/path',
    'ws://localhost:7000',
    '::1:7000',
    '[::zz]:7000',
    '[::1:7000',
    '256.1.1.1:7000',
    'host name:7000',
    '-relay:7000',
    'relay..x:7000',
  ]) {
    assert.throws(() => relayUrl(bad), /invalid relay address/, bad);
  }
});
