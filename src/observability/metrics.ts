import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one process (`GET /metrics`): the process's own (CPU, memory, event
 * loop lag) and what it serves. Labels are closed sets (operation names, families, error
 * types, route patterns), never ids or user input, so the series count stays bounded.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly ceremonies: Counter<'operation' | 'family' | 'role' | 'result'>;
  readonly ceremonySeconds: Histogram<'operation' | 'family' | 'role'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  readonly rpcCalls: Counter<'method' | 'result'>;
  /** Peer messages a node did not act on: garbage, floods, stale or replayed invitations. */
  readonly dropped: Counter<'reason'>;
  readonly rpcSeconds: Histogram<'method'>;

  constructor(component: string, labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels({ component, ...labels });
    collectDefaultMetrics({ register: this.registry });
    this.ceremonies = new Counter({
      name: 'tandem_ceremonies_total',
      help: 'Ceremonies this process took part in, by operation, key family, role and result (ok or the error type)',
      labelNames: ['operation', 'family', 'role', 'result'],
      registers: [this.registry],
    });
    this.ceremonySeconds = new Histogram({
      name: 'tandem_ceremony_duration_seconds',
      help: 'Wall time of ceremonies, by operation, key family and role',
      labelNames: ['operation', 'family', 'role'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.httpRequests = new Counter({
      name: 'tandem_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpSeconds = new Histogram({
      name: 'tandem_http_request_duration_seconds',
      help: 'HTTP request latency, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.dropped = new Counter({
      name: 'tandem_peer_messages_dropped_total',
      help: 'Messages from peers (or whoever joined the relay as one) dropped unread or unacted on, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.rpcCalls = new Counter({
      name: 'tandem_rpc_calls_total',
      help: 'Wallet JSON-RPC calls, by method and result (ok or the error kind)',
      labelNames: ['method', 'result'],
      registers: [this.registry],
    });
    this.rpcSeconds = new Histogram({
      name: 'tandem_rpc_duration_seconds',
      help: 'Wallet JSON-RPC latency, by method',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  /** Times `run` as one ceremony; the result label is `ok` or the error's API type. */
  async ceremony<T>(labels: { operation: string; family: string; role: 'coordinator' | 'participant' }, run: () => Promise<T>): Promise<T> {
    const end = this.ceremonySeconds.startTimer(labels);
    try {
      const value = await run();
      this.ceremonies.inc({ ...labels, result: 'ok' });
      return value;
    } catch (e) {
      this.ceremonies.inc({ ...labels, result: errorType(e) });
      throw e;
    } finally {
      end();
    }
  }
}

/** A TandemError's type (err_type), or `internal` for anything else: a closed set of label values. */
function errorType(e: unknown): string {
  const type = (e as { type?: unknown })?.type;
  return typeof type === 'string' && /^[a-z_]{1,40}$/.test(type) ? type : 'internal';
}
