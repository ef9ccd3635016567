import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';

/** `npm start` as a child process, for the tests of its contract (ports 7000-7003 and 9545). */
const DEV = join(import.meta.dirname, '../../src/cluster/dev.js');
const DEV_PORTS = [7000, 7001, 7002, 7003, 9545];

export function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function devPortsBusy(): Promise<boolean> {
  return (await Promise.all(DEV_PORTS.map(portOpen))).some(Boolean);
}

export interface DevCluster {
  child: ChildProcess;
  stdout(): string;
  /** node-1's admin key as printed at first start, if this was one (the gateway's first start used it). */
  adminKey: string | undefined;
  /** Every node's own admin key printed at first start (node id → key). */
  adminKeys: Record<string, string>;
}

/** Starts `npm start` on `dataDir` (no TANDEM_ADMIN_KEY, so a first start generates one). */
export function startDev(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<DevCluster> {
  const { TANDEM_ADMIN_KEY: _unset, TANDEM_SCOPE_ID: _unsetScope, ...base } = process.env;
  const child = spawn(process.execPath, [DEV], { env: { ...base, TANDEM_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev cluster not up in time:\n${out}\n${err}`)), 150_000);
    child.stdout!.on('data', () => {
      if (out.includes('Ctrl-C stops everything')) {
        clearTimeout(timer);
        const adminKeys = out.includes('Admin API keys') ? Object.fromEntries([...out.matchAll(/^ {4}(node-\d+) {3}(tdm_admin_\S+)$/gm)].map((m) => [m[1]!, m[2]!])) : {};
        resolve({ child, stdout: () => out, adminKey: adminKeys['node-1'], adminKeys });
      }
    });
    child.once('exit', (code) => reject(new Error(`dev cluster exited with ${code}:\n${out}\n${err}`)));
  });
}

/** Ctrl-C; resolves with the exit code. */
export function interrupt(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}
