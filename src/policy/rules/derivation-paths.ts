import Type from 'typebox';
import { defineRuleKind, refuseDefinition } from './kind.js';
import { approve, refuse, truncate } from './results.js';

export const MAX_PATH_PATTERNS = 64;
export const MAX_PATTERN_STEPS = 255;
const HARDENED = 0x80000000;
const STEP = /^(0|[1-9]\d{0,9})$/;

/**
 * derivation_paths: `allowed`, 1..64 patterns: `m` then non-hardened steps, each a decimal
 * index < 2^31 or `*` (any one index). A pattern matches a path with exactly as many steps.
 * A request without a derivation path is the path `m`; keygen is not subject to it (there
 * is no key to derive from yet).
 */
export const derivationPaths = defineRuleKind({
  type: 'derivation_paths',
  description: 'Refuses an operation on a derived key whose path matches none of the patterns (keygen is not subject to it; no path is `m`).',
  example: { name: 'first-account', type: 'derivation_paths', allowed: ['m', 'm/0/*'] },
  fields: {
    allowed: Type.Array(
      Type.String({
        pattern: `^m(?:/(?:\\*|0|[1-9][0-9]{0,9})){0,${MAX_PATTERN_STEPS}}$`,
        errorMessage: `each derivation path pattern is m followed by at most ${MAX_PATTERN_STEPS} steps, each /<index> (decimal, below 2^31, no leading zeros) or /* (any one index); hardened steps cannot occur (threshold keys derive non-hardened children only)`,
      }),
      {
        minItems: 1,
        maxItems: MAX_PATH_PATTERNS,
        description: `1..${MAX_PATH_PATTERNS} patterns such as "m", "m/0/*", "m/44/60/0/0/*": m then non-hardened steps, each a decimal index below 2^31 or * (any one index). A pattern matches a path with as many steps.`,
      },
    ),
  },
  normalise(b) {
    for (const p of b.allowed) {
      if (p.split('/').some((s) => s !== 'm' && s !== '*' && Number(s) >= HARDENED)) {
        refuseDefinition(`allowed: derivation path pattern ${JSON.stringify(p.slice(0, 64))} has a step of 2^31 or more; each step is a decimal index below 2^31 or *`);
      }
    }
    return { type: 'derivation_paths' as const, allowed: [...new Set(b.allowed)] };
  },
  check(def, ctx) {
    if (ctx.operation === 'keygen') return approve;
    const path = ctx.derivationPath === null || ctx.derivationPath === '' ? 'm' : ctx.derivationPath;
    if (def.allowed.some((pattern) => matchesPathPattern(pattern, path))) return approve;
    return refuse(`derivation path ${truncate(path, 80)} is not allowed`);
  },
});

export function matchesPathPattern(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const q = path.split('/');
  if (p.length !== q.length || q[0] !== 'm') return false;
  for (let i = 1; i < p.length; i++) {
    const step = q[i]!;
    if (!STEP.test(step) || Number(step) >= HARDENED) return false;
    if (p[i] !== '*' && p[i] !== step) return false;
  }
  return true;
}
