/**
 * Passport lambdas for the gateway. The gateway authenticates the caller, enforces the
 * lambda's `authorization` and `max_executions`, and supplies the scope's fetch allowlist
 * and a `sign` function; this module validates definitions and runs them with no network
 * beyond that allowlist and with time and memory limits on all user code.
 */
export { LambdaError, isLambdaError, type LambdaErrorCode } from './errors.js';
export {
  parseLambdaDefinition,
  DEFINITION_LIMITS,
  OUTPUT_TYPES,
  HTTP_METHODS,
  type LambdaDefinition,
  type LambdaCondition,
  type CodeCondition,
  type FetchCondition,
  type LambdaAction,
  type OutputType,
  type HttpMethod,
  type AuthorizationType,
  type TriggerType,
} from './definition.js';
export {
  executeLambda,
  DEFAULT_LAMBDA_LIMITS,
  MAX_PARAMS,
  MAX_PARAMS_BYTES,
  type ExecuteInput,
  type LambdaLimits,
  type LambdaExecution,
  type ConditionReport,
  type PostHookReport,
} from './executor.js';
export { parseAllowlist, MAX_ALLOWLIST_ENTRIES, type Allowlist } from './allowlist.js';
export { parseAddressRanges } from './addresses.js';
export { shutdownSandbox } from './sandbox.js';
export type { JsonValue } from './json.js';
