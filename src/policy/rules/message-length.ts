import Type from 'typebox';
import { defineRuleKind, Nullable, refuseDefinition } from './kind.js';
import { approve, refuse, signedMessage } from './results.js';

export const MAX_MESSAGE_BYTES = 65_536;

/**
 * message_length: `min_bytes` (default 0) <= `max_bytes` <= 65536. Only `sign` carries a
 * message; other operations pass, a sign without one is refused.
 */
export const messageLength = defineRuleKind({
  type: 'message_length',
  description: 'Refuses a sign whose message is shorter than min_bytes or longer than max_bytes (other operations pass).',
  example: { name: 'hashes-only', type: 'message_length', min_bytes: 32, max_bytes: 32 },
  fields: {
    min_bytes: Nullable(Type.Integer({ minimum: 0, maximum: MAX_MESSAGE_BYTES }), {
      description: `The shortest message allowed, in bytes (0..${MAX_MESSAGE_BYTES}, at most max_bytes); absent or null: 0.`,
      default: 0,
    }),
    max_bytes: Type.Integer({ minimum: 0, maximum: MAX_MESSAGE_BYTES, description: `The longest message allowed, in bytes (0..${MAX_MESSAGE_BYTES}).` }),
  },
  normalise(b) {
    const min_bytes = b.min_bytes ?? 0;
    if (min_bytes > b.max_bytes) refuseDefinition('min_bytes must not exceed max_bytes');
    return { type: 'message_length' as const, min_bytes, max_bytes: b.max_bytes };
  },
  check(def, ctx) {
    if (ctx.operation !== 'sign') return approve;
    const msg = signedMessage(ctx.msg);
    if (typeof msg !== 'string') return msg;
    const n = msg.length / 2;
    if (n < def.min_bytes || n > def.max_bytes) return refuse(`message length ${n} bytes is outside ${def.min_bytes}..${def.max_bytes}`);
    return approve;
  },
});
