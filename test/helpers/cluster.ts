import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../src/cluster/processes.js';

export const ADMIN_KEY = `tdm_admin_${randomBytes(32).toString('base64url')}`;

export interface TestCluster {
  cluster: Cluster;
  dataDir: string;
  basePort: number;
  logs: string[];
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** A real cluster of separate processes, on ports away from the dev cluster's. */
export async function startTestCluster(basePort: number, env: NodeJS.ProcessEnv = {}): Promise<TestCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-it-'));
  const logs: string[] = [];
  const opts = {
    dataDir,
    basePort,
    nodes: 3,
    env: { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '3000', ...env },
    output: (name: string, line: string) => {
      logs.push(`[${name}] ${line}`);
    },
  };
  const t: TestCluster = {
    cluster: await startCluster(opts),
    dataDir,
    basePort,
    logs,
    async restart() {
      await t.cluster.stop();
      t.cluster = await startCluster(opts);
    },
    async destroy() {
      await t.cluster.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

export interface ApiResult {
  status: number;
  body: Record<string, unknown>;
}

export async function api(url: string, method: string, path: string, opts: { key?: string; body?: unknown; raw?: string; contentType?: string } = {}): Promise<ApiResult> {
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) headers.authorization = opts.key;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { unparsed: text };
  }
  return { status: res.status, body: parsed };
}
