import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { RelayClient, relayUrl } from '../src/relay/client.js';
import { startRelay } from '../src/relay/server.js';
import { fromBase64, RelayConnection, toBase64 } from '../src/relay/connection.js';
import { relayPair, type RelayPeer } from './relay-pair.js';
import { BENCH_NODES, benchSigner } from './relay-nodes.js';
import { summarize, timeSync } from './stats.js';
import { formatGrid } from './table.js';

/**
 * `node dist/bench/relay-bench.js [iterations]` (after a build): what the relay's client side
 * costs for the message sizes of threshold ECDSA (a DKLs23 round carries ~50 KB per message),
 * through a real relay started in this process on a free port, for the node's RelayClient and
 * the SDK's RelayConnection (over `ws`, with its portable base64):
 *
 * - round trip: a -> relay -> b, b echoes it -> relay -> a; median and p95 in ms;
 * - one way: a sends a burst of messages back to back, timed until b has them all; median
 *   of a few bursts, as payload MB/s (MiB of raw bytes, before base64), and as this
 *   process's CPU time per message (sender, relay and receiver together), which a busy
 *   machine disturbs less than wall-clock time;
 * - base64 alone: the portable codec against Buffer's, per message.
 *
 * The relay shares the event loop with both clients, so absolute figures include its own
 * JSON work; compare the rows with each other, and runs of the same machine.
 */

const CLIENTS: ReadonlyArray<{ name: string; connect(url: string): Promise<RelayPeer> }> = [
  { name: 'node RelayClient', connect: (url) => RelayClient.connect(url, { signer: benchSigner }) },
  { name: 'sdk RelayConnection (ws)', connect: (url) => RelayConnection.connect(url, { WebSocket, signer: benchSigner }) },
];

const KiB = 1024;
const MiB = 1024 * KiB;
const iterations = Number(process.argv[2] ?? 100);
if (!Number.isInteger(iterations) || iterations < 5) throw new Error('usage: relay-bench [iterations >= 5]');

/** Message sizes and how many round trips / burst messages each gets (bigger ones fewer). */
const SIZES = [
  { bytes: 64 * KiB, count: iterations },
  { bytes: 512 * KiB, count: Math.max(5, Math.round(iterations / 4)) },
];
const BURSTS = 7;

let rooms = 0;

async function pair(connect: (url: string) => Promise<RelayPeer>, url: string) {
  const [a, b] = await Promise.all([connect(url), connect(url)]);
  return relayPair(a, b, `bench-${++rooms}`);
}

const ms = (x: number): string => x.toFixed(3);
const mbps = (bytes: number, millis: number): string => ((bytes / MiB) / (millis / 1000)).toFixed(1);
const size = (bytes: number): string => `${bytes / KiB} KiB`;

async function main(): Promise<void> {
  // Quotas lifted: this measures the relay's path, not its per-sender limits.
  const unlimited = { messagesPerSecond: 1e12, messageBurst: 1e12, bytesPerSecond: 1e15, byteBurst: 1e15 };
  const relay = await startRelay({ host: '127.0.0.1', port: 0, nodes: BENCH_NODES, sendQuotas: { node: unlimited, client: unlimited } });
  const url = relayUrl(`127.0.0.1:${relay.port}`);
  const rows: Array<string[] | null> = [];
  try {
    for (const { bytes, count } of SIZES) {
      const payload = new Uint8Array(randomBytes(bytes));
      for (const client of CLIENTS) {
        process.stderr.write(`${client.name}, ${size(bytes)} ...\n`);
        const p = await pair(client.connect, url);
        try {
          const rtt = summarize(await p.roundTrips(payload, Math.max(3, count / 10), count));
          await p.burst(payload, Math.min(count, 10)); // warm-up
          const bursts: Array<{ ms: number; cpuMs: number }> = [];
          for (let i = 0; i < BURSTS; i++) bursts.push(await p.burst(payload, count));
          const burst = summarize(bursts.map((b) => b.ms));
          const cpu = summarize(bursts.map((b) => b.cpuMs));
          rows.push([
            client.name,
            size(bytes),
            String(rtt.n),
            ms(rtt.median),
            ms(rtt.p95),
            `${count} x ${BURSTS}`,
            mbps(bytes * count, burst.median),
            ms(cpu.median),
          ]);
        } finally {
          await p.close();
        }
      }
      rows.push(null);
    }
  } finally {
    await relay.close();
  }
  console.log(formatGrid(['client', 'message', 'n', 'round trip median ms', 'p95 ms', 'one-way burst', 'MB/s (median)', 'CPU ms/msg'], rows, 'llrrrrrr'));

  const codecRows: Array<string[] | null> = [];
  for (const { bytes } of SIZES) {
    const data = new Uint8Array(randomBytes(bytes));
    const text = Buffer.from(data).toString('base64');
    const n = Math.max(20, Math.round((iterations * 64 * KiB) / bytes));
    const codecs: Array<[string, () => unknown, () => unknown]> = [
      ['portable toBase64/fromBase64', () => toBase64(data), () => fromBase64(text)],
      ['Buffer base64', () => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'), () => new Uint8Array(Buffer.from(text, 'base64'))],
    ];
    for (const [name, encode, decode] of codecs) {
      const enc = summarize(timeSync(5, n, encode));
      const dec = summarize(timeSync(5, n, decode));
      codecRows.push([name, size(bytes), String(n), ms(enc.median), mbps(bytes, enc.median), ms(dec.median), mbps(bytes, dec.median)]);
    }
    codecRows.push(null);
  }
  console.log();
  console.log(formatGrid(['base64', 'message', 'n', 'encode median ms', 'MB/s', 'decode median ms', 'MB/s'], codecRows, 'llrrrrr'));
}

await main();
