import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { RelayClient, relayUrl } from '../../src/relay/client.js';
import { MAX_FRAME_BYTES } from '../../src/relay/protocol.js';
import { startRelay } from '../../src/relay/server.js';
import { fromBase64, RelayConnection, toBase64 } from '../../src/relay/connection.js';
import { TEST_RELAY } from '../helpers/relay-auth.js';
import { until as waitUntil } from '../helpers/wait.js';

/**
 * The SDK's portable RelayConnection against the real relay, talking to the node's own
 * RelayClient and to itself.
 */

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A Node caller hands the SDK `ws`'s WebSocket; a browser would pass nothing. */
const connectSdk = (url: string, timeoutMs?: number) =>
  RelayConnection.connect(url, timeoutMs === undefined ? { WebSocket } : { WebSocket, timeoutMs });

async function relayFor(t: TestContext) {
  const relay = await startRelay({ host: '127.0.0.1', port: 0, nodes: TEST_RELAY.nodes });
  t.after(() => relay.close());
  return { relay, url: relayUrl(`127.0.0.1:${relay.port}`) };
}

async function nodeClient(t: TestContext, url: string): Promise<RelayClient> {
  // Joins present a capability, as a room client's do (helpers/relay-auth.ts).
  const c = TEST_RELAY.admit(await RelayClient.connect(url));
  t.after(() => c.close());
  return c;
}

async function sdkClient(t: TestContext, url: string): Promise<RelayConnection> {
  const c = TEST_RELAY.admit(await connectSdk(url));
  t.after(() => c.close());
  return c;
}

const until = (cond: () => boolean, what: string, ms = 3000) => waitUntil(cond, what, ms);

function inbox() {
  const got: Array<{ from: string; data: Uint8Array }> = [];
  return {
    got,
    texts: () => got.map((m) => text(m.data)),
    onMessage: (from: string, data: Uint8Array) => {
      got.push({ from, data });
    },
    waitFor: (n: number) => until(() => got.length >= n, `${n} messages (have ${got.length})`),
  };
}

/** The common surface of both clients, so each scenario runs in every pairing. */
type Peer = RelayClient | RelayConnection;

async function exchange(a: Peer, b: Peer, room: string): Promise<void> {
  const [inA, inB] = [inbox(), inbox()];
  await a.join(room, 'alice', inA.onMessage);
  await b.join(room, 'bob', inB.onMessage);

  // Interleaved both ways: each direction must arrive in send order.
  const n = 50;
  for (let i = 0; i < n; i++) {
    a.send(room, 'alice', 'bob', bytes(`a${i}`));
    b.send(room, 'bob', 'alice', bytes(`b${i}`));
  }
  await inA.waitFor(n);
  await inB.waitFor(n);
  assert.deepEqual(inB.texts(), Array.from({ length: n }, (_, i) => `a${i}`));
  assert.deepEqual(inA.texts(), Array.from({ length: n }, (_, i) => `b${i}`));
  assert.ok(inA.got.every((m) => m.from === 'bob'));
  assert.ok(inB.got.every((m) => m.from === 'alice'));

  // Every byte value, odd lengths (base64 padding), and ~512 KiB each way.
  const payloads = [new Uint8Array(0), Uint8Array.from({ length: 256 }, (_, i) => i), randomBytes(1), randomBytes(2), randomBytes(512 * 1024 + 1)];
  for (const p of payloads) a.send(room, 'alice', 'bob', p);
  for (const p of payloads) b.send(room, 'bob', 'alice', p);
  await inA.waitFor(n + payloads.length);
  await inB.waitFor(n + payloads.length);
  for (const [i, p] of payloads.entries()) {
    assert.deepEqual(inB.got[n + i]?.data, new Uint8Array(p), `alice -> bob payload ${i}`);
    assert.deepEqual(inA.got[n + i]?.data, new Uint8Array(p), `bob -> alice payload ${i}`);
  }

  // Messages sent before the recipient joins are buffered and delivered in order after the join.
  for (const m of ['c1', 'c2', 'c3']) a.send(room, 'alice', 'carol', bytes(m));
  b.send(room, 'bob', 'carol', bytes('c4'));
  const inC = inbox();
  await a.join(room, 'flush-a', () => {}); // the relay handles a socket's frames in order
  await b.join(room, 'flush-b', () => {});
  await b.join(room, 'carol', inC.onMessage);
  await inC.waitFor(4);
  assert.deepEqual(inC.texts(), ['c1', 'c2', 'c3', 'c4']);
}

