import { mkdtemp, rm } from 'node:fs/promises';
import { constants, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../src/cluster/processes.js';
import { newAdminKey } from '../src/api/api-keys.js';
import { ed25519Suite } from '../src/protocols/frost/suite.js';
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
  type Family,
} from './cluster-bench.js';
import { describeCpu, sampleCpu, type Proc } from './cpu.js';
import { benchEthersSignMessage, benchGatewayPersonalSign } from './gateway-bench.js';
import { withWebhookRule } from './policy-bench.js';
import { benchDeviceParty } from './device-bench.js';
import { call, closeHttp } from './http.js';
import { benchDkls23Dkg, benchDkls23Sign, benchEcdsaSingleKeySign, bytesRows, type ByteCounter } from './inprocess-dkls23.js';
import { benchEd25519SingleKeySign, benchFrostDkg, benchFrostSign, benchFrostSignPhases, benchSingleKeySign } from './inprocess.js';
import { summarize } from './stats.js';
import { formatGrid, formatTable, type Row } from './table.js';
import { secretsDirOf } from '../src/cluster/secrets.js';

/**
 * `npm run bench`: what threshold signing costs compared with a single key, in process
 * and through a real three-node cluster (separate processes, HTTP in, relay between
 * nodes), for each key family: BIP340 and Ed25519 (FROST) and ECDSA (DKLs23). Results go
 * to stdout as one table, the bytes DKLs23 parties send as a second; progress goes to
 * stderr.
 *
 * Exit status: 1 if any signature failed verification (BIP340, Ed25519, or ECDSA by
 * libsecp256k1 or ethers' recovery), any request failed (numbers from a run with errors
 * aren't to be trusted) or the run itself failed; 128 + signal number on SIGINT/SIGTERM.
 */
const BASE_PORT = Number(process.env.TANDEM_BENCH_BASE_PORT ?? 27000);
// The relay takes BASE_PORT, the nodes the next three, the gateway the fourth; fail before spawning anything.
if (!Number.isInteger(BASE_PORT) || BASE_PORT < 1024 || BASE_PORT > 65531) {
  process.stderr.write(`TANDEM_BENCH_BASE_PORT must be an integer in 1024..65531, got ${process.env.TANDEM_BENCH_BASE_PORT}\n`);
  process.exit(2);
}
const LOAD_SECONDS = 5;
const LOAD_WARMUP_SECONDS = 1;
const CLIENT_COUNTS = [1, 4, 16] as const;
// A DKLs23 DKG takes seconds (3-15 s here) in process or through the cluster: few runs.
const DKLS_DKG_RUNS = 2;
const ECDSA_KEYGEN_RUNS = 3;
const DKLS_SIGN_RUNS = 30;
const GATEWAY_SIGN_RUNS = 30;
const BENCH_SCOPE = 'bench';

let interrupted = false;
const progress = (msg: string): void => {
  // After a signal the phases still unwinding are noise; only the shutdown matters.
  if (!interrupted || msg.startsWith('SIG')) process.stderr.write(`[bench] ${msg}\n`);
};

/**
 * Lets a pending SIGINT/SIGTERM run its handler (the in-process phases are synchronous),
 * then stops the run if one did, so nothing after it is measured or printed.
 */
async function checkpoint(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (interrupted) throw new Error('interrupted');
}

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
    if (this.dataDir) await rm(secretsDirOf(this.dataDir), { recursive: true, force: true });
  }
}

interface InProcessResults {
  rows: (Row | null)[];
  bad: number;
  singleMedian: number;
  frostMedian: number;
  ed25519SingleMedian: number;
  ed25519FrostMedian: number;
  ecdsaSingleMedian: number;
  dklsSignMedian: number;
  dkgBytes: ByteCounter[];
  signBytes: ByteCounter[];
}

/** Bytes all parties sent in the first run of a ceremony, for the extra column. */
function bytesNote(runs: readonly ByteCounter[]): string {
  const first = runs[0];
  if (!first) return '';
  const total = [...first.sent.values()].flat().reduce((a, b) => a + b, 0);
  return `${first.sent.size} parties send ${total.toLocaleString('en-US')} B in all`;
}

