import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import pino from 'pino';
import { EnvelopeKey } from '../../src/gateway/envelope.js';
import { addressOf } from '../../src/gateway/ethereum.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { GatewayLimits, type LimitsConfig } from '../../src/gateway/limits.js';
import { shutdownSandbox } from '../../src/gateway/lambda/index.js';
import type { EcdsaKey, EcdsaSignature, SignerNodesClient } from '../../src/gateway/node-client.js';
import { devScopeConfig } from '../../src/gateway/scopes.js';
import { buildGatewayApp } from '../../src/gateway/server.js';
import { SessionIssuer } from '../../src/gateway/sessions.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import type { AccountRecord } from '../../src/gateway/storage/gateway-store.js';
import { WireClient } from './passport-wire.js';

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
