import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import { toHex } from '../shared/hex.js';
import { asPartyId } from '../shared/ids.js';
import { newAdminKey } from '../node/api-keys.js';
import type { NodeConfigFile } from '../node/config.js';
import { prepareLauncherKeks, processEnvs, secretsDirOf } from './secrets.js';

/**
 * Starts relays, signer nodes and gateways as separate OS processes on this machine: the dev
 * cluster, the production-mode example and the integration tests' clusters. Node i listens
 * on basePort + i, the relay on basePort (more relays on `relayPorts`, node i then on relay
 * i mod the count, so ceremonies cross relays).
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
  basePort: number;
  nodes: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** Also run the wallet gateway on this port, a client of the nodes (data under dataDir/gateway). */
  gateway?: {
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
  const relayAddresses = relayPorts.map((p) => `${host}:${p}`);
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
  const configFiles = await Promise.all(
    ids.map(async (id, i) => {
      const relay = relayAddresses[i % relayAddresses.length]!;
      const fallback = relayAddresses.filter((a) => a !== relay);
      const file: NodeConfigFile = { id, host, port: opts.basePort + i + 1, relay, ...(fallback.length ? { fallback_relays: fallback } : {}), data_dir: dataDir, peers };
      const path = join(dataDir, `${id}.json`);
      await writeFile(path, JSON.stringify(file, null, 2), { mode: 0o600 });
      return path;
    }),
  );
  // The relays' list of nodes: each node's signing key (made here at a first start, or the one
  // a node of an older data directory made itself, at the same path), so relays admit each node
  // only as itself. Only public halves leave the nodes' directories.
  const signingKeys = await Promise.all(ids.map(async (id) => (await loadOrCreateSigningKey(id, join(dataDir, id, 'signing.key'))).publicKeyHex));
  const clusterFile = join(dataDir, 'cluster.json');
  const clusterNodes = peers.map((p, i) => ({ ...p, signing_key: signingKeys[i]! }));
  await writeFile(clusterFile, JSON.stringify({ relays: relayAddresses, nodes: clusterNodes }, null, 2), { mode: 0o600 });

  // The gateway needs the admin key once, to create its user on the nodes: at the cluster's first start, or when its KEK is new.
  const envs = processEnvs(env, keks, created || keks.gatewayKekCreated, opts.adminKeys);
  const relays = relayPorts.map((port, i) =>
    Object.assign(managed(relayPorts.length > 1 ? `relay-${i + 1}` : 'relay', [RELAY_MAIN, '--host', host, '--port', String(port), '--nodes', clusterFile], envs.relay, out), {
      address: relayAddresses[i]!,
    }),
  );
  const nodes = ids.map((id, i) =>
    Object.assign(managed(id, [NODE_MAIN, '--config', configFiles[i]!], envs.node(id), out), { id, url: `http://${host}:${opts.basePort + i + 1}` }),
  );
  const gateways = opts.gateway
    ? Array.from({ length: copies }, (_, i) => gatewayProcess({ ...opts.gateway!, port: opts.gateway!.port + i }, copies > 1 ? `gateway-${i + 1}` : 'gateway', host, dataDir, nodes.map((n) => n.url), envs.gateway, out))
    : [];
  const cluster: Cluster = {
    relay: relays[0]!,
    relays,
    nodes,
    ...(gateways[0] ? { gateway: gateways[0] } : {}),
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
    await Promise.all(relayPorts.map((p) => waitForPort(host, p, 15_000)));
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(nodes.map((n) => waitHealthy(n.url, 60_000)));
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
  const gwEnv = {
    ...env,
    TANDEM_NODES: nodeUrls.join(','),
    TANDEM_GATEWAY_HOST: host,
    TANDEM_GATEWAY_PORT: String(g.port),
    TANDEM_GATEWAY_DATA_DIR: join(dataDir, 'gateway'),
    ...(g.openScopes && env.TANDEM_OPEN_SCOPES === undefined ? { TANDEM_OPEN_SCOPES: '1' } : {}),
  };
  const args = [GATEWAY_MAIN, ...(g.devScope ? ['--dev-scope'] : [])];
  return Object.assign(managed(name, args, gwEnv, out), { url: `http://${host}:${g.port}` });
}

function managed(name: string, args: string[], env: NodeJS.ProcessEnv, out: (name: string, line: string) => void) {
  const proc = {
    name,
    child: undefined as unknown as ChildProcess,
    async start() {
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.child = child;
      for (const stream of [child.stdout, child.stderr]) {
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

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, host, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
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
