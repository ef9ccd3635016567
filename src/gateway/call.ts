import { createHash, randomUUID } from 'node:crypto';
import type { AesKey } from './envelope.js';
import type { Gateway } from './gateway.js';
import type { LimitKind } from './limits.js';
import type { EcdsaKey } from './node-client.js';
import type { EcdsaSignature } from '../wallet/ethereum.js';
import { displayText, idParam } from './params.js';
import { CHALLENGE_TTL_MS, verifyAssertion } from './passkeys.js';
import { requestChallenge } from '../wallet/intent.js';
import type { OwnerPasskey, PasskeyEvidence } from '../wallet/passkey-evidence.js';
import { RpcError } from '../wallet/rpc.js';
import { verifyOwnerSignature } from './scopes.js';
import { isPrintableText } from '../core/text.js';
import type { AccountRecord, ChallengePurpose, ChallengeRecord, ScopeRecord } from './storage/gateway-store.js';

/** Who the request says it is, from an encrypted user object. */
export interface ClaimedUser {
  username: string;
  displayName: string;
}

/** Who sent a call, as far as the limits and cancellation are concerned. */
export interface Caller {
  /** The client's address as the limits count it (clientKey in client-address.ts). */
  address: string;
  /** Aborted when the client disconnects before its answer: its node requests are cancelled. */
  gone: AbortSignal;
}

/** How long a delegated (developer key) request signature is accepted, and remembered to refuse its replay. */
const KEY_SIGNATURE_WINDOW_MS = 120_000;

/**
 * One JSON-RPC call: its headers (lower-cased by Node), its raw body, and the lazily
 * opened envelope. Handlers ask it for the scope, the client's key, the claimed user and,
 * for authenticated methods, the account proven by a session, a passkey or a developer key.
 */
export class RpcCall {
  #key: AesKey | undefined;
  #scope: ScopeRecord | undefined;
  /** The account account() authenticated, and the passkey assertion if it came with one. */
  #account: AccountRecord | undefined;
  #passkey: PasskeyEvidence | undefined;

