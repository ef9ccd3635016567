import {
  isAuditableRuleBody,
  parseRuleDefinition,
  RuleDefinitionError,
} from '../../../policy/rule-definition.js';
import type { RuleRecord } from '../../../policy/types.js';
import { TandemError } from '../../../core/errors.js';
import {
  CreateRuleBody,
  RuleIdBody,
  RuleIdParams,
  RuleIdResponse,
  RuleListResponse,
  RuleResponse,
} from '../../../api/policy-schemas.js';
import { errorResponses } from '../../../api/schemas.js';
import { type AdminScope } from './scope.js';

const WEBHOOK_DOC = [
  'Declarative rules are checked by the node itself; a webhook rule asks a Rule Server.',
  'Webhook request: POST <url>, JSON {request_id, ceremony_id, operation, key_family, key_id, public_key, derivation_path, derived_public_key, msg, extra_data, user_id, node_id, timestamp} (hex without 0x, null where absent; request_id fresh for every request, ceremony_id for correlation only),',
  'headers x-tandem-node-id and x-tandem-signature = hex Ed25519 signature by the node (GET /identity) over "tandem-rule-request/v1\\n" || body.',
  'Answer: 200 {"approved": true|false, "reason"?}; when the rule has public_key (hex Ed25519), header x-tandem-rule-signature = hex signature over "tandem-rule-response/v2\\n" || hex(SHA-256(request body)) || "\\n" || body (v1 is refused).',
  'Anything else (timeout_ms exceeded, redirect, non-200, bad JSON, approved not exactly true, bad signature) refuses.',
].join(' ');

function parseRule(body: unknown): ReturnType<typeof parseRuleDefinition> {
  try {
    return parseRuleDefinition(body);
  } catch (e) {
    if (e instanceof RuleDefinitionError) throw new TandemError('bad_request_params', e.message);
    throw e;
  }
}

const ruleBody = (r: RuleRecord) => ({ rule_id: r.ruleId, name: r.name, definition: r.definition, created_at: r.createdAt.toISOString() });

/** The admin API's rules: create, list, read, delete. */
export function registerRuleRoutes(s: AdminScope): void {
  const { ctx, r, tags, onRequest, audited } = s;

  r.post(
    '/admin/create-rule',
    {
      onRequest,
      schema: { tags, summary: 'Create a rule on this node (admin only)', description: WEBHOOK_DOC, body: CreateRuleBody, response: { 200: RuleIdResponse, ...errorResponses } },
      // The body schema documents the kinds; the kinds' own validators (parseRuleDefinition)
      // check it. What the audit entry needs (an object, a storable name, a known type) is
      // refused here, before the handler; any other refusal is the handler's, and audited.
      validatorCompiler: () => (body: unknown) => {
        if (isAuditableRuleBody(body)) return { value: body };
        try {
          parseRule(body); // refuses it (a body that is not auditable never parses), saying why
        } catch (e) {
          return { error: e as Error };
        }
        return { value: body };
      },
    },
    async (req) =>
      audited('create-rule', { detail: { name: String(req.body.name).slice(0, 128), type: req.body.type } }, async (refs) => {
        const parsed = parseRule(req.body);
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
}
