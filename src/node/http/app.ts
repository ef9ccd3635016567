import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { instrumentHttp, requestIdOptions } from '../../observability/http.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import { Metrics } from '../../observability/metrics.js';
import { frameworkRefusals, refuseUnmetExpectations, REFUSAL_MESSAGES, type RefusalFormat } from '../../http/framework-refusals.js';
import { keepConnectionAfterTooLarge } from '../../http/too-large-body.js';
import { TandemError } from '../../shared/errors.js';
import { STORAGE_PROBE_TIMEOUT_MS, withTimeout } from '../../shared/timeout.js';
import { credentialFromHeader } from '../api-keys.js';
import { requestedRelay, type NodeContext } from '../ceremonies/context.js';
import { coordinateCreateUser } from '../ceremonies/create-user.js';
import { coordinateCreateRoom, DEFAULT_ROOM_TTL_S } from '../ceremonies/rooms.js';
import { fromHex, toHex } from '../../shared/hex.js';
import type { PartyId } from '../../shared/ids.js';
import type { Static } from 'typebox';
import { FROST_SUITES, type FrostFamily } from '../../protocols/frost/suite.js';
import { Compile } from 'typebox/compile';
import { parseRequestPublicKey } from '../../shared/request-signature.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerBanRoutes } from './ban-routes.js';
import { credentialOf, isSignedRequest, RAW_BODY } from './key-routes.js';
import { registerEcdsaRoutes } from './ecdsa-routes.js';
import { registerFrostRoutes } from './frost-routes.js';
import { CreateRoomBody, CreateRoomResponse, CreateUserBody, CreateUserResponse, ErrorBody, SetRequestKeyBody, SetRequestKeyResponse, errorResponses, HealthResponse, IdentityResponse } from './schemas.js';

/**
 * The node's REST API (seed 000). Authentication runs in onRequest, before the body is
 * even parsed, so an anonymous caller learns nothing about what a valid body looks like.
 */
const checkCreateUserBody = Compile(CreateUserBody);
/** Set by the admin guard: a signed request on this route is the admin's. */
const ADMIN_ROUTE = Symbol('admin route');

/**
 * What the router and Node's HTTP server refuse themselves is the caller's error too (seed
 * 000 knows only 400, 401, 404 and 500, so an over-long parameter or header is no 414 or 431).
 */
const seedRefusal: RefusalFormat = (refusal) => ({ status: 400, body: { err_type: 'bad_request_params', err_msg: REFUSAL_MESSAGES[refusal] } });

export interface AppOptions {
  version: string;
  maxBatch: number;
  /** Origins allowed to call the API from a browser (a device party in a web app); none by default. */
  corsOrigins?: string[];
  /** Default: a silent logger and the process's own metrics registry (tests). */
  logger?: Logger;
  metrics?: Metrics;
}

