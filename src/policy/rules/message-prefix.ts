import Type from 'typebox';
import { defineRuleKind } from './kind.js';
import { approve, refuse, signedMessage } from './results.js';

export const MAX_PREFIXES = 32;
export const MAX_PREFIX_BYTES = 256;

/**
 * message_prefix: `prefixes`, 1..32 non-empty hex prefixes (even length, no 0x, at most 256
 * bytes each; stored lower case). Only `sign` carries a message; other operations pass, a
 * sign without one is refused.
 */
export const messagePrefix = defineRuleKind({
  type: 'message_prefix',
  description: 'Refuses a sign whose message starts with none of the prefixes (other operations pass).',
  example: { name: 'typed-data-only', type: 'message_prefix', prefixes: ['1901'] },
  fields: {
    prefixes: Type.Array(
      Type.String({
        pattern: '^(?:[0-9a-fA-F]{2})+$',
        maxLength: 2 * MAX_PREFIX_BYTES,
        errorMessage: { pattern: 'each prefix must be non-empty hex of even length (no 0x)', maxLength: `each prefix must be at most ${MAX_PREFIX_BYTES} bytes`, type: 'each prefix must be a hex string' },
      }),
      { minItems: 1, maxItems: MAX_PREFIXES, description: `1..${MAX_PREFIXES} hex prefixes (even length, no 0x, at most ${MAX_PREFIX_BYTES} bytes each).` },
    ),
  },
  normalise(b) {
    return { type: 'message_prefix' as const, prefixes: [...new Set(b.prefixes.map((p) => p.toLowerCase()))] };
  },
  check(def, ctx) {
    if (ctx.operation !== 'sign') return approve;
    const msg = signedMessage(ctx.msg);
    if (typeof msg !== 'string') return msg;
    if (def.prefixes.some((p) => msg.startsWith(p.toLowerCase()))) return approve;
    return refuse('the message does not start with an allowed prefix');
  },
});
