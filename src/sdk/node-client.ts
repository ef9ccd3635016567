import { checkCredential, type Credential, type RequestKeyType } from './auth.js';
import { checkTimeout, Transport, type ApiCall, type CallOptions, type FailoverOptions, type FetchFn, type RetryMode } from './transport.js';
import {
  KEY_FAMILIES,
  type AuditOptions,
  type AuditPage,
  type AuditVerification,
  type CreateRoomRequest,
  type CreateRoomResult,
  type CreateRuleRequest,
  type CreateUserOptions,
  type CreateUserResult,
  type DeriveRequest,
  type DeriveResult,
  type Health,
  type Identity,
  type KeyFamily,
  type KeygenRequest,
  type KeygenResult,
  type KeyInfo,
  type KeyPolicyBinding,
  type ListUsersOptions,
  type PolicyInfo,
  type PolicyList,
  type PolicyRules,
  type PublicKeyInfo,
  type RuleInfo,
  type SignatureOf,
  type SignBatchRequest,
  type SignBatchResult,
  type SignRequest,
  type UserInfo,
  type UserList,
  type UserPolicyBinding,
  type VerifyAuditOptions,
} from './types.js';

export interface TandemNodeClientOptions {
  /**
   * Base URLs of signer nodes (`http://10.0.0.1:7001`), tried in order: cluster-wide calls
   * move to the next node when one fails to answer (see transport.ts for exactly when);
   * per-node calls (admin policy API, audit, users, keys, identity, health) go to the first
   * only: use forNode() / eachNode() to reach the others.
   */
  nodes: string[];
  credential: Credential;
  /** Per node tried, for the whole answer. Default 60000 (ECDSA keygen takes seconds). */
  timeoutMs?: number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Round robin, err_types another node may answer differently, keygen's retry rule; default: none of these (see transport.ts). */
  failover?: FailoverOptions;
}

const seg = (s: string) => encodeURIComponent(s);

/**
 * A typed client of the signer node REST API (README "API (seed 000)" and "Policies, the
 * Rule Server and the audit log"). Errors: TandemApiError (a node answered no) or
 * TandemNetworkError (no node answered).
 */
export class TandemNodeClient {
  readonly nodes: readonly string[];
  private readonly options: TandemNodeClientOptions;
  private readonly transport: Transport;

