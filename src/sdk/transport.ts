import { authorizationHeader, type Credential } from './auth.js';
import { TandemApiError, TandemNetworkError, type NodeFailure, type NodeFailureKind, type TandemErrType } from './errors.js';

/**
 * HTTP to the nodes: one request, tried on the nodes in order, with a retry rule chosen per
 * endpoint by what a second attempt could do.
 *
 * - `failover` (sign, public-key, derive): the next node on any failure to answer (connection
 *   error, timeout) and on 5xx. A sign that timed out on one node may still have completed
 *   there, so a retry can produce a second valid signature of the same message: harmless for
 *   a signature, but it counts twice against the nodes' rate_limit rules and
 *   eth_transaction daily caps.
 * - `unsent-only` (keygen, create-user): the next node only when the request was certainly
 *   not delivered (connection refused, DNS failure). After a timeout, a reset or a 5xx the
 *   node may have created the key or user anyway, and a retry could create a second one, so
 *   the error is thrown instead (TandemNetworkError.timedOut / TandemApiError). In a browser,
 *   fetch hides why it failed, so these calls are never retried there.
 * - `pinned` (admin policy endpoints, audit, users, keys, identity, health): the first node
 *   only. They read or change that node's own state (policies are per node), and answering
 *   from another node would silently configure or report the wrong node.
 *
 * A 4xx answer is not retried (every node would say the same), unless the client's
 * `failover.retryErrTypes` lists its err_type: then a `failover` call moves on as after a 5xx.
 * A call whose `signal` is aborted stops at once: its request in flight is aborted and no
 * other node is tried.
 */
export type RetryMode = 'failover' | 'unsent-only' | 'pinned';

/** How cluster-wide calls move from node to node (TandemNodeClientOptions.failover). */
export interface FailoverOptions {
  /**
   * Start each cluster-wide call (not the per-node ones) at the next node in turn instead of
   * always at the first: spreads the coordinators' work over the nodes. Default false.
   */
  rotate?: boolean;
  /**
   * err_types of an answer that another node may not give, after which a `failover` call
   * moves on as after a 5xx: e.g. `executor_result` (the coordinator's ceremony failed, say
   * with a peer it could not reach) or `unexpected_response` (a proxy's page instead of the
   * node's answer). Default none.
   */
  retryErrTypes?: readonly TandemErrType[];
  /**
   * How keygen moves on: `unsent-only` (the default) or `failover`, which also moves on after
   * a timeout, a reset, a 5xx or a retryErrTypes answer, accepting that a node left behind
   * may have made a key that nobody will use.
   */
  keygen?: 'unsent-only' | 'failover';
}

/** Per call: cancellation and a timeout of its own. */
export interface CallOptions {
  /**
   * Cancels the call: the request in flight is aborted (a node abandons the keygen or sign
   * of a caller that went away), no other node is tried, and the call rejects with
   * `signal.reason` (an AbortError unless the signal was aborted with another reason).
   */
  signal?: AbortSignal;
  /** Per node tried, for the whole answer, instead of the client's timeoutMs. */
  timeoutMs?: number;
}

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface ApiCall {
  method: 'GET' | 'POST';
  /** Starts with /, path segments already encoded. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** POST only; serialised once, and exactly that text is sent and signed. */
  body?: unknown;
  retry: RetryMode;
  /** false for the public endpoints (identity, health): no credential is sent. */
  auth: boolean;
  /** Non-2xx statuses whose body is an answer, not an error (health's 503). */
  answerStatuses?: readonly number[];
  /** Checks a 2xx answer's shape: a message when it is wrong (then `unexpected_response`). */
  check?: (answer: Record<string, unknown>) => string | undefined;
  signal?: AbortSignal;
  /** Instead of TransportOptions.timeoutMs. */
  timeoutMs?: number;
}

export interface TransportOptions {
  nodes: readonly string[];
  credential: Credential;
  timeoutMs: number;
  fetch: FetchFn;
  failover?: FailoverOptions;
}

/** Node's fetch (undici) reports why a connection failed in `cause`; these mean nothing was sent. */
function neverSent(e: unknown): boolean {
  const cause = (e as { cause?: unknown } | null)?.cause;
  const unsent = (c: unknown): boolean => {
    if (typeof c !== 'object' || c === null) return false;
    const { code, syscall, message, errors } = c as { code?: unknown; syscall?: unknown; message?: unknown; errors?: unknown };
    if (Array.isArray(errors) && errors.length > 0) return errors.every(unsent);
    return syscall === 'connect' || syscall === 'getaddrinfo' || code === 'UND_ERR_CONNECT_TIMEOUT' || message === 'bad port';
  };
  return unsent(cause);
}

