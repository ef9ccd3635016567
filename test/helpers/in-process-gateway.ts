import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import pino from 'pino';
import { EnvelopeKey } from '../../src/gateway/envelope.js';
import { addressOf } from '../../src/wallet/ethereum.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { GatewayLimits, type LimitsConfig } from '../../src/gateway/limits.js';
import { shutdownSandbox } from '../../src/gateway/lambda/index.js';
import type { EcdsaKey, SignerNodesClient } from '../../src/gateway/node-client.js';
import type { EcdsaSignature } from '../../src/wallet/ethereum.js';
import { devScopeConfig } from '../../src/gateway/scopes.js';
import { buildGatewayApp } from '../../src/gateway/server.js';
import { SessionIssuer } from '../../src/gateway/sessions.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import type { AccountRecord } from '../../src/gateway/storage/gateway-store.js';
import { optionsFromEnv, startGateway, type RunningGateway } from '../../src/gateway/start.js';
import { ADMIN_KEY } from './cluster.js';
import { startInProcessCluster, type InProcessCluster } from './in-process-nodes.js';
import { WireClient } from './passport-wire.js';
import { seedPglite } from './pglite-template.js';

/**
 * Signer nodes as the gateway sees them, without a cluster: keygen hands out a fresh
 * secp256k1 public key and sign a well-formed (not verifiable) signature. What the edge
 * tests look at happens before any signature matters.
 */
