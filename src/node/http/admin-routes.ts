import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseRuleDefinition, RuleDefinitionError } from '../../policy/rule-definition.js';
import type { RuleRecord } from '../../policy/types.js';
import { TandemError } from '../../shared/errors.js';
import type { UserId } from '../../shared/ids.js';
import { auditFields, type AuditEntry, type AuditLog } from '../../storage/audit-log.js';
import type { KeySummary, PolicyStore } from '../../storage/policy-store.js';
import type { NodeContext } from '../ceremonies/context.js';
import {
  AuditListResponse,
  AuditQuery,
  AuditVerifyQuery,
  AuditVerifyResponse,
  CreatePolicyBody,
  CreateRuleBody,
  KeyIdParams,
  KeyResponse,
  PolicyIdBody,
  PolicyIdParams,
  PolicyIdResponse,
  PolicyListResponse,
  PolicyResponse,
  PolicyRuleBody,
  PolicyRulesResponse,
  RuleIdBody,
  RuleIdParams,
  RuleIdResponse,
  RuleListResponse,
  RuleResponse,
  SetKeyPolicyBody,
  SetKeyPolicyResponse,
  SetUserPolicyBody,
  SetUserPolicyResponse,
  UserIdBody,
  UserIdParams,
  UserIdResponse,
  UserListQuery,
  UserListResponse,
  UserResponse,
} from './policy-schemas.js';
import { errorResponses } from './schemas.js';

/** The webhook contract, in the OpenAPI document as in the README. */
const WEBHOOK_DOC = [
  'Declarative rules are checked by the node itself; a webhook rule asks a Rule Server.',
  'Webhook request: POST <url>, JSON {request_id, ceremony_id, operation, key_family, key_id, public_key, derivation_path, derived_public_key, msg, extra_data, user_id, node_id, timestamp} (hex without 0x, null where absent; request_id fresh for every request, ceremony_id for correlation only),',
  'headers x-tandem-node-id and x-tandem-signature = hex Ed25519 signature by the node (GET /identity) over "tandem-rule-request/v1\\n" || body.',
  'Answer: 200 {"approved": true|false, "reason"?}; when the rule has public_key (hex Ed25519), header x-tandem-rule-signature = hex signature over "tandem-rule-response/v2\\n" || hex(SHA-256(request body)) || "\\n" || body (v1 is refused).',
  'Anything else (timeout_ms exceeded, redirect, non-200, bad JSON, approved not exactly true, bad signature) refuses.',
].join(' ');

/** What the admin routes need of the node: its stores (the NodeStore only to evict a deleted user from its cache). */
export type AdminContext = Pick<NodeContext, 'store' | 'log'> & { policies: PolicyStore; audit: AuditLog };

export interface AdminRouteOptions {
  requireAdmin(req: FastifyRequest): Promise<void>;
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function pageSize(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  const n = Number(limit);
  if (n < 1 || n > MAX_PAGE) throw new TandemError('bad_request_params', `limit must be between 1 and ${MAX_PAGE}`);
  return n;
}

const ruleBody = (r: RuleRecord) => ({ rule_id: r.ruleId, name: r.name, definition: r.definition, created_at: r.createdAt.toISOString() });
const keyBody = (k: KeySummary) => ({ key_id: k.keyId, family: k.family, owner_user_id: k.ownerUserId, policy_id: k.policyId, created_at: k.createdAt.toISOString() });
const auditBody = (e: AuditEntry) => ({ ...auditFields(e), hash: e.hash });

/** What an admin mutation's audit entry names; the handler fills in what it learns (a new rule's id). */
interface AuditRefs {
  keyId?: string;
  ruleId?: string;
  detail: Record<string, unknown>;
}

/**
 * The admin API for this node's policies and audit log (seed 000's policy endpoints).
 * Rules, policies and bindings are per node: an administrator configures each node.
 * Every mutation, done or refused, is appended to the audit log with actor "admin".
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: AdminContext, opts: AdminRouteOptions): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['admin'];
  const onRequest = opts.requireAdmin;

  /**
   * Runs one mutation and records it: 'ok', 'refused' (an API error: not found, in use,
   * duplicate, invalid) or 'failed' (anything else). The entry is appended after the
   * mutation commits; if that append fails the request fails (internal_problem) even
   * though the change stands, so a broken audit log can't go unnoticed.
   */
  async function audited<T>(operation: string, refs: AuditRefs, fn: (refs: AuditRefs) => Promise<T>): Promise<T> {
    const requestId = randomUUID();
    const entry = () => ({ requestId, actor: 'admin', operation, keyId: refs.keyId ?? null, ruleId: refs.ruleId ?? null });
    let out: T;
    try {
      out = await fn(refs);
    } catch (e) {
      const result = e instanceof TandemError ? 'refused' : 'failed';
      const err = e instanceof TandemError ? { err_type: e.type, err_msg: e.message } : { err_type: 'internal_problem' };
      await ctx.audit.append({ ...entry(), result, detail: { ...refs.detail, ...err } }).catch((ae: Error) => ctx.log(`audit append failed for ${operation}: ${ae.message}`));
      throw e;
    }
    await ctx.audit.append({ ...entry(), result: 'ok', detail: refs.detail });
    return out;
  }

