import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { SqlBanStore } from '../../storage/ban-store.js';
import type { AdminRouteOptions } from './admin-routes.js';
import { errorResponses, TextId } from '../../api/schemas.js';

const BansQuery = Type.Object({
  key_id: Type.Optional(TextId('Only this key\'s bans.')),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'At most this many, newest first (default and cap 1000).' })),
});

const BansResponse = Type.Object({
  bans: Type.Array(
    Type.Object({
      key_id: Type.String(),
      party_id: Type.String({ description: 'The peer (node or room client) this node never runs a ceremony with again on this key.' }),
      reason: Type.String({ description: 'Which check it failed: the OT-extension consistency check, μ, Γu or Γv.' }),
      banned_at: Type.String({ format: 'date-time' }),
    }),
  ),
});

/**
 * GET /admin/bans: the DKLs23 bans of this node. A ban is lifted only by replacing the key
 * material (a key refresh); until then the key signs with its other holders.
 */
export function registerBanRoutes(app: FastifyInstance, bans: SqlBanStore, opts: AdminRouteOptions): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/admin/bans',
    {
      onRequest: opts.requireAdmin,
      schema: { tags: ['admin'], summary: 'List the peers this node has banned, per key (admin only)', querystring: BansQuery, response: { 200: BansResponse, ...errorResponses } },
    },
    async (req) => {
      const limit = Math.min(Number(req.query.limit ?? '1000') || 1000, 1000);
      const list = await bans.list(req.query.key_id, limit);
      return { bans: list.map((b) => ({ key_id: b.keyId, party_id: b.party, reason: b.reason, banned_at: b.at.toISOString() })) };
    },
  );
}
