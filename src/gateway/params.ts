import { isPrintableText, isStorableText, isWellFormed } from '../core/text.js';
import { RpcError } from '../wallet/rpc.js';

/**
 * The checks JSON-RPC input passes at the gateway's edge, whichever method reads it, so
 * that storage never sees what it cannot store (core/text.ts): bad input is the caller's
 * invalid_params, never the database's internal error.
 */

/** Far deeper than any method's input (a lambda definition stops at 16 levels). */
export const MAX_JSON_DEPTH = 64;

/**
 * Every string and property name in `value` is well-formed Unicode (with `storable`, also
 * free of NUL, for what goes into a jsonb column), and it nests at most MAX_JSON_DEPTH
 * levels, so no handler recurses into a depth the JSON parser allowed. Iterative, for the
 * same reason.
 */
export function checkJsonText(value: unknown, what: string, opts: { storable?: boolean } = {}): void {
  const fits = opts.storable ? isStorableText : isWellFormed;
  const refuse = (): never => {
    throw new RpcError('invalid_params', `${what} contains ${opts.storable ? 'a NUL character or ' : ''}a lone surrogate (ill-formed Unicode)`);
  };
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (!fits(v)) refuse();
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) throw new RpcError('invalid_params', `${what} is nested more than ${MAX_JSON_DEPTH} levels deep`);
    for (const [k, x] of Object.entries(v)) {
      if (!fits(k)) refuse();
      stack.push({ v: x, depth: depth + 1 });
    }
  }
}

/** An id the caller names (a challenge, a lambda, a scope): 1..maxChars printable characters. */
export function idParam(value: unknown, what: string, maxChars = 64): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxChars || !isPrintableText(value)) {
    throw new RpcError('invalid_params', `${what} must be an id: 1-${maxChars} characters, no control characters`);
  }
  return value;
}

/** A name shown to people (a display name): printable, cut to `maxChars` characters without splitting one. */
export function displayText(value: string, what: string, maxChars: number): string {
  if (!isPrintableText(value)) throw new RpcError('invalid_params', `${what} must not contain control characters`);
  const chars = Array.from(value);
  return chars.length > maxChars ? chars.slice(0, maxChars).join('') : value;
}