  constructor(options: TandemNodeClientOptions) {
    if (!Array.isArray(options.nodes) || options.nodes.length === 0) throw new TypeError('nodes must list at least one node URL');
    const nodes = options.nodes.map((u) => {
      const url = new URL(u); // throws on a malformed URL
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`node URL ${u} must be http: or https:`);
      if (url.search !== '' || url.hash !== '') throw new TypeError(`node URL ${u} must not have a query or fragment`);
      return url.href.replace(/\/+$/, '');
    });
    checkCredential(options.credential);
    const timeoutMs = options.timeoutMs ?? 60_000;
    checkTimeout(timeoutMs, 'timeoutMs');
    const failover = options.failover ?? {};
    if (failover.retryErrTypes !== undefined && !(Array.isArray(failover.retryErrTypes) && failover.retryErrTypes.every((t) => typeof t === 'string'))) {
      throw new TypeError('failover.retryErrTypes must be a list of err_type strings');
    }
    if (failover.keygen !== undefined && failover.keygen !== 'unsent-only' && failover.keygen !== 'failover') throw new TypeError("failover.keygen must be 'unsent-only' or 'failover'");
    // Called as a plain function: a browser's fetch refuses to run with `this` set to another object.
    const f = options.fetch;
    const fetchFn: FetchFn = f ? (input, init) => f(input, init) : (input, init) => globalThis.fetch(input, init);
    this.nodes = nodes;
    this.options = { ...options, nodes, timeoutMs };
    this.transport = new Transport({ nodes, credential: options.credential, timeoutMs, fetch: fetchFn, failover });
  }

  /** The same client (credential, timeout, fetch, failover rules) talking to one node only: for the per-node endpoints. */
  forNode(node: string): TandemNodeClient {
    return new TandemNodeClient({ ...this.options, nodes: [node] });
  }

  /** One client per node, in order: configure policies on every node (`for (const n of c.eachNode()) await n.createRule(...)`). */
  eachNode(): TandemNodeClient[] {
    return this.nodes.map((n) => this.forNode(n));
  }

  private get<T>(path: string, retry: RetryMode, call: CallOptions | undefined, query?: ApiCall['query']): Promise<T> {
    return this.transport.call<T>({ method: 'GET', path, retry, auth: true, ...(query ? { query } : {}), ...callOptions(call) });
  }

  private post<T>(path: string, body: unknown, retry: RetryMode, call: CallOptions | undefined, check?: ApiCall['check']): Promise<T> {
    return this.transport.call<T>({ method: 'POST', path, body, retry, auth: true, ...(check ? { check } : {}), ...callOptions(call) });
  }

  // ---- users ----

  /** Admin credential. The user exists on every node; api_key is shown once. `publicKey` registers a request-signing key. */
  async createUser(opts: CreateUserOptions = {}, call?: CallOptions): Promise<CreateUserResult> {
    const body = opts.publicKey ? { public_key: { type: opts.publicKey.type, key: opts.publicKey.key } } : {};
    return this.post('/admin/create-user', body, 'unsent-only', call);
  }

  /**
   * Registers (or, signed by the current key, changes) this user's request-signing key on
   * every node: each node is asked itself, so an API key used here goes to no peer. Once it
   * has one, a user signs what spans nodes: its peers take no node's word for it.
   */
  async setRequestKey(publicKey: { type: RequestKeyType; key: string }, call?: CallOptions): Promise<void> {
    for (const n of this.eachNode()) await n.post('/request-key', { public_key: { type: publicKey.type, key: publicKey.key } }, 'unsent-only', call);
  }

  // ---- keys and signatures ----

  /**
   * Distributed key generation. Retried on another node only if the request never reached
   * the first (a retry could make a second key), unless `failover.keygen` is 'failover'.
   * `owner_passkey` (ecdsa) binds the key to its end user's passkey on every node.
   */
  async keygen(family: KeyFamily, req: KeygenRequest, call?: CallOptions): Promise<KeygenResult> {
    const body = pick(req, ['num_parties', 'threshold', 'relay_address', 'room_uuid', 'owner_passkey']);
    return this.post(`/${family_(family)}/keygen`, body, this.options.failover?.keygen ?? 'unsent-only', call);
  }

  /** A room for one keygen or sign in which client parties take part (see DeviceParty, which uses it). */
  async createRoom(req: CreateRoomRequest, call?: CallOptions): Promise<CreateRoomResult> {
    return this.post('/create-room', pick(req, ['num_parties', 'parties', 'ttl_s', 'relay_address']), 'unsent-only', call);
  }

  /** One signature: `{ signature }`, or for ecdsa `{ signature, recovery_id, der }`. A passkey-bound ecdsa key needs `passkey_evidence`. */
  async sign<F extends KeyFamily>(family: F, req: SignRequest, call?: CallOptions): Promise<SignatureOf[F]> {
    if (typeof req.msg !== 'string') throw new TypeError('sign takes one hex message; use signBatch for a list');
    return this.post(`/${family_(family)}/sign`, signBody(req), 'failover', call, (out) => (typeof out.signature === 'string' ? undefined : 'no signature'));
  }

  /** Several messages in one request (at most the node's TANDEM_MAX_BATCH, default 64); signatures in the same order. */
  async signBatch<F extends KeyFamily>(family: F, req: SignBatchRequest, call?: CallOptions): Promise<SignBatchResult<F>> {
    if (!Array.isArray(req.msg) || req.msg.length === 0) throw new TypeError('signBatch takes a non-empty list of hex messages');
    const n = req.msg.length;
    return this.post(`/${family_(family)}/sign`, signBody(req), 'failover', call, (out) =>
      Array.isArray(out.signatures) && out.signatures.length === n ? undefined : `not a list of ${n} signatures`,
    );
  }

  async publicKey(family: KeyFamily, keyId: string, call?: CallOptions): Promise<PublicKeyInfo> {
    return this.get(`/${family_(family)}/public-key/${seg(keyId)}`, 'failover', call);
  }

  /** The public key and chain code of a non-hardened child (`m/0/7`). */
  async derive(family: KeyFamily, req: DeriveRequest, call?: CallOptions): Promise<DeriveResult> {
    return this.post(`/${family_(family)}/derive`, pick(req, ['key_id', 'derivation_path']), 'failover', call);
  }

  // ---- the node itself (public, first node) ----

  async identity(call?: CallOptions): Promise<Identity> {
    return this.transport.call({ method: 'GET', path: '/identity', retry: 'pinned', auth: false, ...callOptions(call) });
  }

  /** Resolves for a ready node (`status: 'ok'`) and a starting one (`'starting'`, HTTP 503) alike. */
  async health(call?: CallOptions): Promise<Health> {
    return this.transport.call({ method: 'GET', path: '/health', retry: 'pinned', auth: false, answerStatuses: [503], ...callOptions(call) });
  }

  // ---- admin policy API (admin credential; first node only: policies are per node) ----

  async createRule(rule: CreateRuleRequest, call?: CallOptions): Promise<{ rule_id: string }> {
    return this.post('/admin/create-rule', rule, 'pinned', call);
  }

  async listRules(call?: CallOptions): Promise<{ rules: RuleInfo[] }> {
    return this.get('/admin/rules', 'pinned', call);
  }

  async getRule(ruleId: string, call?: CallOptions): Promise<RuleInfo> {
    return this.get(`/admin/rules/${seg(ruleId)}`, 'pinned', call);
  }

  /** Refused (rule_in_use) while a policy lists it. */
  async deleteRule(ruleId: string, call?: CallOptions): Promise<{ rule_id: string }> {
    return this.post('/admin/delete-rule', { rule_id: ruleId }, 'pinned', call);
  }

  async createPolicy(name: string, call?: CallOptions): Promise<{ policy_id: string }> {
    return this.post('/admin/create-policy', { name }, 'pinned', call);
  }

  async listPolicies(call?: CallOptions): Promise<PolicyList> {
    return this.get('/admin/policies', 'pinned', call);
  }

  async getPolicy(policyId: string, call?: CallOptions): Promise<PolicyInfo> {
    return this.get(`/admin/policies/${seg(policyId)}`, 'pinned', call);
  }

  /** Refused (policy_in_use_by_users / _by_keys) while bound. */
  async deletePolicy(policyId: string, call?: CallOptions): Promise<{ policy_id: string }> {
    return this.post('/admin/delete-policy', { policy_id: policyId }, 'pinned', call);
  }

  /** Appends the rule; the answer lists the policy's rules in evaluation order. */
  async addRuleToPolicy(policyId: string, ruleId: string, call?: CallOptions): Promise<PolicyRules> {
    return this.post('/admin/add-rule-to-policy', { policy_id: policyId, rule_id: ruleId }, 'pinned', call);
  }

  async removeRuleFromPolicy(policyId: string, ruleId: string, call?: CallOptions): Promise<PolicyRules> {
    return this.post('/admin/remove-rule-from-policy', { policy_id: policyId, rule_id: ruleId }, 'pinned', call);
  }

  /** `policyId: null` unbinds. */
  async setUserPolicy(userId: string, policyId: string | null, call?: CallOptions): Promise<UserPolicyBinding> {
    return this.post('/admin/set-user-policy', { user_id: userId, policy_id: policyId }, 'pinned', call);
  }

  /** `policyId: null` unbinds. */
  async setKeyPolicy(keyId: string, policyId: string | null, call?: CallOptions): Promise<KeyPolicyBinding> {
    return this.post('/admin/set-key-policy', { key_id: keyId, policy_id: policyId }, 'pinned', call);
  }

  async listUsers(opts: ListUsersOptions = {}, call?: CallOptions): Promise<UserList> {
    return this.get('/admin/users', 'pinned', call, { after: opts.after, limit: opts.limit });
  }

  async getUser(userId: string, call?: CallOptions): Promise<UserInfo> {
    return this.get(`/admin/users/${seg(userId)}`, 'pinned', call);
  }

  /** On this node only; refused while the user owns keys here. */
  async deleteUser(userId: string, call?: CallOptions): Promise<{ user_id: string }> {
    return this.post('/admin/delete-user', { user_id: userId }, 'pinned', call);
  }

  async getKey(keyId: string, call?: CallOptions): Promise<KeyInfo> {
    return this.get(`/admin/keys/${seg(keyId)}`, 'pinned', call);
  }

  async audit(opts: AuditOptions = {}, call?: CallOptions): Promise<AuditPage> {
    return this.get('/admin/audit', 'pinned', call, { after_seq: opts.after_seq, limit: opts.limit });
  }

  /** Checks the node's audit hash chain; pass a previous answer's entries/head as anchor_seq/anchor_hash to detect truncation. */
  async verifyAudit(opts: VerifyAuditOptions = {}, call?: CallOptions): Promise<AuditVerification> {
    return this.get('/admin/audit/verify', 'pinned', call, { anchor_seq: opts.anchor_seq, anchor_hash: opts.anchor_hash });
  }
}

function family_(f: KeyFamily): KeyFamily {
  if (!KEY_FAMILIES.includes(f)) throw new TypeError(`unknown key family ${JSON.stringify(f)}: one of ${KEY_FAMILIES.join(', ')}`);
  return f;
}

/** Only the documented fields: a caller's stray properties (or ones from a wider object) are not sent. */
function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function signBody(req: SignRequest | SignBatchRequest) {
  return pick(req as SignRequest & SignBatchRequest, ['key_id', 'msg', 'extra_data', 'derivation_path', 'relay_address', 'room_uuid', 'passkey_evidence']);
}

/** What a call adds to its request: only what was given. */
function callOptions(call: CallOptions | undefined): Pick<ApiCall, 'signal' | 'timeoutMs'> {
  if (call?.timeoutMs !== undefined) checkTimeout(call.timeoutMs, 'timeoutMs');
  return { ...(call?.signal ? { signal: call.signal } : {}), ...(call?.timeoutMs !== undefined ? { timeoutMs: call.timeoutMs } : {}) };
}
