import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { TandemError } from '../../shared/errors.js';
import { credentialFromHeader } from '../api-keys.js';
import type { NodeContext } from '../ceremonies/context.js';
import { coordinateCreateUser } from '../ceremonies/create-user.js';
import { FROST_SUITES, type FrostFamily } from '../families.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerEcdsaRoutes } from './ecdsa-routes.js';
import { registerFrostRoutes } from './frost-routes.js';
import { CreateUserResponse, ErrorBody, errorResponses, HealthResponse, IdentityResponse } from './schemas.js';

/**
 * The node's REST API (seed 000). Authentication runs in onRequest, before the body is
 * even parsed, so an anonymous caller learns nothing about what a valid body looks like.
 */
export async function buildApp(ctx: NodeContext, opts: { version: string; maxBatch: number }): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 256 * 1024,
    // Strict types: "3" is not a number of parties.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tandem signer node', version: opts.version, description: 'Threshold signing: seed 000 API.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'Authorization' } } },
      security: [{ apiKey: [] }],
    },
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof TandemError) return reply.status(err.status).send(err.toBody());
    if (err.validation) {
      return reply.status(400).send({ err_type: 'bad_request_params', err_msg: `${err.validationContext ?? 'request'}${err.message.replace(/^(body|params|querystring)/, '')}` });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(400).send({ err_type: 'bad_request_params', err_msg: err.message });
    }
    ctx.log(`internal error on ${req.method} ${req.url} (${req.id}): ${err.stack ?? err.message}`);
    return reply.status(500).send({ err_type: 'internal_problem', err_msg: `internal error (request ${req.id})` });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ err_type: 'not_found', err_msg: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  const credential = (req: FastifyRequest) => credentialFromHeader(req.headers.authorization);
  const requireUser = async (req: FastifyRequest) => {
    await ctx.authenticateUser(credential(req));
  };
  const requireAdmin = async (req: FastifyRequest) => {
    await ctx.authenticateAdmin(credential(req));
  };

  app.get('/health', { schema: { hide: true, response: { 200: HealthResponse, 503: HealthResponse } } }, async (_req, reply) => {
    const relayConnected = ctx.network.connected;
    return reply.status(relayConnected ? 200 : 503).send({ status: relayConnected ? 'ok' : 'starting', node_id: ctx.self, relay_connected: relayConnected });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Public: a Rule Server verifies this node's requests with this key (see the README's webhook format).
  app.get(
    '/identity',
    { schema: { summary: "This node's id and the Ed25519 key that signs its Rule Server requests", response: { 200: IdentityResponse } } },
    async () => ({ node_id: ctx.self, signing_public_key: ctx.signingPublicKey }),
  );

  app.post(
    '/admin/create-user',
    { onRequest: requireAdmin, schema: { summary: 'Create a user (admin only)', response: { 200: CreateUserResponse, ...errorResponses } } },
    async (req) => {
      const { userId, apiKey } = await coordinateCreateUser(ctx, credential(req)!);
      return { user_id: userId, api_key: apiKey };
    },
  );

  for (const family of Object.keys(FROST_SUITES) as FrostFamily[]) {
    registerFrostRoutes(app, ctx, family, { maxBatch: opts.maxBatch, requireUser });
  }
  registerEcdsaRoutes(app, ctx, { maxBatch: opts.maxBatch, requireUser });
  registerAdminRoutes(app, ctx, { requireAdmin });

  return app;
}
