import { ruleKind, takeBudget, type Budget, type Checked } from './rules/index.js';
import type { OperationContext, RuleCounters, RuleDefinition } from './types.js';

/**
 * The built-in rules, those the node checks itself (each kind's check is in its file
 * under rules/). Each is evaluated in two steps so that a request refused by any rule
 * consumes no budget:
 *
 *   check(def, ctx, now)  -> refused with a reason, or approved with an optional `budget`
 *   takeBudget(counters)  -> takes the rule's budget (rate limits, daily value caps);
 *                            run only once every other rule has approved, and given back
 *                            with returnBudget when what it was taken for never happens.
 *
 * `evaluateX(def, ctx, counters, now, ruleId?)` runs both for one rule (null = approve,
 * a string = the reason it refused).
 */

export type DeclarativeDefinition = Exclude<RuleDefinition, { type: 'webhook' }>;

export { takeBudget, type Budget, type Checked };
export { inTimeWindow } from './rules/time-window.js';

/** The stateless part of a built-in rule, and its budget to take if every rule approves. Never throws. */
export function checkDeclarative(def: DeclarativeDefinition, ctx: OperationContext, now: Date, ruleId = ''): Checked {
  const kind = ruleKind((def as { type: unknown }).type);
  if (!kind?.check) return { refused: `unknown rule type ${JSON.stringify((def as { type: unknown }).type)}` };
  try {
    return kind.check(def, ctx, now, ruleId) as Checked;
  } catch {
    return { refused: 'the rule could not be evaluated' };
  }
}

/** One built-in rule, both steps: null = approve, a string = the reason it refused. */
export async function evaluateDeclarative(
  def: DeclarativeDefinition,
  ctx: OperationContext,
  counters: RuleCounters,
  now: Date,
  ruleId = '',
): Promise<string | null> {
  const c = checkDeclarative(def, ctx, now, ruleId);
  if (c.refused !== null) return c.refused;
  if (c.budget === null) return null;
  return (await takeBudget(counters, c.budget)) ? null : c.budget.refusal;
}

