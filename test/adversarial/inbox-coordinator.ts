import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { configFrom } from '../../src/node/config.js';
import { INBOX_ROOM, PeerNetwork, type Invite, type NodeSession } from '../../src/node/peer-network.js';
import { startSignerNode, type RunningNode } from '../../src/node/signer-node.js';
import { RelayPool } from '../../src/relay/pool.js';
import { startRelay } from '../../src/relay/server.js';
import { toHex } from '../../src/core/hex.js';
import { asPartyId, type PartyId } from '../../src/core/ids.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { nodeRelayKeys } from '../helpers/relay-auth.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * One real signer node (node-2, in this process, port 0) and a coordinator the test drives:
 * a PeerNetwork holding node-1's identity key, so its invitations authenticate, sent through
 * the real relay to node-2's inbox. What a compromised node-1, or the relay replaying what it
 * carried, can put in front of node-2. No top-level side effects (`node --test dist/test/`
 * loads this module too).
 */
export interface InboxCoordinator {
  node: RunningNode;
  /** The relay both use, `127.0.0.1:<port>`. */
  relayAddress: string;
  /** A user made on node-2 (node-1's part of create-user is played by the coordinator). */
  userKey: string;
  /** What node-1 puts in its invitations for that user: its word (the user signs nothing). */
  userEvidence: string;
  /** What node-2 logged, across restarts. */
  logs: string[];
  target: PartyId;
  /** A ceremony room on `relay` as node-1 (the coordinator's side). */
  open(relay?: string): Promise<NodeSession>;
  /** Invites node-2 to `session`'s ceremony, naming `relay`; returns the frame as it went to the relay. */
  invite(session: NodeSession, op: Invite['op'], evidence: string, relay: string): Promise<Uint8Array>;
  /** Sends a frame captured by `invite` to node-2's inbox again, byte for byte. */
  replay(frame: Uint8Array): Promise<void>;
  /** Closes node-2 and starts it again on the same data directory and configuration. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** `env` adds to node-2's environment; it may depend on the relay's port (known only once it runs). */
export async function startInboxCoordinator(env: (relayPort: number) => Promise<NodeJS.ProcessEnv> = async () => ({})): Promise<InboxCoordinator> {
  const root = await mkdtemp(join(tmpdir(), 'tandem-inbox-'));
  const [coordinatorId, target] = [asPartyId('node-1'), asPartyId('node-2')];
  const relayKeys = await nodeRelayKeys(root, [coordinatorId, target]);
  const relay = await startRelay({ port: 0, nodes: relayKeys.nodes });
  const relayAddress = `127.0.0.1:${relay.port}`;
  const identities = await Promise.all([coordinatorId, target].map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
  const directory = new Map(identities.map((i) => [i.partyId, i.publicKey]));
  const pool = new RelayPool({ timeoutMs: 3000, signer: relayKeys.signer(coordinatorId) });
  // node-1's part of create-user: store nothing, say "created".
  const network = new PeerNetwork(identities[0]!, directory, [relayAddress], pool, (invite, from, join) => {
    if (invite.op.type === 'create-user') void join().then((s) => s.step(from, 'created', {}), () => undefined);
  }, () => {});
  const logs: string[] = [];
  let node: RunningNode | undefined;
  const close = async () => {
    await node?.close();
    await network.stop();
    await pool.closeAll();
    await relay.close();
    await rm(root, { recursive: true, force: true });
  };
  try {
    const config = configFrom(
      { id: target, port: 0, relay: relayAddress, data_dir: root, peers: identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) })) },
      { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '4000', TANDEM_DEV_KEK_IN_DATA_DIR: '1', ...(await env(relay.port)) },
    );
    await seedPglite(join(root, target, 'db'));
    const start = () => startSignerNode(config, (msg) => logs.push(msg));
    await network.start();
    node = await start();
    const made = await api(node.url, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    if (made.status !== 200) throw new Error(`create-user: ${JSON.stringify(made.body)}`);
    const inbox = await pool.get(relayAddress);
    const sent: Uint8Array[] = [];
    const send = inbox.send.bind(inbox);
    inbox.send = (room, from, to, data) => {
      if (room === INBOX_ROOM) sent.push(data);
      send(room, from, to, data);
    };
    const handle: InboxCoordinator = {
      get node() {
        return node!;
      },
      relayAddress,
      userKey: String(made.body.api_key),
      userEvidence: JSON.stringify({ vouched_user: made.body.user_id }),
      logs,
      target,
      open: (at = relayAddress) => network.open(at),
      async invite(session, op, evidence, at) {
        await network.invite(session, target, op, evidence, at);
        return sent.at(-1)!;
      },
      async replay(frame) {
        inbox.send(INBOX_ROOM, coordinatorId, target, frame);
      },
      async restart() {
        await node!.close();
        node = undefined;
        node = await start();
      },
      close,
    };
    return handle;
  } catch (e) {
    await close();
    throw e;
  }
}

/** A TCP server on port 0 that counts the connections it gets and hangs each up at once. */
export async function countingServer(): Promise<{ address: string; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    count += 1;
    s.destroy();
  });
  const port = await listen(server);
  return { address: `127.0.0.1:${port}`, connections: () => count, close: () => closeServer(server, sockets) };
}

/** A TCP proxy on port 0 to `target` that counts the connections made through it. */
export async function countingProxy(targetPort: number): Promise<{ address: string; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    count += 1;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await listen(server);
  return { address: `127.0.0.1:${port}`, connections: () => count, close: () => closeServer(server, sockets) };
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}
