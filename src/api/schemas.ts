import Type from 'typebox';
import { MAX_MESSAGE_BYTES } from '../protocols/frost/messages.js';
import { ERR_TYPES } from '../core/errors.js';
import { PRINTABLE_TEXT_PATTERN } from '../core/text.js';

/** Request and response schemas: they validate requests and make the OpenAPI document. */
const hex = (description: string, maxBytes: number) =>
  Type.String({ pattern: '^(?:[0-9a-fA-F]{2})*$', maxLength: maxBytes * 2, description });

/**
 * An id a caller names (key, user, rule, policy): 1..64 characters storage can hold and a
 * lookup can use (see core/text.ts), so a NUL is the caller's bad_request_params, never
 * the database's error; an unknown but well-formed id is still the route's "not found".
 */
export const TextId = (description: string) => Type.String({ minLength: 1, maxLength: 64, pattern: PRINTABLE_TEXT_PATTERN, description });
export const KeyId = TextId('A key id (returned by keygen).');

/** The API accepts what the FROST wire format carries. */
const MAX_SIGN_MESSAGE_BYTES = MAX_MESSAGE_BYTES;

export const RelayAddress = Type.Union(
  [
    Type.String({
      pattern: '^(?:[A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:.]{2,45}\\]):[0-9]{1,5}$',
      description: 'Relay to use for this operation only, as host:port: one the node trusts (its relay, fallback relays, TANDEM_TRUSTED_RELAYS). Defaults to the node\'s relay.',
    }),
    Type.Null(),
  ],
  { description: 'Optional relay address (host:port) for this operation only, one of the node\'s trusted relays; any other is bad_request_params.' },
);

export const ErrorBody = Type.Object(
  {
    err_type: Type.String({ enum: [...ERR_TYPES] }),
    err_msg: Type.String(),
  },
  { $id: 'Error' },
);

export const errorResponses = {
  400: { $ref: 'Error#', description: 'Bad request: one of the seed\'s 400 error types' },
  401: { $ref: 'Error#', description: 'access_denied: missing or wrong API key' },
  404: { $ref: 'Error#', description: 'not_found' },
  500: { $ref: 'Error#', description: 'internal_problem' },
};

export const CreateUserResponse = Type.Object({
  user_id: Type.String(),
  api_key: Type.String({ description: 'Shown once; the node stores only its hash.' }),
});

export const RoomUuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'A room from POST /create-room: its client parties take part, over the room\'s relay (relay_address is then ignored).',
});

export const KeygenBody = Type.Object({
  num_parties: Type.Integer({ description: 'n: how many parties hold a share' }),
  threshold: Type.Integer({ description: 't: how many parties are needed to sign (2 <= t <= n)' }),
  relay_address: Type.Optional(RelayAddress),
  room_uuid: Type.Optional(RoomUuid),
});

export const RoomClientBody = Type.Object(
  {
    party_id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'The client\'s party id in the ceremony (not a node\'s id).' }),
    public_key: Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'Hex 32-byte X25519 key of the client\'s ceremony channel.' }),
  },
  { additionalProperties: false },
);

export const CreateRoomBody = Type.Object(
  {
    num_parties: Type.Integer({ minimum: 2, maximum: 16, description: 'Parties of the ceremony: the clients and the nodes together (for a sign, the key\'s threshold).' }),
    parties: Type.Array(RoomClientBody, { minItems: 1, maxItems: 15, description: 'The client parties (a device, an app backend).' }),
    ttl_s: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600, description: 'How long the room can be used; default 300 s.' })),
    relay_address: Type.Optional(RelayAddress),
  },
  { additionalProperties: false },
);