test('relay-connection.ts imports nothing from Node and nothing from ws at runtime', () => {
  const path = fileURLToPath(new URL('../../../src/relay/connection.ts', import.meta.url));
  // Comments may name Node things (Buffer, ws); only code counts.
  const src = readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
  const imports = [...src.matchAll(/^\s*(import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gms)].map((m) => ({
    typeOnly: /^\s*(import|export)\s+type\s/.test(m[0]),
    spec: m[2]!,
  }));
  assert.ok(imports.length > 0, 'the import scan found the protocol import');
  for (const { spec, typeOnly } of imports) {
    assert.ok(!spec.startsWith('node:'), `Node built-in import ${spec}`);
    assert.ok(!(spec === 'ws' && !typeOnly), 'runtime import of ws');
    assert.ok(spec.startsWith('.'), `only relative (project) imports, got ${spec}`);
  }
  assert.doesNotMatch(src, /['"]node:|['"]ws['"]/, 'no Node or ws module named anywhere in code');
  assert.doesNotMatch(src, /\brequire\(|\bimport\(/, 'no dynamic imports');
  assert.doesNotMatch(src, /\bBuffer\b|\bprocess\./, 'no Node globals');
  // The one project module it imports must itself be free of imports.
  const protocol = readFileSync(fileURLToPath(new URL('../../../src/relay/protocol.ts', import.meta.url)), 'utf8');
  assert.doesNotMatch(protocol, /^\s*import\s/m);
});

test('node RelayClient and SDK RelayConnection exchange messages both ways, in order, up to 512 KiB', async (t) => {
  const { url } = await relayFor(t);
  await exchange(await nodeClient(t, url), await sdkClient(t, url), 'mixed-1');
  await exchange(await sdkClient(t, url), await nodeClient(t, url), 'mixed-2');
});

test('two SDK RelayConnections talk to each other', async (t) => {
  const { url } = await relayFor(t);
  await exchange(await sdkClient(t, url), await sdkClient(t, url), 'sdk-only');
});

test('a frame above MAX_FRAME_BYTES is refused the same way for both clients; far above, the socket is dropped', async (t) => {
  const { url } = await relayFor(t);
  const nodeC = await nodeClient(t, url);
  const sdkC = await sdkClient(t, url);
  const [inNode, inSdk] = [inbox(), inbox()];
  await nodeC.join('big', 'node', inNode.onMessage);
  await sdkC.join('big', 'device', inSdk.onMessage);
  const errors: Record<string, string[]> = { node: [], sdk: [] };
  nodeC.onError((r) => errors.node!.push(r));
  sdkC.onError((r) => errors.sdk!.push(r));

  // Base64 of this is above 1 MiB but below the relay's hard cap of 2 MiB.
  const tooBig = randomBytes(Math.ceil((MAX_FRAME_BYTES * 3) / 4) + 1024);
  assert.ok(toBase64(tooBig).length > MAX_FRAME_BYTES && toBase64(tooBig).length < 2 * MAX_FRAME_BYTES);
  nodeC.send('big', 'node', 'device', tooBig);
  sdkC.send('big', 'device', 'node', tooBig);
  await until(() => errors.node!.length > 0 && errors.sdk!.length > 0, 'both refusals');
  assert.deepEqual(errors.sdk, ['frame too large']);
  assert.deepEqual(errors.sdk, errors.node);

  // Both sockets keep working, and the refused frames were never delivered.
  nodeC.send('big', 'node', 'device', bytes('after'));
  sdkC.send('big', 'device', 'node', bytes('after'));
  await inNode.waitFor(1);
  await inSdk.waitFor(1);
  assert.deepEqual(inNode.texts(), ['after']);
  assert.deepEqual(inSdk.texts(), ['after']);

  // Far above the limit the relay drops the socket (1009); both report it alike.
  const reasons: Record<string, string> = {};
  nodeC.onClose((r) => (reasons.node = r));
  sdkC.onClose((r) => (reasons.sdk = r));
  const huge = randomBytes(2 * MAX_FRAME_BYTES);
  nodeC.send('big', 'node', 'device', huge);
  sdkC.send('big', 'device', 'node', huge);
  await until(() => reasons.node !== undefined && reasons.sdk !== undefined, 'both drops');
  assert.equal(reasons.sdk, 'closed with code 1009');
  assert.equal(reasons.sdk, reasons.node);
  assert.equal(sdkC.closed, true);
  assert.throws(() => sdkC.send('big', 'device', 'node', bytes('x')), /socket is closed/);
});

test('SDK join and send errors match the node client', async (t) => {
  const { url } = await relayFor(t);
  const nodeC = await nodeClient(t, url);
  const sdkC = await sdkClient(t, url);
  const nodeJoin = await nodeC.join('no spaces allowed', 'alice', () => {}).catch((e: Error) => e.message);
  const sdkJoin = await sdkC.join('no spaces allowed', 'alice', () => {}).catch((e: Error) => e.message);
  assert.match(String(sdkJoin), /invalid room/);
  assert.equal(sdkJoin, String(nodeJoin).replace(nodeC.url, sdkC.url));

  const errors: string[] = [];
  sdkC.onError((r) => errors.push(r));
  await sdkC.join('room', 'mallory', () => {});
  sdkC.send('room', 'bob', 'alice', bytes('forged'));
  await until(() => errors.length > 0, 'an error');
  assert.match(errors[0]!, /not joined as bob/);

  // leave stops delivery: later messages are buffered by the relay until a rejoin.
  const inS = inbox();
  await nodeC.join('room', 'alice', () => {});
  await sdkC.join('room', 'sdk', inS.onMessage);
  nodeC.send('room', 'alice', 'sdk', bytes('one'));
  await inS.waitFor(1);
  sdkC.leave('room', 'sdk');
  await sdkC.join('room', 'flush', () => {});
  nodeC.send('room', 'alice', 'sdk', bytes('two'));
  await nodeC.join('room', 'flush', () => {});
  await delay(30);
  assert.deepEqual(inS.texts(), ['one']);
  await sdkC.join('room', 'sdk', inS.onMessage);
  await inS.waitFor(2);
  assert.deepEqual(inS.texts(), ['one', 'two']);
});

test('SDK connect rejects on a closed port and times out on a silent server', async (t) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  const closedUrl = relayUrl(`127.0.0.1:${closedPort}`);
  await assert.rejects(connectSdk(closedUrl), (err: Error) => {
    assert.ok(err.message.startsWith(`relay ${closedUrl}: `), err.message);
    assert.match(err.message, /ECONNREFUSED/);
    return true;
  });

  const silent = createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    silent.close();
  });
  const silentUrl = relayUrl(`127.0.0.1:${(silent.address() as AddressInfo).port}`);
  const started = Date.now();
  await assert.rejects(connectSdk(silentUrl, 150), /connect timed out after 150 ms/);
  assert.ok(Date.now() - started < 2500);

  await assert.rejects(RelayConnection.connect('not a url', { WebSocket }), /^Error: relay not a url: /);
  // Node 20 has no global WebSocket: the caller must pass one.
  if (!(globalThis as { WebSocket?: unknown }).WebSocket) {
    await assert.rejects(RelayConnection.connect(closedUrl), /no WebSocket implementation/);
  }
});

