import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TandemError } from '../../shared/errors.js';
import { fromHex, toHex } from '../../shared/hex.js';
import { credentialFromHeader } from '../api-keys.js';
import type { NodeContext } from '../ceremonies/context.js';
import { coordinateKeygen } from '../ceremonies/frost-keygen.js';
import { coordinateSign } from '../ceremonies/frost-sign.js';
import { ownedKey } from '../ceremonies/key-shares.js';
import { FROST_SUITES, type FrostFamily } from '../families.js';
import { deriveFrostPublic, frostChainCode, parseDerivationPath } from '../../protocols/frost/derive.js';
import { groupPublicKey } from '../../protocols/frost/key-share.js';
import { parseFrostPublicPackage } from '../../protocols/frost/messages.js';
import { ProtocolError } from '../../protocols/errors.js';
import { DeriveBody, DeriveResponse, errorResponses, KeygenBody, KeygenResponse, KeyIdParams, PublicKeyResponse, SignBody, SignResponse } from './schemas.js';

/** What the API says about each FROST family's keys and signatures. */
const DOCS: Record<FrostFamily, { title: string; publicKey: string; msg: string; signature: string }> = {
  bip340: {
    title: 'BIP340 (Schnorr over secp256k1, Taproot)',
    publicKey: 'Hex x-only (32 bytes) BIP340 public key: the Taproot output key (BIP341-tweaked with an empty script tree).',
    msg: 'BIP340 signs the bytes as given (usually a 32-byte hash).',
    signature: 'Hex 64-byte BIP340 signature',
  },
  ed25519: {
    title: 'Ed25519 (RFC 8032)',
    publicKey: 'Hex 32-byte Ed25519 public key.',
    msg: 'Ed25519 signs the message itself (any length up to 64 KiB), not a hash of it.',
    signature: 'Hex 64-byte Ed25519 signature (RFC 8032)',
  },
};

export interface KeyRouteOptions {
  maxBatch: number;
  requireUser(req: FastifyRequest): Promise<void>;
}

/** A path the schema let through can still be refused (depth); that is the caller's error. */
export function parsePath(path: string | undefined): number[] {
  try {
    return parseDerivationPath(path ?? 'm');
  } catch (e) {
    throw new TandemError('bad_request_params', e instanceof ProtocolError ? e.reason : 'bad derivation_path');
  }
}

/** keygen, sign (single or batch) and public-key read for one FROST family. */
export function registerFrostRoutes(app: FastifyInstance, ctx: NodeContext, family: FrostFamily, opts: KeyRouteOptions): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const docs = DOCS[family];
  const credential = (req: FastifyRequest) => credentialFromHeader(req.headers.authorization)!;
  const relayOf = (a: string | null | undefined) => a ?? ctx.defaultRelay;
  const tags = [family];
  const suite = FROST_SUITES[family];

  r.post(
    `/${family}/keygen`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: distributed key generation (FROST DKG)`, body: KeygenBody, response: { 200: KeygenResponse(docs.publicKey), ...errorResponses } },
    },
    async (req) => {
      const { num_parties: n, threshold: t } = req.body;
      const maxN = ctx.network.peerIds.length + 1;
      if (n < 2 || n > maxN || t < 2 || t > n) {
        throw new TandemError('bad_n_and_t_params', `need 2 <= threshold <= num_parties <= ${maxN} (the cluster's size); got num_parties=${n}, threshold=${t}`);
      }
      const { keyId, publicKey } = await coordinateKeygen(ctx, { family, credential: credential(req), n, t, relay: relayOf(req.body.relay_address) });
      return { key_id: keyId, public_key: toHex(publicKey) };
    },
  );

  r.post(
    `/${family}/sign`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: threshold signature (FROST)`, body: SignBody(docs.msg), response: { 200: SignResponse(docs.signature), ...errorResponses } },
    },
    async (req) => {
      const batch = Array.isArray(req.body.msg);
      const msgs = (batch ? (req.body.msg as string[]) : [req.body.msg as string]).map((m) => fromHex(m));
      if (msgs.length > opts.maxBatch) {
        throw new TandemError('batch_too_large', `${msgs.length} messages; at most ${opts.maxBatch} per request`);
      }
      const sigs = await coordinateSign(ctx, {
        family,
        credential: credential(req),
        keyId: req.body.key_id,
        msgs,
        path: parsePath(req.body.derivation_path),
        extraData: fromHex(req.body.extra_data ?? ''),
        relay: relayOf(req.body.relay_address),
      });
      const out = sigs.map((s) => ({ signature: toHex(s) }));
      return batch ? { signatures: out } : out[0]!;
    },
  );

  r.get(
    `/${family}/public-key/:key_id`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: read a key's public key`, params: KeyIdParams, response: { 200: PublicKeyResponse, ...errorResponses } },
    },
    async (req) => {
      const user = await ctx.authenticateUser(credential(req));
      const key = await ownedKey(ctx, user, req.params.key_id, family);
      const pkg = parseFrostPublicPackage(key.publicPackage);
      return {
        key_id: key.keyId,
        public_key: toHex(key.publicKey),
        threshold: key.threshold,
        num_parties: key.parties.length,
        parties: key.parties,
        chain_code: toHex(frostChainCode(suite, pkg)),
      };
    },
  );

  r.post(
    `/${family}/derive`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: public key of a non-hardened child`, body: DeriveBody, response: { 200: DeriveResponse, ...errorResponses } },
    },
    async (req) => {
      const user = await ctx.authenticateUser(credential(req));
      const key = await ownedKey(ctx, user, req.body.key_id, family);
      const child = deriveFrostPublic(suite, parseFrostPublicPackage(key.publicPackage), parsePath(req.body.derivation_path));
      return {
        key_id: key.keyId,
        derivation_path: req.body.derivation_path,
        public_key: toHex(groupPublicKey(suite, child.publicPackage)),
        chain_code: toHex(child.chainCode),
      };
    },
  );
}
