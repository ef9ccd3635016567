import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { instrumentHttp, requestIdOptions } from '../observability/http.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { frameworkRefusals, refuseUnmetExpectations, REFUSAL_MESSAGES, type RefusalFormat } from '../http/framework-refusals.js';
import { keepConnectionAfterTooLarge } from '../http/too-large-body.js';
import { callerSignal } from '../http/caller-gone.js';
import { RpcCall } from './call.js';
import { clientKey } from './client-address.js';
import type { Gateway } from './gateway.js';
import { completeAuthentication, initiateAuthentication, revokeSession } from './methods/authentication.js';
import { completeRegistration, delegatedRegistration, initiateRegistration } from './methods/registration.js';
import { createLambda, executeLambda, listLambda } from './methods/lambdas.js';
import { createScope, updateScope } from './methods/scopes.js';
import { ethRequestAccounts, ethSignTransaction, ethSignTypedDataV4, personalSign } from './methods/wallet.js';
import { checkJsonText } from './params.js';
import { idOf, parseRpcRequest, rpcError, rpcResult, RpcError } from '../wallet/rpc.js';
import { STORAGE_PROBE_TIMEOUT_MS, withTimeout } from '../core/timeout.js';

type Method = (call: RpcCall) => Promise<unknown>;

const METHODS: Record<string, Method> = {
  initiateRegistration,
  completeRegistration,
  delegatedRegistration,
  initiateAuthentication,
  completeAuthentication,
  revokeSession,
  eth_requestAccounts: ethRequestAccounts,
  eth_accounts: ethRequestAccounts,
  personal_sign: personalSign,
  eth_signTransaction: ethSignTransaction,
  eth_signTypedData_v4: ethSignTypedDataV4,
  createScope,
  updateScope,
  createLambda,
  listLambda,
  executeLambda,
};

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, GET, OPTIONS',
  'access-control-allow-headers':
    'content-type, x-scope-id, x-encrypted-key, x-encrypted-user, x-encrypted-session, x-encrypted-webauthn-signature, x-encrypted-key-signature',
  'access-control-max-age': '600',
};

/** The wallet page's built files (web/ → dist/web/), served under /wallet/. */
const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../web');
const WEB_FILES: Record<string, string> = { '': 'text/html; charset=utf-8', 'index.html': 'text/html; charset=utf-8', 'wallet.js': 'text/javascript; charset=utf-8' };

const BODY_LIMIT = 1024 * 1024;
const RAW = Symbol('raw body');
const UNPARSABLE = Symbol('unparsable');

export interface GatewayAppOptions {
  devScopeId?: string;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * Proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client
   * (TANDEM_TRUSTED_PROXIES); without them a client is its socket's address.
   */
  trustedProxies?: readonly string[];
}