test('SDK close is clean; a dropped relay is reported to onClose and joins fail', async (t) => {
  const { relay, url } = await relayFor(t);
  const a = TEST_RELAY.admit(await connectSdk(url));
  await a.join('r', 'a', () => {});
  const reasons: string[] = [];
  a.onClose((r) => reasons.push(r));
  const started = Date.now();
  await a.close();
  assert.ok(Date.now() - started < 900, 'close did not wait for the grace period (1000 ms)');
  assert.deepEqual(reasons, ['closed with code 1000']);
  assert.equal(a.closed, true);
  await a.close(); // idempotent
  await assert.rejects(a.join('r', 'a', () => {}), /socket is closed/);

  const b = TEST_RELAY.admit(await connectSdk(url));
  const pending = b.join('r', 'b', () => {}, { timeoutMs: 5000 });
  await pending;
  const dropped = new Promise<string>((resolve) => b.onClose(resolve));
  await relay.close();
  const reason = await dropped;
  assert.match(reason, /closed with code/);
  assert.equal(b.closed, true);
  assert.throws(() => b.send('r', 'b', 'a', bytes('x')), /socket is closed/);
  // Registering after the fact still gets told.
  assert.equal(await new Promise<string>((resolve) => b.onClose(resolve)), reason);
});

/**
 * What a browser's WebSocket offers (no `on('ping')`, no `terminate()`, DOM-style handler
 * properties with a `this` type), built on `ws` underneath.
 */
