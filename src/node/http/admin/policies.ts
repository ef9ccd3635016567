import type { RuleRecord } from '../../../policy/types.js';
import { TandemError } from '../../../core/errors.js';
import {
  CreatePolicyBody,
  PolicyIdBody,
  PolicyIdParams,
  PolicyIdResponse,
  PolicyListResponse,
  PolicyResponse,
  PolicyRuleBody,
  PolicyRulesResponse,
  SetKeyPolicyBody,
  SetKeyPolicyResponse,
  SetUserPolicyBody,
  SetUserPolicyResponse,
} from '../../../api/policy-schemas.js';
import { errorResponses } from '../../../api/schemas.js';
import { type AdminScope } from './scope.js';

const ruleBody = (r: RuleRecord) => ({ rule_id: r.ruleId, name: r.name, definition: r.definition, created_at: r.createdAt.toISOString() });

/** The admin API's policies and their rules, and which users and keys they bind. */
export function registerPolicyRoutes(s: AdminScope): void {
  const { ctx, r, tags, onRequest, audited } = s;

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
}
