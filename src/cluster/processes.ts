import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { toHex } from '../shared/hex.js';
import { asPartyId } from '../shared/ids.js';
import type { NodeConfigFile } from '../node/config.js';

/**
 * Starts a relay and signer nodes as separate OS processes on this machine: the dev
 * cluster, and the integration tests' cluster. Node i listens on basePort + i, the relay
 * on basePort.
 */
const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RELAY_MAIN = join(DIST_SRC, 'relay', 'main.js');
const NODE_MAIN = join(DIST_SRC, 'node', 'main.js');
const GATEWAY_MAIN = join(DIST_SRC, 'gateway', 'main.js');

export interface ClusterOptions {
  dataDir: string;
  basePort: number;
  nodes: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** Also run the wallet gateway on this port, a client of the nodes (data under dataDir/gateway). */
  gateway?: { port: number; devScope?: boolean };
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
  relay: ManagedProcess & { address: string };
  nodes: Array<ManagedProcess & { id: string; url: string }>;
  gateway?: ManagedProcess & { url: string };
  /** True when this start created the cluster's configuration (a first start). */
  created: boolean;
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir);
  const relayAddress = `${host}:${opts.basePort}`;
  const ids = Array.from({ length: opts.nodes }, (_, i) => asPartyId(`node-${i + 1}`));
  const created = !existsSync(join(dataDir, 'cluster.json'));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const peers = await Promise.all(
    ids.map(async (id) => ({ id, public_key: toHex((await loadOrCreateIdentity(id, join(dataDir, id, 'identity.key'))).publicKey) })),
  );
  const configFiles = await Promise.all(
    ids.map(async (id, i) => {
      const file: NodeConfigFile = { id, host, port: opts.basePort + i + 1, relay: relayAddress, data_dir: dataDir, peers };
      const path = join(dataDir, `${id}.json`);
      await writeFile(path, JSON.stringify(file, null, 2), { mode: 0o600 });
      return path;
    }),
  );
  await writeFile(join(dataDir, 'cluster.json'), JSON.stringify({ relay: relayAddress, nodes: peers }, null, 2), { mode: 0o600 });

  const out = opts.output ?? ((name, line) => process.stderr.write(`[${name}] ${line}\n`));
  const env = { ...process.env, ...opts.env };
  const relay = Object.assign(managed('relay', [RELAY_MAIN, '--host', host, '--port', String(opts.basePort)], env, out), { address: relayAddress });
  const nodes = ids.map((id, i) =>
    Object.assign(managed(id, [NODE_MAIN, '--config', configFiles[i]!], env, out), { id, url: `http://${host}:${opts.basePort + i + 1}` }),
  );
  const gateway = opts.gateway && gatewayProcess(opts.gateway, host, dataDir, nodes.map((n) => n.url), env, out);
  const cluster: Cluster = {
    relay,
    nodes,
    ...(gateway ? { gateway } : {}),
    created,
    async stop() {
      await gateway?.stop();
      await Promise.all(nodes.map((n) => n.stop()));
      await relay.stop();
    },
  };
  try {
    await relay.start();
    await waitForPort(host, opts.basePort, 15_000);
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(nodes.map((n) => waitHealthy(n.url, 60_000)));
    if (gateway) {
      await gateway.start();
      // First start creates its user on the nodes and its RSA key: a few seconds.
      await waitHealthy(gateway.url, 60_000);
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function gatewayProcess(
  g: { port: number; devScope?: boolean },
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
  };
  const args = [GATEWAY_MAIN, ...(g.devScope ? ['--dev-scope'] : [])];
  return Object.assign(managed('gateway', args, gwEnv, out), { url: `http://${host}:${g.port}` });
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
