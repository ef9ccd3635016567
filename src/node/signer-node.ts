import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadKek } from '../crypto/share-seal.js';
import { RelayPool } from '../relay/pool.js';
import { TandemError } from '../shared/errors.js';
import { toHex } from '../shared/hex.js';
import type { PartyId } from '../shared/ids.js';
import { CachedNodeStore } from '../storage/cached-store.js';
import { openNodeStore } from '../storage/open-database.js';
import { AuditLog } from '../storage/audit-log.js';
import { SqlPolicyStore, SqlRuleCounters } from '../storage/sql-policy-store.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import type { NodeStore, UserRecord } from '../storage/store.js';
import { apiKeyMatches, hashApiKey, newAdminKey, userIdOfApiKey } from './api-keys.js';
import type { NodeContext, Participant } from './ceremonies/context.js';
import { participateCreateUser } from './ceremonies/create-user.js';
import { DKLS_KEYGEN, participateDklsKeygen } from './ceremonies/dkls-keygen.js';
import { DKLS_SIGN, participateDklsSign } from './ceremonies/dkls-sign.js';
import { FROST_KEYGEN, participateKeygen } from './ceremonies/frost-keygen.js';
import { FROST_SIGN, participateSign } from './ceremonies/frost-sign.js';
import type { NodeConfig } from './config.js';
import { buildApp } from './http/app.js';
import { PeerNetwork, type InviteHandler } from './peer-network.js';
import { PolicyGate } from './policy-gate.js';
import { envelopeOf, SignedRequestVerifier } from './signed-requests.js';
import { RequestAuthStore } from '../storage/request-auth-store.js';
import { RoomStore } from '../storage/room-store.js';
import type { Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { Gauge } from 'prom-client';
import { CREATE_ROOM, participateCreateRoom } from './ceremonies/rooms.js';
import { BanList } from '../ceremony/bans.js';
import { SqlBanStore } from '../storage/ban-store.js';
import { KeygenSlots } from './keygen-slots.js';
import { SqlSeenInvitations } from '../storage/seen-invitations.js';
import { randomUUID } from 'node:crypto';

const ADMIN_HASH_SETTING = 'admin_key_hash';
export const VERSION = '0.1.0';

export interface RunningNode {
  id: PartyId;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts one signer node: its identity, key-encryption key, embedded store, relay link
 * and HTTP API. Returns once the API listens; /health turns 200 when the relay is joined.
 */
export async function startSignerNode(config: NodeConfig, logger: Logger | ((msg: string) => void)): Promise<RunningNode> {
  const structured = typeof logger === 'function' ? undefined : logger;
  const log = structured ? (msg: string) => structured.info(msg) : (logger as (msg: string) => void);
  const metrics = new Metrics('node', { node: config.id });
  const identity = await loadOrCreateIdentity(config.id, join(config.dataDir, 'identity.key'));
  const kek = await loadKek({ env: config.kekHex, keyFile: join(config.dataDir, 'kek.key') });
  const sqlStore = await openNodeStore(config.database);
  const store = new CachedNodeStore(sqlStore);
  const policies = new SqlPolicyStore(sqlStore.client);
  const audit = new AuditLog(sqlStore.client);
  // Ed25519, apart from the X25519 channel identity: the Rule Server checks who asks by it.
  const signingKey = await loadOrCreateSigningKey(config.id, join(config.dataDir, 'signing.key'));
  const gate = new PolicyGate({ nodeId: config.id, policies, counters: new SqlRuleCounters(sqlStore.client), signer: signingKey, audit });
  const adminHash = await adminKeyHash(store, config);
  const pool = new RelayPool({ timeoutMs: 3000 });
  const banStore = new SqlBanStore(sqlStore.client);
  const bans = new BanList(banStore, {
    maxPerPeer: config.maxCeremoniesPerPeer,
    onBan: async (b) => {
      await audit.append({ requestId: randomUUID(), actor: b.party, operation: 'ban', keyId: b.keyId, result: 'refused', detail: { party: b.party, reason: b.reason } });
      log(`key ${b.keyId}: ${b.party} is banned from ceremonies with us: ${b.reason}`);
    },
  });

  const authenticateAdmin = async (credential: string | undefined): Promise<void> => {
    if (!credential) throw new TandemError('access_denied', 'missing API key in the Authorization header');
    if (apiKeyMatches(credential, adminHash)) return;
    if (await findUser(store, credential)) throw new TandemError('you_have_to_be_admin', 'this operation needs the admin API key');
    throw new TandemError('access_denied', 'invalid API key');
  };
  const requestKeys = new RequestAuthStore(sqlStore.client);
  const signedRequests = new SignedRequestVerifier(store, requestKeys);
  const authenticateUser = async (credential: string | undefined, fresh = false): Promise<UserRecord> => {
    if (!credential) throw new TandemError('access_denied', 'missing API key in the Authorization header');
    const envelope = envelopeOf(credential);
    if (envelope) return signedRequests.verify(credential, envelope, fresh);
    const user = await findUser(store, credential);
    if (!user) throw new TandemError('access_denied', 'invalid API key');
    return user;
  };

  let ctx: NodeContext;
  const onInvite: InviteHandler = (invite, from, joinRoom) => {
    const run = participants[invite.op.type];
    if (!run) return log(`invitation ${invite.ceremony} from ${from}: unknown operation ${invite.op.type}`);
    const op = invite.op as { type: string; family?: unknown };
    const family = typeof op.family === 'string' ? op.family : op.type.startsWith('dkls') ? 'ecdsa' : 'none';
    // A participant's outcome is its coordinator's to report; here it only counts and times it.
    metrics
      .ceremony({ operation: op.type, family, role: 'participant' }, () => run(ctx, invite, from, joinRoom))
      .catch((e: Error) => log(`${invite.op.type} ${invite.ceremony}: ${e.message}`));
  };
  const network = new PeerNetwork(identity, config.peers, [config.relay, ...config.fallbackRelays], pool, onInvite, log, {
    trustedRelays: config.trustedRelays,
    ledger: new SqlSeenInvitations(sqlStore.client),
    onDrop: (reason) => metrics.dropped.inc({ reason }),
  });
  const keygens = new KeygenSlots(config.maxKeygens, config.maxKeygensPerUser);
  new Gauge({ name: 'tandem_keygens_running', help: 'Key generations this node runs now (coordinating or taking part)', registers: [metrics.registry], collect() { this.set(keygens.running); } });
  ctx = {
    self: config.id,
    store,
    kek,
    network,
    get defaultRelay() {
      return network.defaultRelay;
    },
    stepTimeoutMs: config.ceremonyTimeoutMs,
    authenticateAdmin,
    authenticateUser,
    authorize: (req) => gate.authorize(req),
    requestKeys,
    policies,
    audit,
    signingPublicKey: signingKey.publicKeyHex,
    channelPublicKey: toHex(identity.publicKey),
    rooms: new RoomStore(sqlStore.client),
    bans,
    banRecords: banStore,
    keygens,
    maxBatch: config.maxBatch,
    log,
  };
  let app: FastifyInstance | undefined;
  try {
    await network.start();
    app = await buildApp(ctx, { version: VERSION, maxBatch: config.maxBatch, metrics, corsOrigins: config.corsOrigins, ...(structured ? { logger: structured } : {}) });
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await network.stop();
    await pool.closeAll();
    await app?.close();
    await store.close();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log(`node ${config.id} listening on http://${config.host}:${port} (identity ${toHex(identity.publicKey)})`);
  const server = app;
  return {
    id: config.id,
    url: `http://${config.host}:${port}`,
    async close() {
      await server.close();
      await network.stop();
      await pool.closeAll();
      await store.close();
    },
  };
}

const participants: Record<string, Participant> = {
  'create-user': participateCreateUser,
  [CREATE_ROOM]: participateCreateRoom,
  [FROST_KEYGEN]: participateKeygen,
  [FROST_SIGN]: participateSign,
  [DKLS_KEYGEN]: participateDklsKeygen,
  [DKLS_SIGN]: participateDklsSign,
};

async function findUser(store: NodeStore, credential: string): Promise<UserRecord | undefined> {
  const userId = userIdOfApiKey(credential);
  if (!userId) return undefined;
  const user = await store.getUser(userId);
  return user && apiKeyMatches(credential, user.apiKeyHash) ? user : undefined;
}

/**
 * TANDEM_ADMIN_KEY wins and is remembered (as a hash); without it the remembered one
 * stays; on a first start without either, a key is generated and shown once.
 */
async function adminKeyHash(store: NodeStore, config: NodeConfig): Promise<Uint8Array> {
  if (config.adminKey) {
    const hash = hashApiKey(config.adminKey);
    await store.setSetting(ADMIN_HASH_SETTING, toHex(hash));
    return hash;
  }
  const stored = await store.getSetting(ADMIN_HASH_SETTING);
  if (stored) return Uint8Array.from(Buffer.from(stored, 'hex'));
  const key = newAdminKey();
  const hash = hashApiKey(key);
  await store.setSetting(ADMIN_HASH_SETTING, toHex(hash));
  // Printed once, on purpose: this is the only place the generated key ever appears.
  process.stdout.write(`\n  Admin API key for ${config.id} (shown once, keep it): ${key}\n\n`);
  return hash;
}