  // ---- rules ----

  r.post(
    '/admin/create-rule',
    { onRequest, schema: { tags, summary: 'Create a rule on this node (admin only)', description: WEBHOOK_DOC, body: CreateRuleBody, response: { 200: RuleIdResponse, ...errorResponses } } },
    async (req) =>
      audited('create-rule', { detail: { name: String(req.body.name).slice(0, 128), type: req.body.type } }, async (refs) => {
        let parsed: ReturnType<typeof parseRuleDefinition>;
        try {
          parsed = parseRuleDefinition(req.body);
        } catch (e) {
          if (e instanceof RuleDefinitionError) throw new TandemError('bad_request_params', e.message);
          throw e;
        }
        refs.detail = { name: parsed.name, definition: parsed.definition };
        const rule = await ctx.policies.createRule(parsed.name, parsed.definition);
        refs.ruleId = rule.ruleId;
        return { rule_id: rule.ruleId };
      }),
  );

  r.get(
    '/admin/rules',
    { onRequest, schema: { tags, summary: 'List the rules of this node (admin only)', response: { 200: RuleListResponse, ...errorResponses } } },
    async () => ({ rules: (await ctx.policies.listRules()).map(ruleBody) }),
  );

  r.get(
    '/admin/rules/:rule_id',
    { onRequest, schema: { tags, summary: 'Read a rule (admin only)', params: RuleIdParams, response: { 200: RuleResponse, ...errorResponses } } },
    async (req) => {
      const rule = await ctx.policies.getRule(req.params.rule_id);
      if (!rule) throw new TandemError('rule_not_found', `rule ${req.params.rule_id} not found`);
      return ruleBody(rule);
    },
  );

  r.post(
    '/admin/delete-rule',
    { onRequest, schema: { tags, summary: 'Delete a rule that no policy lists (admin only)', body: RuleIdBody, response: { 200: RuleIdResponse, ...errorResponses } } },
    async (req) =>
      audited('delete-rule', { ruleId: req.body.rule_id, detail: {} }, async () => {
        await ctx.policies.deleteRule(req.body.rule_id);
        return { rule_id: req.body.rule_id };
      }),
  );

  // ---- policies ----

  r.post(
    '/admin/create-policy',
    { onRequest, schema: { tags, summary: 'Create an empty policy on this node (admin only)', body: CreatePolicyBody, response: { 200: PolicyIdResponse, ...errorResponses } } },
    async (req) =>
      audited('create-policy', { detail: { name: req.body.name } }, async (refs) => {
        const policy = await ctx.policies.createPolicy(req.body.name);
        refs.detail.policy_id = policy.policyId;
        return { policy_id: policy.policyId };
      }),
  );

  r.get(
    '/admin/policies',
    { onRequest, schema: { tags, summary: 'List the policies of this node (admin only)', response: { 200: PolicyListResponse, ...errorResponses } } },
    async () => ({
      policies: (await ctx.policies.listPolicies()).map((p) => ({ policy_id: p.policyId, name: p.name, rule_ids: p.ruleIds, created_at: p.createdAt.toISOString() })),
    }),
  );

  r.get(
    '/admin/policies/:policy_id',
    { onRequest, schema: { tags, summary: 'Read a policy: its rules in order and the users and keys bound to it (admin only)', params: PolicyIdParams, response: { 200: PolicyResponse, ...errorResponses } } },
    async (req) => {
      const policy = await ctx.policies.getPolicy(req.params.policy_id);
      if (!policy) throw new TandemError('policy_not_found', `policy ${req.params.policy_id} not found`);
      const bindings = await ctx.policies.policyBindings(policy.policyId);
      const rules: RuleRecord[] = [];
      for (const id of policy.ruleIds) {
        const rule = await ctx.policies.getRule(id);
        if (rule) rules.push(rule);
      }
      return {
        policy_id: policy.policyId,
        name: policy.name,
        rule_ids: policy.ruleIds,
        rules: rules.map(ruleBody),
        user_ids: bindings.userIds,
        key_ids: bindings.keyIds,
        created_at: policy.createdAt.toISOString(),
      };
    },
  );

