import Type from 'typebox';
import { defineRuleKind, type BudgetKind } from './kind.js';
import { approve } from './results.js';

export const MAX_RATE = 1_000_000;
export const MAX_WINDOW_SECONDS = 31 * 24 * 3600;

/** Uses of a rate limit: `count` uses at `at` on one sliding-window counter. */
export interface RateBudget {
  kind: 'rate';
  counterKey: string;
  windowSeconds: number;
  max: number;
  count: number;
  at: Date;
  refusal: string;
}

const rateBudget: BudgetKind<RateBudget> = {
  kind: 'rate',
  consume: (counters, b) => counters.takeRate(b.counterKey, b.windowSeconds, b.max, b.at, b.count),
  release: (counters, b) => counters.returnRate(b.counterKey, b.at, b.count),
  merge: (b, c) => (b.counterKey === c.counterKey ? { ...b, count: b.count + c.count } : null),
};

/**
 * rate_limit: at most `max` uses per `per` (user or key) in a sliding window of
 * `window_seconds`. Every evaluated operation counts one use, a batch one per message;
 * per key, keygen has no key yet and passes (use `per: "user"` for it). The counter is per
 * rule: `rule:<ruleId>:user:<userId>` or `rule:<ruleId>:key:<keyId>`, so two rules with
 * different limits never share one. Taken only once every rule approved.
 */
export const rateLimit = defineRuleKind({
  type: 'rate_limit',
  description: 'Refuses more than max uses per user or per key in a sliding window of window_seconds (each message of a batch is a use; taken only when every other rule approved).',
  example: { name: 'ten-per-minute', type: 'rate_limit', per: 'key', max: 10, window_seconds: 60 },
  fields: {
    per: Type.Enum(['user', 'key'], { description: 'Whose uses are counted: the calling user\'s, or the key\'s (keygen has no key yet and is not counted per key).', errorMessage: 'per must be "user" or "key"' }),
    max: Type.Integer({ minimum: 1, maximum: MAX_RATE, description: `Uses allowed in the window, 1..${MAX_RATE}.` }),
    window_seconds: Type.Integer({ minimum: 1, maximum: MAX_WINDOW_SECONDS, description: `The sliding window in seconds, 1..${MAX_WINDOW_SECONDS} (31 days).` }),
  },
  normalise(b) {
    return { type: 'rate_limit' as const, per: b.per, max: b.max, window_seconds: b.window_seconds };
  },
  check(def, ctx, now, ruleId) {
    let counterKey: string;
    if (def.per === 'user') counterKey = `rule:${ruleId}:user:${ctx.userId}`;
    else if (ctx.keyId !== null) counterKey = `rule:${ruleId}:key:${ctx.keyId}`;
    else return approve;
    const refusal = `rate limit reached: at most ${def.max} per ${def.per} in ${def.window_seconds} s`;
    return { refused: null, budget: { kind: 'rate' as const, counterKey, windowSeconds: def.window_seconds, max: def.max, count: 1, at: now, refusal } };
  },
  budget: rateBudget,
});
