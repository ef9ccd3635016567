import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { TandemError } from '../../shared/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import { credentialFromHeader } from '../api-keys.js';
import type { NodeContext } from '../ceremonies/context.js';
import { coordinateCreateUser } from '../ceremonies/create-user.js';
import { coordinateKeygen } from '../ceremonies/frost-keygen.js';
import { coordinateSign } from '../ceremonies/frost-sign.js';
import { ownedKey } from '../ceremonies/key-shares.js';
import {
  CreateUserResponse,
  ErrorBody,
  errorResponses,
  HealthResponse,
  KeygenBody,
  KeygenResponse,
  KeyIdParams,
  PublicKeyResponse,
  SignBody,
  SignResponse,
} from './schemas.js';

/**
 * The node's REST API (seed 000). Authentication runs in onRequest, before the body is
 * even parsed, so an anonymous caller learns nothing about what a valid body looks like.
 */
export async function buildApp(ctx: NodeContext, opts: { version: string }): Promise<FastifyInstance> {
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
  const relayOf = (r: string | null | undefined) => r ?? ctx.defaultRelay;

  app.get('/health', { schema: { hide: true, response: { 200: HealthResponse, 503: HealthResponse } } }, async (_req, reply) => {
    const relayConnected = ctx.network.connected;
    return reply.status(relayConnected ? 200 : 503).send({ status: relayConnected ? 'ok' : 'starting', node_id: ctx.self, relay_connected: relayConnected });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.post(
    '/admin/create-user',
    { onRequest: requireAdmin, schema: { summary: 'Create a user (admin only)', response: { 200: CreateUserResponse, ...errorResponses } } },
    async (req) => {
      const { userId, apiKey } = await coordinateCreateUser(ctx, credential(req)!);
      return { user_id: userId, api_key: apiKey };
    },
  );

  app.post(
    '/bip340/keygen',
    { onRequest: requireUser, schema: { summary: 'Distributed key generation (FROST DKG)', body: KeygenBody, response: { 200: KeygenResponse, ...errorResponses } } },
    async (req) => {
      const { num_parties: n, threshold: t } = req.body;
      const maxN = ctx.network.peerIds.length + 1;
      if (n < 2 || n > maxN || t < 2 || t > n) {
        throw new TandemError('bad_n_and_t_params', `need 2 <= threshold <= num_parties <= ${maxN} (the cluster's size); got num_parties=${n}, threshold=${t}`);
      }
      const { keyId, publicKey } = await coordinateKeygen(ctx, { credential: credential(req)!, n, t, relay: relayOf(req.body.relay_address) });
      return { key_id: keyId, public_key: toHex(publicKey) };
    },
  );

  app.post(
    '/bip340/sign',
    { onRequest: requireUser, schema: { summary: 'Threshold BIP340 signature (FROST)', body: SignBody, response: { 200: SignResponse, ...errorResponses } } },
    async (req) => {
      const sig = await coordinateSign(ctx, {
        credential: credential(req)!,
        keyId: req.body.key_id,
        msg: fromHex(req.body.msg),
        extraData: fromHex(req.body.extra_data ?? ''),
        relay: relayOf(req.body.relay_address),
      });
      return { signature: toHex(sig) };
    },
  );

  app.get(
    '/bip340/public-key/:key_id',
    { onRequest: requireUser, schema: { summary: 'Read a key\'s public key', params: KeyIdParams, response: { 200: PublicKeyResponse, ...errorResponses } } },
    async (req) => {
      const user = await ctx.authenticateUser(credential(req));
      const key = await ownedKey(ctx, user, req.params.key_id, 'bip340');
      return { key_id: key.keyId, public_key: toHex(key.publicKey), threshold: key.threshold, num_parties: key.parties.length, parties: key.parties };
    },
  );

  return app;
}
