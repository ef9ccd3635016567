import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import { requestIdOptions } from '../../observability/http.js';
import type { Logger } from '../../observability/logger.js';
import { frameworkRefusals, refuseUnmetExpectations, REFUSAL_MESSAGES, type RefusalFormat } from '../../http/framework-refusals.js';
import { keepConnectionAfterTooLarge } from '../../http/too-large-body.js';
import { TandemError } from '../../core/errors.js';
import { ErrorBody } from '../../api/schemas.js';
import { RAW_BODY } from './key-routes.js';

/** The node's Fastify instance with TypeBox types: what every group of routes registers on. */
export type NodeServer = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/**
 * What the router and Node's HTTP server refuse themselves is the caller's error too (seed
 * 000 knows only 400, 401, 404 and 500, so an over-long parameter or header is no 414 or 431).
 */
const seedRefusal: RefusalFormat = (refusal) => ({ status: 400, body: { err_type: 'bad_request_params', err_msg: REFUSAL_MESSAGES[refusal] } });

/**
 * The server before any route: body limits, strict types, CORS for the listed origins, the
 * OpenAPI document, seed 000's error bodies for everything that fails, and JSON bodies kept
 * as received.
 */
export async function createNodeServer(opts: { version: string; corsOrigins?: string[] }, logger: Logger): Promise<NodeServer> {
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
  return app;
}
