import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { fromHex } from '../core/hex.js';
import { asPartyId, type PartyId } from '../core/ids.js';
import { MAX_BATCH } from '../protocols/frost/messages.js';
import { databaseFrom, type DatabaseConfig } from '../db/open-database.js';
import { trustedRelaysFrom } from './trusted-relays.js';
import { adminPublicKeyFrom, signedRequirementFrom, type SignedRequirement } from './caller-auth.js';
import type { RequestKeyType } from '../api/request-signature.js';
import { kekSourcesFrom, type KekSources } from '../crypto/kek-sources.js';

/** The longest delay setTimeout takes: a longer one fires at once (Node turns it into 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A signer node's configuration, from a JSON file (`--config`) and flags. The peers'
 * identity public keys are what every end-to-end channel is authenticated against, so
 * the file is the cluster's root of trust: distribute it out of band.
 */
const PeerSchema = Type.Object(
  { id: Type.String(), public_key: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) },
  { additionalProperties: false },
);
export const NodeConfigFileSchema = Type.Object(
  {
    id: Type.String(),
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    relay: Type.Optional(Type.String()),
    /** Other relays of the same NATS-backed relay, tried in turn when the current one is lost. */
    fallback_relays: Type.Optional(Type.Array(Type.String(), { maxItems: 16 })),
    data_dir: Type.Optional(Type.String()),
    peers: Type.Optional(Type.Array(PeerSchema)),
    ceremony_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: MAX_TIMER_MS })),
    max_batch: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH })),
  },
  { additionalProperties: false },
);
export type NodeConfigFile = Static<typeof NodeConfigFileSchema>;
const checkFile = Compile(NodeConfigFileSchema);

export interface NodeConfig {
  id: PartyId;
  host: string;
  port: number;
  /** Default relay, `host:port`; also where the node's inbox lives. */
  relay: string;
  /** Relays to move the inbox to, in turn, when the current one is lost (they must share a backplane). */
  fallbackRelays: string[];
  /**
   * TANDEM_TRUSTED_RELAYS: more relays a relay_address or an invitation may name. With
   * `relay` and `fallbackRelays` these are the only relays the node connects to.
   */
  trustedRelays: string[];
  dataDir: string;
  peers: ReadonlyMap<PartyId, Uint8Array>;
  /** Longest a ceremony may take before it is abandoned with a defined error. */
  ceremonyTimeoutMs: number;
  /** Most messages one sign request may carry (batch_too_large beyond). */
  maxBatch: number;
  /** TANDEM_MAX_CEREMONIES_PER_PEER: live DKLs23 signatures at once with one peer on one key (src/ceremony/bans.ts). */
  maxCeremoniesPerPeer: number;
  /** TANDEM_MAX_KEYGENS / TANDEM_MAX_KEYGENS_PER_USER: key generations at once (keygen-slots.ts). */
  maxKeygens: number;
  maxKeygensPerUser: number;
  /** From TANDEM_ADMIN_KEY; undefined means "use the stored one, or generate one". */
  adminKey: string | undefined;
  /** TANDEM_ADMIN_PUBLIC_KEY: the admin's signing key, pinned; with it a peer's word no longer creates users here. */
  adminPublicKey: { type: RequestKeyType; publicKey: Uint8Array } | undefined;
  /** TANDEM_REQUIRE_SIGNED_REQUESTS: users (or all) this node serves only on signed requests. */
  requireSigned: SignedRequirement;
  /** TANDEM_KEK, TANDEM_KEK_FILE or TANDEM_KEK_COMMAND, and the previous KEKs (crypto/kek-sources.ts). */
  kek: KekSources;
  /** Embedded under dataDir, or with TANDEM_DATABASE_URL this node's own schema on PostgreSQL. */
  database: DatabaseConfig;
  /** TANDEM_CORS_ORIGINS: exact origins (comma-separated) whose pages may call the API. */
  corsOrigins: string[];
}

export function configFrom(file: NodeConfigFile, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  if (!checkFile.Check(file)) {
    const first = [...checkFile.Errors(file)][0];
    throw new Error(`bad node configuration: ${first ? `${first.instancePath} ${first.message}` : 'invalid'}`);
  }
  const id = asPartyId(file.id);
  const peers = new Map<PartyId, Uint8Array>();
  for (const p of file.peers ?? []) {
    const pid = asPartyId(p.id);
    if (pid === id) continue;
    if (peers.has(pid)) throw new Error(`peer ${pid} listed twice`);
    peers.set(pid, fromHex(p.public_key, 32));
  }
  const dataDir = resolve(file.data_dir ?? env.TANDEM_DATA_DIR ?? './.tandem', id);
  return {
    id,
    host: file.host ?? '127.0.0.1',
    port: file.port ?? 7001,
    relay: file.relay ?? '127.0.0.1:7000',
    fallbackRelays: file.fallback_relays ?? [],
    trustedRelays: trustedRelaysFrom(env.TANDEM_TRUSTED_RELAYS),
    dataDir,
    peers,
    ceremonyTimeoutMs: file.ceremony_timeout_ms ?? integerFrom(env, 'TANDEM_CEREMONY_TIMEOUT_MS', 15_000, 100, MAX_TIMER_MS),
    maxBatch: file.max_batch ?? integerFrom(env, 'TANDEM_MAX_BATCH', 64, 1, MAX_BATCH),
    maxCeremoniesPerPeer: integerFrom(env, 'TANDEM_MAX_CEREMONIES_PER_PEER', 32, 1),
    maxKeygens: integerFrom(env, 'TANDEM_MAX_KEYGENS', 8, 1),
    maxKeygensPerUser: integerFrom(env, 'TANDEM_MAX_KEYGENS_PER_USER', 4, 1),
    adminKey: env.TANDEM_ADMIN_KEY || undefined,
    adminPublicKey: adminPublicKeyFrom(env.TANDEM_ADMIN_PUBLIC_KEY),
    requireSigned: signedRequirementFrom(env.TANDEM_REQUIRE_SIGNED_REQUESTS),
    kek: kekSourcesFrom(env, 'TANDEM_KEK'),
    database: databaseFrom(env, id, join(dataDir, 'db')),
    corsOrigins: corsOriginsFrom(env.TANDEM_CORS_ORIGINS),
  };
}

export async function readConfigFile(path: string): Promise<NodeConfigFile> {
  return JSON.parse(await readFile(path, 'utf8')) as NodeConfigFile;
}

/**
 * A whole number from `env[name]`, or `fallback` when unset or empty. Anything else (a
 * negative timeout, "15s", Infinity, 0 slots) stops the start: a value taken as something
 * other than what the operator wrote would fail later, and far from its cause.
 */
function integerFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max?: number): number {
  const text = (env[name] ?? '').trim();
  if (text === '') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new Error(`${name} must be an integer ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`);
  }
  return n;
}

function corsOriginsFrom(text: string | undefined): string[] {
  const origins = (text ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of origins) {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new Error(`TANDEM_CORS_ORIGINS: ${o} is not an origin`);
    }
    if (url.origin !== o || !/^https?:$/.test(url.protocol)) throw new Error(`TANDEM_CORS_ORIGINS: ${o} must be an exact origin such as https://app.example.com`);
  }
  return origins;
}
