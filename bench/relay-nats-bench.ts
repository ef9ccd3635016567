import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { RelayClient, relayUrl } from '../src/relay/client.js';
import { relayPair } from './relay-pair.js';
import { benchNodesJson, benchSigner } from './relay-nodes.js';
import { summarize } from './stats.js';
import { formatGrid } from './table.js';

/**
 * `node dist/bench/relay-nats-bench.js [iterations] [nats-url]` (after a build): what relaying
 * through NATS JetStream (issue 7) costs against the in-process relay. Relays run as their own
 * processes (the CLI, on free ports), the two clients (node RelayClient) in this one:
 *
 * - memory: one relay, rooms in its memory (no NATS);
 * - nats, one relay: both parties on one relay, every message through the stream;
 * - nats, two relays: a on relay A, b on relay B, sharing one stream.
 *
 * Round trip: a -> b, b echoes -> a; median and p95 in ms. Burst: a sends `iterations` messages
 * back to back; MiB/s of payload until b has them all (median of 5 bursts). Needs NATS with
 * JetStream (default nats://127.0.0.1:4222); the stream it makes is deleted at the end.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const iterations = Number(process.argv[2] ?? 200);
const NATS_URL = process.argv[3] ?? process.env.TANDEM_RELAY_NATS_URL ?? 'nats://127.0.0.1:4222';
if (!Number.isInteger(iterations) || iterations < 5) throw new Error('usage: relay-nats-bench [iterations >= 5] [nats-url]');
const SIZES = [1 * KiB, 64 * KiB];
const BURSTS = 5;
const STREAM = `TANDEM_RELAY_BENCH_${process.pid}`;
const RELAY_MAIN = join(import.meta.dirname, '../src/relay/main.js');
const NODES_FILE = join(tmpdir(), `tandem-relay-bench-nodes-${process.pid}.json`);

interface Relay {
  url: string;
  child: ChildProcessWithoutNullStreams;
}

async function startRelay(env: Record<string, string>): Promise<Relay> {
  const child = spawn(process.execPath, [RELAY_MAIN, '--port', '0', '--nodes', NODES_FILE], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}: ${stderr}`)));
  });
  return { url: relayUrl(`127.0.0.1:${port}`), child };
}

async function stopRelay(r: Relay): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = once(r.child, 'exit');
  r.child.kill('SIGTERM');
  await exited;
}

let rooms = 0;

async function measure(urlA: string, urlB: string, bytes: number) {
  const [a, b] = await Promise.all([RelayClient.connect(urlA, { signer: benchSigner }), RelayClient.connect(urlB, { signer: benchSigner })]);
  const pair = await relayPair(a, b, `bench-${++rooms}`);
  const payload = new Uint8Array(randomBytes(bytes));
  try {
    const rtts = await pair.roundTrips(payload, Math.max(10, iterations / 10), iterations);
    const bursts: number[] = [];
    for (let k = 0; k < BURSTS; k++) bursts.push((await pair.burst(payload, iterations)).ms);
    return { rtt: summarize(rtts), burstMs: summarize(bursts).median };
  } finally {
    await pair.close();
  }
}

async function main(): Promise<void> {
  await writeFile(NODES_FILE, benchNodesJson());
  const natsEnv = { TANDEM_RELAY_NATS_URL: NATS_URL, TANDEM_RELAY_NATS_STREAM: STREAM };
  const memory = await startRelay({ TANDEM_RELAY_NATS_URL: '' });
  const natsA = await startRelay(natsEnv);
  const natsB = await startRelay(natsEnv);
  const setups: Array<[string, string, string]> = [
    ['memory, one relay', memory.url, memory.url],
    ['nats, one relay', natsA.url, natsA.url],
    ['nats, two relays', natsA.url, natsB.url],
  ];
  const rows: Array<string[] | null> = [];
  try {
    for (const bytes of SIZES) {
      for (const [name, urlA, urlB] of setups) {
        process.stderr.write(`${name}, ${bytes / KiB} KiB ...\n`);
        const r = await measure(urlA, urlB, bytes);
        rows.push([
          name,
          `${bytes / KiB} KiB`,
          String(r.rtt.n),
          r.rtt.median.toFixed(3),
          r.rtt.p95.toFixed(3),
          ((bytes * iterations) / MiB / (r.burstMs / 1000)).toFixed(1),
        ]);
      }
      rows.push(null);
    }
  } finally {
    await Promise.all([memory, natsA, natsB].map(stopRelay));
    const nc = await natsConnect({ servers: NATS_URL, timeout: 5000 });
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    await jsm.streams.delete(STREAM).catch(() => false);
    await nc.close();
  }
  console.log(`node ${process.version}, ${iterations} round trips and ${BURSTS} bursts of ${iterations} per row, NATS ${NATS_URL}`);
  console.log(formatGrid(['setup', 'message', 'n', 'round trip median ms', 'p95 ms', `burst MiB/s`], rows, 'llrrrr'));
}

await main();