export async function buildGatewayApp(gw: Gateway, opts: GatewayAppOptions = {}): Promise<FastifyInstance> {
  const logger = opts.logger ?? silentLogger();
  const metrics = opts.metrics ?? new Metrics('gateway');
  const trustProxy = opts.trustedProxies?.length ? [...opts.trustedProxies] : false;
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, trustProxy, ...requestIdOptions, ...frameworkRefusals(refusalAnswer) });
  refuseUnmetExpectations(app.server, refusalAnswer);
  instrumentHttp(app, logger, metrics);

  // Any content type, parsed here: the raw text is kept (the direct passkey flow signs
  // it), and bad JSON becomes a JSON-RPC parse error rather than an HTTP 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    (req as unknown as Record<symbol, string>)[RAW] = body as string;
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, UNPARSABLE);
    }
  });

  app.addHook('onRequest', async (_req, reply) => {
    reply.headers(CORS_HEADERS);
  });
  app.options('/*', async (_req, reply) => reply.code(204).send());
  app.options('/', async (_req, reply) => reply.code(204).send());

  app.get('/enclave-public-key', async () => ({ public_key: gw.envelope.publicKeyB64 }));
  // Readiness: the database answers in time and at least two signer nodes are ready (a 2-of-3 key signs).
  let nodesCache: { at: number; ready: number } | undefined;
  app.get('/health', async (_req, reply) => {
    const storageOk = await withTimeout(gw.store.getSetting('health-probe'), STORAGE_PROBE_TIMEOUT_MS).then(() => true, () => false);
    if (!nodesCache || Date.now() - nodesCache.at > 5000) nodesCache = { at: Date.now(), ready: await gw.nodes.readyNodes() };
    const ok = storageOk && nodesCache.ready >= 2;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', storage_ok: storageOk, nodes_ready: nodesCache.ready });
  });
  app.get('/', async (_req, reply) => reply.redirect('/wallet/'));
  app.get('/wallet/config.json', async () => ({ scope_id: opts.devScopeId ?? null, enclave_public_key: gw.envelope.publicKeyB64 }));
  app.get<{ Params: { file?: string } }>('/wallet/:file?', async (req, reply) => {
    const file = req.params.file ?? '';
    const type = WEB_FILES[file];
    if (type === undefined) return reply.code(404).send({ error: 'not found' });
    try {
      return reply.type(type).send(await readFile(join(WEB_DIR, file || 'index.html')));
    } catch {
      return reply.code(404).send({ error: 'the wallet page is not built (npm run build)' });
    }
  });

  app.post('/', async (req, reply) => {
    const body = req.body;
    if (body === UNPARSABLE) return rpcError(null, new RpcError('parse_error', 'the body is not valid JSON'));
    const id = idOf(body);
    try {
      const rpc = parseRpcRequest(body);
      const method = Object.hasOwn(METHODS, rpc.method) ? METHODS[rpc.method] : undefined;
      if (!method) throw new RpcError('method_not_found', `method ${rpc.method} does not exist`);
      checkJsonText(rpc.params, 'params');
      const raw = (req as unknown as Record<symbol, string>)[RAW] ?? '';
      const end = metrics.rpcSeconds.startTimer({ method: rpc.method });
      try {
        const caller = { address: clientKey(req.ip), gone: callerSignal(reply.raw) };
        const result = rpcResult(id, await method(new RpcCall(gw, req.headers, raw, rpc.params, caller)));
        metrics.rpcCalls.inc({ method: rpc.method, result: 'ok' });
        return result;
      } catch (e) {
        metrics.rpcCalls.inc({ method: rpc.method, result: e instanceof RpcError ? e.kind : 'internal_error' });
        throw e;
      } finally {
        end();
      }
    } catch (e) {
      if (e instanceof RpcError) return rpcError(id, e);
      logger.error({ req_id: req.id, err: (e as Error).stack ?? String(e) }, 'internal error');
      return rpcError(id, new RpcError('internal_error', `Internal JSON-RPC error (reference ${req.id}).`));
    }
  });

  // Fastify's own refusals (a body over the limit, a broken stream) on the JSON-RPC route
  // still answer as JSON-RPC, with HTTP 200, so the SDK can show why.
  app.setErrorHandler(async (err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (isRpcRoute(req.method, req.url)) {
      const kind = status < 500 ? 'invalid_request' : 'internal_error';
      if (status === 413) await keepConnectionAfterTooLarge(req.raw, reply);
      return reply.code(200).send(rpcError(null, new RpcError(kind, status === 413 ? 'the request body is too large' : 'the request could not be read')));
    }
    return reply.code(status).send({ error: status < 500 ? 'bad request' : 'internal error' });
  });
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not found' }));
  return app;
}

function isRpcRoute(method: string | undefined, url: string | undefined): boolean {
  return method === 'POST' && url?.split('?')[0] === '/';
}

/**
 * What the router and Node's parser refuse before any handler runs, answered as the error
 * handler above answers: JSON-RPC on the JSON-RPC route (as far as the request line was
 * read), `{ error }` elsewhere.
 */
const refusalAnswer: RefusalFormat = (refusal, req) =>
  isRpcRoute(req.method, req.url)
    ? { status: 200, body: rpcError(null, new RpcError('invalid_request', REFUSAL_MESSAGES[refusal])) }
    : { status: 400, body: { error: 'bad request' } };
