/**
 * Several relay processes sharing one NATS JetStream stream serve one relay (issue 7). Needs the
 * machine's NATS server with JetStream on 127.0.0.1:4222 (.ci/run starts it); each run uses a
 * stream of its own, deleted at the end. Relay processes listen on ports of the system's choosing.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { RelayClient, relayUrl } from '../../src/relay/client.js';
import { partySubject } from '../../src/relay/nats-backplane.js';
import { MAX_FRAME_BYTES, RELAY_CLOSE_BACKPLANE_LOST } from '../../src/relay/protocol.js';
import { startRelay } from '../../src/relay/server.js';
import { rawRelaySocket } from '../helpers/raw-relay-socket.js';
import { TEST_RELAY, testRelayNodes } from '../helpers/relay-auth.js';
import { until as waitUntil } from '../helpers/wait.js';

const NATS_URL = process.env.TANDEM_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const RELAY_MAIN = join(import.meta.dirname, '../../src/relay/main.js');
const RUN = `${process.pid}_${Date.now().toString(36)}`;
/** The stream the two relay processes share; others are made by single tests. */
const STREAM = `TRT_${RUN}`;
const streams = new Set<string>([STREAM]);
/** The relay processes' list of nodes (the stand-in nodes whose capabilities admit this file's parties). */
const NODES_FILE = join(tmpdir(), `tandem-relay-nats-nodes-${RUN}.json`);
const cap = (room: string, party: string) => TEST_RELAY.capability(room, party);

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (d: Uint8Array): string => Buffer.from(d).toString('utf8');

const until = (cond: () => boolean, what: string, ms = 5000) => waitUntil(cond, what, ms);

function inbox() {
  const got: Array<{ from: string; text: string; data: Uint8Array }> = [];
  return {
    got,
    texts: () => got.map((m) => m.text),
    onMessage: (from: string, data: Uint8Array) => got.push({ from, text: text(data), data }),
    waitFor: (n: number, ms?: number) => until(() => got.length >= n, `${n} messages (have ${got.length})`, ms),
  };
}

/** A relay process on a port of the system's choosing; `start` again after `kill` restarts it on the same port and stream. */
class RelayProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  stderr = '';
  /** 0 until the first start; then the port the relay printed it listens on. */
  port = 0;

  constructor(private readonly env: Record<string, string>) {}

  get url(): string {
    return relayUrl(`127.0.0.1:${this.port}`);
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [RELAY_MAIN, '--port', String(this.port)], {
      env: { ...process.env, ...this.env },
      stdio: 'pipe',
    });
    this.child = child;
    child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const listening = /relay listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (listening) {
          this.port = Number(listening[1]);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`relay on ${this.port} exited with ${code}: ${this.stderr}`)));
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}