  r.post(
    '/admin/delete-policy',
    { onRequest, schema: { tags, summary: 'Delete a policy bound to no user or key (admin only); its rules stay', body: PolicyIdBody, response: { 200: PolicyIdResponse, ...errorResponses } } },
    async (req) =>
      audited('delete-policy', { detail: { policy_id: req.body.policy_id } }, async () => {
        await ctx.policies.deletePolicy(req.body.policy_id);
        return { policy_id: req.body.policy_id };
      }),
  );

  r.post(
    '/admin/add-rule-to-policy',
    { onRequest, schema: { tags, summary: 'Append a rule to a policy (admin only)', body: PolicyRuleBody, response: { 200: PolicyRulesResponse, ...errorResponses } } },
    async (req) =>
      audited('add-rule-to-policy', { ruleId: req.body.rule_id, detail: { policy_id: req.body.policy_id } }, async () => ({
        policy_id: req.body.policy_id,
        rule_ids: await ctx.policies.addRuleToPolicy(req.body.policy_id, req.body.rule_id),
      })),
  );

  r.post(
    '/admin/remove-rule-from-policy',
    { onRequest, schema: { tags, summary: 'Remove a rule from a policy (admin only); the rule stays', body: PolicyRuleBody, response: { 200: PolicyRulesResponse, ...errorResponses } } },
    async (req) =>
      audited('remove-rule-from-policy', { ruleId: req.body.rule_id, detail: { policy_id: req.body.policy_id } }, async () => ({
        policy_id: req.body.policy_id,
        rule_ids: await ctx.policies.removeRuleFromPolicy(req.body.policy_id, req.body.rule_id),
      })),
  );

  // ---- bindings ----

  r.post(
    '/admin/set-user-policy',
    { onRequest, schema: { tags, summary: 'Bind a user to a policy, or unbind with policy_id null (admin only)', body: SetUserPolicyBody, response: { 200: SetUserPolicyResponse, ...errorResponses } } },
    async (req) =>
      audited('set-user-policy', { detail: { user_id: req.body.user_id, policy_id: req.body.policy_id } }, async () => {
        await ctx.policies.setUserPolicy(req.body.user_id, req.body.policy_id);
        return { user_id: req.body.user_id, policy_id: req.body.policy_id };
      }),
  );

  r.post(
    '/admin/set-key-policy',
    { onRequest, schema: { tags, summary: 'Bind a key to a policy, or unbind with policy_id null (admin only)', body: SetKeyPolicyBody, response: { 200: SetKeyPolicyResponse, ...errorResponses } } },
    async (req) =>
      audited('set-key-policy', { keyId: req.body.key_id, detail: { policy_id: req.body.policy_id } }, async () => {
        await ctx.policies.setKeyPolicy(req.body.key_id, req.body.policy_id);
        return { key_id: req.body.key_id, policy_id: req.body.policy_id };
      }),
  );

  // ---- users and keys ----

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

  // ---- audit log ----

  r.get(
    '/admin/audit',
    { onRequest, schema: { tags, summary: 'Read this node\'s audit log, oldest first, a page at a time (admin only)', querystring: AuditQuery, response: { 200: AuditListResponse, ...errorResponses } } },
    async (req) => {
      const limit = pageSize(req.query.limit);
      const entries = await ctx.audit.list(Number(req.query.after_seq ?? '0'), limit);
      const last = entries[entries.length - 1];
      return { entries: entries.map(auditBody), next_after_seq: entries.length === limit && last ? last.seq : null };
    },
  );

  r.get(
    '/admin/audit/verify',
    {
      onRequest,
      schema: {
        tags,
        summary: 'Verify this node\'s audit log hash chain (admin only)',
        description: 'Detects altered, removed, inserted or reordered entries. Entries cut off the end leave a valid shorter chain: record the returned head (and entries) elsewhere and pass them back as anchor_seq/anchor_hash to detect that.',
        querystring: AuditVerifyQuery,
        response: { 200: AuditVerifyResponse, ...errorResponses },
      },
    },
    async (req) => {
      const { anchor_seq, anchor_hash } = req.query;
      if ((anchor_seq === undefined) !== (anchor_hash === undefined)) throw new TandemError('bad_request_params', 'anchor_seq and anchor_hash go together');
      const result = await ctx.audit.verify(anchor_seq !== undefined && anchor_hash !== undefined ? { seq: Number(anchor_seq), hash: anchor_hash } : undefined);
      return result.ok ? { ok: true, entries: result.entries, head: result.head } : { ok: false, first_bad_seq: result.firstBadSeq, reason: result.reason };
    },
  );
}
