import Type, { type Static } from 'typebox';
import { fromHex } from '../core/hex.js';
import { Compile } from 'typebox/compile';
import { HexAny, HexBytes, parser } from '../protocols/wire.js';
import { MAX_BATCH, MAX_MESSAGE_BYTES, MAX_PARTIES } from '../protocols/frost/messages.js';
import { parseDerivationPath } from '../protocols/derivation/path.js';
import { ProtocolError } from '../protocols/errors.js';
import type { PartyId } from '../core/ids.js';

/**
 * What a coordinator asks of the other parties of a ceremony, as typed values parsed once
 * from the wire: the invitation envelope a node gets in its inbox, the operation it (or a
 * room's client, in the room itself) is told, and the names of every step. The JSON field
 * names are the wire format of the last release: nodes and device parties of that release
 * speak them, and so do the adversarial tests.
 */

/** Operation names, as `op.type` carries them. */
export const OP = {
  frostKeygen: 'frost-keygen',
  frostSign: 'frost-sign',
  dklsKeygen: 'dkls-keygen',
  dklsSign: 'dkls-sign',
  createUser: 'create-user',
  createRoom: 'create-room',
} as const;

/** Step names of every ceremony, in one place. */
export const STEP = {
  /** A room client's invitation, sent in the room itself: `{ op }`. */
  invite: 'invite',
  /** Heard from each other before key-generation secrets go out (forward secrecy). */
  hello: 'hello',
  r1: 'r1',
  r1set: 'r1set',
  r2: 'r2',
  r3: 'r3',
  r4: 'r4',
  ready: 'ready',
  start: 'start',
  /** FROST signing: a participant's nonce commitments, the coordinator's packages, the shares. */
  commit: 'commit',
  package: 'package',
  share: 'share',
  confirm: 'confirm',
  /** Records every node keeps a copy of (create-user, create-room): stored, then committed. */
  created: 'created',
  stored: 'stored',
} as const;

const KeyIdSchema = Type.String({ pattern: '^[0-9a-f-]{36}$' });
/** Checked against the ceremony's own id by whoever claims the room (a refusal of its own there). */
const RoomField = Type.Optional(Type.String({ maxLength: 100 }));
const Count = Type.Integer({ minimum: 1, maximum: MAX_PARTIES });
const PathSchema = Type.Array(Type.Integer({ minimum: 0, maximum: 0xffffffff }), { maxItems: 256 });
const Opaque = Type.Optional(Type.Unknown());

const FrostKeygenSchema = Type.Object(
  { type: Type.Literal(OP.frostKeygen), family: Type.String({ maxLength: 32 }), key_id: KeyIdSchema, n: Count, t: Count, room_uuid: RoomField },
  { additionalProperties: true },
);
const FrostSignSchema = Type.Object(
  {
    type: Type.Literal(OP.frostSign),
    family: Type.String({ maxLength: 32 }),
    key_id: KeyIdSchema,
    path: PathSchema,
    msgs: Type.Array(HexAny(MAX_MESSAGE_BYTES), { minItems: 1, maxItems: MAX_BATCH }),
    extra_data: Type.Optional(HexAny(MAX_MESSAGE_BYTES)),
    room_uuid: RoomField,
  },
  { additionalProperties: true },
);
const DklsKeygenSchema = Type.Object(
  { type: Type.Literal(OP.dklsKeygen), key_id: KeyIdSchema, n: Count, t: Count, room_uuid: RoomField, owner_passkey: Opaque },
  { additionalProperties: true },
);
const DklsSignSchema = Type.Object(
  {
    type: Type.Literal(OP.dklsSign),
    key_id: KeyIdSchema,
    msgs: Type.Array(HexBytes(32), { minItems: 1, maxItems: MAX_BATCH }),
    path: PathSchema,
    extra_data: Type.Optional(HexAny(MAX_MESSAGE_BYTES)),
    room_uuid: RoomField,
    passkey_evidence: Opaque,
  },
  { additionalProperties: true },
);

export type FrostKeygenOp = Static<typeof FrostKeygenSchema>;
export type FrostSignOp = Static<typeof FrostSignSchema>;
export type DklsKeygenOp = Static<typeof DklsKeygenSchema>;
export type DklsSignOp = Static<typeof DklsSignSchema>;
export type KeygenOperation = FrostKeygenOp | DklsKeygenOp;
export type SignOperation = FrostSignOp | DklsSignOp;
/** A key ceremony's operation, as every party of it gets it. */
export type KeyOperation = KeygenOperation | SignOperation;

