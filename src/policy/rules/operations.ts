import Type from 'typebox';
import type { Operation } from '../context.js';
import { defineRuleKind } from './kind.js';
import { approve, refuse } from './results.js';

export const OPERATIONS = ['keygen', 'sign', 'derive', 'public-key'] as const satisfies ReadonlyArray<Operation>;

/** operations: `allowed`, a non-empty subset of keygen, sign, derive, public-key. */
export const operations = defineRuleKind({
  type: 'operations',
  description: 'Refuses every operation but the allowed ones.',
  example: { name: 'sign-only', type: 'operations', allowed: ['sign', 'public-key'] },
  fields: {
    allowed: Type.Array(Type.Enum(OPERATIONS, { errorMessage: `allowed operations are ${OPERATIONS.join(', ')}` }), {
      minItems: 1,
      maxItems: OPERATIONS.length * 2,
      description: `The operations allowed: ${OPERATIONS.join(', ')}.`,
    }),
  },
  normalise(b) {
    return { type: 'operations' as const, allowed: [...new Set(b.allowed)] };
  },
  check(def, ctx) {
    return def.allowed.includes(ctx.operation) ? approve : refuse(`operation ${ctx.operation} is not allowed`);
  },
});
