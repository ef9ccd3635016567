import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { RelayClient, relayUrl } from '../src/relay/client.js';
import { startRelay } from '../src/relay/server.js';
import { fromBase64, RelayConnection, toBase64 } from '../src/sdk/relay-connection.js';
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

interface Peer {
  join(room: string, party: string, onMessage: (from: string, data: Uint8Array) => void): Promise<void>;
  send(room: string, from: string, to: string, data: Uint8Array): void;
  close(): Promise<void>;
}

const CLIENTS: ReadonlyArray<{ name: string; connect(url: string): Promise<Peer> }> = [
  { name: 'node RelayClient', connect: (url) => RelayClient.connect(url) },
  { name: 'sdk RelayConnection (ws)', connect: (url) => RelayConnection.connect(url, { WebSocket }) },
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

async function pair(connect: (url: string) => Promise<Peer>, url: string) {
  const [a, b] = await Promise.all([connect(url), connect(url)]);
  const room = `bench-${++rooms}`;
  let onA: () => void = () => {};
  /** b echoes each message during round trips, and counts them during bursts. */
  let onB: 'echo' | (() => void) = 'echo';
  await a.join(room, 'a', () => onA());
  await b.join(room, 'b', (from, data) => (onB === 'echo' ? b.send(room, 'b', from, data) : onB()));
  return {
    /** a -> b -> a, b sending back what it got; ms per round trip. */
    async roundTrips(payload: Uint8Array, warmup: number, n: number): Promise<number[]> {
      onB = 'echo';
      const once = () =>
        new Promise<void>((resolve) => {
          onA = resolve;
          a.send(room, 'a', 'b', payload);
        });
      for (let i = 0; i < warmup; i++) await once();
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await once();
        out.push(performance.now() - t0);
      }
      return out;
    },
    /** a sends `n` messages back to back; ms until b has all of them, and CPU ms per message. */
    async burst(payload: Uint8Array, n: number): Promise<{ ms: number; cpuMs: number }> {
      let got = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const done = new Promise<void>((resolve) => {
        onB = () => {
          if (++got === n) resolve();
        };
      });
      for (let i = 0; i < n; i++) a.send(room, 'a', 'b', payload);
      await done;
      const elapsed = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      return { ms: elapsed, cpuMs: (cpu.user + cpu.system) / 1000 / n };
    },
    close: () => Promise.all([a.close(), b.close()]),
  };
}

const ms = (x: number): string => x.toFixed(3);
const mbps = (bytes: number, millis: number): string => ((bytes / MiB) / (millis / 1000)).toFixed(1);
const size = (bytes: number): string => `${bytes / KiB} KiB`;

async function main(): Promise<void> {
  const relay = await startRelay({ host: '127.0.0.1', port: 0 });
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
