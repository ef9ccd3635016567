import type { ErrType } from '../core/errors.js';

/**
 * What the SDK throws. Two kinds only, so that callers can tell "the node answered no"
 * (TandemApiError: retrying the same request will not help) from "no node answered"
 * (TandemNetworkError: the request may or may not have been carried out).
 */

/** err_type values: the seed's, or `unexpected_response` when an answer isn't the documented JSON. */
export type TandemErrType = ErrType | 'unexpected_response' | (string & {});

/** A node answered with an error: `{ err_type, err_msg }` and an HTTP status. */
export class TandemApiError extends Error {
  override readonly name = 'TandemApiError';
  /** The HTTP status (400, 401, 404, 500, ...). */
  readonly status: number;
  /** The seed's err_type, e.g. `key_id_not_exists`, `access_denied`, `policy_validation_failed`. */
  readonly errType: TandemErrType;
  /** The node's err_msg. */
  readonly errMsg: string;
  /** The node that answered. */
  readonly node: string;

  constructor(status: number, errType: TandemErrType, errMsg: string, node: string) {
    super(`${errType}: ${errMsg} (HTTP ${status} from ${node})`);
    this.status = status;
    this.errType = errType;
    this.errMsg = errMsg;
    this.node = node;
  }

  /** From an error answer; a body that isn't `{ err_type, err_msg }` (a proxy's page) is `unexpected_response`. */
  static fromBody(status: number, body: unknown, node: string): TandemApiError {
    const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    if (typeof b.err_type === 'string') return new TandemApiError(status, b.err_type, typeof b.err_msg === 'string' ? b.err_msg : '', node);
    return new TandemApiError(status, 'unexpected_response', `HTTP ${status} without a Tandem error body`, node);
  }
}

/**
 * How one node failed to answer:
 * - `connect`: the request was certainly not delivered (connection refused, DNS failure,
 *   a port fetch refuses to use);
 * - `timeout`: no complete answer within the client's timeoutMs (the node may still be
 *   carrying the request out);
 * - `network`: anything else (connection reset, a browser's opaque "Failed to fetch"):
 *   the request may have been delivered;
 * - `server`: the node answered with a failure of its own that another node may not repeat:
 *   an HTTP 5xx, or an error answer whose err_type the client's `failover.retryErrTypes`
 *   lists (e.g. `executor_result`).
 */
export type NodeFailureKind = 'connect' | 'timeout' | 'network' | 'server';

export interface NodeFailure {
  node: string;
  kind: NodeFailureKind;
  message: string;
}

/** No node gave an answer (every node tried failed to answer, or the failure made retrying unsafe). */
export class TandemNetworkError extends Error {
  override readonly name = 'TandemNetworkError';
  /** One entry per node tried, in order. */
  readonly failures: readonly NodeFailure[];

  constructor(message: string, failures: readonly NodeFailure[], options?: { cause?: unknown }) {
    super(message, options);
    this.failures = failures;
  }

  /** True when the last node tried timed out: the operation may have happened anyway. */
  get timedOut(): boolean {
    return this.failures[this.failures.length - 1]?.kind === 'timeout';
  }
}
