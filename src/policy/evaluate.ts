import { checkDeclarative, type Consume, type DeclarativeDefinition } from './declarative.js';
import { askRuleServer, type AskOptions } from './webhook.js';
import type { Decision, NodeSigningKey, OperationContext, PolicyRecord, RuleCounters, RuleRecord } from './types.js';

/**
 * A policy is satisfied when all its rules approve; a policy without rules approves.
 * Order, so that a refused request consumes no budget and waits on no Rule Server it need
 * not ask:
 *   1. the stateless checks of every built-in rule (in rule order);
 *   2. the webhooks, concurrently;
 *   3. only if all of that approved, the budgets of the stateful rules (rate_limit, the
 *      daily cap of eth_transaction), in rule order.
 * The decision names the first refusing rule in that order. Counters have no refund: when
 * two stateful rules apply and the second refuses, the first one's use stays counted.
 * Anything about the request that cannot be evaluated refuses; a failure of the counter
 * storage itself propagates (the caller answers with an internal error, never approval).
 */

export interface EvaluateDeps {
  counters: RuleCounters;
  signer: NodeSigningKey;
  /** The clock for time windows, rate limits and daily caps; now by default. */
  now?: Date;
  /** Passed to askRuleServer (tests). */
  webhook?: AskOptions;
}

export async function evaluatePolicy(rules: RuleRecord[], ctx: OperationContext, deps: EvaluateDeps): Promise<Decision> {
  const now = deps.now ?? new Date();
  const refused = (rule: RuleRecord, reason: string): Decision => ({ allowed: false, ruleId: rule.ruleId, ruleName: rule.name, reason });

  const webhooks: RuleRecord[] = [];
  const consumers: Array<{ rule: RuleRecord; consume: Consume }> = [];
  for (const rule of rules) {
    const def = rule.definition;
    if (def.type === 'webhook') {
      webhooks.push(rule);
      continue;
    }
    const c = checkDeclarative(def as DeclarativeDefinition, ctx, now, rule.ruleId);
    if (c.refused !== null) return refused(rule, c.refused);
    if (c.consume) consumers.push({ rule, consume: c.consume });
  }

  const answers = await Promise.all(
    webhooks.map((rule) => (rule.definition.type === 'webhook' ? askRuleServer(rule.definition, ctx, deps.signer, deps.webhook) : 'not a webhook rule')),
  );
  for (const [i, reason] of answers.entries()) {
    if (reason !== null) return refused(webhooks[i]!, reason);
  }

  for (const { rule, consume } of consumers) {
    const reason = await consume(deps.counters);
    if (reason !== null) return refused(rule, reason);
  }
  return { allowed: true };
}

/**
 * Several policies bound to one operation (the caller's and the key's): all must be
 * satisfied. Their rules are evaluated as one set, each rule once even if both policies
 * hold it, so budgets are taken only when every policy approves and never twice.
 */
export async function evaluatePolicies(
  policies: Array<{ policy: PolicyRecord; rules: RuleRecord[] }>,
  ctx: OperationContext,
  deps: EvaluateDeps,
): Promise<Decision> {
  const seen = new Set<string>();
  const rules: RuleRecord[] = [];
  for (const { rules: rs } of policies) {
    for (const r of rs) {
      if (seen.has(r.ruleId)) continue;
      seen.add(r.ruleId);
      rules.push(r);
    }
  }
  return evaluatePolicy(rules, ctx, deps);
}
