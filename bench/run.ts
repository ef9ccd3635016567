import { mkdtemp, rm } from 'node:fs/promises';
import { constants, cpus, tmpdir } from 'node:os';
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
import { describeCpu, sampleCpu, type Proc } from './cpu.js';
import { call, closeHttp } from './http.js';
import { benchFrostDkg, benchFrostSign, benchFrostSignPhases, benchSingleKeySign } from './inprocess.js';
import { summarize } from './stats.js';
import { formatTable, type Row } from './table.js';

/**
 * `npm run bench`: what threshold signing costs compared with a single key, in process
 * and through a real three-node cluster (separate processes, HTTP in, relay between
 * nodes). Results go to stdout as one table; progress goes to stderr.
 *
 * Exit status: 1 if any signature failed BIP340 verification, any request failed (numbers
 * from a run with errors aren't to be trusted) or the run itself failed; 128 + signal
 * number on SIGINT/SIGTERM.
 */
const BASE_PORT = Number(process.env.TANDEM_BENCH_BASE_PORT ?? 27000);
// The relay takes BASE_PORT and the nodes the next three; fail before spawning anything.
if (!Number.isInteger(BASE_PORT) || BASE_PORT < 1024 || BASE_PORT > 65532) {
  process.stderr.write(`TANDEM_BENCH_BASE_PORT must be an integer in 1024..65532, got ${process.env.TANDEM_BENCH_BASE_PORT}\n`);
  process.exit(2);
}
const LOAD_SECONDS = 5;
const LOAD_WARMUP_SECONDS = 1;
const CLIENT_COUNTS = [1, 4, 16] as const;

let interrupted = false;
const progress = (msg: string): void => {
  // After a signal the phases still unwinding are noise; only the shutdown matters.
  if (!interrupted || msg.startsWith('SIG')) process.stderr.write(`[bench] ${msg}\n`);
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
  const phases = benchFrostSignPhases(5, 30);
  const dkg = benchFrostDkg(3, 20);
  const rows = [
    // noble's schnorr.sign verifies its own signature before returning it; that is part of the baseline.
    row('in-process single-key BIP340 sign (noble)', single.samples, `baseline (incl. noble's self-verify); bad sigs ${single.badSignatures}`),
    row('in-process FROST 2-of-3 sign (2 signers + aggregate)', frost.samples, `bad sigs ${frost.badSignatures}`),
    row('  of which: commit, per signer', phases.commit),
    row('  of which: signShare, per signer', phases.signShare),
    row('  of which: aggregate (coordinator)', phases.aggregate, 'sum + verify; shares checked only on failure'),
    row('in-process FROST DKG, 3 parties, t=2', dkg.samples),
  ];
  return {
    rows,
    bad: single.badSignatures + frost.badSignatures,
    singleMedian: summarize(single.samples).median,
    frostMedian: summarize(frost.samples).median,
  };
}

interface ClusterResults {
  rows: Row[];
  signMedian: number;
  /** One line per sign phase: CPU ms per signature in each process. */
  cpuLines: string[];
}

async function clusterRows(cluster: Cluster, adminKey: string, tally: Tally): Promise<ClusterResults> {
  const urls = cluster.nodes.map((n) => n.url);
  const entry = urls[0]!;
  const rows: Row[] = [];
  const cpuLines: string[] = [];
  const procs: Proc[] = [cluster.relay, ...cluster.nodes].map((p) => ({ name: p.name, pid: p.child.pid }));
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
  const signFirst = () => signOnce(entry, apiKey, first, tally);
  await collect(10, 0, tally, signFirst);
  const errorsBefore = tally.errors;
  const [cpu0, w0] = [sampleCpu(procs), performance.now()];
  const signSamples = await collect(0, 100, tally, signFirst);
  cpuLines.push(`sequential via node-1: ${describeCpu(cpu0, sampleCpu(procs), signSamples.length, performance.now() - w0)}`);
  rows.push(row('cluster sign 2-of-3 sequential via node-1', signSamples, `errors ${tally.errors - errorsBefore}`));

  for (const clients of CLIENT_COUNTS) {
    progress(`cluster: ${clients} concurrent client(s), ${LOAD_WARMUP_SECONDS} s warm-up + ${LOAD_SECONDS} s`);
    await load(clients, LOAD_WARMUP_SECONDS * 1000, urls, apiKey, keys, tally);
    const cpu0 = sampleCpu(procs);
    const r = await load(clients, LOAD_SECONDS * 1000, urls, apiKey, keys, tally);
    cpuLines.push(`load, ${clients} client(s): ${describeCpu(cpu0, sampleCpu(procs), r.latencies.length, r.elapsedMs)}`);
    const rps = (r.latencies.length / r.elapsedMs) * 1000;
    rows.push(
      row(`cluster sign load, ${clients} client${clients > 1 ? 's' : ''}`, r.latencies, `${rps.toFixed(1)} req/s; errors ${r.errors}`),
    );
  }
  return { rows, signMedian: summarize(signSamples).median, cpuLines };
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
    `where the CPU goes (${cpus().length} cores; load clients spread over node-1..3, so each node coordinates a share):`,
    ...clustered.cpuLines.map((l) => `  ${l}`),
    '',
    `cluster signatures verified: ${tally.verified}, verification failures: ${tally.badSignatures}, request errors: ${tally.errors}`,
    `in-process verification failures: ${inproc.bad}`,
  ];
  for (const [kind, count] of tally.errorKinds) out.push(`  error x${count}: ${kind}`);
  process.stdout.write(out.join('\n') + '\n');
  return tally.badSignatures + inproc.bad + tally.errors > 0 ? 1 : 0;
}

const resources = new Resources();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    progress(`${signal}: stopping the cluster and removing the data dir`);
    void resources.cleanup().finally(() => process.exit(128 + constants.signals[signal]));
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
