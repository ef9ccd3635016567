import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../src/cluster/processes.js';
import { newAdminKey } from '../src/node/api-keys.js';
import {
  collect,
  createUser,
  keygen,
  load,
  relayRoundTrips,
  signOnce,
  Tally,
  timeAsync,
  type BenchKey,
} from './cluster-bench.js';
import { closeHttp, call } from './http.js';
import { benchFrostDkg, benchFrostSign, benchSingleKeySign } from './inprocess.js';
import { summarize } from './stats.js';
import { formatTable, type Row } from './table.js';

/**
 * `npm run bench`: what threshold signing costs compared with a single key, in process
 * and through a real three-node cluster (separate processes, HTTP in, relay between
 * nodes). Results go to stdout as one table; progress goes to stderr.
 *
 * Exit status: 1 if any cluster or in-process signature failed BIP340 verification (or the
 * run itself failed), 130 on SIGINT.
 */
const BASE_PORT = Number(process.env.TANDEM_BENCH_BASE_PORT ?? 27000);
const LOAD_SECONDS = 5;
const LOAD_WARMUP_SECONDS = 1;
const CLIENT_COUNTS = [1, 4, 16] as const;

const progress = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

function row(name: string, samples: readonly number[], extra = ''): Row {
  const s = summarize(samples);
  return { name, n: s.n, median: s.median, p95: s.p95, extra };
}

/** Cluster and temp dir, torn down exactly once whether we finish, fail or are interrupted. */
class Resources {
  dataDir: string | undefined;
  starting: Promise<Cluster> | undefined;
  #done: Promise<void> | undefined;

  cleanup(): Promise<void> {
    this.#done ??= this.#cleanup();
    return this.#done;
  }

  async #cleanup(): Promise<void> {
    closeHttp();
    // startCluster stops what it spawned if it fails, so only a started cluster needs stopping.
    const cluster = await this.starting?.catch(() => undefined);
    await cluster?.stop().catch((e: Error) => progress(`stopping the cluster: ${e.message}`));
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

function inProcessRows(): { rows: Row[]; bad: number; singleMedian: number; frostMedian: number } {
  progress('in process: single-key BIP340 sign, FROST 2-of-3 sign, FROST DKG');
  const single = benchSingleKeySign(50, 200);
  const frost = benchFrostSign(10, 50);
  const dkg = benchFrostDkg(3, 20);
  const rows = [
    row('in-process single-key BIP340 sign (noble)', single.samples, `baseline; bad sigs ${single.badSignatures}`),
    row('in-process FROST 2-of-3 sign (2 signers + aggregate)', frost.samples, `bad sigs ${frost.badSignatures}`),
    row('in-process FROST DKG, 3 parties, t=2', dkg.samples),
  ];
  return {
    rows,
    bad: single.badSignatures + frost.badSignatures,
    singleMedian: summarize(single.samples).median,
    frostMedian: summarize(frost.samples).median,
  };
}

async function clusterRows(cluster: Cluster, adminKey: string, tally: Tally): Promise<{ rows: Row[]; signMedian: number }> {
  const urls = cluster.nodes.map((n) => n.url);
  const entry = urls[0]!;
  const rows: Row[] = [];
  const apiKey = await createUser(entry, adminKey);

  // Reference points for reading the sign latency: the HTTP floor and one relay exchange.
  progress('cluster: HTTP and relay floors');
  rows.push(row('http GET /health on node-1 (floor)', await timeAsync(20, 200, tally, () => call('GET', `${entry}/health`, undefined))));
  rows.push(row('relay round trip a→relay→b→relay→a', await relayRoundTrips(cluster.relay.address, 20, 200), '256-byte payload'));

  progress('cluster: keygen 2-of-3 x20');
  const keys: BenchKey[] = [];
  const keygenSamples = await timeAsync(2, 20, tally, async () => keys.push(await keygen(entry, apiKey)));
  rows.push(row('cluster keygen 2-of-3 via node-1', keygenSamples, `${keys.length} keys`));
  const first = keys[0];
  if (!first) throw new Error('no key was generated; cannot benchmark signing');

  rows.push(
    row(
      'http GET /bip340/public-key (auth + store)',
      await timeAsync(10, 100, tally, () => call('GET', `${entry}/bip340/public-key/${first.keyId}`, apiKey)),
    ),
  );

  progress('cluster: sequential sign x100');
  const errorsBefore = tally.errors;
  const signSamples = await collect(10, 100, tally, () => signOnce(entry, apiKey, first, tally));
  rows.push(row('cluster sign 2-of-3 sequential via node-1', signSamples, `errors ${tally.errors - errorsBefore}`));

  for (const clients of CLIENT_COUNTS) {
    progress(`cluster: ${clients} concurrent client(s), ${LOAD_WARMUP_SECONDS} s warm-up + ${LOAD_SECONDS} s`);
    await load(clients, LOAD_WARMUP_SECONDS * 1000, urls, apiKey, keys, tally);
    const r = await load(clients, LOAD_SECONDS * 1000, urls, apiKey, keys, tally);
    const rps = (r.latencies.length / r.elapsedMs) * 1000;
    rows.push(
      row(`cluster sign load, ${clients} client${clients > 1 ? 's' : ''}`, r.latencies, `${rps.toFixed(1)} req/s; errors ${r.errors}`),
    );
  }
  return { rows, signMedian: summarize(signSamples).median };
}

function machineLine(): string {
  const cpu = cpus();
  return `machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown cpu'}, node ${process.version}, ${process.platform}/${process.arch}`;
}

async function main(res: Resources): Promise<number> {
  // In-process first, before the cluster exists, so its idle processes don't share the CPU.
  const inproc = inProcessRows();

  const adminKey = newAdminKey();
  res.dataDir = await mkdtemp(join(tmpdir(), 'tandem-bench-'));
  progress(`starting relay + 3 nodes on ports ${BASE_PORT}..${BASE_PORT + 3} in ${res.dataDir}`);
  const t0 = performance.now();
  res.starting = startCluster({
    dataDir: res.dataDir,
    basePort: BASE_PORT,
    nodes: 3,
    env: { TANDEM_ADMIN_KEY: adminKey },
    output: () => {},
  });
  const cluster = await res.starting;
  progress(`cluster healthy after ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const tally = new Tally();
  const clustered = await clusterRows(cluster, adminKey, tally);

  const out = [
    '',
    machineLine(),
    '',
    formatTable([...inproc.rows, ...clustered.rows]),
    '',
    `ratio cluster sign median / single-key sign median:       ${(clustered.signMedian / inproc.singleMedian).toFixed(1)}x`,
    `ratio in-process FROST sign median / single-key median:   ${(inproc.frostMedian / inproc.singleMedian).toFixed(1)}x`,
    '',
    `cluster signatures verified: ${tally.verified}, verification failures: ${tally.badSignatures}, request errors: ${tally.errors}`,
    `in-process verification failures: ${inproc.bad}`,
  ];
  for (const [kind, count] of tally.errorKinds) out.push(`  error x${count}: ${kind}`);
  process.stdout.write(out.join('\n') + '\n');
  return tally.badSignatures + inproc.bad > 0 ? 1 : 0;
}

const resources = new Resources();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    progress(`${signal}: stopping the cluster and removing the data dir`);
    void resources.cleanup().finally(() => process.exit(130));
  });
}

let code = 1;
try {
  code = await main(resources);
} catch (e) {
  if (!interrupted) process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
} finally {
  await resources.cleanup();
}
if (!interrupted) process.exit(code);
