import { randomBytes, randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { hexKekSources, kekSourcesFrom, loadKeyring, type KekSources } from '../crypto/kek-sources.js';
import { checkSealedRecords, resealInBackground } from '../db/kek-startup.js';
import type { Kek } from '../crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN, openSetting, sealedSetting } from './sealed-settings.js';
import { EnvelopeKey } from './envelope.js';
import { parseAddressRanges, shutdownSandbox } from './lambda/index.js';
import type { Gateway, ScopeCreationPolicy } from './gateway.js';
import { createGatewayUser, gatewayPublicKey, registerRequestKey, SignerNodesClient, type GatewayCredential } from './node-client.js';
import { userIdOfApiKey } from '../api/api-keys.js';
import { devScopeConfig, ownerKey } from './scopes.js';
import { buildGatewayApp } from './server.js';
import { parseTrustedProxies } from './client-address.js';
import { DEFAULT_LIMITS, GatewayLimits, limitsFromEnv, type LimitsConfig } from './limits.js';
import { SessionIssuer } from './sessions.js';
import type { GatewayStore } from './storage/gateway-store.js';
import { openGatewayStore } from './storage/sql-gateway-store.js';
import { databaseFrom, type DatabaseConfig } from '../db/open-database.js';
import type { Logger } from '../observability/logger.js';

/**
 * The wallet gateway process. Configuration (environment):
 *   TANDEM_NODES            comma-separated signer node URLs (required)
 *   TANDEM_GATEWAY_HOST     default 127.0.0.1;  TANDEM_GATEWAY_PORT  default 9545
 *   TANDEM_GATEWAY_DATA_DIR default $TANDEM_DATA_DIR/gateway or ./.tandem/gateway
 *   TANDEM_ADMIN_KEY        used once, at first start, to create the gateway's user on the nodes
 *                           (with the gateway's own request-signing key; never stored)
 *   TANDEM_GATEWAY_USER_ID  instead: a user the operator made with the gateway's request key
 *                           (the first start without either says which key)
 *   TANDEM_GATEWAY_KEK, TANDEM_GATEWAY_KEK_FILE or TANDEM_GATEWAY_KEK_COMMAND
 *                           its KEK (64 hex, a file outside the data directory, a command);
 *                           TANDEM_GATEWAY_KEK_PREVIOUS(_FILE, _COMMAND) while rotating;
 *                           TANDEM_DEV_KEK_IN_DATA_DIR=1 (development only) a key file in the data directory
 *   TANDEM_SESSION_TTL_S    session lifetime, default 900
 *   TANDEM_SCOPE_ID         with --dev-scope: the id of the dev scope (RP ID localhost)
 *   TANDEM_DATABASE_URL     PostgreSQL instead of the embedded database; the schema is
 *                           TANDEM_DATABASE_SCHEMA or <TANDEM_DATABASE_SCHEMA_PREFIX|tandem>_gateway.
 *                           Every copy of the gateway on it must share TANDEM_GATEWAY_KEK.
 *   TANDEM_LAMBDA_INTERNAL_ALLOW  comma-separated CIDR ranges (or single addresses) of internal
 *                           addresses lambdas may fetch; default none
 *   TANDEM_OPEN_SCOPES      1: anyone may create a scope; default 0
 *   TANDEM_SCOPE_OWNER_KEYS comma-separated base64 SPKI DER keys that may create scopes
 *   TANDEM_TRUSTED_PROXIES  addresses or CIDR ranges of proxies whose X-Forwarded-For names the client
 *   TANDEM_GATEWAY_*        rates, quotas and concurrency (limits.ts, limitsFromEnv)
 */
export interface GatewayOptions {
  host: string;
  port: number;
  dataDir: string;
  nodes: string[];
  adminKey?: string;
  /** A user the operator made with the gateway's request key (where an admin key can't create one: a pinned admin public key). */
  userId?: string;
  /** Where the KEKs come from (kek-sources.ts); `kekHex` is the short form for one hex KEK. */
  kek?: KekSources;
  kekHex?: string;
  database: DatabaseConfig;
  sessionTtlSeconds: number;
  /** Make sure a localhost scope exists (the dev cluster); its id, or undefined to pick one. */
  devScope?: { scopeId?: string };
  /** JSON logs (default: none). */
  logger?: Logger;
  /** Internal ranges lambdas may fetch (CIDR text); default none. */
  lambdaInternalAllow?: string[];
  /** Who may create scopes; default nobody. */
  scopeCreation?: ScopeCreationPolicy;
  /** Rates, quotas and concurrency; default DEFAULT_LIMITS. */
  limits?: LimitsConfig;
  /** Proxies whose X-Forwarded-For is believed; default none (the socket's address counts). */
  trustedProxies?: string[];
}

export interface RunningGateway {
  url: string;
  /** The port it listens on (the one the system chose when `port` was 0). */
  port: number;
  devScopeId?: string;
  gateway: Gateway;
  close(): Promise<void>;
}

export async function startGateway(o: GatewayOptions): Promise<RunningGateway> {
  const sources = o.kek ?? hexKekSources('TANDEM_GATEWAY_KEK', o.kekHex);
  const dataDirs = [o.dataDir, ...(o.database.kind === 'embedded' ? [o.database.dir] : [])];
  const kek = await loadKeyring(sources, { dataDirs, ...(o.logger ? { warn: (m: string) => o.logger!.warn(m) } : {}) });
  const store = await openGatewayStore(o.database);
  try {
    await checkSealedRecords(store.client, GATEWAY_SETTINGS_COLUMN, kek, 'TANDEM_GATEWAY_KEK');
    const envelope = EnvelopeKey.fromPkcs8(await sealedSetting(store, kek, 'envelope-rsa-pkcs8', () => EnvelopeKey.generate().pkcs8()));
    const sessionSecret = await sealedSetting(store, kek, 'session-hs256-secret', () => randomBytes(32));
    const credential = await nodeCredential(store, kek, o);
    const gateway: Gateway = {
      store,
      envelope,
      sessions: new SessionIssuer(sessionSecret, store, o.sessionTtlSeconds),
      nodes: new SignerNodesClient({ nodes: o.nodes, credential }),
      lambdaLimits: { codeTimeoutMs: 250, fetchTimeoutMs: 2000 },
      lambdaInternalAllow: o.lambdaInternalAllow ?? [],
      scopeCreation: o.scopeCreation ?? { open: false, ownerKeys: [] },
      limits: new GatewayLimits(o.limits ?? DEFAULT_LIMITS),
    };
    const devScopeId = o.devScope ? await ensureDevScope(store, kek, o.devScope.scopeId) : undefined;
    const app = await buildGatewayApp(gateway, {
      ...(devScopeId ? { devScopeId } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
      trustedProxies: o.trustedProxies ?? [],
    });
    await app.listen({ host: o.host, port: o.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    const sweeper = setInterval(() => void store.sweep(new Date()).catch(() => {}), 60_000);
    sweeper.unref();
    // The settings were read above; re-sealing them now changes nothing this copy holds.
    const resealing = resealInBackground(store.client, GATEWAY_SETTINGS_COLUMN, kek, (m) => o.logger?.info(m));
    return {
      url: `http://${o.host}:${port}`,
      port,
      ...(devScopeId ? { devScopeId } : {}),
      gateway,
      async close() {
        clearInterval(sweeper);
        await app.close();
        await resealing;
        await shutdownSandbox();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * Who the gateway is on the signer nodes: its user and its Ed25519 request key. Made at
 * first start with the admin key; a 0.1.0 gateway's API key is used once more, to register
 * the new request key with every node for the same user (it owns the wallets' keys).
 */
async function nodeCredential(store: GatewayStore, kek: Kek, o: GatewayOptions): Promise<GatewayCredential> {
  const requestKey = await sealedSetting(store, kek, 'node-request-key', () => randomBytes(32));
  const userId = await sealedSetting(store, kek, 'node-user-id', async () => {
    const legacy = await openSetting(store, kek, 'node-api-key');
    if (legacy) {
      const apiKey = Buffer.from(legacy).toString('utf8');
      legacy.fill(0);
      const id = userIdOfApiKey(apiKey);
      if (!id) throw new Error("the gateway's stored API key is malformed");
      await registerRequestKey(o.nodes, apiKey, requestKey);
      return Buffer.from(id, 'utf8');
    }
    if (o.userId) return Buffer.from(o.userId, 'utf8');
    if (!o.adminKey) {
      const { key } = gatewayPublicKey(requestKey);
      throw new Error(
        `the gateway has no user on the signer nodes yet: give TANDEM_ADMIN_KEY for its first start, or create a user with its request key (create-user with public_key {"type":"ed25519","key":"${key}"}) and give its id as TANDEM_GATEWAY_USER_ID`,
      );
    }
    return Buffer.from(await createGatewayUser(o.nodes, o.adminKey, requestKey), 'utf8');
  });
  return { userId: Buffer.from(userId).toString('utf8'), requestKey };
}

async function ensureDevScope(store: GatewayStore, kek: Kek, wanted: string | undefined): Promise<string> {
  const remembered = Buffer.from(await sealedSetting(store, kek, 'dev-scope-id', () => Buffer.from(wanted ?? randomUUID()))).toString('utf8');
  const scopeId = wanted ?? remembered;
  if (!(await store.getScope(scopeId))) {
    // Copies starting together on one database race here; the loser finds the winner's scope.
    await store.insertScope({ scopeId, config: devScopeConfig(), ownerPublicKey: null }).catch(async (e: unknown) => {
      if (!(await store.getScope(scopeId))) throw e;
    });
  }
  return scopeId;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv, devScope: boolean): GatewayOptions {
  const nodes = (env.TANDEM_NODES ?? '').split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean);
  if (nodes.length === 0) throw new Error('TANDEM_NODES must list the signer nodes (comma-separated URLs)');
  const ttl = Number(env.TANDEM_SESSION_TTL_S ?? 900);
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86_400) throw new Error('TANDEM_SESSION_TTL_S must be 30..86400 seconds');
  const scopeId = env.TANDEM_SCOPE_ID || undefined;
  if (scopeId !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(scopeId)) throw new Error('TANDEM_SCOPE_ID must be 1-128 of A-Z a-z 0-9 _ -');
  const dataDir = resolve(env.TANDEM_GATEWAY_DATA_DIR ?? join(env.TANDEM_DATA_DIR ?? './.tandem', 'gateway'));
  const internalAllow = (env.TANDEM_LAMBDA_INTERNAL_ALLOW ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  try {
    parseAddressRanges(internalAllow);
  } catch (e) {
    throw new Error(`TANDEM_LAMBDA_INTERNAL_ALLOW: ${(e as Error).message}`);
  }
  const gatewayUserId = env.TANDEM_GATEWAY_USER_ID?.trim() || undefined;
  if (gatewayUserId !== undefined && !/^[0-9a-f]{32}$/.test(gatewayUserId)) throw new Error('TANDEM_GATEWAY_USER_ID must be a user id (32 hex)');
  const open = (env.TANDEM_OPEN_SCOPES ?? '0').trim();
  if (!['0', '1', ''].includes(open)) throw new Error('TANDEM_OPEN_SCOPES must be 0 or 1');
  const ownerKeys = (env.TANDEM_SCOPE_OWNER_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of ownerKeys) {
    try {
      ownerKey(k);
    } catch {
      throw new Error(`TANDEM_SCOPE_OWNER_KEYS: ${JSON.stringify(k.slice(0, 40))} is not a base64 SPKI DER public key`);
    }
  }
  return {
    host: env.TANDEM_GATEWAY_HOST ?? '127.0.0.1',
    port: Number(env.TANDEM_GATEWAY_PORT ?? 9545),
    dataDir,
    database: databaseFrom(env, 'gateway', join(dataDir, 'db')),
    nodes,
    ...(env.TANDEM_ADMIN_KEY ? { adminKey: env.TANDEM_ADMIN_KEY } : {}),
    ...(gatewayUserId ? { userId: gatewayUserId } : {}),
    kek: kekSourcesFrom(env, 'TANDEM_GATEWAY_KEK'),
    sessionTtlSeconds: ttl,
    lambdaInternalAllow: internalAllow,
    scopeCreation: { open: open === '1', ownerKeys },
    limits: limitsFromEnv(env),
    trustedProxies: parseTrustedProxies(env.TANDEM_TRUSTED_PROXIES),
    ...(devScope ? { devScope: scopeId ? { scopeId } : {} } : {}),
  };
}
