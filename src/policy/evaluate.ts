import { checkDeclarative, type DeclarativeDefinition } from './declarative.js';
import { mergeBudgets, returnBudget, ruleKind, takeBudget, type Budget } from './rules/index.js';
import type { AskOptions } from './webhook.js';
import type { RuleAsk } from './rules/kind.js';
import type { Decision, NodeSigningKey, OperationContext, PolicyRecord, RuleCounters, RuleDefinition, RuleRecord } from './types.js';

/**
 * A policy is satisfied when all its rules approve; a policy without rules approves.
 * Order, so that a refused request consumes no budget and waits on no Rule Server it need
 * not ask:
 *   1. the stateless checks of every built-in rule (in rule order);
 *   2. the rules that ask someone else (webhooks), concurrently;
 *   3. only if all of that approved, for every message of a batch, the budgets of the
 *      stateful rules (rate_limit, the daily cap of eth_transaction), in rule order, each
 *      counter once for the whole batch (all its messages or none).
 * The decision names the first refusing rule in that order. When a later budget refuses,
 * the earlier ones are given back, so a refused request keeps nothing; an approved one
 * hands back what it took (`taken`) for its caller to keep, or to give back with
 * releaseBudgets if the operation then does not happen.
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

export type BatchDecision =
  | { allowed: true; taken: Budget[] }
  | { allowed: false; ruleId: string; ruleName: string; reason: string; /** null: a budget, for the batch as a whole */ messageIndex: number | null };

export async function evaluatePolicy(rules: RuleRecord[], ctx: OperationContext, deps: EvaluateDeps): Promise<Decision> {
  return decisionOf(await evaluateBatch(rules, [ctx], deps));
}

/** Every message of a batch (one context each) against the same rules; budgets taken once every message passed. */
export async function evaluateBatch(rules: RuleRecord[], ctxs: OperationContext[], deps: EvaluateDeps): Promise<BatchDecision> {
  const now = deps.now ?? new Date();
  const budgets: Array<{ rule: RuleRecord; budget: Budget }> = [];
  for (const [i, ctx] of ctxs.entries()) {
    const refused = (rule: RuleRecord, reason: string): BatchDecision => ({ allowed: false, ruleId: rule.ruleId, ruleName: rule.name, reason, messageIndex: i });
    const asking: Array<{ rule: RuleRecord; ask: RuleAsk<RuleDefinition> }> = [];
    for (const rule of rules) {
      const def = rule.definition;
      const ask = ruleKind(def.type)?.ask;
      if (ask) {
        asking.push({ rule, ask });
        continue;
      }
      const c = checkDeclarative(def as DeclarativeDefinition, ctx, now, rule.ruleId);
      if (c.refused !== null) return refused(rule, c.refused);
      if (c.budget) addBudget(budgets, rule, c.budget);
    }
    const answers = await Promise.all(asking.map(({ rule, ask }) => ask(rule.definition, ctx, { signer: deps.signer, webhook: deps.webhook })));
    for (const [j, reason] of answers.entries()) {
      if (reason !== null) return refused(asking[j]!.rule, reason);
    }
  }

  const taken: Budget[] = [];
  for (const { rule, budget } of budgets) {
    let ok = false;
    try {
      ok = await takeBudget(deps.counters, budget);
    } catch (e) {
      await releaseBudgets(deps.counters, taken);
      throw e;
    }
    if (!ok) {
      await releaseBudgets(deps.counters, taken);
      return { allowed: false, ruleId: rule.ruleId, ruleName: rule.name, reason: budget.refusal, messageIndex: null };
    }
    taken.push(budget);
  }
  return { allowed: true, taken };
}

/** Gives back budgets an approval took, for an operation that did not happen. */
export async function releaseBudgets(counters: RuleCounters, taken: Budget[]): Promise<void> {
  for (const b of taken) await returnBudget(counters, b);
}

function addBudget(budgets: Array<{ rule: RuleRecord; budget: Budget }>, rule: RuleRecord, budget: Budget): void {
  for (const entry of budgets) {
    const merged = mergeBudgets(entry.budget, budget);
    if (merged) {
      entry.budget = merged;
      return;
    }
  }
  budgets.push({ rule, budget });
}

function decisionOf(d: BatchDecision): Decision {
  return d.allowed ? { allowed: true } : { allowed: false, ruleId: d.ruleId, ruleName: d.ruleName, reason: d.reason };
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
  return decisionOf(await evaluatePoliciesBatch(policies, [ctx], deps));
}

export async function evaluatePoliciesBatch(
  policies: Array<{ policy: PolicyRecord; rules: RuleRecord[] }>,
  ctxs: OperationContext[],
  deps: EvaluateDeps,
): Promise<BatchDecision> {
  const seen = new Set<string>();
  const rules: RuleRecord[] = [];
  for (const { rules: rs } of policies) {
    for (const r of rs) {
      if (seen.has(r.ruleId)) continue;
      seen.add(r.ruleId);
      rules.push(r);
    }
  }
  return evaluateBatch(rules, ctxs, deps);
}
