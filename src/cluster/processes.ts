import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import { toHex } from '../core/hex.js';
import { asPartyId } from '../core/ids.js';
import { newAdminKey } from '../api/api-keys.js';
import type { NodeConfigFile } from '../node/config.js';
import { isListeningMessage } from '../observability/listening.js';
import { prepareLauncherKeks, processEnvs, secretsDirOf } from './secrets.js';

/**
 * Starts relays, signer nodes and gateways as separate OS processes on this machine: the dev
 * cluster, the production-mode example and the integration tests' clusters. Node i listens
 * on basePort + i, the relay on basePort (more relays on `relayPorts`, node i then on relay
 * i mod the count, so ceremonies cross relays). With basePort 0 (the tests) every process
 * binds a port the system chooses and reports it over an IPC channel (listening.ts); the
 * relays start first and the nodes' configuration names the relays' ports, the gateways
 * start last with the nodes' URLs.
 */
const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RELAY_MAIN = join(DIST_SRC, 'relay', 'main.js');
const NODE_MAIN = join(DIST_SRC, 'node', 'main.js');
const GATEWAY_MAIN = join(DIST_SRC, 'gateway', 'main.js');

export interface ClusterOptions {
  dataDir: string;
  /** Where each process's KEK file is kept (default `<dataDir>-secrets` or TANDEM_SECRETS_DIR; see secrets.ts). */
  secretsDir?: string;
  /** Each node's own admin key (firstStartAdminKeys), instead of TANDEM_ADMIN_KEY for all. */
  adminKeys?: Record<string, string>;
  /** The relay's port, node i on basePort + i; 0: every process (relays, nodes, gateways) on a port of the system's choosing. */
  basePort: number;
  /** Node i's port (index i - 1), instead of basePort + i: e.g. the ports a previous start of the cluster bound. */
  nodePorts?: number[];
  nodes: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** Also run the wallet gateway on this port, a client of the nodes (data under dataDir/gateway). */
  gateway?: {
    /** 0: a port of the system's choosing (for each copy). */
    port: number;
    devScope?: boolean;
    /** More copies on port + 1, + 2...; they need TANDEM_DATABASE_URL to share state. */
    copies?: number;
    /** TANDEM_OPEN_SCOPES=1 for the gateway unless the environment sets it. */
    openScopes?: boolean;
  };
  /** Relays' ports (default [basePort]); several only make sense with TANDEM_RELAY_NATS_URL in env. */
  relayPorts?: number[];
  /** Where children's output goes; default: this process's stderr, prefixed. */
  output?: (name: string, line: string) => void;
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** The port it listens on, as the process reported it (0 before its first start). A restart binds the same one. */
  port: number;
  /** Spawns the process and resolves once it reports the port it listens on. */
  start(): Promise<void>;
  /** SIGTERM and wait; `signal` SIGKILL simulates a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface Cluster {
  /** The first relay. */
  relay: ManagedProcess & { address: string };
  relays: Array<ManagedProcess & { address: string }>;
  nodes: Array<ManagedProcess & { id: string; url: string }>;
  /** The first gateway copy. */
  gateway?: ManagedProcess & { url: string };
  gateways: Array<ManagedProcess & { url: string }>;
  /** True when this start created the cluster's configuration (a first start). */
  created: boolean;
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir);
  const relayPorts = opts.relayPorts ?? [opts.basePort];
  const nodePort = (i: number) => opts.nodePorts?.[i] ?? (opts.basePort === 0 ? 0 : opts.basePort + i + 1);
  const ids = Array.from({ length: opts.nodes }, (_, i) => asPartyId(`node-${i + 1}`));
  const created = !existsSync(join(dataDir, 'cluster.json'));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const out = opts.output ?? ((name, line) => process.stderr.write(`[${name}] ${readable(line)}\n`));
  const env = { ...process.env, ...opts.env };
  const copies = opts.gateway?.copies ?? 1;
  if (copies > 1 && !env.TANDEM_DATABASE_URL) throw new Error('gateway copies share their state through PostgreSQL: set TANDEM_DATABASE_URL');
  const keks = await prepareLauncherKeks({
    dataDir,
    secretsDir: resolve(opts.secretsDir ?? secretsDirOf(dataDir, env)),
    nodeIds: ids,
    gateway: opts.gateway !== undefined,
    env,
    note: (msg) => out('launcher', msg),
  });
  const peers = await Promise.all(
    ids.map(async (id) => ({ id, public_key: toHex((await loadOrCreateIdentity(id, join(dataDir, id, 'identity.key'))).publicKey) })),
  );
  // The relays' list of nodes: each node's signing key (made here at a first start, or the one
  // a node of an older data directory made itself, at the same path), so relays admit each node
  // only as itself. Only public halves leave the nodes' directories.
  const signingKeys = await Promise.all(ids.map(async (id) => (await loadOrCreateSigningKey(id, join(dataDir, id, 'signing.key'))).publicKeyHex));
  const clusterFile = join(dataDir, 'cluster.json');
  const clusterNodes = peers.map((p, i) => ({ ...p, signing_key: signingKeys[i]! }));
  const writeClusterFile = (relays: string[]) => writeAtomically(clusterFile, JSON.stringify({ relays, nodes: clusterNodes }, null, 2));
  await writeClusterFile(relayPorts.map((p) => `${host}:${p}`));

  // The gateway needs the admin key once, to create its user on the nodes: at the cluster's first start, or when its KEK is new.
  const envs = processEnvs(env, keks, created || keks.gatewayKekCreated, opts.adminKeys);
  const relays = relayPorts.map((port, i) => {
    const p = managed(relayPorts.length > 1 ? `relay-${i + 1}` : 'relay', port, (bound) => [RELAY_MAIN, '--host', host, '--port', String(bound), '--nodes', clusterFile], () => envs.relay, out);
    return Object.defineProperty(p, 'address', { get: () => `${host}:${p.port}`, enumerable: true }) as typeof p & { address: string };
  });
  const nodes = ids.map((id, i) => {
    const configFile = join(dataDir, `${id}.json`);
    // The configuration file says the port asked for (0 in tests); a restart binds the one reported.
    const p = managed(id, nodePort(i), (bound) => [NODE_MAIN, '--config', configFile, ...(bound !== nodePort(i) ? ['--port', String(bound)] : [])], () => envs.node(id), out);
    return Object.assign(Object.defineProperty(p, 'url', { get: () => `http://${host}:${p.port}`, enumerable: true }) as typeof p & { url: string }, { id });
  });
  const gateways: Array<ManagedProcess & { url: string }> = [];
  const cluster: Cluster = {
    relay: relays[0]!,
    relays,
    nodes,
    get gateway() {
      return gateways[0];
    },
    gateways,
    created,
    async stop() {
      await Promise.all(gateways.map((g) => g.stop()));
      await Promise.all(nodes.map((n) => n.stop()));
      await Promise.all(relays.map((r) => r.stop()));
    },
  };
  try {
    await Promise.all(relays.map((r) => r.start()));
    // The nodes' configuration names the relays where they listen.
    const relayAddresses = relays.map((r) => r.address);
    await writeClusterFile(relayAddresses);
    await Promise.all(
      ids.map(async (id, i) => {
        const relay = relayAddresses[i % relayAddresses.length]!;
        const fallback = relayAddresses.filter((a) => a !== relay);
        const file: NodeConfigFile = { id, host, port: nodePort(i), relay, ...(fallback.length ? { fallback_relays: fallback } : {}), data_dir: dataDir, peers };
        await writeFile(join(dataDir, `${id}.json`), JSON.stringify(file, null, 2), { mode: 0o600 });
      }),
    );
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(nodes.map((n) => waitHealthy(n.url, 60_000)));
    if (opts.gateway) {
      const g = opts.gateway;
      for (let i = 0; i < copies; i++) {
        gateways.push(gatewayProcess({ ...g, port: g.port === 0 ? 0 : g.port + i }, copies > 1 ? `gateway-${i + 1}` : 'gateway', host, dataDir, nodes.map((n) => n.url), envs.gateway, out));
      }
    }
    // The first copy alone makes the first-start secrets (its user on the nodes, its RSA key), then the others share them.
    for (const [i, g] of gateways.entries()) {
      await g.start();
      if (i === 0) await waitHealthy(g.url, 60_000);
    }
    await Promise.all(gateways.map((g) => waitHealthy(g.url, 60_000)));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function gatewayProcess(
  g: { port: number; devScope?: boolean; openScopes?: boolean },
  name: string,
  host: string,
  dataDir: string,
  nodeUrls: string[],
  env: NodeJS.ProcessEnv,
  out: (name: string, line: string) => void,
) {
  const gwEnv = (port: number) => ({
    ...env,
    TANDEM_NODES: nodeUrls.join(','),
    TANDEM_GATEWAY_HOST: host,
    TANDEM_GATEWAY_PORT: String(port),
    TANDEM_GATEWAY_DATA_DIR: join(dataDir, 'gateway'),
    ...(g.openScopes && env.TANDEM_OPEN_SCOPES === undefined ? { TANDEM_OPEN_SCOPES: '1' } : {}),
  });
  const args = [GATEWAY_MAIN, ...(g.devScope ? ['--dev-scope'] : [])];
  const p = managed(name, g.port, () => args, gwEnv, out);
  return Object.defineProperty(p, 'url', { get: () => `http://${host}:${p.port}`, enumerable: true }) as typeof p & { url: string };
}

/** Replaces `path` whole, so a relay (re)starting meanwhile reads the old file or the new one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

/** How long a process may take to report its port (a node's first start makes its database: seconds, more on a busy machine). */
const START_TIMEOUT_MS = 120_000;

/**
 * A child process, started on `port` (0: one of the system's choosing) and, once it has reported
 * the port it bound, restarted on that same one: the others' configuration names it.
 */
function managed(name: string, port: number, args: (port: number) => string[], env: (port: number) => NodeJS.ProcessEnv, out: (name: string, line: string) => void) {
  const proc = {
    name,
    child: undefined as unknown as ChildProcess,
    port,
    async start() {
      const asked = proc.port;
      const child = spawn(process.execPath, args(asked), { env: env(asked), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      proc.child = child;
      for (const stream of [child.stdout!, child.stderr!]) {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            out(name, buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        });
      }
      proc.port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error(`${name} did not report its port within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => fail(new Error(`${name} exited (${signal ?? code}) before it listened`));
        const onMessage = (m: unknown) => {
          if (!isListeningMessage(m)) return;
          if (asked !== 0 && m.port !== asked) return fail(new Error(`${name} listens on ${m.port}, not on ${asked}`));
          done();
          resolve(m.port);
        };
        const done = () => {
          clearTimeout(timer);
          child.off('exit', onExit);
          child.off('message', onMessage);
          // The channel was only for this report.
          child.channel?.unref();
        };
        function fail(e: Error) {
          done();
          reject(e);
        }
        child.on('exit', onExit);
        child.on('message', onMessage);
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const child = proc.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return proc;
}

/**
 * A launcher's first start without TANDEM_ADMIN_KEY: an admin key per node (ClusterOptions.adminKeys),
 * returned so the launcher shows each once (upBanner). A node's key works on that node only;
 * create-user on any node reaches the others without its key (they take the coordinator's
 * word, or the admin's signature where TANDEM_ADMIN_PUBLIC_KEY is pinned).
 */
export function firstStartAdminKeys(dataDir: string, nodes: number): Record<string, string> | undefined {
  if (process.env.TANDEM_ADMIN_KEY || existsSync(join(dataDir, 'cluster.json'))) return undefined;
  return Object.fromEntries(Array.from({ length: nodes }, (_, i) => [`node-${i + 1}`, newAdminKey()]));
}

/** A launcher's "is up" text on stdout: `lines`, then the generated admin keys if any, and how to stop. */
export function upBanner(lines: string[], generatedAdminKeys: Record<string, string> | undefined): void {
  const all = ['', ...lines];
  if (generatedAdminKeys) {
    all.push('', '  Admin API keys, one per node (generated, shown once; set TANDEM_ADMIN_KEY to choose one for all nodes):');
    for (const [id, key] of Object.entries(generatedAdminKeys)) all.push(`    ${id}   ${key}`);
  }
  all.push('', 'Ctrl-C stops everything.', '');
  process.stdout.write(all.join('\n') + '\n');
}

/**
 * For a launcher in the foreground: Ctrl-C or SIGTERM stops every process (once) and exits;
 * a process that dies on its own is reported, and the others keep running.
 */
export function stopOnSignal(cluster: Cluster, label: string, stoppingMessage: string): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${stoppingMessage}\n`);
    cluster.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (const p of [...cluster.relays, ...cluster.nodes, ...cluster.gateways]) {
    p.child.on('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`[${label}] ${p.name} exited (${signal ?? code}); the others keep running\n`);
    });
  }
}

export async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not healthy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A JSON log line as the dev cluster's console shows it: level, message, then the other fields. */
function readable(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || typeof entry.msg !== 'string') return line;
  const { level, msg, time: _time, component: _component, node: _node, ...rest } = entry;
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return `${level === 'info' ? '' : `${String(level)}: `}${msg}${extra ? ` ${extra}` : ''}`;
}
