import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * Request ids for Fastify: a caller's `X-Request-Id` is kept when it is a plain token (so a
 * load balancer's id follows the request), otherwise a fresh UUID; the id is echoed in the
 * answer and on every log line of the request.
 */
export const requestIdOptions = {
  requestIdHeader: false as const,
  genReqId: (req: IncomingMessage): string => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
  },
};

/**
 * One access log line and the HTTP metrics per request, and `GET /metrics` (Prometheus text
 * format; no secrets in it, but like /health it belongs on the internal network). Routes are
 * labelled by pattern (`/admin/keys/:key_id`), never by the URL a caller sent.
 */
export function instrumentHttp(app: FastifyInstance, logger: Logger, metrics: Metrics): void {
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = String(reply.statusCode);
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequests.inc({ method: req.method, route, status });
    metrics.httpSeconds.observe({ method: req.method, route }, seconds);
    if (route === '/metrics' || route === '/health' || route === '/live') return; // probes would drown the log
    logger.info({ req_id: req.id, method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/live', { schema: { hide: true } }, async () => ({ status: 'ok' }));
}
