import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../src/cluster/processes.js';
import { checkSchemaName, PostgresClient } from '../../src/db/postgres-client.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { seedPglite } from './pglite-template.js';

export const ADMIN_KEY = `tdm_admin_${randomBytes(32).toString('base64url')}`;

export interface TestCluster {
  cluster: Cluster;
  dataDir: string;
  logs: string[];
  /** Stops every process and starts them again on the ports they had. */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** The machine's PostgreSQL, where the tests of the PostgreSQL backend run (CI starts it). */
export const TEST_POSTGRES_URL = process.env.TANDEM_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

export type Backend = 'embedded' | 'postgres';

/**
 * A real cluster of separate processes, every one on a port of the system's choosing (so test
 * files run at the same time). With the `postgres` backend every node (and gateway) has a
 * schema of its own on TEST_POSTGRES_URL, under a prefix unique to this cluster, dropped by
 * destroy().
 */
export async function startTestCluster(
  env: NodeJS.ProcessEnv | ((dataDir: string) => Promise<NodeJS.ProcessEnv>) = {},
  backend: Backend = 'embedded',
): Promise<TestCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tandem-it-'));
  // A function gets the data directory before anything starts (e.g. to start a relay that the environment names).
  if (typeof env === 'function') env = await env(dataDir);
  const logs: string[] = [];
  const prefix = `it_${randomBytes(4).toString('hex')}`;
  if (backend === 'embedded') await seedClusterDatabases(dataDir, 3);
  const database = backend === 'postgres' ? { TANDEM_DATABASE_URL: TEST_POSTGRES_URL, TANDEM_DATABASE_SCHEMA_PREFIX: prefix } : {};
  const opts = {
    dataDir,
    basePort: 0,
    nodes: 3,
    env: { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '6000', ...database, ...env },
    output: (name: string, line: string) => {
      logs.push(`[${name}] ${line}`);
    },
  };
  const t: TestCluster = {
    cluster: await startCluster(opts),
    dataDir,
    logs,
    async restart() {
      const ports = { relayPorts: t.cluster.relays.map((r) => r.port), nodePorts: t.cluster.nodes.map((n) => n.port) };
      await t.cluster.stop();
      t.cluster = await startCluster({ ...opts, ...ports });
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

/**
 * Each node's (and the gateway's) embedded database under a launcher's data directory, made from
 * the template (pglite-template.ts) rather than by an initdb in each process; a database there
 * already is left as it is. The test of `npm start` itself does not use it.
 */
export async function seedClusterDatabases(dataDir: string, nodes: number, gateway = false): Promise<void> {
  for (let i = 1; i <= nodes; i++) await seedPglite(join(dataDir, `node-${i}`, 'db'));
  if (gateway) await seedPglite(join(dataDir, 'gateway', 'db'));
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
  // Only a guard against a request that never ends: files run side by side, and an ECDSA key
  // generation of three in-process nodes on a busy machine can take well over 30 s.
  const res = await fetch(`${url}${path}`, { method, headers, body, signal: AbortSignal.timeout(120_000) });
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
