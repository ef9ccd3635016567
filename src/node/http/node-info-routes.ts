import type { FastifyReply, FastifyRequest } from 'fastify';
import { STORAGE_PROBE_TIMEOUT_MS, withTimeout } from '../../core/timeout.js';
import { HealthResponse, IdentityResponse } from '../../api/schemas.js';
import type { NodeContext } from '../ceremonies/context.js';
import type { NodeServer } from './server.js';

/** Health, readiness, the OpenAPI document and the node's public identity. */
export function registerNodeInfoRoutes(app: NodeServer, ctx: NodeContext): void {
  // Readiness: the relay joined and the database answering (a real query, bounded in time).
  const readiness = async (_req: FastifyRequest, reply: FastifyReply) => {
    const relayConnected = ctx.network.connected;
    const storageOk = await storageAnswers(ctx);
    const status = !storageOk ? 'storage_unavailable' : relayConnected ? 'ok' : 'starting';
    return reply.status(status === 'ok' ? 200 : 503).send({ status, node_id: ctx.self, relay_connected: relayConnected, storage_ok: storageOk });
  };
  app.get('/health', { schema: { hide: true, response: { 200: HealthResponse, 503: HealthResponse } } }, readiness);
  app.get('/ready', { schema: { hide: true, response: { 200: HealthResponse, 503: HealthResponse } } }, readiness);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Public: a Rule Server verifies this node's requests with this key (see the README's webhook format).
  app.get(
    '/identity',
    { schema: { summary: "This node's id, the Ed25519 key that signs its Rule Server requests and relay joins, and its channel key", response: { 200: IdentityResponse } } },
    async () => ({ node_id: ctx.self, signing_public_key: ctx.signingPublicKey, channel_public_key: ctx.channelPublicKey }),
  );
}

/** A real query against the node's database, given at most STORAGE_PROBE_TIMEOUT_MS. */
function storageAnswers(ctx: NodeContext): Promise<boolean> {
  return withTimeout(ctx.store.getSetting('health-probe'), STORAGE_PROBE_TIMEOUT_MS).then(() => true, () => false);
}
