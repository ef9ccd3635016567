import type { TSchema } from 'typebox';
import { derivationPaths } from './derivation-paths.js';
import { ethTransaction } from './eth-transaction.js';
import type { BudgetData, BudgetKind, CheckedBy, RuleKind } from './kind.js';
import { messageLength } from './message-length.js';
import { messagePrefix } from './message-prefix.js';
import { operations } from './operations.js';
import { rateLimit } from './rate-limit.js';
import { timeWindow } from './time-window.js';
import { webhook } from './webhook.js';

/**
 * The rule kinds, one file each (kind.ts says what a kind is). A new kind is its file and
 * a line here: create-rule accepts it, the OpenAPI document shows it, policies evaluate it.
 */
export const RULE_KINDS = [webhook, derivationPaths, messageLength, messagePrefix, rateLimit, timeWindow, operations, ethTransaction] as const;

type Kinds = (typeof RULE_KINDS)[number];

/** A stored rule definition: what create-rule accepts minus `name`, normalised (defaults filled in). */
export type RuleDefinition = Kinds extends infer K ? (K extends { normalise(body: never): infer D } ? D : never) : never;

/** What a kind with counters takes once every rule approved (rate_limit uses, eth_transaction daily value). */
export type Budget = Kinds extends infer K ? (K extends { budget?: BudgetKind<infer B> } ? B : never) : never;

/** A stateless check's result; see kind.ts. */
export type Checked = CheckedBy<Budget>;

export type RuleType = Kinds['type'];

/** create-rule's body, kind by kind (the OpenAPI document shows each with its fields). */
export const RULE_BODY_SCHEMAS = RULE_KINDS.map((k) => k.schema) as unknown as SchemasOf<typeof RULE_KINDS>;
type SchemasOf<T extends ReadonlyArray<{ schema: TSchema }>> = { -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never };

export const RULE_TYPES = RULE_KINDS.map((k) => k.type) as ReadonlyArray<RuleType>;

/** The kinds as the evaluator and the parser see them: any definition of the kind, any budget. */
type AnyRuleKind = RuleKind<string, never, { type: string }, BudgetData>;

const byType = new Map<string, AnyRuleKind>(RULE_KINDS.map((k) => [k.type, k as unknown as AnyRuleKind]));
const budgetByKind = new Map<string, BudgetKind<BudgetData>>();
for (const k of RULE_KINDS) {
  const budget = (k as { budget?: BudgetKind<BudgetData> }).budget;
  if (budget) budgetByKind.set(budget.kind, budget);
}

/** The kind of a type name, or undefined for a type no kind has (a stored definition of a kind since removed). */
export function ruleKind(type: unknown): AnyRuleKind | undefined {
  return typeof type === 'string' ? byType.get(type) : undefined;
}

function budgetKind(b: Budget): BudgetKind<BudgetData> {
  const kind = budgetByKind.get(b.kind);
  if (!kind) throw new Error(`no rule kind takes budgets of kind ${b.kind}`);
  return kind;
}

/** true = taken; false = refused (nothing taken). */
export function takeBudget(counters: Parameters<BudgetKind<BudgetData>['consume']>[0], b: Budget): Promise<boolean> {
  return budgetKind(b).consume(counters, b);
}

export function returnBudget(counters: Parameters<BudgetKind<BudgetData>['release']>[0], b: Budget): Promise<void> {
  return budgetKind(b).release(counters, b);
}

/** `b` and `c` counted together, or null when they are different counters. */
export function mergeBudgets(b: Budget, c: Budget): Budget | null {
  return b.kind === c.kind ? (budgetKind(b).merge(b, c) as Budget | null) : null;
}

export { derivationPaths, ethTransaction, messageLength, messagePrefix, operations, rateLimit, timeWindow, webhook };