export async function buildApp(ctx: NodeContext, opts: AppOptions): Promise<FastifyInstance> {
  const logger = opts.logger ?? silentLogger();
  const metrics = opts.metrics ?? new Metrics('node', { node: ctx.self });
  const app = Fastify({
    logger: false,
    ...requestIdOptions,
    ...frameworkRefusals(seedRefusal),
    bodyLimit: 256 * 1024,
    // Strict types: "3" is not a number of parties.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  refuseUnmetExpectations(app.server, seedRefusal);
  app.addSchema(ErrorBody);
  if (opts.corsOrigins?.length) {
    // Exact origins only, never a wildcard: a page on another site must not drive a user's key.
    await app.register(cors, {
      origin: opts.corsOrigins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-request-id'],
      maxAge: 600,
    });
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tandem signer node', version: opts.version, description: 'Threshold signing: seed 000 API.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'Authorization' } } },
      security: [{ apiKey: [] }],
    },
  });

  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    if (err.statusCode === 413) await keepConnectionAfterTooLarge(req.raw, reply);
    if (err instanceof TandemError) return reply.status(err.status).send(err.toBody());
    if (err.validation) {
      return reply.status(400).send({ err_type: 'bad_request_params', err_msg: `${err.validationContext ?? 'request'}${err.message.replace(/^(body|params|querystring)/, '')}` });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(400).send({ err_type: 'bad_request_params', err_msg: err.message });
    }
    logger.error({ req_id: req.id, method: req.method, route: req.routeOptions.url ?? 'unmatched', err: err.stack ?? err.message }, 'internal error');
    return reply.status(500).send({ err_type: 'internal_problem', err_msg: `internal error (request ${req.id})` });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ err_type: 'not_found', err_msg: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  // JSON bodies are kept as received too: a signed request's signature covers those bytes.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    (req as unknown as Record<symbol, string>)[RAW_BODY] = body as string;
    if ((body as string).length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new TandemError('bad_request_params', 'the body is not valid JSON'), undefined);
    }
  });

  const credential = (req: FastifyRequest) => credentialFromHeader(req.headers.authorization);
  // A signed request is verified once its body has arrived (preHandler), as the route's
  // guard asks (a user's or the admin's); a bearer key at once.
  const requireUser = async (req: FastifyRequest) => {
    if (!isSignedRequest(req)) await ctx.authenticateUser(credential(req));
  };
  const requireAdmin = async (req: FastifyRequest) => {
    (req as unknown as Record<symbol, boolean>)[ADMIN_ROUTE] = true;
    if (!isSignedRequest(req)) await ctx.authenticateAdmin(credential(req));
  };
  app.addHook('preHandler', async (req) => {
    if (!isSignedRequest(req)) return;
    if ((req as unknown as Record<symbol, boolean>)[ADMIN_ROUTE]) await ctx.authenticateAdmin(credentialOf(req), true);
    else await ctx.authenticateUser(credentialOf(req), true);
  });

  instrumentHttp(app, logger, metrics);

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

  app.post(
    '/create-room',
    {
      onRequest: requireUser,
      schema: {
        summary: 'Create a room: a keygen or sign in which client parties (a device, an app backend) take part beside nodes',
        description:
          'Every node that answers stores the room after checking the caller itself. A keygen or sign with room_uuid (to one of the returned nodes) then runs in the relay room of that id; the clients join it with their party ids, each presenting its relay_capabilities entry, and seal to the nodes\' channel keys (GET /identity). Each node uses its copy once; rooms expire (ttl_s, default 300 s). Problems are room_creation_problem.',
        body: CreateRoomBody,
        response: { 200: CreateRoomResponse, ...errorResponses },
      },
    },
    async (req) => {
      const body = req.body as Static<typeof CreateRoomBody>;
      const room = await coordinateCreateRoom(ctx, {
        credential: credentialOf(req),
        numParties: body.num_parties,
        clients: body.parties.map((p) => ({ partyId: p.party_id as PartyId, publicKey: fromHex(p.public_key, 32) })),
        ttlS: body.ttl_s ?? DEFAULT_ROOM_TTL_S,
        relay: requestedRelay(ctx, body.relay_address),
      });
      return { room_uuid: room.roomUuid, expires_at: room.expiresAt.toISOString(), relay_address: room.relayAddress, nodes: room.nodes, relay_capabilities: room.relayCapabilities };
    },
  );

  app.post(
    '/admin/create-user',
    {
      onRequest: requireAdmin,
      schema: {
        summary: 'Create a user (admin only), optionally with a request-signing public key',
        description:
          'With public_key ({ type: "ed25519" | "p256", key: hex }) the user can sign each request (Authorization: Tandem-Signature …) instead of sending its API key; every node stores the key.',
        response: { 200: CreateUserResponse, ...errorResponses },
      },
    },
    async (req) => {
      // The body is optional (seed 000 sends none), so it is checked here rather than by the route schema.
      if (req.body !== undefined && req.body !== null && !checkCreateUserBody.Check(req.body)) {
        throw new TandemError('bad_request_params', 'body must be {} or { "public_key": { "type": "ed25519" | "p256", "key": hex } }');
      }
      const given = (req.body as { public_key?: { type: string; key: string } } | undefined)?.public_key;
      const requestKey = given === undefined ? undefined : parseRequestPublicKey(given.type, given.key.toLowerCase());
      if (given !== undefined && !requestKey) throw new TandemError('bad_request_params', 'public_key must be an Ed25519 (32 bytes) or P-256 (33 or 65 bytes) public key in hex');
      const { userId, apiKey } = await coordinateCreateUser(ctx, credentialOf(req), requestKey);
      return { user_id: userId, api_key: apiKey };
    },
  );

  app.post(
    '/request-key',
    {
      onRequest: requireUser,
      schema: {
        summary: "Register or change the caller's request-signing public key on this node only",
        description:
          'Per node: call it on every node. A user with a request-signing key signs what spans nodes (keygen, sign, create-room): its peers never take another node\'s word for it. A bearer API key may set the first key (or the same again); changing a key needs a request signed by the current one.',
        body: SetRequestKeyBody,
        response: { 200: SetRequestKeyResponse, ...errorResponses },
      },
    },
    async (req) => {
      const user = await ctx.authenticateUser(credentialOf(req));
      const given = (req.body as Static<typeof SetRequestKeyBody>).public_key;
      const key = parseRequestPublicKey(given.type, given.key.toLowerCase());
      if (!key) throw new TandemError('bad_request_params', 'public_key must be an Ed25519 (32 bytes) or P-256 (33 or 65 bytes) public key in hex');
      const current = await ctx.requestKeys.getKey(user.userId);
      const same = current !== undefined && current.type === key.type && toHex(current.publicKey) === toHex(key.publicKey);
      // A leaked API key must not be enough to take over a user who signs.
      if (current && !same && !isSignedRequest(req)) {
        throw new TandemError('access_denied', 'this user has a request-signing key: change it with a request signed by that key');
      }
      if (!same) {
        await ctx.requestKeys.setKey(user.userId, key.type, key.publicKey);
        await ctx.audit.append({ requestId: randomUUID(), actor: user.userId, operation: 'set-request-key', result: 'ok', detail: { type: key.type, public_key: toHex(key.publicKey) } });
      }
      return { user_id: user.userId, public_key: { type: key.type, key: toHex(key.publicKey) } };
    },
  );

  for (const family of Object.keys(FROST_SUITES) as FrostFamily[]) {
    registerFrostRoutes(app, ctx, family, { maxBatch: opts.maxBatch, requireUser, metrics });
  }
  registerEcdsaRoutes(app, ctx, { maxBatch: opts.maxBatch, requireUser, metrics });
  registerAdminRoutes(app, ctx, { requireAdmin });
  registerBanRoutes(app, ctx.banRecords, { requireAdmin });

  return app;
}

/** A real query against the node's database, given at most STORAGE_PROBE_TIMEOUT_MS. */
function storageAnswers(ctx: NodeContext): Promise<boolean> {
  return withTimeout(ctx.store.getSetting('health-probe'), STORAGE_PROBE_TIMEOUT_MS).then(() => true, () => false);
}
