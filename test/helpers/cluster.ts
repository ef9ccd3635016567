import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../src/cluster/processes.js';
import { checkSchemaName, PostgresClient } from '../../src/storage/postgres-client.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';

export const ADMIN_KEY = `tdm_admin_${randomBytes(32).toString('base64url')}`;

export interface TestCluster {
  cluster: Cluster;
  dataDir: string;
  basePort: number;
  logs: string[];
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** The machine's PostgreSQL, where the tests of the PostgreSQL backend run (CI starts it). */
export const TEST_POSTGRES_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

export type Backend = 'embedded' | 'postgres';

/**
 * A real cluster of separate processes, on ports away from the dev cluster's. With the
 * `postgres` backend every node (and gateway) has a schema of its own on TEST_POSTGRES_URL,
 * under a prefix unique to this cluster, dropped by destroy().
 */
export async function startTestCluster(basePort: number, env: NodeJS.ProcessEnv = {}, backend: Backend = 'embedded'): Promise<TestCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-it-'));
  const logs: string[] = [];
  const prefix = `it_${randomBytes(4).toString('hex')}`;
  const database = backend === 'postgres' ? { TANDEM_DATABASE_URL: TEST_POSTGRES_URL, TANDEM_DATABASE_SCHEMA_PREFIX: prefix } : {};
  const opts = {
    dataDir,
    basePort,
    nodes: 3,
    env: { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '6000', ...database, ...env },
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
      await rm(secretsDirOf(dataDir), { recursive: true, force: true });
      if (backend === 'postgres') await dropSchemas(`${prefix}_`);
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

/** Drops every schema whose name starts with `prefix` (a test cluster's nodes and gateway). */
export async function dropSchemas(prefix: string): Promise<void> {
  const client = await PostgresClient.connect(TEST_POSTGRES_URL, 'public');
  try {
    const { rows } = await client.query<{ nspname: string }>("select nspname from pg_namespace where starts_with(nspname, $1)", [prefix]);
    for (const r of rows) await client.exec(`drop schema ${checkSchemaName(r.nspname)} cascade`);
  } finally {
    await client.close();
  }
}
