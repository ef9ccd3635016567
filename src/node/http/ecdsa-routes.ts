import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { EcdsaSignature } from '../../protocols/dkls23/sign/sign.js';
import { callerSignal } from '../../http/caller-gone.js';
import { TandemError } from '../../core/errors.js';
import { fromHex, toHex } from '../../core/hex.js';
import { requestedRelay, type NodeContext } from '../ceremonies/context.js';
import { coordinateEcdsaSign, coordinateKeygen } from '../ceremonies/keys.js';
import { checkNandT, parsePath, principalOf, registerKeyReads, type KeyRouteOptions } from './key-routes.js';
import { DerivationPath, errorResponses, ExtraData, HexHash, KeyId, KeygenBody, KeygenResponse, RelayAddress, RoomUuid } from '../../api/schemas.js';

/** What an ECDSA signature looks like in the API: r|s, the recovery id, and DER. */
const EcdsaSignatureBody = Type.Object({
  signature: Type.String({ description: 'Hex 64 bytes r | s (low-S)' }),
  recovery_id: Type.Integer({ description: '0 or 1 (2, 3 only if x(R) ≥ n); Ethereum v = 27 + recovery_id' }),
  der: Type.String({ description: 'Hex DER encoding of (r, s)' }),
});

const OwnerPasskeyBody = Type.Object(
  {
    rp_id: Type.String({ minLength: 1, maxLength: 253 }),
    origins: Type.Array(Type.String({ maxLength: 300 }), { minItems: 1, maxItems: 32 }),
    credential_id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,2048}$' }),
    public_key: Type.String({ pattern: '^[A-Za-z0-9_-]{1,2048}$', description: 'base64url COSE public key' }),
  },
  { additionalProperties: false, description: "Binds the key to its end user's passkey: every node then signs only on that passkey's assertion over the request (passkey_evidence)." },
);

const EcdsaKeygenBody = Type.Object({ ...KeygenBody.properties, owner_passkey: Type.Optional(OwnerPasskeyBody) });

const PasskeyEvidenceBody = Type.Object(
  {
    request_body: Type.String({ maxLength: 300_000, description: "The end user's request body, exactly as sent" }),
    challenge: Type.String({ pattern: '^[A-Za-z0-9_-]{1,2048}$' }),
    assertion: Type.Object({}, { additionalProperties: true, description: 'WebAuthn AuthenticationResponseJSON' }),
  },
  { additionalProperties: false },
);

const EcdsaSignBody = Type.Object({
  key_id: KeyId,
  passkey_evidence: Type.Optional(PasskeyEvidenceBody),
  msg: Type.Union([HexHash, Type.Array(HexHash, { minItems: 1 })], {
    description: 'The 32-byte message hash to sign (e.g. keccak256 of an Ethereum payload), hex; a list signs a batch.',
  }),
  extra_data: Type.Optional(ExtraData),
  derivation_path: Type.Optional(DerivationPath),
  relay_address: Type.Optional(RelayAddress),
  room_uuid: Type.Optional(RoomUuid),
});

function toBody(sig: EcdsaSignature) {
  const hex32 = (x: bigint) => x.toString(16).padStart(64, '0');
  return {
    signature: hex32(sig.r) + hex32(sig.s),
    recovery_id: sig.recovery,
    der: toHex(new secp256k1.Signature(sig.r, sig.s).toBytes('der')),
  };
}

/** keygen, sign, public-key and derive for threshold ECDSA keys (DKLs23). */
export function registerEcdsaRoutes(app: FastifyInstance, ctx: NodeContext, opts: KeyRouteOptions): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const relayOf = (a: string | null | undefined) => requestedRelay(ctx, a);
  const tags = ['ecdsa'];
  const title = 'ECDSA (secp256k1, DKLs23)';

  r.post(
    '/ecdsa/keygen',
    {
      onRequest: opts.requireUser,
      schema: { tags, summary: `${title}: distributed key generation`, body: EcdsaKeygenBody, response: { 200: KeygenResponse('Hex 33-byte compressed secp256k1 public key.'), ...errorResponses } },
    },
    async (req, reply) => {
      const { num_parties: n, threshold: t } = req.body;
      checkNandT(ctx, n, t);
      const relay = relayOf(req.body.relay_address);
      const { keyId, publicKey } = await opts.metrics.ceremony({ operation: 'keygen', family: 'ecdsa', role: 'coordinator' }, () =>
        coordinateKeygen(ctx, principalOf(req), { family: 'ecdsa', n, t, relay, roomUuid: req.body.room_uuid, ownerPasskey: req.body.owner_passkey, callerGone: callerSignal(reply.raw) }),
      );
      return { key_id: keyId, public_key: toHex(publicKey) };
    },
  );

  r.post(
    '/ecdsa/sign',
    {
      onRequest: opts.requireUser,
      schema: {
        tags,
        summary: `${title}: threshold signature of a 32-byte hash`,
        body: EcdsaSignBody,
        response: { 200: Type.Union([EcdsaSignatureBody, Type.Object({ signatures: Type.Array(EcdsaSignatureBody) })]), ...errorResponses },
      },
    },
    async (req, reply) => {
      const batch = Array.isArray(req.body.msg);
      const hashes = (batch ? (req.body.msg as string[]) : [req.body.msg as string]).map((m) => fromHex(m, 32));
      if (hashes.length > opts.maxBatch) throw new TandemError('batch_too_large', `${hashes.length} messages; at most ${opts.maxBatch} per request`);
      const relay = relayOf(req.body.relay_address);
      // One ceremony per request, whatever its size: each node spends a signed request once.
      const signatures = await opts.metrics.ceremony({ operation: 'sign', family: 'ecdsa', role: 'coordinator' }, () =>
        coordinateEcdsaSign(ctx, principalOf(req), {
          keyId: req.body.key_id,
          msgs: hashes,
          path: parsePath(req.body.derivation_path),
          extraData: fromHex(req.body.extra_data ?? ''),
          relay,
          roomUuid: req.body.room_uuid,
          passkeyEvidence: req.body.passkey_evidence,
          callerGone: callerSignal(reply.raw),
        }),
      );
      const out = signatures.map(toBody);
      return batch ? { signatures: out } : out[0]!;
    },
  );

  registerKeyReads(app, ctx, 'ecdsa', opts, title);
}