class BrowserLikeWebSocket {
  onopen: ((this: BrowserLikeWebSocket, ev: { type: string }) => unknown) | null = null;
  onmessage: ((this: BrowserLikeWebSocket, ev: { type: string; data: unknown }) => unknown) | null = null;
  onclose: ((this: BrowserLikeWebSocket, ev: { type: string; code: number; reason: string; wasClean: boolean }) => unknown) | null = null;
  onerror: ((this: BrowserLikeWebSocket, ev: { type: string }) => unknown) | null = null;
  binaryType: 'blob' | 'arraybuffer' = 'blob';
  private readonly inner: WebSocket;
  constructor(url: string) {
    this.inner = new WebSocket(url);
    this.inner.binaryType = 'arraybuffer';
    this.inner.on('open', () => this.onopen?.call(this, { type: 'open' }));
    this.inner.on('message', (data, isBinary) => this.onmessage?.call(this, { type: 'message', data: isBinary ? data : String(data) }));
    this.inner.on('error', () => this.onerror?.call(this, { type: 'error' })); // a browser says no more
    this.inner.on('close', (code, reason) => this.onclose?.call(this, { type: 'close', code, reason: String(reason), wasClean: code === 1000 }));
  }
  get readyState(): number {
    return this.inner.readyState;
  }
  send(data: string): void {
    this.inner.send(data);
  }
  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
}

test('RelayConnection over a browser-like WebSocket (no ping events, no terminate)', async (t) => {
  const { url } = await relayFor(t);
  const a = TEST_RELAY.admit(await RelayConnection.connect(url, { WebSocket: BrowserLikeWebSocket }));
  t.after(() => a.close());
  await exchange(a, await nodeClient(t, url), 'browser-1');
  const reasons: string[] = [];
  a.onClose((r) => reasons.push(r));
  await a.close();
  assert.deepEqual(reasons, ['closed with code 1000']);
  await assert.rejects(RelayConnection.connect(relayUrl('127.0.0.1:1'), { WebSocket: BrowserLikeWebSocket }), /: connection failed$/);
});

test('portable base64 matches Buffer and refuses what is not base64', () => {
  for (let len = 0; len < 70; len++) {
    const data = randomBytes(len);
    const b64 = toBase64(data);
    assert.equal(b64, data.toString('base64'));
    assert.deepEqual(fromBase64(b64), new Uint8Array(data));
    assert.deepEqual(fromBase64(b64.replace(/=+$/, '')), new Uint8Array(data));
  }
  for (const bad of ['A', 'AB=', 'A===', 'ab!d', 'ab d', 'QQ==QQ==', 'QUJD=']) assert.equal(fromBase64(bad), undefined, bad);
});

test('portable base64 of a large, offset view matches Buffer', () => {
  const backing = randomBytes(512 * 1024 + 7);
  for (const view of [new Uint8Array(backing.buffer, backing.byteOffset + 3, 512 * 1024 + 1), new Uint8Array(backing.buffer, backing.byteOffset + 1, 512 * 1024 + 2)]) {
    const b64 = toBase64(view);
    assert.equal(b64, Buffer.from(view).toString('base64'));
    assert.deepEqual(fromBase64(b64), new Uint8Array(view));
  }
});

