import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { callerSignal } from '../../http/caller-gone.js';
import { TandemError } from '../../core/errors.js';
import { fromHex, toHex } from '../../core/hex.js';
import { requestedRelay, type NodeContext } from '../ceremonies/context.js';
import { coordinateFrostSign, coordinateKeygen } from '../ceremonies/keys.js';
import type { FrostFamily } from '../../protocols/frost/suite.js';
import { checkNandT, parsePath, principalOf, registerKeyReads, type KeyRouteOptions } from './key-routes.js';
import { errorResponses, KeygenBody, KeygenResponse, SignBody, SignResponse } from '../../api/schemas.js';

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


/** keygen, sign (single or batch), public-key read and derive for one FROST family. */
export function registerFrostRoutes(app: FastifyInstance, ctx: NodeContext, family: FrostFamily, opts: KeyRouteOptions): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const docs = DOCS[family];
  const relayOf = (a: string | null | undefined) => requestedRelay(ctx, a);
  const tags = [family];

  r.post(
    `/${family}/keygen`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: distributed key generation (FROST DKG)`, body: KeygenBody, response: { 200: KeygenResponse(docs.publicKey), ...errorResponses } },
    },
    async (req, reply) => {
      const { num_parties: n, threshold: t } = req.body;
      checkNandT(ctx, n, t);
      const relay = relayOf(req.body.relay_address);
      const { keyId, publicKey } = await opts.metrics.ceremony({ operation: 'keygen', family, role: 'coordinator' }, () =>
        coordinateKeygen(ctx, principalOf(req), { family, n, t, relay, roomUuid: req.body.room_uuid, callerGone: callerSignal(reply.raw) }),
      );
      return { key_id: keyId, public_key: toHex(publicKey) };
    },
  );

  r.post(
    `/${family}/sign`,
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${docs.title}: threshold signature (FROST)`, body: SignBody(docs.msg), response: { 200: SignResponse(docs.signature), ...errorResponses } },
    },
    async (req, reply) => {
      const batch = Array.isArray(req.body.msg);
      const msgs = (batch ? (req.body.msg as string[]) : [req.body.msg as string]).map((m) => fromHex(m));
      if (msgs.length > opts.maxBatch) {
        throw new TandemError('batch_too_large', `${msgs.length} messages; at most ${opts.maxBatch} per request`);
      }
      const relay = relayOf(req.body.relay_address);
      const sigs = await opts.metrics.ceremony({ operation: 'sign', family, role: 'coordinator' }, () => coordinateFrostSign(ctx, principalOf(req), family, {
        keyId: req.body.key_id,
        msgs,
        path: parsePath(req.body.derivation_path),
        extraData: fromHex(req.body.extra_data ?? ''),
        relay,
        roomUuid: req.body.room_uuid,
        callerGone: callerSignal(reply.raw),
      }));
      const out = sigs.map((s) => ({ signature: toHex(s) }));
      return batch ? { signatures: out } : out[0]!;
    },
  );

  registerKeyReads(app, ctx, family, opts, docs.title);
}
