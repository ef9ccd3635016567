import { randomUUID } from 'node:crypto';
import type { Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { TandemError } from '../../core/errors.js';
import { fromHex, toHex } from '../../core/hex.js';
import type { PartyId } from '../../core/ids.js';
import { parseRequestPublicKey } from '../../api/request-signature.js';
import { CreateRoomBody, CreateRoomResponse, CreateUserBody, CreateUserResponse, SetRequestKeyBody, SetRequestKeyResponse, errorResponses } from '../../api/schemas.js';
import { adminEvidence } from '../caller-evidence.js';
import { requestedRelay, type NodeContext } from '../ceremonies/context.js';
import { coordinateCreateUser } from '../ceremonies/create-user.js';
import { coordinateCreateRoom, DEFAULT_ROOM_TTL_S } from '../ceremonies/rooms.js';
import type { Guards } from './authentication.js';
import { credentialOf, isSignedRequest, principalOf } from './key-routes.js';
import type { NodeServer } from './server.js';

const checkCreateUserBody = Compile(CreateUserBody);

/** Users and their request keys, and rooms: what spans nodes besides keys. */
export function registerUserRoutes(app: NodeServer, ctx: NodeContext, { requireUser, requireAdmin }: Guards): void {
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
      const room = await coordinateCreateRoom(ctx, principalOf(req), {
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
      const { userId, apiKey } = await coordinateCreateUser(ctx, { evidence: adminEvidence(credentialOf(req)) }, requestKey);
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
      const { user } = principalOf(req);
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
}
