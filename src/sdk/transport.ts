import { authorizationHeader, type Credential } from './auth.js';
import { TandemApiError, TandemNetworkError, type NodeFailure, type NodeFailureKind } from './errors.js';

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
 * A 4xx answer is never retried: every node would say the same.
 */
export type RetryMode = 'failover' | 'unsent-only' | 'pinned';

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
}

export interface TransportOptions {
  nodes: readonly string[];
  credential: Credential;
  timeoutMs: number;
  fetch: FetchFn;
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

export class Transport {
  constructor(private readonly opts: TransportOptions) {}

  async call<T>(c: ApiCall): Promise<T> {
    const path = c.path + queryString(c.query);
    const body = c.method === 'POST' ? JSON.stringify(c.body ?? {}) : '';
    const nodes = c.retry === 'pinned' ? this.opts.nodes.slice(0, 1) : this.opts.nodes;
    const failures: NodeFailure[] = [];
    let lastServerError: TandemApiError | undefined;
    for (const node of nodes) {
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
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        text = await res.text();
      } catch (e) {
        const kind: NodeFailureKind = isTimeout(e) ? 'timeout' : neverSent(e) ? 'connect' : 'network';
        const detail = (e as { cause?: { message?: unknown } }).cause?.message;
        const message = kind === 'timeout' ? `no answer within ${this.opts.timeoutMs} ms` : `${(e as Error).message}${typeof detail === 'string' ? `: ${detail}` : ''}`;
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
      if (res.ok || c.answerStatuses?.includes(res.status)) {
        if (typeof json !== 'object' || json === null) {
          throw new TandemApiError(res.status, 'unexpected_response', `${c.method} ${c.path} answered without a JSON object`, node);
        }
        const wrong = c.check?.(json as Record<string, unknown>);
        if (wrong !== undefined) throw new TandemApiError(res.status, 'unexpected_response', `${c.method} ${c.path} answered with ${wrong}`, node);
        return json as T;
      }
      const err = TandemApiError.fromBody(res.status, json, node);
      if (res.status < 500 || c.retry !== 'failover') throw err;
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
