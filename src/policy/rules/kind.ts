import Type, { type Static, type TLiteral, type TObject, type TProperties, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { PRINTABLE_TEXT_PATTERN } from '../../core/text.js';
import type { NodeSigningKey, OperationContext, RuleCounters } from '../context.js';
import type { AskOptions } from '../webhook.js';
import { schemaRefusal } from './schema-errors.js';

/**
 * What a rule kind is (one file each in this folder, listed in index.ts):
 *
 *   fields     its TypeBox schemas: they validate create-rule bodies (compiled with
 *              TypeBox's compiler) and document the kind in the OpenAPI document; a field's
 *              `errorMessage` (a string, or one per JSON Schema keyword) is what the caller
 *              reads when that field is refused (schema-errors.ts; otherwise the message is
 *              made from the keyword, always naming the field).
 *   normalise  what a schema can't say (semantic checks: they throw RuleDefinitionError
 *              naming the field), and the stored definition: defaults filled in, hex and
 *              addresses lower case, lists de-duplicated, so that it parses again to itself.
 *   check      the stateless evaluation, and the budget to take once every rule approved;
 *   or ask     for a kind that asks someone else (the webhook), concurrently;
 *   budget     for a kind with counters: how its budget is consumed, released and merged.
 *
 * Unknown fields are refused (a typo such as `max_value_wei_perday` must not silently drop
 * a limit), and every string, list and number is bounded.
 */
export class RuleDefinitionError extends Error {
  override readonly name = 'RuleDefinitionError';
}

/** Throws the RuleDefinitionError a semantic check refuses with (its message names the field). */
export function refuseDefinition(message: string): never {
  throw new RuleDefinitionError(message);
}

export const NAME_MAX_CHARS = 128;

/** The rule's name (every kind has it; not part of the stored definition). */
export const RuleName = Type.String({
  minLength: 1,
  maxLength: NAME_MAX_CHARS,
  pattern: PRINTABLE_TEXT_PATTERN,
  description: `The rule's name, unique on this node: 1..${NAME_MAX_CHARS} characters, no control characters.`,
  errorMessage: { pattern: 'name must not contain control characters or lone surrogates' },
});

/**
 * A field that may be absent or null (= its default, or no limit). The inner schema keeps
 * its own errorMessage; the description and default belong to the field.
 */
export function Nullable<T extends TSchema>(schema: T, options: { description: string; default?: unknown }) {
  return Type.Optional(Type.Union([schema, Type.Null()], options));
}

/** A stateless check's result: refused with a reason, or approved with the budget to take (if any). */
export type CheckedBy<B> = { refused: string } | { refused: null; budget: B | null };

/** What a rule with counters takes once every rule approved; plain data, so a batch's can be added up. */
export interface BudgetData {
  kind: string;
  counterKey: string;
  /** The reason given when the budget is not there. */
  refusal: string;
}

export interface BudgetKind<B extends BudgetData> {
  kind: B['kind'];
  /** Takes the budget (all or nothing): true = taken, false = refused (nothing taken). */
  consume(counters: RuleCounters, b: B): Promise<boolean>;
  /** Gives back what consume took, for an operation that did not happen. */
  release(counters: RuleCounters, b: B): Promise<void>;
  /** `b` and `c` as one take (a batch's messages against one counter), or null when they are different counters. */
  merge(b: B, c: B): B | null;
}

export interface AskDeps {
  signer: NodeSigningKey;
  webhook?: AskOptions;
}

/** How a kind that asks someone else (the webhook) decides: a reason to refuse, or null to approve. */
export type RuleAsk<D> = (def: D, ctx: OperationContext, deps: AskDeps) => Promise<string | null>;

export interface RuleKindSpec<T extends string, P extends TProperties, D extends { type: T }, B extends BudgetData> {
  type: T;
  /** What the rule does, for the OpenAPI document. */
  description: string;
  /** The kind's fields besides name and type. */
  fields: P;
  /** An example create-rule body, for the OpenAPI document. */
  example: Record<string, unknown>;
  normalise(body: Static<TObject<P>>): D;
  /** Never throws for a request it can't evaluate: it refuses. */
  check?(def: D, ctx: OperationContext, now: Date, ruleId: string): CheckedBy<B>;
  /** A reason to refuse, or null to approve; never throws. */
  ask?: RuleAsk<D>;
  budget?: BudgetKind<B>;
}

export interface RuleKind<T extends string = string, P extends TProperties = TProperties, D extends { type: T } = { type: T }, B extends BudgetData = BudgetData>
  extends RuleKindSpec<T, P, D, B> {
  /** create-rule's body for this kind: `name`, `type` and the fields; no other field. */
  schema: TObject<{ name: typeof RuleName; type: TLiteral<T> } & P>;
  /** The stored definition's shape (`type` and the fields), which the body minus `name` also is. */
  definitionSchema: TObject<{ type: TLiteral<T> } & P>;
  /**
   * Validates a create-rule body of this kind: the schema, then normalise. Returns the
   * stored definition; throws RuleDefinitionError.
   */
  parse(body: unknown): D;
}

export function defineRuleKind<T extends string, P extends TProperties, D extends { type: T }, B extends BudgetData = never>(
  spec: RuleKindSpec<T, P, D, B>,
): RuleKind<T, P, D, B> {
  const type = Type.Literal(spec.type);
  const schema = Type.Object({ name: RuleName, type, ...spec.fields } as { name: typeof RuleName; type: TLiteral<T> } & P, {
    additionalProperties: false,
    title: spec.type,
    description: spec.description,
    examples: [spec.example],
  });
  const definitionSchema = Type.Object({ type, ...spec.fields } as { type: TLiteral<T> } & P, { additionalProperties: false, title: spec.type });
  const validator = Compile(schema);
  return {
    ...spec,
    schema,
    definitionSchema,
    parse(body: unknown): D {
      if (!validator.Check(body)) refuseDefinition(schemaRefusal(schema, validator.Errors(body), body, `a ${spec.type} rule`));
      return spec.normalise(body as Static<TObject<P>>);
    },
  };
}