async function inProcessRows(): Promise<InProcessResults> {
  progress('in process: single-key BIP340 sign, FROST 2-of-3 sign, FROST DKG');
  const single = benchSingleKeySign(50, 200);
  const frost = benchFrostSign(10, 50);
  const phases = benchFrostSignPhases(5, 30);
  const dkg = benchFrostDkg(3, 20);
  const rows: (Row | null)[] = [
    // noble's schnorr.sign verifies its own signature before returning it; that is part of the baseline.
    row('in-process single-key BIP340 sign (noble)', single.samples, `baseline (incl. noble's self-verify); bad sigs ${single.badSignatures}`),
    row('in-process FROST 2-of-3 sign (2 signers + aggregate)', frost.samples, `bad sigs ${frost.badSignatures}`),
    row('  of which: commit, per signer', phases.commit),
    row('  of which: signShare, per signer', phases.signShare),
    row('  of which: aggregate (coordinator)', phases.aggregate, 'sum + verify; shares checked only on failure'),
    row('in-process FROST DKG, 3 parties, t=2', dkg.samples),
  ];

  await checkpoint();
  progress('in process: single-key Ed25519 sign, FROST(Ed25519) 2-of-3 sign and its phases, FROST(Ed25519) DKG');
  const edSingle = benchEd25519SingleKeySign(50, 200);
  const edFrost = benchFrostSign(10, 50, ed25519Suite);
  const edPhases = benchFrostSignPhases(5, 30, ed25519Suite);
  const edDkg = benchFrostDkg(3, 20, ed25519Suite);
  rows.push(
    null,
    row('in-process single-key Ed25519 sign (noble)', edSingle.samples, `baseline; bad sigs ${edSingle.badSignatures} (node:crypto)`),
    row('in-process FROST(Ed25519) 2-of-3 sign (2 signers + aggregate)', edFrost.samples, `bad sigs ${edFrost.badSignatures} (node:crypto)`),
    row('  of which: commit, per signer', edPhases.commit),
    row('  of which: signShare, per signer', edPhases.signShare),
    row('  of which: aggregate (coordinator)', edPhases.aggregate, 'sum + verify; shares checked only on failure'),
    row('in-process FROST(Ed25519) DKG, 3 parties, t=2', edDkg.samples),
  );

  await checkpoint();
  progress('in process: single-key ECDSA sign');
  const ecSingle = benchEcdsaSingleKeySign(50, 200);
  progress(`in process: DKLs23 DKG, 3 parties, t=2 x${DKLS_DKG_RUNS} (several seconds each)`);
  const dklsDkg = await benchDkls23Dkg(DKLS_DKG_RUNS, checkpoint);
  await checkpoint();
  progress(`in process: DKLs23 2-of-3 sign x${DKLS_SIGN_RUNS}`);
  const dklsSign = benchDkls23Sign(dklsDkg.shares, 3, DKLS_SIGN_RUNS);
  rows.push(
    null,
    row('in-process single-key ECDSA sign (noble, prehash: false)', ecSingle.samples, `baseline; bad sigs ${ecSingle.badSignatures}`),
    row(
      'in-process DKLs23 2-of-3 sign (2 signers + combine)',
      dklsSign.samples,
      `bad sigs ${dklsSign.badSignatures} (libsecp256k1 + ethers); ${bytesNote(dklsSign.bytes)}`,
    ),
    row('in-process DKLs23 DKG, 3 parties, t=2', dklsDkg.samples, `${dklsDkg.badSignatures ? 'parties DISAGREE on the key; ' : ''}${bytesNote(dklsDkg.bytes)}`),
  );
  return {
    rows,
    bad: single.badSignatures + frost.badSignatures + edSingle.badSignatures + edFrost.badSignatures + ecSingle.badSignatures + dklsSign.badSignatures + dklsDkg.badSignatures,
    singleMedian: summarize(single.samples).median,
    frostMedian: summarize(frost.samples).median,
    ed25519SingleMedian: summarize(edSingle.samples).median,
    ed25519FrostMedian: summarize(edFrost.samples).median,
    ecdsaSingleMedian: summarize(ecSingle.samples).median,
    dklsSignMedian: summarize(dklsSign.samples).median,
    dkgBytes: dklsDkg.bytes,
    signBytes: dklsSign.bytes,
  };
}

interface ClusterResults {
  rows: (Row | null)[];
  signMedian: number;
  ed25519SignMedian: number;
  ecdsaSignMedian: number;
  gatewaySignMedian: number;
  ethersSignMedian: number;
  webhookSignMedian: number;
  deviceEd25519SignMedian: number;
  deviceEcdsaSignMedian: number;
  /** One line per sign phase: CPU ms per signature in each process. */
  cpuLines: string[];
}

