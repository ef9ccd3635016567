import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Metrics } from '../../observability/metrics.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ProtocolError } from '../../protocols/errors.js';
import { parseDerivationPath } from '../../protocols/derivation/path.js';
import { TandemError } from '../../core/errors.js';
import { toHex } from '../../core/hex.js';
import type { KeyFamily } from '../../core/families.js';
import { ADMIN_SIGNATURE_SCHEME, SIGNATURE_SCHEME } from '../../api/request-signature.js';
import { encodeAdminEnvelope, principalOf as principalFor, type Principal } from '../caller-evidence.js';
import type { UserRecord } from '../../storage/store.js';
import { credentialFromHeader } from '../../api/api-keys.js';
import { encodeEnvelope } from '../signed-requests.js';
import type { NodeContext } from '../ceremonies/context.js';
import { chainCodeOf, childKey } from '../ceremonies/child-keys.js';
import { ownedKey } from '../ceremonies/key-shares.js';
import { DeriveBody, DeriveResponse, errorResponses, KeyIdParams, PublicKeyResponse } from '../../api/schemas.js';

/** What every family's routes share: options, and the checks and reads that don't depend on the protocol. */
export interface KeyRouteOptions {
  maxBatch: number;
  requireUser(req: FastifyRequest): Promise<void>;
  metrics: Metrics;
}

/** The raw body as received (kept by the app's JSON parser): a signed request signs these bytes. */
export const RAW_BODY = Symbol('raw body');

/** A user's or the admin's signed request: verified once its body has arrived. */
export function isSignedRequest(req: FastifyRequest): boolean {
  const h = req.headers.authorization;
  return h !== undefined && (h.startsWith(`${SIGNATURE_SCHEME} `) || h.startsWith(`${ADMIN_SIGNATURE_SCHEME} `));
}

/** What a route hands to its ceremony: the bearer API key, or the signed request itself. */
export function credentialOf(req: FastifyRequest): string {
  if (!isSignedRequest(req)) return credentialFromHeader(req.headers.authorization)!;
  const body = (req as unknown as Record<symbol, string | undefined>)[RAW_BODY] ?? '';
  const envelope = { method: req.method, path: req.url, body, authorization: req.headers.authorization! };
  return envelope.authorization.startsWith(`${ADMIN_SIGNATURE_SCHEME} `) ? encodeAdminEnvelope(envelope) : encodeEnvelope(envelope);
}

const PRINCIPAL = Symbol('principal');

/**
 * The caller as the route's guard authenticated it (once per request, at the edge): what
 * the route hands to the node's service, which never authenticates again.
 */
export function principalOf(req: FastifyRequest): Principal {
  const p = (req as unknown as Record<symbol, Principal | undefined>)[PRINCIPAL];
  if (!p) throw new TandemError('access_denied', 'the request was not authenticated');
  return p;
}

export function setPrincipal(req: FastifyRequest, user: UserRecord): void {
  (req as unknown as Record<symbol, Principal>)[PRINCIPAL] = principalFor(credentialOf(req), user);
}

/** A path the schema let through can still be refused (depth); that is the caller's error. */
export function parsePath(path: string | undefined): number[] {
  try {
    return parseDerivationPath(path ?? 'm');
  } catch (e) {
    throw new TandemError('bad_request_params', e instanceof ProtocolError ? e.reason : 'bad derivation_path');
  }
}

/** 2 <= t <= n <= the cluster's size, else bad_n_and_t_params. */
export function checkNandT(ctx: NodeContext, n: number, t: number): void {
  const maxN = ctx.network.peerIds.length + 1;
  if (n < 2 || n > maxN || t < 2 || t > n) {
    throw new TandemError('bad_n_and_t_params', `need 2 <= threshold <= num_parties <= ${maxN} (the cluster's size); got num_parties=${n}, threshold=${t}`);
  }
}

/** GET /<family>/public-key/{key_id} and POST /<family>/derive; each asks this node's policy first. */
export function registerKeyReads(app: FastifyInstance, ctx: NodeContext, family: KeyFamily, opts: KeyRouteOptions, title: string): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = [family];

  r.get(
    `/${family}/public-key/:key_id`,
    { onRequest: opts.requireUser, schema: { tags, summary: `${title}: read a key's public key`, params: KeyIdParams, response: { 200: PublicKeyResponse, ...errorResponses } } },
    async (req) => {
      const { user } = principalOf(req);
      const key = await ownedKey(ctx, user, req.params.key_id, family);
      await ctx.authorize({ operation: 'public-key', family, userId: user.userId, key });
      return {
        key_id: key.keyId,
        public_key: toHex(key.publicKey),
        threshold: key.threshold,
        num_parties: key.parties.length,
        parties: key.parties,
        chain_code: toHex(chainCodeOf(key)),
      };
    },
  );

  r.post(
    `/${family}/derive`,
    { onRequest: opts.requireUser, schema: { tags, summary: `${title}: public key of a non-hardened child`, body: DeriveBody, response: { 200: DeriveResponse, ...errorResponses } } },
    async (req) => {
      const { user } = principalOf(req);
      const key = await ownedKey(ctx, user, req.body.key_id, family);
      const path = parsePath(req.body.derivation_path);
      const child = childKey(key, path);
      await ctx.authorize({ operation: 'derive', family, userId: user.userId, key, path, derivedPublicKey: child.publicKey });
      return { key_id: key.keyId, derivation_path: req.body.derivation_path, public_key: toHex(child.publicKey), chain_code: toHex(child.chainCode) };
    },
  );
}
