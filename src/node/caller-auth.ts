import { TandemError } from '../core/errors.js';
import type { UserId } from '../core/ids.js';
import { parseRequestPublicKey, type RequestKeyType } from '../api/request-signature.js';
import type { RequestAuthStore } from '../storage/request-auth-store.js';
import type { NodeStore, UserRecord } from '../storage/store.js';
import { apiKeyMatches, userIdOfApiKey } from '../api/api-keys.js';
import { adminEnvelopeOf, parseEvidence } from './caller-evidence.js';
import { envelopeOf, type SignedRequestVerifier } from './signed-requests.js';

/** TANDEM_REQUIRE_SIGNED_REQUESTS: users whose requests this node takes only signed. */
export type SignedRequirement = { all: true } | { all: false; users: ReadonlySet<string> };

/** `1`/`all`: every user; empty or `0`: nobody; else comma-separated user ids. */
export function signedRequirementFrom(text: string | undefined): SignedRequirement {
  const v = (text ?? '').trim();
  if (v === '' || v === '0') return { all: false, users: new Set() };
  if (v === '1' || v === 'all') return { all: true };
  const users = v.split(',').map((u) => u.trim()).filter(Boolean);
  for (const u of users) if (!/^[0-9a-f]{32}$/.test(u)) throw new Error(`TANDEM_REQUIRE_SIGNED_REQUESTS: ${JSON.stringify(u.slice(0, 40))} is not a user id (32 hex), 1, all or 0`);
  return { all: false, users: new Set(users) };
}

/** `ed25519:<hex>` or `p256:<hex>`, the form TANDEM_ADMIN_PUBLIC_KEY takes. */
export function adminPublicKeyFrom(text: string | undefined): { type: RequestKeyType; publicKey: Uint8Array } | undefined {
  const v = (text ?? '').trim();
  if (v === '') return undefined;
  const [type, hex, ...rest] = v.split(':');
  const key = rest.length === 0 ? parseRequestPublicKey(type, hex?.toLowerCase()) : undefined;
  if (!key) throw new Error('TANDEM_ADMIN_PUBLIC_KEY must be ed25519:<64 hex> or p256:<66 or 130 hex>');
  return key;
}

/**
 * Who may ask this node for what. At the HTTP edge: a user's bearer API key or signed
 * request, the admin's bearer key (this node's own) or signature. In an invitation (a peer
 * coordinates): the evidence of caller-evidence.ts, never a bearer key.
 */
export class CallerAuth {
  constructor(
    private readonly store: NodeStore,
    private readonly requestKeys: RequestAuthStore,
    private readonly signed: SignedRequestVerifier,
    private readonly adminKeyHash: Uint8Array,
    private readonly requirement: SignedRequirement,
  ) {}

  /** `fresh` marks the request's first sight on this node, where a signed request's nonce is spent. */
  async user(credential: string | undefined, fresh = false): Promise<UserRecord> {
    if (!credential) throw new TandemError('access_denied', 'missing API key in the Authorization header');
    const envelope = envelopeOf(credential);
    if (envelope) return this.signed.verify(credential, envelope, fresh);
    const user = await this.#bearerUser(credential);
    if (!user) throw new TandemError('access_denied', 'invalid API key');
    this.#allowUnsigned(user.userId, 'an API key');
    return user;
  }

  async admin(credential: string | undefined, fresh = false): Promise<void> {
    if (!credential) throw new TandemError('access_denied', 'missing API key in the Authorization header');
    const envelope = adminEnvelopeOf(credential);
    if (envelope) return this.signed.verifyAdmin(credential, envelope, fresh);
    if (apiKeyMatches(credential, this.adminKeyHash)) return;
    if (await this.#bearerUser(credential)) throw new TandemError('you_have_to_be_admin', 'this operation needs the admin API key');
    throw new TandemError('access_denied', 'invalid API key');
  }

  /** A participant's check of the user behind an invitation: spends a signed request's nonce here. */
  async invitedUser(evidence: string): Promise<UserRecord> {
    const e = parseEvidence(evidence);
    if (e?.kind === 'user-signed') return this.signed.verify(e.text, e.envelope, true);
    if (e?.kind !== 'user-vouched') throw new TandemError('access_denied', 'the invitation carries no evidence of its caller that this node accepts');
    this.#allowUnsigned(e.userId, "a peer's word");
    const user = await this.store.getUser(e.userId);
    if (!user) throw new TandemError('access_denied', 'the invitation names a user this node does not have');
    // A user who registered a request-signing key signs what spans nodes: a peer's word for
    // them would let one compromised node act as them (the gateway's user is one such).
    if (await this.requestKeys.getKey(user.userId)) {
      throw new TandemError('access_denied', "this user has a request-signing key: this node takes part in its operations only on its signed request, not on a peer's word");
    }
    return user;
  }

  /**
   * A participant's check of an admin operation. With an admin public key pinned, only the
   * admin's own signature will do; without one, the coordinator's word (it checked its own
   * admin credential), which lets a compromised peer create users here but nothing else.
   */
  async invitedAdmin(evidence: string): Promise<{ method: string; path: string; body: string } | undefined> {
    const e = parseEvidence(evidence);
    if (e?.kind === 'admin-signed') {
      await this.signed.verifyAdmin(e.text, e.envelope, true);
      return e.envelope;
    }
    if (e?.kind !== 'admin-vouched') throw new TandemError('access_denied', 'the invitation carries no evidence of the admin that this node accepts');
    if (this.signed.hasAdminKey) throw new TandemError('access_denied', "this node takes admin operations from a peer only with the admin's signature (TANDEM_ADMIN_PUBLIC_KEY is set)");
    return undefined;
  }

  #allowUnsigned(userId: UserId, what: string): void {
    if (this.requirement.all || this.requirement.users.has(userId)) {
      throw new TandemError('access_denied', `this node takes requests of this user only signed (Tandem-Signature), not on ${what}`);
    }
  }

  async #bearerUser(credential: string): Promise<UserRecord | undefined> {
    const userId = userIdOfApiKey(credential);
    if (!userId) return undefined;
    const user = await this.store.getUser(userId);
    return user && apiKeyMatches(credential, user.apiKeyHash) ? user : undefined;
  }
}
