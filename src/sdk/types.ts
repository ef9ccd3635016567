import type { Static } from 'typebox';
import type { Operation, RuleDefinition } from '../policy/types.js';
import type {
  AuditListResponse,
  PolicyListResponse,
  PolicyRulesResponse,
  SetKeyPolicyResponse,
  SetUserPolicyResponse,
  UserListResponse,
  UserResponse,
  KeyResponse,
} from '../api/policy-schemas.js';
import type {
  CreateRoomBody,
  CreateRoomResponse,
  CreateUserResponse,
  DeriveBody,
  DeriveResponse,
  HealthResponse,
  IdentityResponse,
  KeygenBody,
  PublicKeyResponse,
} from '../api/schemas.js';

/**
 * The request and answer types of the signer node API. Where the node has a TypeBox schema
 * the type is derived from it (type-only imports: nothing of the node is bundled), so the SDK
 * stops compiling when the API changes under it. Hex is lower case without 0x.
 */

export { KEY_FAMILIES, type KeyFamily } from '../core/families.js';
import type { KeyFamily } from '../core/families.js';
import type { OwnerPasskey, PasskeyEvidence } from '../wallet/passkey-evidence.js';
export type { OwnerPasskey, PasskeyEvidence };

// ---- users ----

export type CreateUserResult = Static<typeof CreateUserResponse>;

export interface CreateUserOptions {
  /** A request-signing key for the new user (see auth.ts): `key` is hex, Ed25519 32 bytes or P-256 33/65 bytes. */
  publicKey?: { type: 'ed25519' | 'p256'; key: string };
}

// ---- keys and signatures ----

/** `{ num_parties, threshold, relay_address?, room_uuid?, owner_passkey? }`; 2 <= threshold <= num_parties <= the cluster's size. */
export type KeygenRequest = Static<typeof KeygenBody> & {
  /** ecdsa: binds the key to its end user's passkey; every node then signs only with `passkey_evidence` from that passkey. */
  owner_passkey?: OwnerPasskey;
};

/** `public_key`: bip340 32-byte x-only, ed25519 32 bytes, ecdsa 33-byte compressed. */
export interface KeygenResult {
  key_id: string;
  public_key: string;
}

export interface SignRequest {
  key_id: string;
  /** Hex. bip340/ed25519: the bytes to sign (up to 64 KiB); ecdsa: a 32-byte hash. */
  msg: string;
  /** Hex, passed to the nodes' policies (e.g. the unsigned Ethereum transaction behind msg). */
  extra_data?: string;
  /** Non-hardened path such as `m/0/7`: sign with that child key. */
  derivation_path?: string;
  /** host:port of another relay for this operation only; the node must trust it (else bad_request_params). */
  relay_address?: string | null;
  /** A room (createRoom) whose client parties sign too. */
  room_uuid?: string;
  /** ecdsa, for a key made with `owner_passkey`: its passkey's assertion over the end user's request. */
  passkey_evidence?: PasskeyEvidence;
}

/** `{ num_parties, parties: [{ party_id, public_key }], ttl_s?, relay_address? }`. */
export type CreateRoomRequest = Static<typeof CreateRoomBody>;
/** `{ room_uuid, expires_at, relay_address, nodes }`. */
export type CreateRoomResult = Static<typeof CreateRoomResponse>;

export interface SignBatchRequest extends Omit<SignRequest, 'msg'> {
  /** One or more messages, signed in one request; the answer keeps their order. */
  msg: string[];
}

/** bip340 / ed25519: 64-byte signature, hex. */
export interface SchnorrSignature {
  signature: string;
}

/** ecdsa: r | s (64 bytes, low-S), the recovery id (Ethereum v = 27 + recovery_id) and DER. */
export interface EcdsaSignature {
  signature: string;
  recovery_id: number;
  der: string;
}

export interface SignatureOf {
  bip340: SchnorrSignature;
  ed25519: SchnorrSignature;
  ecdsa: EcdsaSignature;
}

export interface SignBatchResult<F extends KeyFamily> {
  signatures: SignatureOf[F][];
}

export type PublicKeyInfo = Static<typeof PublicKeyResponse>;
export type DeriveRequest = Static<typeof DeriveBody>;
export type DeriveResult = Static<typeof DeriveResponse>;

// ---- node ----

export type Identity = Static<typeof IdentityResponse>;
/** `status` is `ok` when the node is ready, `starting` (HTTP 503) otherwise. */
export type Health = Static<typeof HealthResponse>;

// ---- policies ----

export type { Operation } from '../policy/types.js';

/** A rule as create-rule takes it (README "Rule kinds"); unknown fields are refused by the node. */
export type CreateRuleRequest =
  | { name: string; type: 'webhook'; url: string; timeout_ms?: number; public_key?: string | null }
  | { name: string; type: 'derivation_paths'; allowed: string[] }
  | { name: string; type: 'message_length'; min_bytes?: number; max_bytes: number }
  | { name: string; type: 'message_prefix'; prefixes: string[] }
  | { name: string; type: 'rate_limit'; per: 'user' | 'key'; max: number; window_seconds: number }
  | { name: string; type: 'time_window'; start_utc: string; end_utc: string; days?: number[] }
  | { name: string; type: 'operations'; allowed: Operation[] }
  | {
      name: string;
      type: 'eth_transaction';
      chain_ids?: number[] | null;
      recipients?: string[] | null;
      /** Decimal strings (wei). */
      max_value_wei?: string | null;
      max_value_wei_per_day?: string | null;
    };

export type RuleType = CreateRuleRequest['type'];

/** A stored rule's definition: normalised, defaults filled in (the node's own type). */
export type { RuleDefinition };

export interface RuleInfo {
  rule_id: string;
  name: string;
  definition: RuleDefinition;
  /** ISO 8601 UTC. */
  created_at: string;
}

export interface PolicyInfo {
  policy_id: string;
  name: string;
  /** In evaluation order. */
  rule_ids: string[];
  rules: RuleInfo[];
  /** Users and keys bound to it on this node. */
  user_ids: string[];
  key_ids: string[];
  created_at: string;
}

export type PolicyList = Static<typeof PolicyListResponse>;
export type PolicyRules = Static<typeof PolicyRulesResponse>;
export type UserPolicyBinding = Static<typeof SetUserPolicyResponse>;
export type KeyPolicyBinding = Static<typeof SetKeyPolicyResponse>;
export type UserList = Static<typeof UserListResponse>;
export type UserInfo = Static<typeof UserResponse>;
export type KeyInfo = Static<typeof KeyResponse>;

export interface ListUsersOptions {
  /** The previous page's next_after. */
  after?: string;
  /** 1..1000, default 100. */
  limit?: number;
}

// ---- audit ----

type AuditListBody = Static<typeof AuditListResponse>;
export type AuditEntry = Omit<AuditListBody['entries'][number], 'result'> & { result: 'ok' | 'refused' | 'failed' };
export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as after_seq for the next page; null on the last page. */
  next_after_seq: number | null;
}

export interface AuditOptions {
  /** Entries after this seq (default 0: from the first). */
  after_seq?: number;
  /** 1..1000, default 100. */
  limit?: number;
}

export interface VerifyAuditOptions {
  /** Together: a seq and its hash recorded earlier (e.g. a previous verify's entries/head), to detect entries cut off the end. */
  anchor_seq?: number;
  anchor_hash?: string;
}

export type AuditVerification = { ok: true; entries: number; head: string } | { ok: false; first_bad_seq: number; reason: string };
