export type { Decision, NodeSigningKey, Operation, OperationContext, PolicyRecord, RuleCounters, RuleDefinition, RuleRecord } from './types.js';
export { OPERATIONS, RULE_LIMITS, RULE_TYPES, RuleDefinitionError, parseRuleDefinition } from './rule-definition.js';
export {
  checkDeclarative,
  evaluateDeclarative,
  evaluateDerivationPaths,
  evaluateEthTransaction,
  evaluateMessageLength,
  evaluateMessagePrefix,
  evaluateOperations,
  evaluateRateLimit,
  evaluateTimeWindow,
  inTimeWindow,
  matchesPathPattern,
  type Checked,
  type Budget,
  type DeclarativeDefinition,
  type DeclarativeEvaluator,
} from './declarative.js';
export { MAX_RULE_RESPONSE_BYTES, askRuleServer, ruleRequestBody, type AskOptions } from './webhook.js';
export { evaluateBatch, evaluatePolicies, evaluatePoliciesBatch, evaluatePolicy, releaseBudgets, type BatchDecision, type EvaluateDeps } from './evaluate.js';
export { generateSigningKey, loadOrCreateSigningKey, signingKeyFromPrivateKey, signingKeyFromSeed } from './node-signing-key.js';
export {
  NODE_ID_HEADER,
  REQUEST_SIGNATURE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  RULE_REQUEST_DOMAIN,
  RULE_RESPONSE_DOMAIN,
  ruleRequestSigningBytes,
  ruleResponseSigningBytes,
  signRuleResponse,
  verifyEd25519,
  verifyNodeSignature,
  verifyRuleResponseSignature,
} from './signatures.js';
export { MemoryRuleCounters } from './memory-counters.js';