  constructor(
    readonly gw: Gateway,
    private readonly headers: Record<string, string | string[] | undefined>,
    readonly rawBody: string,
    readonly params: unknown,
    readonly caller: Caller,
  ) {}

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }

  key(): AesKey {
    return (this.#key ??= this.gw.envelope.openKey(this.header('x-encrypted-key')));
  }

  async scope(): Promise<ScopeRecord> {
    if (this.#scope) return this.#scope;
    const id = this.header('x-scope-id');
    if (!id) throw new RpcError('scope_not_found', 'X-Scope-Id is missing');
    const scope = id.length <= 128 ? await this.gw.store.getScope(id) : undefined;
    if (!scope) throw new RpcError('scope_not_found', 'no scope has this X-Scope-Id');
    return (this.#scope = scope);
  }

  /** The user in an encrypted field (`X-Encrypted-User` or a param's `encrypted_user`). */
  user(encrypted: unknown, what: string): ClaimedUser {
    const u = this.key().decryptJson(encrypted, what) as { username?: unknown; userDisplayName?: unknown } | null;
    if (typeof u !== 'object' || u === null) throw new RpcError('invalid_params', `${what} must name a user`);
    if (typeof u.username !== 'string') throw new RpcError('invalid_params', `${what} needs a username`);
    const username = u.username.normalize('NFC');
    if (username.length === 0 || username.length > 64 || !isPrintableText(username)) {
      throw new RpcError('invalid_params', 'username must be 1-64 characters without control characters');
    }
    const dn = typeof u.userDisplayName === 'string' && u.userDisplayName.length > 0 ? displayText(u.userDisplayName, 'userDisplayName', 64) : username;
    return { username, displayName: dn };
  }

  /**
   * Spends one `kind` (limits.ts) of this caller's address; `forbidden` beyond. Checked
   * before anything else a method does: it costs no database read, so a flood naming
   * unknown scopes or forged credentials is stopped before it costs one.
   */
  takeAddress(kind: LimitKind): void {
    this.gw.limits?.takeAddress(kind, this.caller.address);
  }

  /** Spends one `kind` of the request's scope; `forbidden` beyond. */
  async takeScope(kind: LimitKind): Promise<void> {
    const limits = this.gw.limits;
    if (limits) limits.takeScope(kind, (await this.scope()).scopeId);
  }

  /** A new 2-of-3 key on the signer nodes for an account of this scope, within the key-generation limits. */
  async keygen(owner?: OwnerPasskey): Promise<EcdsaKey> {
    this.takeAddress('keygens');
    await this.takeScope('keygens');
    const leave = this.gw.limits?.enterKeygen((await this.scope()).scopeId);
    try {
      return await this.gw.nodes.keygen(this.caller.gone, owner);
    } finally {
      leave?.();
    }
  }

  /**
   * A signature by the signer nodes. Charged to the scope only here, once the caller is
   * authenticated, so that forged requests can't spend an app's budget; the methods charge
   * the address when they start.
   */
  async sign(keyId: string, hash: Uint8Array, extraData?: Uint8Array): Promise<EcdsaSignature> {
    await this.takeScope('signatures');
    // Its nodes would refuse anyway (the key is bound to the passkey): say why, before asking them.
    if ((await this.scope()).config.passkey_per_request && this.#account?.kind === 'passkey' && !this.#passkey) {
      throw new RpcError('unauthorized', "this scope signs only with the account's passkey over each request (X-Encrypted-WebAuthn-Signature), not with a session");
    }
    return this.gw.nodes.sign(keyId, hash, extraData, this.caller.gone, this.#passkey);
  }

  /**
   * Stores a WebAuthn challenge bound to this scope, `username` and the client's AES key;
   * returns its id. At most so many may be pending per address and in all (limits.ts), so
   * anonymous callers can't grow the table without bound.
   */
  async issueChallenge(purpose: ChallengePurpose, username: string, challenge: string, payload: Record<string, unknown> = {}): Promise<string> {
    const challengeId = randomUUID();
    const limits = this.gw.limits?.config;
    const stored = await this.gw.store.insertChallenge({
      challengeId,
      purpose,
      scopeId: (await this.scope()).scopeId,
      username,
      keyBinding: this.key().binding,
      challenge,
      payload,
      expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS),
    }, limits && { clientAddress: this.caller.address, perAddress: limits.maxPendingChallengesPerAddress, total: limits.maxPendingChallenges });
    if (stored === 'address_full') {
      throw new RpcError('forbidden', `at most ${limits!.maxPendingChallengesPerAddress} challenges may be pending for one address; use one or let it expire (${CHALLENGE_TTL_MS / 1000} s)`);
    }
    if (stored === 'full') throw new RpcError('forbidden', `the gateway holds its maximum of ${limits!.maxPendingChallenges} pending challenges; try again in a minute`);
    return challengeId;
  }

  /** Consumes a challenge and checks it was issued for this purpose, scope, user and key. */
  async takeChallenge(challengeId: unknown, purpose: ChallengePurpose, username: string): Promise<ChallengeRecord> {
    const id = idParam(challengeId, 'challenge_id');
    const scope = await this.scope();
    const ch = await this.gw.store.consumeChallenge(id);
    if (!ch) throw new RpcError('invalid_challenge', 'unknown challenge, or already used');
    if (ch.purpose !== purpose) throw new RpcError('invalid_challenge', `the challenge was issued for ${ch.purpose}, not ${purpose}`);
    if (ch.scopeId !== scope.scopeId) throw new RpcError('invalid_challenge', 'the challenge was issued for another scope');
    if (ch.username !== username) throw new RpcError('invalid_challenge', 'the challenge was issued for another user');
    if (ch.keyBinding !== this.key().binding) throw new RpcError('invalid_challenge', 'the challenge was issued to another encryption key');
    if (ch.expiresAt.getTime() < Date.now()) throw new RpcError('invalid_challenge', 'the challenge has expired');
    return ch;
  }

  /** The account an authenticated method acts for. */
  async account(): Promise<AccountRecord> {
    const session = this.header('x-encrypted-session');
    const passkey = this.header('x-encrypted-webauthn-signature');
    const keySig = this.header('x-encrypted-key-signature');
    if (!session && !passkey && !keySig) {
      throw new RpcError('unauthorized', 'this method needs X-Encrypted-Session, X-Encrypted-WebAuthn-Signature or X-Encrypted-Key-Signature');
    }
    const scope = await this.scope();
    const claimed = this.user(this.header('x-encrypted-user'), 'X-Encrypted-User');
    let account: AccountRecord | undefined;
    if (session) {
      const jwt = this.key().decrypt(session, 'X-Encrypted-Session');
      const claims = await this.gw.sessions.verify(jwt, { scopeId: scope.scopeId, username: claimed.username, keyBinding: this.key().binding });
      account = await this.gw.store.getAccount(claims.sub);
    } else if (passkey) {
      account = await this.passkeyAccount(scope, claimed, passkey);
    } else {
      account = await this.delegatedAccount(scope, claimed, keySig!);
    }
    if (!account || account.scopeId !== scope.scopeId || account.username !== claimed.username) {
      throw new RpcError('unauthorized', 'the credentials do not match the user');
    }
    if (!account.keyId || !account.publicKey || !account.address) throw new RpcError('unauthorized', 'the account has no key yet');
    this.#account = account;
    return account;
  }

  /**
   * The direct passkey flow: `{ challenge_id, assertion }`, where the challenge comes from
   * `initiateAuthentication` and the assertion signs
   * base64url(SHA-256("tandem/passkey-request/v1" | challenge bytes | SHA-256(raw body))),
   * so the one request it was made for is the only one it authorises, once.
   */
  private async passkeyAccount(scope: ScopeRecord, claimed: ClaimedUser, header: string): Promise<AccountRecord | undefined> {
    const v = this.key().decryptJson(header, 'X-Encrypted-WebAuthn-Signature') as { challenge_id?: unknown; assertion?: unknown } | null;
    if (typeof v !== 'object' || v === null) throw new RpcError('invalid_params', 'X-Encrypted-WebAuthn-Signature must carry { challenge_id, assertion }');
    const ch = await this.takeChallenge(v.challenge_id, 'authentication', claimed.username);
    const account = await this.gw.store.findAccount(scope.scopeId, claimed.username);
    if (!account) throw new RpcError('user_not_found', 'user not found');
    const creds = await this.gw.store.credentialsOf(account.accountId);
    const { cred, newCounter } = await verifyAssertion(scope.config, v.assertion, requestChallenge(ch.challenge, this.rawBody), creds);
    // The nodes check it too, for a key bound to this passkey: the user's intent, not ours.
    this.#passkey = { request_body: this.rawBody, challenge: ch.challenge, assertion: v.assertion };
    if (!(await this.gw.store.bumpCounter(cred.credentialId, cred.counter, newCounter))) {
      throw new RpcError('unauthorized', 'the passkey was used concurrently; try again');
    }
    return account;
  }

  /**
   * Developer-owned accounts (`delegatedRegistration`) only: the app's scope key signs the
   * `X-Encrypted-User` value (`@0xpass/key-signer`). The signed user must carry a
   * `timestamp` (ms) within two minutes, and each signature works once.
   */
  private async delegatedAccount(scope: ScopeRecord, claimed: ClaimedUser, header: string): Promise<AccountRecord | undefined> {
    const encUser = this.header('x-encrypted-user')!;
    checkKeySignature(scope, this.key().decryptJson(header, 'X-Encrypted-Key-Signature'), encUser);
    const ts = (this.key().decryptJson(encUser, 'X-Encrypted-User') as { timestamp?: unknown }).timestamp;
    if (typeof ts !== 'number' || Math.abs(Date.now() - ts) > KEY_SIGNATURE_WINDOW_MS) {
      throw new RpcError('unauthorized', 'a key-signed request needs a user object with a current "timestamp" (ms)');
    }
    const digest = createHash('sha256').update(encUser).digest('base64url');
    if (!(await this.gw.store.markSignatureUsed(digest, new Date(Date.now() + 2 * KEY_SIGNATURE_WINDOW_MS)))) {
      throw new RpcError('unauthorized', 'this key-signed request was already used');
    }
    const account = await this.gw.store.findAccount(scope.scopeId, claimed.username);
    // The owner's key vouches only for accounts it made. Credentials are checked as well as
    // the kind: a row classified while an older gateway copy was still attaching its passkey
    // must not become reachable by key.
    if (account && (account.kind !== 'delegated' || (await this.gw.store.credentialsOf(account.accountId)).length > 0)) {
      throw new RpcError('unauthorized', "this account has a passkey: only its passkey acts for it, not the scope owner's key");
    }
    return account;
  }
}

/** A `@0xpass/key-signer` signature `{ id, clientData, signature }` by the scope's owner key over `data`. */
export function checkKeySignature(scope: ScopeRecord, sig: unknown, data: string): void {
  if (!scope.ownerPublicKey) throw new RpcError('forbidden', 'this scope has no owner key, so it has no developer-owned accounts');
  const s = sig as { id?: unknown; clientData?: unknown; signature?: unknown } | null;
  if (typeof s !== 'object' || s === null) throw new RpcError('invalid_params', 'the key signature must be an object');
  if (s.id !== scope.ownerPublicKey) throw new RpcError('unauthorized', "the key signature is not by the scope's owner key");
  if (s.clientData !== data || !verifyOwnerSignature(scope.ownerPublicKey, data, s.signature)) {
    throw new RpcError('unauthorized', 'the key signature does not verify');
  }
}