/** Runs the relay CLI to its exit. */
async function runRelayToExit(args: string[], env: Record<string, string>, ms = 15_000) {
  const child = spawn(process.execPath, [RELAY_MAIN, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Joins present a capability, as a room client's do (helpers/relay-auth.ts). */
async function clientFor(t: TestContext, url: string): Promise<RelayClient> {
  const client = TEST_RELAY.admit(await RelayClient.connect(url));
  t.after(() => client.close());
  return client;
}

let flushes = 0;
/** A join on the same socket is answered only after this socket's earlier sends were accepted (or refused). */
async function flush(client: RelayClient): Promise<void> {
  await client.join('flush', `f${++flushes}`, () => {});
}

/** A bare socket, to send what RelayClient never would. */
const rawSocket = (t: TestContext, url: string) => rawRelaySocket(t, url, 5000);

async function deleteStreams(): Promise<void> {
  const nc = await natsConnect({ servers: NATS_URL, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    for (const name of streams) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

/** A TCP proxy in front of NATS that can be cut and restored, to take NATS away from one relay. */
async function natsProxy(): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const target = new URL(NATS_URL);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    server = createServer((inbound) => {
      const outbound = tcpConnect(Number(target.port || 4222), target.hostname);
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          sockets.delete(s);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const cut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await listen();
  return { url: `nats://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}

describe('relay over NATS JetStream', { timeout: 180_000 }, () => {
  const env = { TANDEM_RELAY_NATS_URL: NATS_URL, TANDEM_RELAY_NATS_STREAM: STREAM, TANDEM_RELAY_NODES_FILE: NODES_FILE };
  const relayA = new RelayProcess(env);
  const relayB = new RelayProcess(env);

  before(async () => {
    await writeFile(NODES_FILE, JSON.stringify({ nodes: TEST_RELAY.nodes.map((n) => ({ id: n.id, signing_key: Buffer.from(n.signingKey).toString('hex') })) }));
    await relayA.start();
    await relayB.start();
  });

  after(async () => {
    await relayA.kill('SIGTERM');
    await relayB.kill('SIGTERM');
    await deleteStreams();
    await rm(NODES_FILE, { force: true });
  });

  test('parties on two relay processes exchange messages both ways, in order', async (t) => {
    const a = await clientFor(t, relayA.url);
    const b = await clientFor(t, relayB.url);
    const [inA, inB] = [inbox(), inbox()];
    await a.join('x-1', 'alice', inA.onMessage);
    await b.join('x-1', 'bob', inB.onMessage);

    for (let i = 0; i < 50; i++) {
      a.send('x-1', 'alice', 'bob', bytes(`a${i}`));
      b.send('x-1', 'bob', 'alice', bytes(`b${i}`));
    }
    // Binary content arrives byte for byte.
    b.send('x-1', 'bob', 'alice', new Uint8Array([0, 255, 7]));
    await inB.waitFor(50);
    await inA.waitFor(51);
    await delay(100);

    assert.deepEqual(inB.texts(), Array.from({ length: 50 }, (_, i) => `a${i}`));
    assert.deepEqual(inA.texts().slice(0, 50), Array.from({ length: 50 }, (_, i) => `b${i}`));
    assert.deepEqual(inA.got[50]!.data, new Uint8Array([0, 255, 7]));
    assert.ok(inA.got.every((m) => m.from === 'bob') && inB.got.every((m) => m.from === 'alice'));
    // One socket per party, one delivery each: no copy came both locally and through NATS.
    assert.equal(inA.got.length, 51);
    assert.equal(inB.got.length, 50);
  });

  test('a message sent before its recipient joined is delivered when it joins on the other relay, once', async (t) => {
    const a = await clientFor(t, relayA.url);
    await a.join('x-2', 'alice', () => {});
    for (const n of [1, 2, 3]) a.send('x-2', 'alice', 'bob', bytes(`m${n}`));
    a.send('x-2', 'alice', 'carol', bytes('for carol'));
    await flush(a);

    const b = await clientFor(t, relayB.url);
    const inB = inbox();
    await b.join('x-2', 'bob', inB.onMessage);
    a.send('x-2', 'alice', 'bob', bytes('m4'));
    await inB.waitFor(4);
    await delay(100);
    assert.deepEqual(inB.texts(), ['m1', 'm2', 'm3', 'm4']);

    // Delivered means handed over: bob's next join (on either relay) starts from what is new.
    await b.close();
    const b2 = await clientFor(t, relayA.url);
    const inB2 = inbox();
    await b2.join('x-2', 'bob', inB2.onMessage);
    a.send('x-2', 'alice', 'bob', bytes('m5'));
    await inB2.waitFor(1);
    await delay(100);
    assert.deepEqual(inB2.texts(), ['m5']);

    // carol's message waited for carol alone.
    const c = await clientFor(t, relayB.url);
    const inC = inbox();
    await c.join('x-2', 'carol', inC.onMessage);
    await inC.waitFor(1);
    assert.deepEqual(inC.got.map((m) => [m.from, m.text]), [['alice', 'for carol']]);
  });

  /** alice, on relay A, sends `text` to bob, who is joined twice in `room`: on a socket to each of `bobRelays`. Bob's two inboxes. */
  async function toBobOnTwoSockets(t: TestContext, room: string, bobRelays: [string, string], text: string) {
    const a = await clientFor(t, relayA.url);
    const [b1, b2] = [await clientFor(t, bobRelays[0]), await clientFor(t, bobRelays[1])];
    const [in1, in2] = [inbox(), inbox()];
    await a.join(room, 'alice', () => {});
    await b1.join(room, 'bob', in1.onMessage);
    await b2.join(room, 'bob', in2.onMessage);
    a.send(room, 'alice', 'bob', bytes(text));
    return [in1, in2] as const;
  }

  test('a party joined twice on one relay gets a message on both sockets', async (t) => {
    const [in1, in2] = await toBobOnTwoSockets(t, 'x-3', [relayB.url, relayB.url], 'to all of bob');
    await in1.waitFor(1);
    await in2.waitFor(1);
    await delay(100);
    for (const i of [in1, in2]) assert.deepEqual(i.texts(), ['to all of bob']);
  });

  // Across relays delivery is at least once, not to every socket: the first relay to write the
  // message deletes it, and the other's consumer may not have read it yet (nats-backplane.ts,
  // "Delivery"), which a loaded machine shows.
  test('a party joined on both relays gets a message at least once, never twice on one socket', async (t) => {
    const [inA, inB] = await toBobOnTwoSockets(t, 'x-3b', [relayA.url, relayB.url], 'to bob');
    await until(() => inA.got.length + inB.got.length > 0, 'bob to get the message on either relay');
    await delay(300);
    for (const i of [inA, inB]) {
      assert.ok(i.got.length <= 1, `one socket got it ${i.got.length} times`);
      for (const m of i.got) assert.deepEqual([m.from, m.text], ['alice', 'to bob']);
    }
  });

  test('a relay killed with SIGKILL loses nothing it accepted: parties that reconnect, to it or the other, get it', async (t) => {
    // 1. Accepted by A for a party not joined anywhere; A is killed and restarted; bob joins on A.
    const a = TEST_RELAY.admit(await RelayClient.connect(relayA.url));
    await a.join('x-4', 'alice', () => {});
    for (const n of [1, 2, 3]) a.send('x-4', 'alice', 'bob', bytes(`before kill ${n}`));
    await flush(a);
    await relayA.kill('SIGKILL');
    await until(() => a.closed, 'the client to notice');
    await relayA.start();
    const b = await clientFor(t, relayA.url);
    const inB = inbox();
    await b.join('x-4', 'bob', inB.onMessage);
    await inB.waitFor(3);
    assert.deepEqual(inB.texts(), ['before kill 1', 'before kill 2', 'before kill 3']);

    // 2. carol is joined on B when B is killed; what is sent to her meanwhile (through A) reaches
    // her when she reconnects, here to A.
    const c = TEST_RELAY.admit(await RelayClient.connect(relayB.url));
    const inC = inbox();
    await c.join('x-4', 'carol', inC.onMessage);
    const a2 = await clientFor(t, relayA.url);
    await a2.join('x-4', 'alice', () => {});
    a2.send('x-4', 'alice', 'carol', bytes('while up'));
    await inC.waitFor(1);
    await relayB.kill('SIGKILL');
    a2.send('x-4', 'alice', 'carol', bytes('while B is down 1'));
    a2.send('x-4', 'alice', 'carol', bytes('while B is down 2'));
    await flush(a2);
    const c2 = await clientFor(t, relayA.url);
    const inC2 = inbox();
    await c2.join('x-4', 'carol', inC2.onMessage);
    // At least once: 'while up' may come again if B died between writing it and deleting it.
    const downTexts = () => inC2.texts().filter((m) => m !== 'while up');
    await until(() => downTexts().length >= 2, 'the two messages sent while B was down');
    await delay(100);
    assert.deepEqual(
      downTexts(),
      ['while B is down 1', 'while B is down 2'],
    );
    await relayB.start();
    await c.close();
  });

  test('party ids cannot reach subject wildcards nor another party\'s subject', async (t) => {
    const raw = await rawSocket(t, relayA.url);
    let req = 100;
    for (const party of ['*', '>', 'bob.*', 'bob.>', 'a b', 'bob.', '']) {
      raw.send({ t: 'join', room: 'x-5', party, req: ++req });
      assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid party', req });
    }
    raw.send({ t: 'join', room: 'x.5', party: 'bob', req: ++req });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid room', req });
    raw.send({ t: 'send', room: 'x-5', from: 'alice', to: 'bob.*', data: '' });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'invalid to' });

    // Names are encoded, so each party's subject is one literal of its own, even for a party
    // named like another's encoded name ('Ym9i' is base64url of 'bob').
    const subjects = ['bob', 'Ym9i', 'b-_b', 'r:1'].map((p) => partySubject(STREAM, 'x:5', p));
    for (const s of subjects) assert.match(s, new RegExp(`^${STREAM}\\.m\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    assert.equal(new Set(subjects).size, subjects.length);

    const a = await clientFor(t, relayA.url);
    const [bob, mallory] = [await clientFor(t, relayB.url), await clientFor(t, relayB.url)];
    const [inBob, inMallory] = [inbox(), inbox()];
    await a.join('x:5', 'alice', () => {});
    await mallory.join('x:5', 'Ym9i', inMallory.onMessage);
    await bob.join('x:5', 'bob', inBob.onMessage);
    a.send('x:5', 'alice', 'bob', bytes('for bob only'));
    await inBob.waitFor(1);
    await delay(200);
    assert.deepEqual(inBob.texts(), ['for bob only']);
    assert.deepEqual(inMallory.got, []);
  });

  test('oversized frames and sends as an unjoined party are still refused; a full-size frame crosses relays', async (t) => {
    const raw = await rawSocket(t, relayA.url);
    raw.send({ t: 'send', room: 'x-6', from: 'alice', to: 'bob', data: 'x'.repeat(MAX_FRAME_BYTES) });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'frame too large' });
    raw.send({ t: 'send', room: 'x-6', from: 'alice', to: 'bob', data: 'aGk=' });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'not joined as alice in x-6' });
    raw.send({ t: 'join', room: 'x-6', party: 'mallory', req: 1, cap: cap('x-6', 'mallory') });
    assert.deepEqual(await raw.next(), { t: 'joined', room: 'x-6', party: 'mallory', req: 1 });
    raw.send({ t: 'send', room: 'x-6', from: 'alice', to: 'bob', data: 'aGk=' });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'not joined as alice in x-6' });

    // Largest data under the frame limit: stored as its decoded bytes, it fits NATS's 1 MiB.
    const big = new Uint8Array(Math.floor((MAX_FRAME_BYTES - 200) / 4) * 3).map((_, i) => i * 7);
    // Data that is not canonical base64 travels as text, unchanged.
    raw.send({ t: 'send', room: 'x-6', from: 'mallory', to: 'bob', data: 'not base64!' });
    raw.send({ t: 'send', room: 'x-6', from: 'mallory', to: 'bob', data: Buffer.from(big).toString('base64') });
    const b = await rawSocket(t, relayB.url);
    b.send({ t: 'join', room: 'x-6', party: 'bob', req: 2, cap: cap('x-6', 'bob') });
    assert.deepEqual(await b.next(), { t: 'joined', room: 'x-6', party: 'bob', req: 2 });
    assert.deepEqual(await b.next(), { t: 'msg', room: 'x-6', from: 'mallory', to: 'bob', data: 'not base64!' });
    const m = await b.next();
    assert.equal(m.t, 'msg');
    assert.ok(m.t === 'msg' && Buffer.from(m.data, 'base64').equals(Buffer.from(big)));
  });

  test('an idle message expires with the room TTL (max_age); per-party count and total bytes are capped', async (t) => {
    const stream = `TRT_${RUN}_caps`;
    streams.add(stream);
    const logs: string[] = [];
    // base64 of 300 bytes is 400 characters, 300 bytes stored: the stream holds about three.
    // The sender is a node: clients are also held to shares of the stream (tested below), this is what NATS enforces itself.
    const alice = testRelayNodes(['alice']);
    const relay = await startRelay({
      port: 0,
      nodes: [...alice.nodes, ...TEST_RELAY.nodes],
      roomTtlMs: 1500,
      maxBufferedPerRoom: 2,
      maxTotalBufferBytes: 1200,
      backplane: { type: 'nats', url: NATS_URL, stream },
      log: (l) => logs.push(l),
    });
    t.after(() => relay.close());
    assert.equal(relay.backplane, 'nats');
    assert.equal(relay.connected, true);
    const url = relayUrl(`127.0.0.1:${relay.port}`);
    const a = alice.admit(await RelayClient.connect(url, { signer: alice.signer('alice') }));
    t.after(() => a.close());
    const errors: string[] = [];
    a.onError((r) => errors.push(r));
    await a.join('x-7', 'alice', () => {});
    // Per (room, party): the oldest goes.
    for (const n of [1, 2, 3]) a.send('x-7', 'alice', 'bob', new Uint8Array(300).fill(n));
    await flush(a);
    // Total: beyond max_bytes new messages are refused.
    for (const n of [4, 5, 6]) a.send('x-7', 'alice', 'carol', new Uint8Array(300).fill(n));
    await flush(a);
    await until(() => errors.some((e) => /buffers are full/.test(e)), 'a refusal');

    const b = await clientFor(t, url);
    const inB = inbox();
    await b.join('x-7', 'bob', inB.onMessage);
    await inB.waitFor(2);
    await delay(100);
    assert.deepEqual(inB.got.map((m) => m.data[0]), [2, 3]);

    // What nobody came for is gone after the TTL.
    a.send('x-7', 'alice', 'dave', bytes('too late'));
    await flush(a);
    await delay(3000);
    const d = await clientFor(t, url);
    const inD = inbox();
    await d.join('x-7', 'dave', inD.onMessage);
    await delay(300);
    assert.deepEqual(inD.got, []);
  });

  test('a flooding client gets its share of the stream, not all of it: another client\'s message is still held for its recipient', async (t) => {
    const stream = `TRT_${RUN}_shares`;
    streams.add(stream);
    // 12,000 bytes of stream; one node's reserve (4,000) leaves 8,000 for clients, 4,000 each.
    const relay = await startRelay({
      port: 0,
      nodes: TEST_RELAY.nodes,
      maxTotalBufferBytes: 12_000,
      maxSenderBufferBytes: 4000,
      backplane: { type: 'nats', url: NATS_URL, stream },
    });
    t.after(() => relay.close());
    const url = relayUrl(`127.0.0.1:${relay.port}`);
    const flooder = await clientFor(t, url);
    const errors: string[] = [];
    flooder.onError((r) => errors.push(r));
    await flooder.join('x-9', 'flooder', () => {});
    // base64 of 750 bytes is 1,000 characters: four fit the flooder's share.
    for (let i = 0; i < 20; i++) flooder.send('x-9', 'flooder', 'absent', new Uint8Array(750).fill(i));
    await flush(flooder);
    await until(() => errors.length >= 16, 'the flooder refused');
    assert.ok(errors.every((e) => /your share of the relay buffers/.test(e)), errors[0]);

    const phone = await clientFor(t, url);
    const perrors: string[] = [];
    phone.onError((r) => perrors.push(r));
    await phone.join('x-10', 'phone', () => {});
    phone.send('x-10', 'phone', 'laptop', bytes('held for the laptop'));
    await flush(phone);
    const laptop = await clientFor(t, url);
    const got = inbox();
    await laptop.join('x-10', 'laptop', got.onMessage);
    await got.waitFor(1);
    assert.deepEqual(got.texts(), ['held for the laptop']);
    assert.deepEqual(perrors, []);
  });

  test('NATS unreachable: the relay refuses to start, with a clear error', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const started = Date.now();
    const r = await runRelayToExit(['--port', '0', '--nodes', NODES_FILE, '--nats', `nats://127.0.0.1:${closedPort}`], {});
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`relay: NATS at nats://127\\.0\\.0\\.1:${closedPort} is unreachable`));
    assert.ok(!r.stdout.includes('listening'));
    assert.ok(Date.now() - started < 10_000);

    await assert.rejects(
      startRelay({ port: 0, nodes: TEST_RELAY.nodes, backplane: { type: 'nats', url: `nats://127.0.0.1:${closedPort}`, timeoutMs: 1000 } }),
      /NATS at nats:\/\/127\.0\.0\.1:\d+ is unreachable/,
    );
    // A bad stream name, or a stream without a URL, is a usage error.
    const bad = await runRelayToExit(['--port', '0', '--nodes', NODES_FILE, '--nats', NATS_URL, '--nats-stream', 'a.b'], {});
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid NATS stream name/);
    const noUrl = await runRelayToExit(['--port', '0', '--nats-stream', 'X'], { TANDEM_RELAY_NATS_URL: '' });
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /needs a NATS URL/);
    // A relay without its list of nodes would admit nobody (or, before, anyone): it does not start.
    const noNodes = await runRelayToExit(['--port', '0', '--nats', NATS_URL], { TANDEM_RELAY_NODES_FILE: '' });
    assert.equal(noNodes.code, 2);
    assert.match(noNodes.stderr, /needs its nodes file/);
  });

  test('NATS lost at run time: sockets are closed, joins and sends refused at once; it recovers by itself', async (t) => {
    const stream = `TRT_${RUN}_lost`;
    streams.add(stream);
    const proxy = await natsProxy();
    t.after(() => proxy.close());
    const statuses: boolean[] = [];
    const relay = await startRelay({ port: 0, nodes: TEST_RELAY.nodes, backplane: { type: 'nats', url: proxy.url, stream, timeoutMs: 2000 } });
    t.after(() => relay.close());
    relay.onStatus((up) => statuses.push(up));
    const url = relayUrl(`127.0.0.1:${relay.port}`);

    const a = TEST_RELAY.admit(await RelayClient.connect(url));
    const inA = inbox();
    await a.join('x-8', 'alice', inA.onMessage);
    const closed = new Promise<string>((resolve) => a.onClose(resolve));

    await proxy.cut();
    assert.match(await closed, new RegExp(`${RELAY_CLOSE_BACKPLANE_LOST}`));
    await until(() => !relay.connected, 'connected to turn false');
    assert.deepEqual(statuses, [false]);

    // A party arriving now is told at once, not left waiting.
    const raw = await rawSocket(t, url);
    const started = Date.now();
    raw.send({ t: 'join', room: 'x-8', party: 'bob', req: 1, cap: cap('x-8', 'bob') });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'relay backplane unavailable', req: 1 });
    raw.send({ t: 'send', room: 'x-8', from: 'bob', to: 'alice', data: 'aGk=' });
    assert.deepEqual(await raw.next(), { t: 'error', reason: 'not joined as bob in x-8' });
    assert.ok(Date.now() - started < 3000);

    await proxy.restore();
    await until(() => relay.connected, 'the relay to reconnect to NATS', 15_000);
    assert.deepEqual(statuses, [false, true]);
    const a2 = await clientFor(t, url);
    const b = await clientFor(t, url);
    const [inA2, inB] = [inbox(), inbox()];
    await a2.join('x-8', 'alice', inA2.onMessage);
    await b.join('x-8', 'bob', inB.onMessage);
    b.send('x-8', 'bob', 'alice', bytes('after recovery'));
    await inA2.waitFor(1);
    assert.deepEqual(inA2.texts(), ['after recovery']);
  });

  test('without a NATS URL the relay is the in-process one', async (t) => {
    const relay = await startRelay({ port: 0, nodes: TEST_RELAY.nodes });
    t.after(() => relay.close());
    assert.equal(relay.backplane, 'memory');
    assert.equal(relay.connected, true);
  });
});
