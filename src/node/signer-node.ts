import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadOrCreateIdentity } from '../crypto/identity.js';
import { loadKeyring } from '../crypto/kek-sources.js';
import { checkSealedRecords, resealInBackground } from '../db/kek-startup.js';
import { nodeSharesColumn } from './sealed-shares.js';
import { RelayPool } from '../relay/pool.js';
import { fromHex, toHex } from '../core/hex.js';
import type { PartyId } from '../core/ids.js';
import { CachedNodeStore } from '../storage/cached-store.js';
import { openNodeStore } from '../storage/open-node-store.js';
import type { SqlNodeStore } from '../storage/sql-store.js';
import type { SealedColumn } from '../db/reseal.js';
import type { Keyring } from '../crypto/share-seal.js';
import { AuditLog } from '../storage/audit-log.js';
import { SqlPolicyStore, SqlRuleCounters } from '../storage/sql-policy-store.js';
import { loadOrCreateSigningKey } from '../policy/node-signing-key.js';
import type { NodeSigningKey } from '../policy/types.js';
import { issueRelayCapability } from './relay-capabilities.js';
import type { NodeStore } from '../storage/store.js';
import { hashApiKey, newAdminKey } from '../api/api-keys.js';
import type { NodeContext } from './ceremonies/context.js';
import { isParticipantOperation, participate } from './ceremonies/participants.js';
import { familyOfOperation } from '../ceremony/families.js';
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
  /** The port the API listens on (the one the system chose when the configuration said 0). */
  port: number;
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
  const storage = await openStorage(config, log);
  // Ed25519, apart from the X25519 channel identity: the Rule Server checks who asks by it, and
  // relays by it who joins as this node and which room clients this node admitted (relay/admission.ts).
  const signingKey = await loadOrCreateSigningKey(config.id, join(config.dataDir, 'signing.key'));
  const pool = new RelayPool({ timeoutMs: 3000, signer: (message) => signingKey.sign(message) });
  let ctx: NodeContext | undefined;
  const network = new PeerNetwork(identity, config.peers, [config.relay, ...config.fallbackRelays], pool, participantSide(() => ctx!, metrics, log), log, {
    trustedRelays: config.trustedRelays,
    ledger: new SqlSeenInvitations(storage.sql.client),
    onDrop: (reason) => metrics.dropped.inc({ reason }),
  });
  ctx = await nodeContext(config, storage, network, signingKey, toHex(identity.publicKey), log);
  const keygens = ctx.keygens;
  new Gauge({ name: 'tandem_keygens_running', help: 'Key generations this node runs now (coordinating or taking part)', registers: [metrics.registry], collect() { this.set(keygens.running); } });
  let app: FastifyInstance | undefined;
  try {
    await network.start();
    app = await buildApp(ctx, { version: VERSION, maxBatch: config.maxBatch, metrics, corsOrigins: config.corsOrigins, ...(structured ? { logger: structured } : {}) });
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await network.stop();
    await pool.closeAll();
    await app?.close();
    await storage.store.close();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log(`node ${config.id} listening on http://${config.host}:${port} (identity ${toHex(identity.publicKey)})`);
  // Rotation while serving: ceremonies open a share under either KEK meanwhile.
  const resealing = resealInBackground(storage.sql.client, storage.shares, storage.kek, log);
  const server = app;
  return {
    id: config.id,
    url: `http://${config.host}:${port}`,
    port,
    async close() {
      await server.close();
      await resealing;
      await network.stop();
      await pool.closeAll();
      await storage.store.close();
    },
  };
}

interface NodeStorage {
  kek: Keyring;
  sql: SqlNodeStore;
  /** The same store, with users, keys and settings cached (this process is their only writer). */
  store: CachedNodeStore;
  shares: SealedColumn;
}