/** How one of the newer families is measured through the cluster. */
interface FamilyPlan {
  family: Family;
  /** As the row names show it. */
  label: string;
  keygen: { warmup: number; iterations: number };
  sign: { warmup: number; iterations: number };
  loadClients: readonly number[];
  /** Whether a CPU breakdown of keygen is worth a line (it is when keygen is the slow part). */
  keygenCpu: boolean;
}

const FAMILY_PLANS: readonly FamilyPlan[] = [
  { family: 'ed25519', label: 'Ed25519', keygen: { warmup: 1, iterations: 10 }, sign: { warmup: 10, iterations: 100 }, loadClients: [4], keygenCpu: false },
  {
    family: 'ecdsa',
    label: 'ECDSA',
    keygen: { warmup: 0, iterations: ECDSA_KEYGEN_RUNS },
    sign: { warmup: 3, iterations: DKLS_SIGN_RUNS },
    loadClients: [4],
    keygenCpu: true,
  },
];

/** Keygen, sequential sign and load for one family; its rows, sign median and CPU lines. */
async function familyRows(
  plan: FamilyPlan,
  urls: readonly string[],
  apiKey: string,
  procs: readonly Proc[],
  tally: Tally,
): Promise<{ rows: Row[]; signMedian: number; cpuLines: string[] }> {
  const entry = urls[0]!;
  const rows: Row[] = [];
  const cpuLines: string[] = [];
  const { family, label } = plan;
  await checkpoint();

  progress(`cluster: ${label} keygen 2-of-3 x${plan.keygen.iterations}`);
  const keys: BenchKey[] = [];
  const errorsBefore = tally.errors;
  const [k0, kw0] = [sampleCpu(procs), performance.now()];
  const keygenSamples = await timeAsync(plan.keygen.warmup, plan.keygen.iterations, tally, async () => keys.push(await keygen(entry, apiKey, family)));
  if (plan.keygenCpu) {
    cpuLines.push(`${family} keygen via node-1: ${describeCpu(k0, sampleCpu(procs), plan.keygen.warmup + plan.keygen.iterations, performance.now() - kw0, 'keygen')}`);
  }
  rows.push(row(`cluster ${label} keygen 2-of-3 via node-1`, keygenSamples, `${keys.length} keys; errors ${tally.errors - errorsBefore}`));
  const first = keys[0];
  if (!first) {
    // Counted as request errors already, so the run fails; the other families still run.
    progress(`cluster: no ${label} key was generated; skipping its signing`);
    return { rows, signMedian: Number.NaN, cpuLines };
  }

  await checkpoint();
  progress(`cluster: ${label} sequential sign x${plan.sign.iterations}`);
  const signFirst = () => signOnce(entry, apiKey, first, tally);
  await collect(plan.sign.warmup, 0, tally, signFirst);
  const signErrorsBefore = tally.errors;
  const [cpu0, w0] = [sampleCpu(procs), performance.now()];
  const signSamples = await collect(0, plan.sign.iterations, tally, signFirst);
  cpuLines.push(`${family} sequential via node-1: ${describeCpu(cpu0, sampleCpu(procs), signSamples.length, performance.now() - w0)}`);
  rows.push(row(`cluster ${label} sign 2-of-3 sequential via node-1`, signSamples, `errors ${tally.errors - signErrorsBefore}`));

  for (const clients of plan.loadClients) {
    await checkpoint();
    progress(`cluster: ${label}, ${clients} concurrent client(s), ${LOAD_WARMUP_SECONDS} s warm-up + ${LOAD_SECONDS} s`);
    await load(clients, LOAD_WARMUP_SECONDS * 1000, urls, apiKey, keys, tally);
    const c0 = sampleCpu(procs);
    const r = await load(clients, LOAD_SECONDS * 1000, urls, apiKey, keys, tally);
    cpuLines.push(`${family} load, ${clients} client(s): ${describeCpu(c0, sampleCpu(procs), r.latencies.length, r.elapsedMs)}`);
    const rps = (r.latencies.length / r.elapsedMs) * 1000;
    rows.push(
      row(`cluster ${label} sign load, ${clients} client${clients > 1 ? 's' : ''}`, r.latencies, `${rps.toFixed(1)} req/s; errors ${r.errors}`),
    );
  }
  return { rows, signMedian: summarize(signSamples).median, cpuLines };
}

