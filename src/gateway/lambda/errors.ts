/**
 * The one error type of the lambda engine. Its `message` is written for the client: it
 * names the field, condition or limit at fault and never carries host details (resolved
 * addresses, file paths, stack traces), so the gateway may return it as is. `code` lets
 * the gateway map it to its own error space without parsing the text.
 */
export type LambdaErrorCode =
  /** The definition (createLambda) is malformed or over a size limit. */
  | 'invalid_definition'
  /** The execution input (params, allowlist) is malformed or over a size limit. */
  | 'invalid_input'
  /** A condition ran and did not pass (false, wrong type, non-2xx status). */
  | 'condition_not_met'
  /** `actions.check` ran and did not return exactly `true`. */
  | 'check_failed'
  /** Sandboxed code threw, failed to compile or returned something unusable. */
  | 'code_error'
  /** Sandboxed code ran past its deadline. */
  | 'code_timeout'
  /** Sandboxed code hit its memory or stack limit. */
  | 'code_memory'
  /** A request was refused before leaving the host (allowlist, address, URL, headers). */
  | 'fetch_refused'
  /** A request left but failed (network error, redirect, timeout, oversized body). */
  | 'fetch_failed'
  /** A placeholder could not be resolved. */
  | 'substitution_failed'
  /** The whole execution ran past its overall time budget. */
  | 'timeout'
  /** The sandbox could not run the code at all (overloaded or restarting). */
  | 'sandbox_unavailable';

export class LambdaError extends Error {
  override readonly name = 'LambdaError';
  /** Which condition (index into `conditions`) failed, when one did. */
  readonly condition: number | undefined;

  constructor(
    readonly code: LambdaErrorCode,
    message: string,
    condition?: number,
  ) {
    super(message);
    this.condition = condition;
  }

  /** The same error, attributed to a condition: `conditions[2] (code): ...`. */
  inCondition(index: number, type: string): LambdaError {
    return new LambdaError(this.code, `conditions[${index}] (${type}): ${this.message}`, index);
  }
}

export function isLambdaError(e: unknown): e is LambdaError {
  return e instanceof LambdaError;
}
