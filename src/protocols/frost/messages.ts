import Type, { type Static } from 'typebox';
import { HexAny, HexBytes, PartyIdSchema, parser } from '../wire.js';

/**
 * FROST wire messages, version 1, for every suite: points are 33-byte compressed
 * secp256k1 or 32-byte Ed25519 (the engine checks the exact encoding against its suite),
 * scalars 32 bytes, all hex. Every message is parsed with these schemas before the
 * engine sees it.
 */
const Point = Type.Union([HexBytes(32), HexBytes(33)]);
const Scalar = HexBytes(32);
const MAX_THRESHOLD = 64;
export const MAX_PARTIES = 64;
/** Largest message FROST signs here; Taproot sighashes are 32 bytes. */
export const MAX_MESSAGE_BYTES = 65536;

export const DkgRound1Schema = Type.Object(
  {
    v: Type.Literal(1),
    from: PartyIdSchema,
    commitment: Type.Array(Point, { minItems: 1, maxItems: MAX_THRESHOLD }),
    proofOfKnowledge: HexBytes(64),
  },
  { additionalProperties: false },
);
export type DkgRound1 = Static<typeof DkgRound1Schema>;
export const parseDkgRound1 = parser('DKG round 1', DkgRound1Schema);

/**
 * Version 2: the coordinator checks every package (naming its author) before it relays the
 * set, so a participant that finds a bad one names the coordinator. A version-1 coordinator
 * relayed unchecked, so the versions must not meet: each refuses the other's set.
 */
export const DkgRound1SetSchema = Type.Object(
  { v: Type.Literal(2), packages: Type.Array(DkgRound1Schema, { minItems: 2, maxItems: MAX_PARTIES }) },
  { additionalProperties: false },
);
export type DkgRound1Set = Static<typeof DkgRound1SetSchema>;
export const parseDkgRound1Set = parser('DKG round 1 set', DkgRound1SetSchema);

/** Sent privately to one party; `transcript` echoes the round-1 set its sender saw. */
export const DkgRound2Schema = Type.Object(
  { v: Type.Literal(1), from: PartyIdSchema, to: PartyIdSchema, signingShare: Scalar, transcript: HexBytes(32) },
  { additionalProperties: false },
);
export type DkgRound2 = Static<typeof DkgRound2Schema>;
export const parseDkgRound2 = parser('DKG round 2', DkgRound2Schema);

export const DkgConfirmSchema = Type.Object(
  { v: Type.Literal(1), from: PartyIdSchema, transcript: HexBytes(32), publicDigest: HexBytes(32), groupPublicKey: HexBytes(32) },
  { additionalProperties: false },
);
export type DkgConfirm = Static<typeof DkgConfirmSchema>;
export const parseDkgConfirm = parser('DKG confirmation', DkgConfirmSchema);

export const SignCommitmentSchema = Type.Object(
  { v: Type.Literal(1), from: PartyIdSchema, hiding: Point, binding: Point },
  { additionalProperties: false },
);
export type SignCommitment = Static<typeof SignCommitmentSchema>;
export const parseSignCommitment = parser('signing commitment', SignCommitmentSchema);

export const SigningPackageSchema = Type.Object(
  {
    v: Type.Literal(1),
    msg: HexAny(MAX_MESSAGE_BYTES),
    commitments: Type.Array(SignCommitmentSchema, { minItems: 1, maxItems: MAX_PARTIES }),
  },
  { additionalProperties: false },
);
export type SigningPackage = Static<typeof SigningPackageSchema>;
export const parseSigningPackage = parser('signing package', SigningPackageSchema);

export const SignatureShareSchema = Type.Object(
  { v: Type.Literal(1), from: PartyIdSchema, share: Scalar },
  { additionalProperties: false },
);
export type SignatureShare = Static<typeof SignatureShareSchema>;
export const parseSignatureShare = parser('signature share', SignatureShareSchema);

/**
 * The public output of a FROST key generation, stored beside each sealed share
 * (versioned so that a later format can still read it).
 */
export const FrostPublicPackageSchema = Type.Object(
  {
    v: Type.Literal(1),
    suite: Type.String(),
    threshold: Type.Integer({ minimum: 1, maximum: MAX_THRESHOLD }),
    parties: Type.Array(PartyIdSchema, { minItems: 1, maxItems: MAX_PARTIES }),
    commitments: Type.Array(Point, { minItems: 1, maxItems: MAX_THRESHOLD }),
    verifyingShares: Type.Record(PartyIdSchema, Point),
  },
  { additionalProperties: false },
);
export type FrostPublicPackage = Static<typeof FrostPublicPackageSchema>;
export const parseFrostPublicPackage = parser('FROST public package', FrostPublicPackageSchema);

/** Batch signing sends one message per round, carrying one entry per signed message, in order. */
export const MAX_BATCH = 256;
const batch = <T extends Parameters<typeof Type.Array>[0]>(name: string, item: T) =>
  Type.Object({ v: Type.Literal(1), [name]: Type.Array(item, { minItems: 1, maxItems: MAX_BATCH }) }, { additionalProperties: false });

export const SignCommitmentBatchSchema = batch('commitments', SignCommitmentSchema);
export const parseSignCommitmentBatch = parser('signing commitments', SignCommitmentBatchSchema);
export const SigningPackageBatchSchema = batch('packages', SigningPackageSchema);
export const parseSigningPackageBatch = parser('signing packages', SigningPackageBatchSchema);
export const SignatureShareBatchSchema = batch('shares', SignatureShareSchema);
export const parseSignatureShareBatch = parser('signature shares', SignatureShareBatchSchema);
