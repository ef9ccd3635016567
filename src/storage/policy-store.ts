import type { PolicyRecord, RuleDefinition, RuleRecord } from '../policy/types.js';
import type { KeyFamily } from '../core/families.js';

/** A policy and its rules in order, as the node evaluates it at sign time. */
export interface BoundPolicy {
  policy: PolicyRecord;
  rules: RuleRecord[];
}

/** Who a policy is bound to (GET /admin/policies/{policy_id}). */
export interface PolicyBindings {
  userIds: string[];
  keyIds: string[];
}

export interface UserSummary {
  userId: string;
  createdAt: Date;
  policyId: string | null;
  keyCount: number;
}

export interface KeySummary {
  keyId: string;
  family: KeyFamily;
  ownerUserId: string;
  policyId: string | null;
  createdAt: Date;
}

/**
 * This node's policies: rules, policies (ordered lists of rules), and which policy each
 * user and key is bound to. Rules and policies are per node: no node trusts another's.
 *
 * Every method that refuses throws a TandemError with the seed 000 type the admin API
 * answers with: unique_violation (a name taken, a rule already in the policy),
 * rule_not_found, policy_not_found, rule_not_in_policy, rule_in_use,
 * policy_in_use_by_keys, policy_in_use_by_users, user_id_not_exists, key_id_not_exists.
 */
export interface PolicyStore {
  /** unique_violation when the name is taken. */
  createRule(name: string, definition: RuleDefinition): Promise<RuleRecord>;
  getRule(ruleId: string): Promise<RuleRecord | undefined>;
  /** Ordered by name. */
  listRules(): Promise<RuleRecord[]>;
  /** rule_not_found; rule_in_use while any policy lists it. */
  deleteRule(ruleId: string): Promise<void>;

  /** unique_violation when the name is taken. */
  createPolicy(name: string): Promise<PolicyRecord>;
  getPolicy(policyId: string): Promise<PolicyRecord | undefined>;
  /** Ordered by name. */
  listPolicies(): Promise<PolicyRecord[]>;
  /** policy_not_found. */
  policyBindings(policyId: string): Promise<PolicyBindings>;
  /** policy_not_found; policy_in_use_by_keys, then policy_in_use_by_users, while bound. */
  deletePolicy(policyId: string): Promise<void>;

  /** Appends the rule at the end of the policy's list; policy_not_found, rule_not_found, unique_violation. Returns the new list. */
  addRuleToPolicy(policyId: string, ruleId: string): Promise<string[]>;
  /** policy_not_found, rule_not_found, rule_not_in_policy. Returns the new list. */
  removeRuleFromPolicy(policyId: string, ruleId: string): Promise<string[]>;

  /** null unbinds (idempotent); user_id_not_exists, policy_not_found. */
  setUserPolicy(userId: string, policyId: string | null): Promise<void>;
  /** null unbinds (idempotent); key_id_not_exists, policy_not_found. */
  setKeyPolicy(keyId: string, policyId: string | null): Promise<void>;

  /**
   * What the node evaluates before taking part in an operation: the user's policy, then
   * the key's (when a key is involved and it is a different policy), each with its rules
   * in order. Empty when neither is bound.
   */
  policiesFor(userId: string, keyId: string | null): Promise<BoundPolicy[]>;

  /** Users of this node ordered by id, `limit` after `afterUserId` (keyset paging). */
  listUsers(afterUserId: string | null, limit: number): Promise<UserSummary[]>;
  getUserSummary(userId: string): Promise<UserSummary | undefined>;
  /** The keys a user owns on this node, ordered by id. */
  keysOfUser(userId: string): Promise<KeySummary[]>;
  getKeySummary(keyId: string): Promise<KeySummary | undefined>;
  /**
   * Deletes a user on this node only, with its policy binding. user_id_not_exists;
   * bad_request_params while it owns keys here (shares are never deleted as a side effect).
   * A caching NodeStore in front of the same database must evict the user afterwards.
   */
  deleteUser(userId: string): Promise<void>;
}