/** The KEK ring and the store, whose sealed shares must all open under the ring before the node serves. */
async function openStorage(config: NodeConfig, log: (msg: string) => void): Promise<NodeStorage> {
  const dataDirs = [config.dataDir, ...(config.database.kind === 'embedded' ? [config.database.dir] : [])];
  const kek = await loadKeyring(config.kek, { dataDirs, warn: log });
  const sql = await openNodeStore(config.database);
  const shares = nodeSharesColumn(config.id);
  try {
    const census = await checkSealedRecords(sql.client, shares, kek, 'TANDEM_KEK');
    log(`sealing under KEK ${kek.currentId}${kek.ids.length > 1 ? ` (also opening ${kek.ids.slice(1).join(', ')})` : ''}; shares per KEK: ${[...census].map(([id, n]) => `${id} ${n}`).join(', ') || 'none yet'}`);
  } catch (e) {
    await sql.close();
    throw e;
  }
  return { kek, sql, store: new CachedNodeStore(sql), shares };
}

/** Invitations from the node's peers: each runs its ceremony's participant side, counted and timed; the outcome is its coordinator's to report. */
function participantSide(ctx: () => NodeContext, metrics: Metrics, log: (msg: string) => void): InviteHandler {
  return (invite, from, joinRoom) => {
    const op = invite.op as { type: string; family?: unknown };
    if (!isParticipantOperation(op.type)) return log(`invitation ${invite.ceremony} from ${from}: unknown operation ${op.type}`);
    metrics
      .ceremony({ operation: op.type, family: familyOfOperation(op), role: 'participant' }, () => participate(ctx(), invite, from, joinRoom))
      .catch((e: Error) => log(`${invite.op.type} ${invite.ceremony}: ${e.message}`));
  };
}

/** The node's services over its storage: who is asking, the policy gate, the bans, the slots. */
async function nodeContext(
  config: NodeConfig,
  { kek, sql, store }: NodeStorage,
  network: PeerNetwork,
  signingKey: NodeSigningKey,
  channelPublicKey: string,
  log: (msg: string) => void,
): Promise<NodeContext> {
  const policies = new SqlPolicyStore(sql.client);
  const audit = new AuditLog(sql.client);
  const gate = new PolicyGate({ nodeId: config.id, policies, counters: new SqlRuleCounters(sql.client), signer: signingKey, audit });
  const requestKeys = new RequestAuthStore(sql.client);
  const callers = new CallerAuth(store, requestKeys, new SignedRequestVerifier(store, requestKeys, config.adminPublicKey), await adminKeyHash(store, config), config.requireSigned);
  const banRecords = new SqlBanStore(sql.client);
  const bans = new BanList(banRecords, {
    maxPerPeer: config.maxCeremoniesPerPeer,
    onBan: async (b) => {
      await audit.append({ requestId: randomUUID(), actor: b.party, operation: 'ban', keyId: b.keyId, result: 'refused', detail: { party: b.party, reason: b.reason } });
      log(`key ${b.keyId}: ${b.party} is banned from ceremonies with us: ${b.reason}`);
    },
  });
  return {
    self: config.id,
    store,
    kek,
    network,
    stepTimeoutMs: config.ceremonyTimeoutMs,
    callers,
    authorize: (req) => gate.authorize(req),
    requestKeys,
    policies,
    audit,
    signingPublicKey: signingKey.publicKeyHex,
    relayCapability: (room, party, expiresAt) => issueRelayCapability(signingKey, room, party, expiresAt),
    channelPublicKey,
    rooms: new RoomStore(sql.client),
    keyPasskeys: new KeyPasskeyStore(sql.client),
    bans,
    banRecords,
    keygens: new KeygenSlots(config.maxKeygens, config.maxKeygensPerUser),
    maxBatch: config.maxBatch,
    log,
  };
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
  if (stored) return fromHex(stored);
  const key = newAdminKey();
  const hash = hashApiKey(key);
  await store.setSetting(ADMIN_HASH_SETTING, toHex(hash));
  // Printed once, on purpose: this is the only place the generated key ever appears.
  process.stdout.write(`\n  Admin API key for ${config.id} (shown once, keep it): ${key}\n\n`);
  return hash;
}
