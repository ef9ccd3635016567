import type { TSchema } from 'typebox';
import type { TLocalizedValidationError } from 'typebox/error';

/**
 * One clear sentence, naming the field, for the first thing TypeBox's compiled validator
 * refuses in a rule body. The failing schema's `errorMessage` wins (a string, or one per
 * JSON Schema keyword); otherwise the sentence is made from the keyword and the schema's
 * bounds ("max must be between 1 and 1000000", "allowed must have between 1 and 64
 * entries", "unknown field "x" for a rate_limit rule").
 *
 * A list entry's message is preceded by the entry ("days[2]: each day must be ...").
 *
 * Which error: one on `name` first (it is what the caller most likely got wrong), then
 * the rest in the validator's order. A field that may be null is a union with null: its
 * refusal is the non-null schema's (the union's own "anyOf" and the null branch's "must be
 * null" say nothing useful).
 */
export function schemaRefusal(root: TSchema, errors: readonly TLocalizedValidationError[], value: unknown, what: string): string {
  const useful = errors.filter((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf' && !(e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null'));
  const e = useful.find((x) => x.instancePath === '/name') ?? useful[0] ?? errors[0];
  if (e === undefined) return `${what} is not valid`;
  return describe(e, root, value, what);
}

function describe(e: TLocalizedValidationError, root: TSchema, value: unknown, what: string): string {
  const node = schemaAt(root, e.schemaPath);
  const field = fieldName(e.instancePath, what);
  const custom = typeof node?.errorMessage === 'string' ? node.errorMessage : (node?.errorMessage as Record<string, unknown> | undefined)?.[e.keyword];
  // A list entry's message says what each entry must be; the entry is named in front of it.
  if (typeof custom === 'string') return field.includes('[') ? `${field}: ${custom}` : custom;

  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${(p.requiredProperties as string[] | undefined)?.[0] ?? 'a field'} is required`;
    case 'additionalProperties': {
      const extra = (p.additionalProperties as string[] | undefined)?.[0] ?? Object.keys(valueAt(value, e.instancePath) ?? {})[0] ?? '';
      return `unknown field ${JSON.stringify(extra.slice(0, 64))} for ${what}`;
    }
    case 'type':
      return `${field} must be ${TYPE_NAMES[String(p.type)] ?? `of type ${String(p.type)}`}`;
    case 'minimum':
    case 'maximum':
      if (node?.minimum !== undefined && node.maximum !== undefined) return `${field} must be between ${String(node.minimum)} and ${String(node.maximum)}`;
      return `${field} must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p.limit)}`;
    case 'minItems':
    case 'maxItems':
      return `${field} must have between ${String(node?.minItems ?? 0)} and ${String(node?.maxItems ?? 'any number of')} entries`;
    case 'minLength':
      return p.limit === 1 ? `${field} must be a non-empty string` : `${field} must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    case 'const':
      return `${field} must be ${JSON.stringify(p.allowedValue)}`;
    case 'enum':
      return `${field} must be one of ${((node?.enum as unknown[] | undefined) ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${field} is not in the expected format (${String(p.pattern ?? node?.pattern)})`;
    default:
      return `${field} ${e.message}`;
  }
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  array: 'a list',
  object: 'a JSON object',
  boolean: 'true or false',
};

/** "/allowed/2" -> "allowed[2]"; "" -> what the schema is of. */
function fieldName(instancePath: string, what: string): string {
  if (instancePath === '') return what;
  const [first, ...rest] = instancePath.slice(1).split('/').map(unescapePointer);
  return `${first}${rest.map((r) => `[${r}]`).join('')}`;
}

function unescapePointer(s: string): string {
  return s.replaceAll('~1', '/').replaceAll('~0', '~');
}

function schemaAt(root: TSchema, schemaPath: string): Record<string, unknown> | undefined {
  let node: unknown = root;
  for (const step of schemaPath.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map(unescapePointer)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[step];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : undefined;
}

function valueAt(value: unknown, instancePath: string): Record<string, unknown> | undefined {
  let v = value;
  for (const step of instancePath.split('/').filter((s) => s !== '').map(unescapePointer)) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[step];
  }
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}
