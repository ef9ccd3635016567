import { Compile } from 'typebox/compile';
import { isPrintableText } from '../core/text.js';
import { RULE_TYPES, ruleKind, type RuleDefinition, type RuleType } from './rules/index.js';
import { refuseDefinition, RuleDefinitionError, RuleName } from './rules/kind.js';
import { schemaRefusal } from './rules/schema-errors.js';

/**
 * The body of `POST /admin/create-rule`: `{ "name", "type", ...the kind's fields }`. Each
 * kind's fields, bounds and checks are in its file under rules/ (the README's "Rule kinds"
 * table; the OpenAPI document shows them); the result is normalised (hex and addresses
 * lower case, lists de-duplicated, defaults filled in) so that a stored definition parses
 * again to itself.
 */
export { RuleDefinitionError, RULE_TYPES };

const checkName = Compile(RuleName);

/** Validates a create-rule body; throws RuleDefinitionError (its message is safe to return to the client and names the field). */
export function parseRuleDefinition(body: unknown): { name: string; definition: RuleDefinition } {
  if (!isObject(body)) refuseDefinition('the rule must be a JSON object');
  if (typeof body.name !== 'string') refuseDefinition('name must be a non-empty string');
  if (!checkName.Check(body.name)) refuseDefinition(schemaRefusal(RuleName, checkName.Errors(body.name), body.name, 'name'));
  const kind = ruleKind(body.type);
  if (!kind) refuseDefinition(`type must be one of ${RULE_TYPES.join(', ')}`);
  return { name: body.name, definition: kind.parse(body) as RuleDefinition };
}

/**
 * What create-rule needs before it records an attempt in the audit log: a JSON object
 * whose name is text storage can hold and whose type is a kind. A body that is not is
 * refused before (parseRuleDefinition says why); any other refusal is audited.
 */
export function isAuditableRuleBody(body: unknown): body is { name: string; type: RuleType } {
  return isObject(body) && typeof body.name === 'string' && isPrintableText(body.name) && ruleKind(body.type) !== undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