export function fakeSignerNodes(): SignerNodesClient {
  const fake = {
    async keygen(): Promise<EcdsaKey> {
      return { keyId: randomUUID(), publicKey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex') };
    },
    async sign(): Promise<EcdsaSignature> {
      return { signature: randomBytes(64).toString('hex'), recoveryId: 0 };
    },
    async readyNodes(): Promise<number> {
      return 3;
    },
  };
  return fake as unknown as SignerNodesClient;
}

/**
 * A gateway's client of the signer nodes whose keygen hands out `key` (a key `nodes` owns on the
 * nodes) instead of making one; signatures still come from the nodes, through `nodes`. For
 * tests that need an account with a key that signs, not another ECDSA key generation (about
 * 6 s of CPU for three nodes). A key bound to a passkey is made for its account: not handed out.
 */
export function handingOutKey(key: EcdsaKey, nodes: SignerNodesClient): SignerNodesClient {
  const client: Pick<SignerNodesClient, 'keygen' | 'sign' | 'readyNodes'> = {
    async keygen(_gone, owner) {
      if (owner) throw new Error('handingOutKey: a key bound to a passkey is made for its account');
      return key;
    },
    sign: (...args) => nodes.sign(...args),
    readyNodes: () => nodes.readyNodes(),
  };
  return client as SignerNodesClient;
}

export interface InProcessGateway {
  url: string;
  gateway: Gateway;
  /** A scope with RP ID localhost (no owner key). */
  scopeId: string;
  /** A registered account with a key, and a client holding a live session for it. */
  account: AccountRecord;
  client: WireClient;
  /** Headers of an authenticated request of `account` (session, user, key, scope). */
  sessionHeaders: Record<string, string>;
  /** The gateway's log lines (JSON), as written. */
  logLines: string[];
  close(): Promise<void>;
}

export interface InProcessGatewayOptions {
  /** Rates, quotas and concurrency (limits.ts); default none at all. */
  limits?: LimitsConfig;
  /** Proxies whose X-Forwarded-For is believed (TANDEM_TRUSTED_PROXIES). */
  trustedProxies?: string[];
  /** Instead of fakeSignerNodes(). */
  nodes?: SignerNodesClient;
}

/** The gateway's HTTP server in this process on port 0, over an embedded database in a temporary directory. */
export async function startInProcessGateway(opts: InProcessGatewayOptions = {}): Promise<InProcessGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-gw-'));
  await seedPglite(join(dir, 'db'));
  const store = await openGatewayStore({ kind: 'embedded', dir: join(dir, 'db') });
  const gateway: Gateway = {
    store,
    envelope: EnvelopeKey.generate(),
    sessions: new SessionIssuer(randomBytes(32), store, 900),
    nodes: opts.nodes ?? fakeSignerNodes(),
    lambdaLimits: { codeTimeoutMs: 250, fetchTimeoutMs: 500 },
    ...(opts.limits ? { limits: new GatewayLimits(opts.limits) } : {}),
  };
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const app = await buildGatewayApp(gateway, { logger, ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}) });
  const close = async () => {
    await app.close();
    await shutdownSandbox();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const scopeId = randomUUID();
    await store.insertScope({ scopeId, config: devScopeConfig(), ownerPublicKey: null });
    const key = await gateway.nodes.keygen();
    const account: AccountRecord = {
      accountId: randomUUID(),
      scopeId,
      kind: 'passkey',
      username: 'fuzz-owner',
      displayName: 'Fuzz Owner',
      userHandle: randomBytes(32).toString('base64url'),
      keyId: null,
      publicKey: null,
      address: null,
    };
    await store.reserveAccount(account);
    const done = { keyId: key.keyId, publicKey: key.publicKey, address: addressOf(key.publicKey) };
    await store.completeAccount(account.accountId, done);
    Object.assign(account, done);
    const client = new WireClient(url, gateway.envelope.publicKeyB64);
    const binding = gateway.envelope.openKey(client.encryptedKey).binding;
    const jwt = await gateway.sessions.issue(account, binding);
    const sessionHeaders = {
      'X-Scope-Id': scopeId,
      'X-Encrypted-Key': client.encryptedKey,
      'X-Encrypted-User': client.encrypt(JSON.stringify({ username: account.username })),
      'X-Encrypted-Session': client.encrypt(jwt),
    };
    return { url, gateway, scopeId, account, client, sessionHeaders, logLines, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export interface InProcessDevLayout {
  /** Three signer nodes and their relay (in-process-nodes.ts). */
  nodes: InProcessCluster;
  /** The nodes' URLs, as the gateway was given them. */
  nodeUrls: string[];
  gateway: RunningGateway;
  /** The wallet gateway, as `http://localhost:<port>` (the dev scope's RP ID is localhost). */
  gatewayUrl: string;
  /** The admin key of every node (the gateway used it at its first start). */
  adminKey: string;
  close(): Promise<void>;
}

/**
 * What `npm start` runs (a relay, three signer nodes, the wallet gateway with a dev scope and open
 * scope creation), in this process and on ports of the system's choosing, for tests of the
 * gateway's behaviour: the nodes as startInProcessCluster makes them, the gateway as its main.ts
 * starts it (optionsFromEnv with --dev-scope) from the environment the launcher
 * (src/cluster/processes.ts) gives it, `env` added. `npm start`'s own processes are
 * test/integration/dev-cluster.test.ts's.
 */
export async function startInProcessDevLayout(env: NodeJS.ProcessEnv = {}): Promise<InProcessDevLayout> {
  // npm start's nodes wait 15 s for a ceremony step (the default), not a test cluster's 6 s: here
  // the three nodes' key generations share this process's one thread.
  const nodes = await startInProcessCluster({ TANDEM_CEREMONY_TIMEOUT_MS: '15000' });
  try {
    const nodeUrls = nodes.cluster.nodes.map((n) => n.url);
    const dataDir = join(nodes.dataDir, 'gateway');
    await seedPglite(join(dataDir, 'db'));
    const options = optionsFromEnv(
      {
        TANDEM_NODES: nodeUrls.join(','),
        TANDEM_GATEWAY_HOST: '127.0.0.1',
        TANDEM_GATEWAY_PORT: '0',
        TANDEM_GATEWAY_DATA_DIR: dataDir,
        TANDEM_GATEWAY_KEK: randomBytes(32).toString('hex'),
        TANDEM_ADMIN_KEY: ADMIN_KEY,
        TANDEM_OPEN_SCOPES: '1',
        ...env,
      },
      true,
    );
    const gateway = await startGateway(options);
    return {
      nodes,
      nodeUrls,
      gateway,
      gatewayUrl: `http://localhost:${gateway.port}`,
      adminKey: ADMIN_KEY,
      async close() {
        await gateway.close();
        await nodes.destroy();
      },
    };
  } catch (e) {
    await nodes.destroy();
    throw e;
  }
}