export const CreateRoomResponse = Type.Object({
  room_uuid: Type.String(),
  expires_at: Type.String({ description: 'ISO 8601' }),
  relay_address: Type.String({ description: 'host:port of the relay the clients join the room on.' }),
  nodes: Type.Array(Type.String(), { description: 'The nodes that hold the room; a keygen or sign naming it goes to one of them.' }),
  relay_capabilities: Type.Record(Type.String(), Type.String(), {
    description: 'Per client party_id, the capability it presents when it joins the room on the relay (the relay admits no one as a room client without one). Valid until 5 minutes after expires_at.',
  }),
});

export const HexHash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'A 32-byte hash, hex.' });

export const DerivationPath = Type.String({
  pattern: "^m(/(0|[1-9][0-9]{0,9}))*$",
  maxLength: 2048,
  description: 'Non-hardened derivation path such as m/0/7 (a threshold key has no parent private key, so no hardened steps).',
});

export const DeriveBody = Type.Object({ key_id: KeyId, derivation_path: DerivationPath });
export const DeriveResponse = Type.Object({
  key_id: Type.String(),
  derivation_path: Type.String(),
  public_key: Type.String({ description: 'The child public key, in the family\'s format.' }),
  chain_code: Type.String({ description: 'Hex 32-byte chain code of the child.' }),
});

export const KeygenResponse = (publicKey: string) =>
  Type.Object({ key_id: Type.String(), public_key: Type.String({ description: publicKey }) });

export const ExtraData = hex('Hex encoded extra data passed to the Rule Server.', MAX_SIGN_MESSAGE_BYTES);

const Message = hex('A message to sign, hex encoded.', MAX_SIGN_MESSAGE_BYTES);

export const SignBody = (msg: string) =>
  Type.Object({
    key_id: KeyId,
    msg: Type.Union([Message, Type.Array(Message, { minItems: 1 })], {
      description: `${msg} A list signs a batch in one ceremony; the answer is then { signatures: [...] } in the same order.`,
    }),
    extra_data: Type.Optional(ExtraData),
    derivation_path: Type.Optional(DerivationPath),
    relay_address: Type.Optional(RelayAddress),
    room_uuid: Type.Optional(RoomUuid),
  });

export const SignatureResponse = (signature: string) => Type.Object({ signature: Type.String({ description: signature }) });
export const SignResponse = (signature: string) =>
  Type.Union([SignatureResponse(signature), Type.Object({ signatures: Type.Array(SignatureResponse(signature)) })]);

export const KeyIdParams = Type.Object({ key_id: KeyId });

export const PublicKeyResponse = Type.Object({
  key_id: Type.String(),
  public_key: Type.String(),
  threshold: Type.Integer(),
  num_parties: Type.Integer(),
  parties: Type.Array(Type.String()),
  chain_code: Type.String({ description: 'Hex 32-byte chain code: with the public key, the root of non-hardened derivation.' }),
});

export const HealthResponse = Type.Object({
  status: Type.String(),
  node_id: Type.String(),
  relay_connected: Type.Boolean(),
  storage_ok: Type.Boolean(),
});

export const IdentityResponse = Type.Object({
  node_id: Type.String(),
  signing_public_key: Type.String({ description: 'Hex 32-byte Ed25519 public key' }),
  channel_public_key: Type.String({ description: 'Hex 32-byte X25519 key of the node\'s ceremony channel: what a room client seals its messages to.' }),
});

const RequestPublicKey = Type.Object(
  {
    type: Type.Union([Type.Literal('ed25519'), Type.Literal('p256')]),
    key: Type.String({ pattern: '^[0-9a-fA-F]+$', maxLength: 130, description: 'Hex: Ed25519 32 bytes; P-256 SEC1 33 or 65 bytes' }),
  },
  { additionalProperties: false },
);

export const SetRequestKeyBody = Type.Object({ public_key: RequestPublicKey }, { additionalProperties: false });
export const SetRequestKeyResponse = Type.Object({ user_id: Type.String(), public_key: RequestPublicKey });

export const CreateUserBody = Type.Object(
  {
    public_key: Type.Optional(RequestPublicKey),
  },
  { additionalProperties: false },
);
