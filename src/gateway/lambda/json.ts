import { LambdaError, type LambdaErrorCode } from './errors.js';

/**
 * Plain JSON values: what clients send, what is stored and what crosses into and out of
 * the sandbox. Checking the shape (and copying it) once at the boundary means nothing
 * downstream meets a getter, a class instance, a cycle or a -0/NaN.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface JsonBounds {
  maxBytes: number;
  maxDepth: number;
}

/**
 * A deep copy of `value` if it is plain JSON within `bounds`, else a LambdaError naming
 * `what`. Depth is checked while walking so hostile nesting cannot exhaust the stack.
 * Objects are rebuilt with `Object.fromEntries`, so a `__proto__` key stays a plain
 * property instead of changing a prototype.
 */
export function copyJson(value: unknown, bounds: JsonBounds, what: string, code: LambdaErrorCode): JsonValue {
  const copy = walk(value, 0, bounds.maxDepth, what, code);
  const bytes = Buffer.byteLength(JSON.stringify(copy), 'utf8');
  if (bytes > bounds.maxBytes) throw new LambdaError(code, `${what} is ${bytes} bytes as JSON; the limit is ${bounds.maxBytes}`);
  return copy;
}

function walk(v: unknown, depth: number, maxDepth: number, what: string, code: LambdaErrorCode): JsonValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new LambdaError(code, `${what} contains a non-finite number`);
    return Object.is(v, -0) ? 0 : v;
  }
  if (typeof v !== 'object') throw new LambdaError(code, `${what} contains a ${typeof v}, which is not JSON`);
  if (depth >= maxDepth) throw new LambdaError(code, `${what} is nested deeper than ${maxDepth} levels`);
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1, maxDepth, what, code));
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new LambdaError(code, `${what} contains a non-plain object`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, depth + 1, maxDepth, what, code)]));
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
