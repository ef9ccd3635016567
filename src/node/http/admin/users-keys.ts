import { TandemError } from '../../../core/errors.js';
import type { UserId } from '../../../core/ids.js';
import type { KeySummary } from '../../../storage/policy-store.js';
import {
  KeyIdParams,
  KeyResponse,
  UserIdBody,
  UserIdParams,
  UserIdResponse,
  UserListQuery,
  UserListResponse,
  UserResponse,
} from '../../../api/policy-schemas.js';
import { errorResponses } from '../../../api/schemas.js';
import { pageSize, type AdminScope } from './scope.js';

const keyBody = (k: KeySummary) => ({ key_id: k.keyId, family: k.family, owner_user_id: k.ownerUserId, policy_id: k.policyId, created_at: k.createdAt.toISOString() });

/** The admin API's users and keys as this node knows them. */
export function registerUserKeyRoutes(s: AdminScope): void {
  const { ctx, r, tags, onRequest, audited } = s;

  r.get(
    '/admin/users',
    { onRequest, schema: { tags, summary: 'List the users of this node, by id, a page at a time (admin only)', querystring: UserListQuery, response: { 200: UserListResponse, ...errorResponses } } },
    async (req) => {
      const limit = pageSize(req.query.limit);
      const users = await ctx.policies.listUsers(req.query.after ?? null, limit);
      const last = users[users.length - 1];
      return {
        users: users.map((u) => ({ user_id: u.userId, policy_id: u.policyId, key_count: u.keyCount, created_at: u.createdAt.toISOString() })),
        next_after: users.length === limit && last ? last.userId : null,
      };
    },
  );

  r.get(
    '/admin/users/:user_id',
    { onRequest, schema: { tags, summary: 'Read a user: its policy and its keys on this node (admin only)', params: UserIdParams, response: { 200: UserResponse, ...errorResponses } } },
    async (req) => {
      const user = await ctx.policies.getUserSummary(req.params.user_id);
      if (!user) throw new TandemError('user_id_not_exists', `user ${req.params.user_id} does not exist on this node`);
      const policy = user.policyId ? await ctx.policies.getPolicy(user.policyId) : undefined;
      const keys = await ctx.policies.keysOfUser(user.userId);
      return {
        user_id: user.userId,
        policy_id: user.policyId,
        policy_name: policy?.name ?? null,
        key_count: keys.length,
        keys: keys.map(keyBody),
        created_at: user.createdAt.toISOString(),
      };
    },
  );

  r.post(
    '/admin/delete-user',
    {
      onRequest,
      schema: {
        tags,
        summary: 'Delete a user on this node only (admin only); refused while it owns keys here',
        description: 'Removes the user and its policy binding from this node. Other nodes keep the user until deleted there too; a user who owns keys on this node is refused (bad_request_params), since deleting it would orphan key shares.',
        body: UserIdBody,
        response: { 200: UserIdResponse, ...errorResponses },
      },
    },
    async (req) =>
      audited('delete-user', { detail: { user_id: req.body.user_id } }, async () => {
        await ctx.policies.deleteUser(req.body.user_id);
        // The row is gone; this evicts the user from a caching NodeStore so its API key stops working at once.
        await ctx.store.deleteUser(req.body.user_id as UserId);
        return { user_id: req.body.user_id };
      }),
  );

  r.get(
    '/admin/keys/:key_id',
    { onRequest, schema: { tags, summary: 'Read a key\'s owner and policy on this node (admin only)', params: KeyIdParams, response: { 200: KeyResponse, ...errorResponses } } },
    async (req) => {
      const key = await ctx.policies.getKeySummary(req.params.key_id);
      if (!key) throw new TandemError('key_id_not_exists', `key ${req.params.key_id} does not exist on this node`);
      return keyBody(key);
    },
  );
}
