import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadKeyring } from '../crypto/kek-sources.js';
import { checkSealedRecords, resealInBackground } from '../storage/kek-startup.js';
import { nodeSharesColumn } from './sealed-shares.js';
import { RelayPool } from '../relay/pool.js';
import { toHex } from '../shared/hex.js';
import type { PartyId } from '../shared/ids.js';
import { CachedNodeStore } from '../storage/cached-store.js';
import { openNodeStore } from '../storage/open-database.js';
import { AuditLog } from '../storage/audit-log.js';
import { SqlPolicyStore, SqlRuleCounters } from '../storage/sql-policy-store.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import { issueRelayCapability } from './relay-capabilities.js';
import type { NodeStore } from '../storage/store.js';
import { hashApiKey, newAdminKey } from './api-keys.js';
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
import { SignedRequestVerifier } from './signed-requests.js';
import { CallerAuth } from './caller-auth.js';
import { RequestAuthStore } from '../storage/request-auth-store.js';
import { RoomStore } from '../storage/room-store.js';
import { KeyPasskeyStore } from '../storage/key-passkey-store.js';
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
  const dataDirs = [config.dataDir, ...(config.database.kind === 'embedded' ? [config.database.dir] : [])];
  const kek = await loadKeyring(config.kek, { dataDirs, warn: log });
  const sqlStore = await openNodeStore(config.database);
  const shares = nodeSharesColumn(config.id);
  try {
    const census = await checkSealedRecords(sqlStore.client, shares, kek, 'TANDEM_KEK');
    log(`sealing under KEK ${kek.currentId}${kek.ids.length > 1 ? ` (also opening ${kek.ids.slice(1).join(', ')})` : ''}; shares per KEK: ${[...census].map(([id, n]) => `${id} ${n}`).join(', ') || 'none yet'}`);
  } catch (e) {
    await sqlStore.close();
    throw e;
  }
  const store = new CachedNodeStore(sqlStore);
  const policies = new SqlPolicyStore(sqlStore.client);
  const audit = new AuditLog(sqlStore.client);
  // Ed25519, apart from the X25519 channel identity: the Rule Server checks who asks by it, and
  // relays by it who joins as this node and which room clients this node admitted (relay/admission.ts).
  const signingKey = await loadOrCreateSigningKey(config.id, join(config.dataDir, 'signing.key'));
  const gate = new PolicyGate({ nodeId: config.id, policies, counters: new SqlRuleCounters(sqlStore.client), signer: signingKey, audit });
  const adminHash = await adminKeyHash(store, config);
  const pool = new RelayPool({ timeoutMs: 3000, signer: (message) => signingKey.sign(message) });
  const banStore = new SqlBanStore(sqlStore.client);
  const bans = new BanList(banStore, {
    maxPerPeer: config.maxCeremoniesPerPeer,
    onBan: async (b) => {
      await audit.append({ requestId: randomUUID(), actor: b.party, operation: 'ban', keyId: b.keyId, result: 'refused', detail: { party: b.party, reason: b.reason } });
      log(`key ${b.keyId}: ${b.party} is banned from ceremonies with us: ${b.reason}`);
    },
  });

  const requestKeys = new RequestAuthStore(sqlStore.client);
  const callers = new CallerAuth(store, requestKeys, new SignedRequestVerifier(store, requestKeys, config.adminPublicKey), adminHash, config.requireSigned);

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
    authenticateAdmin: (credential, fresh) => callers.admin(credential, fresh),
    authenticateUser: (credential, fresh) => callers.user(credential, fresh),
    authenticateInvitation: (evidence) => callers.invitedUser(evidence),
    authenticateInvitedAdmin: (evidence) => callers.invitedAdmin(evidence),
    authorize: (req) => gate.authorize(req),
    requestKeys,
    policies,
    audit,
    signingPublicKey: signingKey.publicKeyHex,
    relayCapability: (room, party, expiresAt) => issueRelayCapability(signingKey, room, party, expiresAt),
    channelPublicKey: toHex(identity.publicKey),
    rooms: new RoomStore(sqlStore.client),
    keyPasskeys: new KeyPasskeyStore(sqlStore.client),
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
  // Rotation while serving: ceremonies open a share under either KEK meanwhile.
  const resealing = resealInBackground(sqlStore.client, shares, kek, log);
  const server = app;
  return {
    id: config.id,
    url: `http://${config.host}:${port}`,
    async close() {
      await server.close();
      await resealing;
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
