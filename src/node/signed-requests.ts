import { createHash } from 'node:crypto';
import { parseDerivationPath } from '../protocols/derivation/path.js';
import { ProtocolError } from '../protocols/errors.js';
import { TandemError } from '../core/errors.js';
import type { PartyId, UserId } from '../core/ids.js';
import {
  MAX_REQUEST_SKEW_MS,
  parseAdminSignatureHeader,
  parseSignatureHeader,
  verifyRequestSignature,
  type RequestKeyType,
  type SignatureHeader,
} from '../api/request-signature.js';
import type { RequestAuthStore } from '../storage/request-auth-store.js';
import { canonical } from '../wallet/passkey-evidence.js';
import { OP, type KeyOperation } from '../ceremony/operations.js';
import { familyOfOperation } from '../ceremony/families.js';
import type { NodeStore, UserRecord } from '../storage/store.js';

/**
 * A signed request travels between nodes as itself (method, path, exact body, the
 * Authorization header), in place of a bearer API key: every node verifies the user's
 * signature on its own, refuses a stale or replayed one, and a signer checks that the
 * ceremony it is invited to is the one the request asked for, so a compromised
 * coordinator can't turn a captured request into another operation.
 */
export interface SignedEnvelope {
  method: string;
  path: string;
  body: string;
  authorization: string;
}

export function encodeEnvelope(e: SignedEnvelope): string {
  return JSON.stringify({ signed_request: e });
}

export function envelopeOf(credential: string | undefined): SignedEnvelope | undefined {
  return envelopeUnder(credential, 'signed_request');
}

/** The envelope under `field` of a credential that is `{"<field>": envelope}`, else undefined. */
export function envelopeUnder(text: string | undefined, field: string): SignedEnvelope | undefined {
  if (!text?.startsWith(`{"${field}":`)) return undefined;
  let e: unknown;
  try {
    e = (JSON.parse(text) as Record<string, unknown>)[field];
  } catch {
    return undefined; // not an envelope
  }
  if (typeof e !== 'object' || e === null) return undefined;
  const { method, path, body, authorization } = e as Record<string, unknown>;
  if (typeof method === 'string' && typeof path === 'string' && typeof body === 'string' && typeof authorization === 'string') return { method, path, body, authorization };
  return undefined;
}

export class SignedRequestVerifier {
  // One request is checked several times in this process (HTTP hook, then the ceremony):
  // its nonce is recorded once, and a copy of it arriving later is still a replay.
  readonly #accepted = new Map<string, { userId: UserId | 'admin'; expires: number }>();

  constructor(
    private readonly store: NodeStore,
    private readonly keys: RequestAuthStore,
    /** TANDEM_ADMIN_PUBLIC_KEY: without it, no admin signature verifies on this node. */
    private readonly adminKey?: { type: RequestKeyType; publicKey: Uint8Array },
  ) {}

  get hasAdminKey(): boolean {
    return this.adminKey !== undefined;
  }

  async verify(credential: string, e: SignedEnvelope, firstSight: boolean): Promise<UserRecord> {
    const seen = this.#seen(credential, firstSight);
    if (seen && seen !== 'admin') {
      const user = await this.store.getUser(seen);
      if (user) return user;
    }
    const h = parseSignatureHeader(e.authorization);
    if (!h) throw new TandemError('access_denied', 'malformed Tandem-Signature authorization');
    const user = await this.store.getUser(h.user as UserId);
    const key = user && (await this.keys.getKey(h.user));
    if (!user || !key || !verifyRequestSignature(key, h, e)) throw new TandemError('access_denied', 'the request signature does not verify');
    await this.#spend(credential, h, user.userId);
    return user;
  }

  /** An admin-signed request, against the pinned admin public key; nonces are spent under the name `admin`. */
  async verifyAdmin(credential: string, e: SignedEnvelope, firstSight: boolean): Promise<void> {
    if (this.#seen(credential, firstSight) === 'admin') return;
    if (!this.adminKey) throw new TandemError('access_denied', 'this node has no admin public key (TANDEM_ADMIN_PUBLIC_KEY) to verify an admin signature with');
    const h = parseAdminSignatureHeader(e.authorization);
    if (!h) throw new TandemError('access_denied', 'malformed Tandem-Admin-Signature authorization');
    if (!verifyRequestSignature(this.adminKey, h, e)) throw new TandemError('access_denied', 'the admin signature does not verify');
    await this.#spend(credential, h, 'admin');
  }

  #seen(credential: string, firstSight: boolean): UserId | 'admin' | undefined {
    const seen = this.#accepted.get(digestOf(credential));
    return seen && seen.expires > Date.now() && !firstSight ? seen.userId : undefined;
  }

