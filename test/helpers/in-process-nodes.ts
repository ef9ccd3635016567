import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { configFrom } from '../../src/node/config.js';
import { startSignerNode, type RunningNode } from '../../src/node/signer-node.js';
import { startRelay } from '../../src/relay/server.js';
import { toHex } from '../../src/shared/hex.js';
import { asPartyId } from '../../src/shared/ids.js';
import { ADMIN_KEY, api } from './cluster.js';
import { nodeRelayKeys } from './relay-auth.js';

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
  const root = await mkdtemp(join(tmpdir(), 'tandem-inproc-'));
  const ids = Array.from({ length: count }, (_, i) => asPartyId(`node-${i + 1}`));
  const relay = await startRelay({ port: 0, nodes: (await nodeRelayKeys(root, ids)).nodes });
  const relayAddress = `127.0.0.1:${relay.port}`;
  const identities = await Promise.all(ids.map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
  const peers = identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) }));
  const logs: string[] = [];
  const nodes: RunningNode[] = [];
  const close = async () => {
    for (const n of nodes) await n.close();
    await relay.close();
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (const id of ids) {
      const config = configFrom({ id, port: 0, relay: relayAddress, data_dir: root, peers }, { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '4000', TANDEM_DEV_KEK_IN_DATA_DIR: '1', ...env });
      nodes.push(await startSignerNode(config, (msg) => logs.push(`[${id}] ${msg}`)));
    }
    const url = nodes[0]!.url;
    const made = await api(url, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    if (made.status !== 200) throw new Error(`create-user: ${JSON.stringify(made.body)}`);
    return { nodes, url, adminKey: ADMIN_KEY, userKey: String(made.body.api_key), logs, close };
  } catch (e) {
    await close();
    throw e;
  }
}