/** A stand-in relay that answers every join, then sends what `script` says to that socket. */
async function fakeRelay(t: TestContext, script: (ws: WebSocket, room: string, party: string) => void) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (raw) => {
      const f = JSON.parse(String(raw)) as { t: string; room: string; party: string; req: number };
      if (f.t !== 'join') return;
      ws.send(JSON.stringify({ t: 'joined', room: f.room, party: f.party, req: f.req }));
      script(ws, f.room, f.party);
    });
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return relayUrl(`127.0.0.1:${(wss.address() as AddressInfo).port}`);
}

/**
 * A valid msg frame carrying `payload`, padded to exactly `size` UTF-8 bytes with an extra
 * field of multi-byte characters (a surrogate pair among them): its JS length stays well
 * below MAX_FRAME_BYTES, so only a byte count tells whether it is too large.
 */
function msgFrameOfBytes(room: string, to: string, payload: Uint8Array, size: number): string {
  const head = `${JSON.stringify({ t: 'msg', room, from: 'relay', to, data: toBase64(payload) }).slice(0, -1)},"pad":"\u{1F600}`;
  const tail = '"}';
  const rest = size - Buffer.byteLength(head) - tail.length;
  const frame = head + '\u20AC'.repeat(Math.floor(rest / 3)) + 'x'.repeat(rest % 3) + tail;
  assert.equal(Buffer.byteLength(frame), size);
  assert.ok(frame.length < MAX_FRAME_BYTES);
  return frame;
}

test('every client closes the connection on a relay frame above MAX_FRAME_BYTES and delivers one at the limit', async (t) => {
  const atLimit = randomBytes(512 * 1024);
  const overLimit = randomBytes(512 * 1024);
  const url = await fakeRelay(t, (ws, room, party) => {
    ws.send(msgFrameOfBytes(room, party, atLimit, MAX_FRAME_BYTES));
    ws.send(msgFrameOfBytes(room, party, overLimit, MAX_FRAME_BYTES + 1));
    // Nothing after the oversized frame is delivered.
    ws.send(JSON.stringify({ t: 'msg', room, from: 'relay', to: party, data: toBase64(bytes('after')) }));
  });
  const clients: Array<[string, () => Promise<Peer>, RegExp]> = [
    // ws refuses it from the frame header (maxPayload), before reading it.
    ['node RelayClient', () => RelayClient.connect(url), /^Max payload size exceeded$/],
    // ws's default cap is 100 MiB: RelayConnection's own check (in UTF-8 bytes) refuses it.
    ['SDK over ws', () => connectSdk(url), /^relay sent a frame larger than 1048576 bytes$/],
    // A browser reads it whole before a script sees it; RelayConnection refuses it alike.
    ['SDK over a browser WebSocket', () => RelayConnection.connect(url, { WebSocket: BrowserLikeWebSocket }), /^relay sent a frame larger than 1048576 bytes$/],
  ];
  for (const [name, connect, reasonRe] of clients) {
    const c = await connect();
    t.after(() => c.close());
    const got = inbox();
    const reason = new Promise<string>((resolve) => c.onClose(resolve));
    await c.join('big', 'p', got.onMessage);
    assert.match(await reason, reasonRe, name);
    await delay(50);
    assert.equal(got.got.length, 1, `${name}: only the frame at the limit was delivered`);
    assert.deepEqual(got.got[0]?.data, new Uint8Array(atLimit), name);
    assert.equal(c.closed, true, name);
    assert.throws(() => c.send('big', 'p', 'relay', bytes('x')), /socket is closed/, name);
    await assert.rejects(c.join('big', 'q', () => {}), /socket is closed/, name);
  }
});

test('a join pending when an oversized frame arrives rejects with the reason', async (t) => {
  // The relay answers nothing but an oversized frame; the join was waiting for `joined`.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.once('message', () => ws.send('x'.repeat(MAX_FRAME_BYTES + 1)));
  });
  t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = relayUrl(`127.0.0.1:${(wss.address() as AddressInfo).port}`);
  for (const connect of [() => RelayClient.connect(url), () => connectSdk(url), () => RelayConnection.connect(url, { WebSocket: BrowserLikeWebSocket })]) {
    const c: Peer = await connect();
    await assert.rejects(c.join('r', 'p', () => {}, { timeoutMs: 5000 }), /(Max payload size exceeded|relay sent a frame larger than 1048576 bytes)$/);
    assert.equal(c.closed, true);
  }
});
