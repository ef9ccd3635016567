import type { RuleDefinition } from './rules/index.js';

export type { NodeSigningKey, Operation, OperationContext, RuleCounters } from './context.js';

/**
 * The contract between the policy engine (src/policy/), its storage and the signer node.
 * A node asks its own policy before contributing anything to a ceremony; no node trusts
 * another node's approval.
 */
export interface RuleRecord {
  ruleId: string;
  name: string;
  /** The validated definition (see parseRuleDefinition). */
  definition: RuleDefinition;
  createdAt: Date;
}

export interface PolicyRecord {
  policyId: string;
  name: string;
  ruleIds: string[];
  createdAt: Date;
}

/** What create-rule accepts, minus `name`, normalised: one kind per file under rules/. */
export type { RuleDefinition } from './rules/index.js';

export type Decision = { allowed: true } | { allowed: false; ruleId: string; ruleName: string; reason: string };