const keyOperationParsers = {
  [OP.frostKeygen]: parser('frost-keygen invitation', FrostKeygenSchema),
  [OP.frostSign]: parser('frost-sign invitation', FrostSignSchema),
  [OP.dklsKeygen]: parser('dkls-keygen invitation', DklsKeygenSchema),
  [OP.dklsSign]: parser('dkls-sign invitation', DklsSignSchema),
} as const;

export const isKeyOperationType = (type: string): type is KeyOperation['type'] => Object.hasOwn(keyOperationParsers, type);

/** The typed operation of an invitation, or a ProtocolError naming `from` (the coordinator). */
export function parseKeyOperation(op: unknown, from: PartyId): KeyOperation {
  const type = (op as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !isKeyOperationType(type)) throw new ProtocolError('invitation to an unknown operation', from);
  return keyOperationParsers[type](op, from);
}

/** A sign operation's messages, path and extra data as bytes; the batch at most `maxBatch` long. */
export function signInputs(op: SignOperation, maxBatch: number, from: PartyId): { msgs: Uint8Array[]; path: number[]; extraData: Uint8Array } {
  if (op.msgs.length > maxBatch) throw new ProtocolError('invitation with more messages than TANDEM_MAX_BATCH', from);
  let path: number[];
  try {
    path = parseDerivationPath(op.path);
  } catch {
    throw new ProtocolError('invitation with a malformed path', from);
  }
  return { msgs: op.msgs.map(hexBytes), path, extraData: hexBytes(op.extra_data ?? '') };
}

/**
 * The records every node keeps a copy of (a user, a room): node-only operations, whose
 * participant refuses a malformed one as bad_request_params.
 */
const CreateUserSchema = Type.Object(
  {
    type: Type.Literal(OP.createUser),
    user_id: Type.String({ pattern: '^[0-9a-f]{32}$' }),
    api_key_hash: HexBytes(32),
    request_key: Type.Optional(Type.Object({ type: Type.Unknown(), key: Type.Unknown() }, { additionalProperties: true })),
  },
  { additionalProperties: true },
);
const CreateRoomSchema = Type.Object(
  {
    type: Type.Literal(OP.createRoom),
    room_uuid: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
    num_parties: Type.Integer(),
    clients: Type.Array(Type.Object({ party_id: Type.String({ maxLength: 64 }), public_key: HexBytes(32) }, { additionalProperties: true }), { maxItems: MAX_PARTIES }),
    relay: Type.String({ maxLength: 300 }),
    expires_at: Type.Integer(),
  },
  { additionalProperties: true },
);
export type CreateUserOp = Static<typeof CreateUserSchema>;
export type CreateRoomOp = Static<typeof CreateRoomSchema>;
const createUserCheck = Compile(CreateUserSchema);
const createRoomCheck = Compile(CreateRoomSchema);
export const isCreateUserOp = (op: unknown): op is CreateUserOp => createUserCheck.Check(op);
export const isCreateRoomOp = (op: unknown): op is CreateRoomOp => createRoomCheck.Check(op);

/**
 * A node's invitation to a ceremony, as it travels to a peer's inbox sealed in the
 * ceremony's own channel (so it is bound to that ceremony and is the coordinator's word). It
 * carries the evidence of the caller (the caller's own signed request, which the peer
 * verifies itself, or the coordinator's word, never a bearer key); version 1 carried the
 * caller's bearer API key.
 */
export const InvitationSchema = Type.Object(
  {
    v: Type.Literal(2),
    ceremony: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
    relay: Type.String({ maxLength: 300 }),
    issuedAt: Type.Integer(),
    // A whole signed request (its body is at most the node's 256 KiB limit), or a vouch.
    evidence: Type.String({ maxLength: 400_000 }),
    op: Type.Object({ type: Type.String({ maxLength: 64 }) }, { additionalProperties: true }),
  },
  { additionalProperties: false },
);
export type Invitation = Static<typeof InvitationSchema>;
export const checkInvitation = Compile(InvitationSchema);

/** A room client's invitation, in the room: the operation only (never the caller's evidence). */
const ClientInvitationSchema = Type.Object({ op: Type.Object({ type: Type.String({ maxLength: 64 }) }, { additionalProperties: true }) }, { additionalProperties: true });
const parseClientInvitationBody = parser('invitation', ClientInvitationSchema);

export function parseClientInvitation(body: unknown, from: PartyId): KeyOperation {
  return parseKeyOperation(parseClientInvitationBody(body, from).op, from);
}

export const clientInvitation = (op: KeyOperation) => ({ op });

/** Hex the schema has let through (even length, hex digits only). */
const hexBytes = (hex: string): Uint8Array => fromHex(hex);