  async #spend(credential: string, h: SignatureHeader, who: UserId | 'admin'): Promise<void> {
    const now = Date.now();
    if (Math.abs(now - h.ts) > MAX_REQUEST_SKEW_MS) throw new TandemError('access_denied', 'the signed request is stale (more than 60 s from this node\'s clock)');
    if (!(await this.keys.useNonce(who, h.nonce, new Date(h.ts + 2 * MAX_REQUEST_SKEW_MS)))) {
      throw new TandemError('access_denied', 'this signed request was already used (replayed nonce)');
    }
    for (const [k, v] of this.#accepted) if (v.expires <= now) this.#accepted.delete(k);
    this.#accepted.set(digestOf(credential), { userId: who, expires: now + 2 * MAX_REQUEST_SKEW_MS });
  }
}

function digestOf(credential: string): string {
  return createHash('sha256').update(credential).digest('hex');
}

/** What a ceremony invitation claims; checked against the signed request it carries. */
export type InvitedOperation =
  | { kind: 'keygen'; family: string; n: number; t: number; room?: string; ownerPasskey?: string }
  | { kind: 'sign'; family: string; keyId: string; msgs: string[]; path: number[]; extraData: string; room?: string; passkeyEvidence?: string }
  | { kind: 'create-room'; numParties: number; parties: Array<{ party_id: string; public_key: string }> };

/**
 * A typed key operation (src/ceremony/operations.ts) as checkInvitationMatches compares it:
 * `path` already parsed, and the canonical JSON of its passkey fields (parsed by the node).
 */
export function invitedOperationOf(op: KeyOperation, path: number[], passkey: { ownerPasskey?: string; passkeyEvidence?: string } = {}): InvitedOperation {
  const family = familyOfOperation(op);
  if (op.type === OP.frostKeygen || op.type === OP.dklsKeygen) {
    return { kind: 'keygen', family, n: op.n, t: op.t, room: op.room_uuid, ...(passkey.ownerPasskey !== undefined ? { ownerPasskey: passkey.ownerPasskey } : {}) };
  }
  return {
    kind: 'sign',
    family,
    keyId: op.key_id,
    msgs: op.msgs,
    path,
    extraData: op.extra_data ?? '',
    room: op.room_uuid,
    ...(passkey.passkeyEvidence !== undefined ? { passkeyEvidence: passkey.passkeyEvidence } : {}),
  };
}

/** Throws a ProtocolError naming the coordinator when its invitation is not what the user signed. */
export function checkInvitationMatches(credential: string, op: InvitedOperation, coordinator: PartyId): void {
  const e = envelopeOf(credential);
  if (!e) return; // a coordinator's word binds nothing: that is what signed requests are for
  const mismatch = (what: string) => new ProtocolError(`invitation does not match the signed request (${what})`, coordinator);
  const path = op.kind === 'create-room' ? '/create-room' : `/${op.family}/${op.kind}`;
  if (e.method !== 'POST' || e.path.split('?')[0] !== path) throw mismatch('operation');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(e.body) as Record<string, unknown>;
  } catch {
    throw mismatch('body');
  }
  if (op.kind === 'create-room') {
    const parties = Array.isArray(body.parties) ? (body.parties as Array<Record<string, unknown>>) : [];
    const same =
      parties.length === op.parties.length &&
      parties.every((p, i) => p?.party_id === op.parties[i]!.party_id && String(p?.public_key).toLowerCase() === op.parties[i]!.public_key.toLowerCase());
    if (body.num_parties !== op.numParties || !same) throw mismatch('num_parties/parties');
    return;
  }
  if ((body.room_uuid ?? undefined) !== op.room) throw mismatch('room_uuid');
  if (op.kind === 'keygen') {
    if (body.num_parties !== op.n || body.threshold !== op.t) throw mismatch('num_parties/threshold');
    if (op.ownerPasskey !== undefined && canonical(body.owner_passkey ?? null) !== op.ownerPasskey) throw mismatch('owner_passkey');
    return;
  }
  if (body.key_id !== op.keyId) throw mismatch('key_id');
  const signed = (Array.isArray(body.msg) ? body.msg : [body.msg]).map((m) => String(m).toLowerCase());
  const asked = op.msgs.map((m) => m.toLowerCase());
  // The whole request is one ceremony: exactly its messages, in order (so its batch size too).
  if (asked.length === 0 || asked.length !== signed.length || asked.some((m, k) => signed[k] !== m)) throw mismatch('messages');
  let signedPath: number[];
  try {
    signedPath = parseDerivationPath(typeof body.derivation_path === 'string' ? body.derivation_path : 'm');
  } catch {
    throw mismatch('derivation_path');
  }
  if (signedPath.length !== op.path.length || signedPath.some((v, i) => v !== op.path[i])) throw mismatch('derivation_path');
  if (String(body.extra_data ?? '').toLowerCase() !== op.extraData.toLowerCase()) throw mismatch('extra_data');
  if (op.passkeyEvidence !== undefined && canonical(body.passkey_evidence ?? null) !== op.passkeyEvidence) throw mismatch('passkey_evidence');
}
