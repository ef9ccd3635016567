/**
 * What the wallet gateway keeps. Everything that must work once (challenges) is consumed
 * atomically by the database, so several gateway copies on one PostgreSQL (a later
 * release) refuse a replay the same way one copy does.
 */
export type ScopeId = string;
export type AccountId = string;

export interface ScopeRecord {
  scopeId: ScopeId;
  /** The scope's configuration as stored (validated JSON). */
  config: ScopeConfig;
  /** Base64 SPKI DER of the key that signs this scope's configuration; null for the dev scope. */
  ownerPublicKey: string | null;
}

export interface ScopeConfig {
  rp: { id: string; name: string; origins: string[] };
  /** Hosts lambdas' fetches may reach (exact names or `*.suffix`). */
  lambda_allowlist: string[];
  /**
   * `signing.passkey_per_request`: passkey accounts made from now on get keys bound to their
   * passkey on the nodes, and sign only with an assertion over each request (no sessions).
   */
  passkey_per_request?: true;
}

/**
 * How an account was made, which decides who may act for it: `passkey` (completeRegistration)
 * only with its passkey or a session from it; `delegated` (delegatedRegistration) with the
 * scope owner's key-signed requests. Fixed at creation.
 */
export type AccountKind = 'passkey' | 'delegated';

export interface AccountRecord {
  accountId: AccountId;
  scopeId: ScopeId;
  kind: AccountKind;
  username: string;
  displayName: string;
  /** WebAuthn user handle (base64url), random per account. */
  userHandle: string;
  /** The threshold ECDSA key on the signer nodes; null while its keygen runs. */
  keyId: string | null;
  /** Compressed secp256k1 public key, hex without 0x. */
  publicKey: string | null;
  address: string | null;
}

export interface CredentialRecord {
  credentialId: string;
  accountId: AccountId;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
}

export type ChallengePurpose = 'registration' | 'authentication';

export interface ChallengeRecord {
  challengeId: string;
  purpose: ChallengePurpose;
  scopeId: ScopeId;
  username: string;
  /** Binding of the client's AES key (see AesKey.binding). */
  keyBinding: string;
  /** The WebAuthn challenge, base64url. */
  challenge: string;
  /** Purpose-specific data, e.g. the new account's display name and user handle. */
  payload: Record<string, unknown>;
  expiresAt: Date;
}

export interface ChallengeBound {
  /** The caller, as the limits count it (clientKey). */
  clientAddress: string;
  perAddress: number;
  total: number;
}

/** reserveAccount: the scope holds its maximum of accounts already. */
export class ScopeFullError extends Error {
  constructor(readonly max: number) {
    super(`this scope holds its maximum of ${max} accounts`);
    this.name = 'ScopeFullError';
  }
}

export interface SessionRecord {
  sessionId: string;
  accountId: AccountId;
  expiresAt: Date;
  revoked: boolean;
}

export interface LambdaRecord {
  lambdaId: string;
  scopeId: ScopeId;
  accountId: AccountId;
  definition: unknown;
  maxExecutions: number;
  executions: number;
  createdAt: Date;
}

export interface GatewayStore {
  getSetting(name: string): Promise<Uint8Array | undefined>;
  /** Keeps an existing value (another copy may have written first) and returns what is stored. */
  putSettingIfAbsent(name: string, value: Uint8Array): Promise<Uint8Array>;

  getScope(scopeId: ScopeId): Promise<ScopeRecord | undefined>;
  insertScope(scope: ScopeRecord): Promise<void>;
  updateScopeConfig(scopeId: ScopeId, config: ScopeConfig): Promise<void>;

  /**
   * False when the username is already taken in that scope (the unique index decides).
   * With `maxPerScope`, throws ScopeFullError when the scope holds that many accounts already
   * (counted under a lock on the scope's row, so concurrent copies can't overshoot).
   */
  reserveAccount(account: AccountRecord, maxPerScope?: number): Promise<boolean>;
  completeAccount(accountId: AccountId, key: { keyId: string; publicKey: string; address: string }): Promise<void>;
  deleteAccount(accountId: AccountId): Promise<void>;
  findAccount(scopeId: ScopeId, username: string): Promise<AccountRecord | undefined>;
  getAccount(accountId: AccountId): Promise<AccountRecord | undefined>;

  insertCredential(cred: CredentialRecord): Promise<void>;
  credentialsOf(accountId: AccountId): Promise<CredentialRecord[]>;
  /** Compare-and-set: false when another request moved the counter first. */
  bumpCounter(credentialId: string, from: number, to: number): Promise<boolean>;

  /**
   * Stores a challenge. With `bound`, only while the caller's address and the gateway as a
   * whole have fewer pending challenges than its limits (expired ones are deleted first
   * when a limit is reached); counted under one lock, so concurrent copies can't overshoot.
   */
  insertChallenge(ch: ChallengeRecord, bound?: ChallengeBound): Promise<'stored' | 'address_full' | 'full'>;
  /** Challenges stored now, expired or not (for tests and operators). */
  countChallenges(): Promise<number>;
  /** Deletes and returns it: a challenge is used at most once, whatever the outcome. */
  consumeChallenge(challengeId: string): Promise<ChallengeRecord | undefined>;

  insertSession(s: SessionRecord): Promise<void>;
  getSession(sessionId: string): Promise<SessionRecord | undefined>;
  revokeSession(sessionId: string): Promise<void>;

  insertLambda(l: LambdaRecord): Promise<void>;
  listLambdas(scopeId: ScopeId, accountId: AccountId): Promise<LambdaRecord[]>;
  getLambda(lambdaId: string): Promise<LambdaRecord | undefined>;
  /** Counts one execution unless the limit is reached; false means refused. */
  claimLambdaExecution(lambdaId: string): Promise<boolean>;

  /** Records a single-use signature; false when it was seen before (a replay). */
  markSignatureUsed(digest: string, expiresAt: Date): Promise<boolean>;

  /** Removes expired challenges, sessions and used-signature records. */
  sweep(now: Date): Promise<void>;
  close(): Promise<void>;
}