async function clusterRows(cluster: Cluster, dataDir: string, adminKey: string, tally: Tally): Promise<ClusterResults> {
  let webhookMedian = Number.NaN;
  const urls = cluster.nodes.map((n) => n.url);
  const entry = urls[0]!;
  const rows: (Row | null)[] = [];
  const cpuLines: string[] = [];
  const procs: Proc[] = [cluster.relay, ...cluster.nodes, ...(cluster.gateway ? [cluster.gateway] : [])].map((p) => ({ name: p.name, pid: p.child.pid }));
  const apiKey = await createUser(entry, adminKey);

  // Reference points for reading the sign latency: the HTTP floor and one relay exchange.
  progress('cluster: HTTP and relay floors');
  rows.push(row('http GET /health on node-1 (floor)', await timeAsync(20, 200, tally, () => call('GET', `${entry}/health`, undefined))));
  rows.push(row('relay round trip a→relay→b→relay→a', await relayRoundTrips(cluster.relay.address, dataDir, 20, 200), '256-byte payload'));

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

  progress('cluster: sequential sign x100 with a signed webhook rule on every node (local Rule Server)');
  const webhookErrorsBefore = tally.errors;
  const webhookSamples = await withWebhookRule(dataDir, urls, adminKey, first.keyId, async () => {
    await collect(5, 0, tally, signFirst);
    return collect(0, 100, tally, signFirst);
  });
  rows.push(row('  the same with a webhook rule on every node', webhookSamples, `errors ${tally.errors - webhookErrorsBefore}`));
  webhookMedian = summarize(webhookSamples).median;

  for (const clients of CLIENT_COUNTS) {
    await checkpoint();
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
  const medians = new Map<Family, number>();
  for (const plan of FAMILY_PLANS) {
    const r = await familyRows(plan, urls, apiKey, procs, tally);
    rows.push(null, ...r.rows);
    cpuLines.push(...r.cpuLines);
    medians.set(plan.family, r.signMedian);
  }
  const deviceMedians = new Map<Family, number>();
  rows.push(null);
  for (const family of ['ed25519', 'ecdsa'] as const) {
    await checkpoint();
    const runs = family === 'ecdsa' ? DKLS_SIGN_RUNS : 50;
    progress(`device party (SDK): ${family} 2-of-2 keygen, then sign x${runs}`);
    const before = tally.errors;
    const d = await benchDeviceParty(urls, adminKey, family, runs, tally);
    rows.push(row(`device party ${family} sign 2-of-2 (device + node-1, room per call)`, d.samples, `keygen ${d.keygenMs.toFixed(0)} ms; errors ${tally.errors - before}`));
    deviceMedians.set(family, summarize(d.samples).median);
  }
  await checkpoint();
  progress(`gateway: register + login with the Passport SDK, then personal_sign x${GATEWAY_SIGN_RUNS}`);
  const ethersSamples = await benchEthersSignMessage(20, 200, tally);
  const gw = await benchGatewayPersonalSign(cluster.gateway!.url, BENCH_SCOPE, 3, GATEWAY_SIGN_RUNS, tally);
  rows.push(
    null,
    row('in-process single-key ethers Wallet.signMessage', ethersSamples, 'baseline'),
    row('gateway personal_sign, session (SDK → gateway → 2-of-3 ECDSA)', gw.samples, `register ${gw.registerMs.toFixed(0)} ms (incl. keygen), login ${gw.loginMs.toFixed(0)} ms`),
  );
  return {
    rows,
    gatewaySignMedian: summarize(gw.samples).median,
    webhookSignMedian: webhookMedian,
    ethersSignMedian: summarize(ethersSamples).median,
    signMedian: summarize(signSamples).median,
    ed25519SignMedian: medians.get('ed25519') ?? Number.NaN,
    ecdsaSignMedian: medians.get('ecdsa') ?? Number.NaN,
    deviceEd25519SignMedian: deviceMedians.get('ed25519') ?? Number.NaN,
    deviceEcdsaSignMedian: deviceMedians.get('ecdsa') ?? Number.NaN,
    cpuLines,
  };
}

const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(1)}x` : '-');

/** "label:   12.3x" lines with the values in one column. */
function ratioLines(pairs: ReadonlyArray<[string, number, number]>): string[] {
  const width = Math.max(...pairs.map(([label]) => label.length)) + 3;
  return pairs.map(([label, a, b]) => `${label}:`.padEnd(width) + ratio(a, b));
}

/** The DKLs23 bytes table: per ceremony and party, bytes sent per round and in all. */
function bytesTable(inproc: InProcessResults): string[] {
  const header = ['ceremony', 'party', 'round 1', 'round 2', 'round 3', 'round 4', 'total'];
  const rows = [
    ...bytesRows(`DKG, 3 parties, t=2 (${inproc.dkgBytes.length} runs)`, inproc.dkgBytes, 4),
    null,
    ...bytesRows(`sign 2-of-3 (${inproc.signBytes.length} runs)`, inproc.signBytes, 4),
  ];
  return [
    'DKLs23 bytes sent per party per ceremony (in process; protocol messages only):',
    formatGrid(header, rows, 'llrrrrr'),
    '  a broadcast counts once per recipient. Sign round 3 is each partial (R, u, w) to the combiner (node-1),',
    '  whose own is not sent. "a..b" = differed between runs. The cluster adds base64 in a sealed JSON',
    '  envelope per message, and the invite / ready / start messages around the protocol rounds.',
  ];
}

function machineLine(): string {
  const cpu = cpus();
  return `machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown cpu'}, node ${process.version}, ${process.platform}/${process.arch}`;
}

