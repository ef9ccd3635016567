/**
 * Passport lambdas for the gateway. The gateway authenticates the caller, enforces the
 * lambda's `authorization` and `max_executions`, and supplies the scope's fetch allowlist
 * and a `sign` function; this module validates definitions and runs them with no network
 * beyond that allowlist and with time and memory limits on all user code.
 */
export { LambdaError, isLambdaError, type LambdaErrorCode } from './errors.js';
export { parseLambdaDefinition, type LambdaDefinition } from './definition.js';
export { executeLambda } from './executor.js';
export { parseAllowlist } from './allowlist.js';
export { parseAddressRanges } from './addresses.js';
export { shutdownSandbox } from './sandbox.js';