function isTimeout(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'TimeoutError';
}

function queryString(q: ApiCall['query']): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** Throws a TypeError for a timeout that can't work. */
export function checkTimeout(ms: number, name: string): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) throw new TypeError(`${name} must be a positive number`);
}

export class Transport {
  /** Where the next rotated call starts. */
  private next = 0;

  constructor(private readonly opts: TransportOptions) {}

  /** The nodes a call tries, in order. */
  private order(retry: RetryMode): readonly string[] {
    const nodes = this.opts.nodes;
    if (retry === 'pinned') return nodes.slice(0, 1);
    if (!this.opts.failover?.rotate || nodes.length < 2) return nodes;
    const start = this.next++ % nodes.length;
    return [...nodes.slice(start), ...nodes.slice(0, start)];
  }

  /** Whether the next node is asked after this answer. */
  private movesOn(retry: RetryMode, err: TandemApiError): boolean {
    return retry === 'failover' && (err.status >= 500 || (this.opts.failover?.retryErrTypes ?? []).includes(err.errType));
  }

  async call<T>(c: ApiCall): Promise<T> {
    const path = c.path + queryString(c.query);
    const body = c.method === 'POST' ? JSON.stringify(c.body ?? {}) : '';
    const timeoutMs = c.timeoutMs ?? this.opts.timeoutMs;
    checkTimeout(timeoutMs, 'timeoutMs');
    const nodes = this.order(c.retry);
    const failures: NodeFailure[] = [];
    let lastServerError: TandemApiError | undefined;
    for (const node of nodes) {
      // Nobody waits for the answer any more: no (other) node is asked.
      c.signal?.throwIfAborted();
      let res: Response;
      let text: string;
      try {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (c.method === 'POST') headers['content-type'] = 'application/json';
        // Signed anew for each node: a fresh timestamp and nonce (nodes refuse a nonce seen before).
        if (c.auth) headers.authorization = authorizationHeader(this.opts.credential, { method: c.method, path, body });
        const f = this.opts.fetch;
        res = await f(node + path, {
          method: c.method,
          headers,
          ...(c.method === 'POST' ? { body } : {}),
          redirect: 'error',
          // Aborting closes the connection to the node, which then abandons its ceremony.
          signal: c.signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), c.signal]) : AbortSignal.timeout(timeoutMs),
        });
        text = await res.text();
      } catch (e) {
        c.signal?.throwIfAborted();
        const kind: NodeFailureKind = isTimeout(e) ? 'timeout' : neverSent(e) ? 'connect' : 'network';
        const detail = (e as { cause?: { message?: unknown } }).cause?.message;
        const message = kind === 'timeout' ? `no answer within ${timeoutMs} ms` : `${(e as Error).message}${typeof detail === 'string' ? `: ${detail}` : ''}`;
        failures.push({ node, kind, message });
        if (c.retry === 'unsent-only' && kind !== 'connect') {
          throw new TandemNetworkError(
            `${c.method} ${c.path} failed on ${node} (${message}); not retried on another node, since ${node} may have carried it out`,
            failures,
            { cause: e },
          );
        }
        continue;
      }

      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      let err: TandemApiError;
      if (res.ok || c.answerStatuses?.includes(res.status)) {
        if (typeof json !== 'object' || json === null) {
          err = new TandemApiError(res.status, 'unexpected_response', `${c.method} ${c.path} answered without a JSON object`, node);
        } else {
          const wrong = c.check?.(json as Record<string, unknown>);
          if (wrong === undefined) return json as T;
          err = new TandemApiError(res.status, 'unexpected_response', `${c.method} ${c.path} answered with ${wrong}`, node);
        }
      } else {
        err = TandemApiError.fromBody(res.status, json, node);
      }
      if (!this.movesOn(c.retry, err)) throw err;
      failures.push({ node, kind: 'server', message: err.message });
      lastServerError = err;
    }
    // Every node failed: a node's own 5xx answer says more than a dead neighbour's silence.
    if (lastServerError && failures[failures.length - 1]?.kind === 'server') throw lastServerError;
    throw new TandemNetworkError(
      `${c.method} ${c.path}: no node answered (${failures.map((f) => `${f.node}: ${f.message}`).join('; ')})`,
      failures,
      lastServerError ? { cause: lastServerError } : undefined,
    );
  }
}