async function main(res: Resources): Promise<number> {
  // In-process first, before the cluster exists, so its idle processes don't share the CPU.
  const inproc = await inProcessRows();
  await checkpoint();

  const adminKey = newAdminKey();
  res.dataDir = await mkdtemp(join(tmpdir(), 'tandem-bench-'));
  progress(`starting relay + 3 nodes + gateway on ports ${BASE_PORT}..${BASE_PORT + 4} in ${res.dataDir}`);
  const t0 = performance.now();
  res.starting = startCluster({
    dataDir: res.dataDir,
    basePort: BASE_PORT,
    nodes: 3,
    env: { TANDEM_ADMIN_KEY: adminKey, TANDEM_SCOPE_ID: BENCH_SCOPE },
    gateway: { port: BASE_PORT + 4, devScope: true },
    output: () => {},
  });
  const cluster = await res.starting;
  progress(`cluster healthy after ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const tally = new Tally();
  const clustered = await clusterRows(cluster, res.dataDir, adminKey, tally);

  await checkpoint(); // an interrupted run's numbers are not printed
  const out = [
    '',
    machineLine(),
    '',
    formatTable([...inproc.rows, null, ...clustered.rows]),
    '',
    ...ratioLines([
      ['ratio cluster sign median / single-key sign median', clustered.signMedian, inproc.singleMedian],
      ['ratio cluster sign with a webhook rule / without', clustered.webhookSignMedian, clustered.signMedian],
      ['ratio in-process FROST sign median / single-key median', inproc.frostMedian, inproc.singleMedian],
      ['ratio cluster Ed25519 sign median / single-key Ed25519 median', clustered.ed25519SignMedian, inproc.ed25519SingleMedian],
      ['ratio in-process FROST(Ed25519) sign median / single-key Ed25519 median', inproc.ed25519FrostMedian, inproc.ed25519SingleMedian],
      ['ratio cluster ECDSA sign median / single-key ECDSA median', clustered.ecdsaSignMedian, inproc.ecdsaSingleMedian],
      ['ratio in-process DKLs23 sign median / single-key ECDSA median', inproc.dklsSignMedian, inproc.ecdsaSingleMedian],
      ['ratio gateway personal_sign median / single-key ethers signMessage median', clustered.gatewaySignMedian, clustered.ethersSignMedian],
      ['ratio device-party Ed25519 sign median / cluster Ed25519 sign median', clustered.deviceEd25519SignMedian, clustered.ed25519SignMedian],
      ['ratio device-party ECDSA sign median / cluster ECDSA sign median', clustered.deviceEcdsaSignMedian, clustered.ecdsaSignMedian],
      ['ratio device-party ECDSA sign median / single-key ECDSA median', clustered.deviceEcdsaSignMedian, inproc.ecdsaSingleMedian],
    ]),
    '',
    ...bytesTable(inproc),
    '',
    `where the CPU goes (${cpus().length} cores; load clients spread over node-1..3, so each node coordinates a share):`,
    ...clustered.cpuLines.map((l) => `  ${l}`),
    '',
    `cluster signatures verified: ${tally.verified}, verification failures: ${tally.badSignatures}, request errors: ${tally.errors}`,
    ...[...tally.checks].map(([check, c]) => `  ${check}: ${c.ok} passed, ${c.bad} failed`),
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
