import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { configFrom } from '../../src/node/config.js';
import { startSignerNode, type RunningNode } from '../../src/node/signer-node.js';
import { startRelay } from '../../src/relay/server.js';
import { toHex } from '../../src/core/hex.js';
import { asPartyId } from '../../src/core/ids.js';
import { ADMIN_KEY, api } from './cluster.js';
import { nodeRelayKeys } from './relay-auth.js';
import { seedPglite } from './pglite-template.js';

export interface InProcessNodes {
  nodes: RunningNode[];
  /** The first node's URL: where the tests talk to. */
  url: string;
  adminKey: string;
  /** A user's API key, made with create-user. */
  userKey: string;
  /** Messages the nodes logged (their logger is a plain function). */
  logs: string[];
  close(): Promise<void>;
}

/**
 * Signer nodes in this process (embedded databases under a temporary directory, a relay,
 * every server on port 0), with a user made; for tests that speak to the real HTTP API
 * without the cost of separate processes.
 */
export async function startInProcessNodes(count: number, env: NodeJS.ProcessEnv = {}): Promise<InProcessNodes> {
  const started = await startNodes(count, { TANDEM_CEREMONY_TIMEOUT_MS: '4000', ...env });
  try {
    const url = started.nodes[0]!.url;
    const made = await api(url, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    if (made.status !== 200) throw new Error(`create-user: ${JSON.stringify(made.body)}`);
    return { nodes: started.nodes, url, adminKey: ADMIN_KEY, userKey: String(made.body.api_key), logs: started.logs, close: started.close };
  } catch (e) {
    await started.close();
    throw e;
  }
}

/** A node of an InProcessCluster: `stop` closes it (its API, its relay connection, its database), as a node going down. */
export interface InProcessNode {
  id: string;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The in-process counterpart of test/helpers/cluster.ts's startTestCluster, for suites of node
 * behaviour that need no separate processes: `count` signer nodes and a relay in this process,
 * the same admin key (ADMIN_KEY) and ceremony timeout, no user made.
 */
export interface InProcessCluster {
  cluster: { nodes: InProcessNode[] };
  /** The relay the nodes use, `host:port`. */
  relayAddress: string;
  /** Every node's id and identity public key, as the cluster's configuration lists them. */
  peers: Array<{ id: string; public_key: string }>;
  /** A temporary directory, removed by destroy() (the nodes' data is under it). */
  dataDir: string;
  /** Messages the nodes logged, each prefixed with `[node-i] `. */
  logs: string[];
  destroy(): Promise<void>;
}

export async function startInProcessCluster(env: NodeJS.ProcessEnv = {}, count = 3): Promise<InProcessCluster> {
  const started = await startNodes(count, { TANDEM_CEREMONY_TIMEOUT_MS: '6000', ...env });
  const stopped = new Set<RunningNode>();
  const stop = async (n: RunningNode) => {
    if (stopped.has(n)) return;
    stopped.add(n);
    await n.close();
  };
  return {
    cluster: { nodes: started.nodes.map((n) => ({ id: n.id, url: n.url, port: n.port, stop: () => stop(n) })) },
    relayAddress: started.relayAddress,
    peers: started.peers,
    dataDir: started.root,
    logs: started.logs,
    destroy: () => started.close(stop),
  };
}

async function startNodes(count: number, env: NodeJS.ProcessEnv) {
  const root = await mkdtemp(join(tmpdir(), 'tandem-inproc-'));
  const ids = Array.from({ length: count }, (_, i) => asPartyId(`node-${i + 1}`));
  const relay = await startRelay({ port: 0, nodes: (await nodeRelayKeys(root, ids)).nodes });
  const relayAddress = `127.0.0.1:${relay.port}`;
  const identities = await Promise.all(ids.map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
  const peers = identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) }));
  const logs: string[] = [];
  const nodes: RunningNode[] = [];
  const close = async (closeNode: (n: RunningNode) => Promise<void> = (n) => n.close()) => {
    for (const n of nodes) await closeNode(n);
    await relay.close();
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (const id of ids) {
      const config = configFrom({ id, port: 0, relay: relayAddress, data_dir: root, peers }, { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_DEV_KEK_IN_DATA_DIR: '1', ...env });
      await seedPglite(join(root, id, 'db'));
      nodes.push(await startSignerNode(config, (msg) => logs.push(`[${id}] ${msg}`)));
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { root, relayAddress, peers, nodes, logs, close };
}
