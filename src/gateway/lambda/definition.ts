import { LambdaError } from './errors.js';
import { copyJson, isJsonObject, utf8Bytes, type JsonObject, type JsonValue } from './json.js';

/**
 * The lambda definition of createLambda: 0xPass Passport's `NewLambda`, validated
 * strictly. Every field of the SDK type is required, unknown fields are refused (a typo
 * such as `post_hook` must not silently drop a hook) and every string, list and JSON
 * value is bounded, so a stored definition is always one the executor can run within its
 * limits. Where the Passport docs leave a field's meaning open we pick the demanding
 * reading and say so here:
 *
 * - `max_executions`: 1..1e6. The docs let 0 mean "unlimited"; we refuse unbounded
 *   lambdas (the store counts executions against this number).
 * - `verifications.count`: must be 1. There is one verifier; accepting more would claim
 *   an independence we do not provide.
 * - `conditions`: 1..16. A lambda with no condition would sign anything for anyone.
 * - `output_type`: boolean | integer | number | string | json (see executor for the pass
 *   rule of each).
 * - fetch `protocol`: the HTTP method, GET | POST | PUT | PATCH | DELETE (any case; stored
 *   upper-case). GET sends no body, so its `body` must be `{}`.
 * - fetch `headers`: at most 32, RFC 9110 token names, no CR/LF/NUL in values; headers that
 *   steer routing or framing (Host, Content-Length, Transfer-Encoding, Connection, ...)
 *   are refused.
 * - `envs`: at most 32 JSON values, 16 KiB in all; `{ "name": "X", "value": ... }`
 *   entries can be referenced by name in placeholders.
 */

export const OUTPUT_TYPES = ['boolean', 'integer', 'number', 'string', 'json'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export const DEFINITION_LIMITS = {
  maxDefinitionBytes: 512 * 1024,
  maxCodeBytes: 16 * 1024,
  maxCheckBytes: 4 * 1024,
  maxDataBytes: 16 * 1024,
  maxConditions: 16,
  maxPostHooks: 8,
  maxExecutions: 1_000_000,
  maxEnvs: 32,
  maxEnvsBytes: 16 * 1024,
  maxEndpointChars: 2048,
  maxHeaders: 32,
  maxHeaderNameChars: 128,
  maxHeaderValueBytes: 4 * 1024,
  maxBodyBytes: 16 * 1024,
  maxJsonDepth: 16,
} as const;

export interface CodeCondition {
  type: 'code';
  code: string;
  output_type: OutputType;
  substitution: boolean;
}

export interface FetchCondition {
  type: 'fetch';
  headers: Record<string, string>;
  protocol: HttpMethod;
  endpoint: string;
  body: JsonObject;
  substitution: boolean;
}

export type LambdaCondition = CodeCondition | FetchCondition;

export interface LambdaAction {
  type: 'personal_sign';
  check: string;
  data: string;
  substitution: boolean;
}

export type AuthorizationType = 'none' | 'jwt';
export type TriggerType = 'account' | 'hook';

export interface LambdaDefinition {
  authorization: { type: AuthorizationType };
  verifications: { count: 1 };
  envs: JsonValue[];
  max_executions: number;
  conditions: LambdaCondition[];
  actions: LambdaAction;
  postHook: FetchCondition[];
  triggers: { type: TriggerType }[];
}

const L = DEFINITION_LIMITS;
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_HEADER_VALUE_RE = /[\r\n\0]/;
/** Headers that would let a definition pick the virtual host, reframe the request or talk to a proxy. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-authorization',
  'proxy-connection',
  'http2-settings',
]);

function fail(message: string): never {
  throw new LambdaError('invalid_definition', message);
}

function record(v: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (!isJsonObject(v)) fail(`${where} must be an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${where} has an unknown field ${JSON.stringify(k.slice(0, 64))}`);
  for (const k of keys) if (!Object.hasOwn(v, k)) fail(`${where}.${k} is required`);
  return v;
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') fail(`${where} must be true or false`);
  return v;
}

function text(v: unknown, where: string, maxBytes: number, allowEmpty = true): string {
  if (typeof v !== 'string') fail(`${where} must be a string`);
  if (!allowEmpty && v.length === 0) fail(`${where} must not be empty`);
  if (utf8Bytes(v) > maxBytes) fail(`${where} is longer than ${maxBytes} bytes`);
  return v;
}

function list(v: unknown, where: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v)) fail(`${where} must be a list`);
  if (v.length < min || v.length > max) fail(`${where} must have ${min === max ? min : `${min} to ${max}`} entries`);
  return v;
}

function oneOf<T extends string>(v: unknown, where: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(`${where} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return v as T;
}

/** Validates (and copies) a createLambda `data` object; throws LambdaError('invalid_definition'). */
export function parseLambdaDefinition(input: unknown): LambdaDefinition {
  const d = record(input, 'lambda', ['authorization', 'verifications', 'envs', 'max_executions', 'conditions', 'actions', 'postHook', 'triggers']);
  // One bound on the whole thing first, so the field checks below never walk a huge value.
  copyJson(d, { maxBytes: L.maxDefinitionBytes, maxDepth: L.maxJsonDepth + 4 }, 'lambda', 'invalid_definition');

  const authorization = { type: oneOf(record(d.authorization, 'authorization', ['type']).type, 'authorization.type', ['none', 'jwt'] as const) };

  const count = record(d.verifications, 'verifications', ['count']).count;
  if (count !== 1) fail('verifications.count must be 1 (one verifier is all this gateway provides)');

  const envs = list(d.envs, 'envs', 0, L.maxEnvs);
  const envsCopy = copyJson(envs, { maxBytes: L.maxEnvsBytes, maxDepth: L.maxJsonDepth }, 'envs', 'invalid_definition') as JsonValue[];

  const max = d.max_executions;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > L.maxExecutions) {
    fail(`max_executions must be an integer from 1 to ${L.maxExecutions} (unlimited lambdas are not accepted)`);
  }

  const conditions = list(d.conditions, 'conditions', 1, L.maxConditions).map((c, i) => parseCondition(c, `conditions[${i}]`));
  const postHook = list(d.postHook, 'postHook', 0, L.maxPostHooks).map((h, i) => parseFetch(h, `postHook[${i}]`));

  const a = record(d.actions, 'actions', ['type', 'check', 'data', 'substitution']);
  const actions: LambdaAction = {
    type: oneOf(a.type, 'actions.type', ['personal_sign'] as const),
    check: text(a.check, 'actions.check', L.maxCheckBytes),
    data: text(a.data, 'actions.data', L.maxDataBytes, false),
    substitution: bool(a.substitution, 'actions.substitution'),
  };

  const triggers = list(d.triggers, 'triggers', 1, 2).map((t, i) => ({
    type: oneOf(record(t, `triggers[${i}]`, ['type']).type, `triggers[${i}].type`, ['account', 'hook'] as const),
  }));
  if (new Set(triggers.map((t) => t.type)).size !== triggers.length) fail('triggers must not repeat a type');

  return { authorization, verifications: { count: 1 }, envs: envsCopy, max_executions: max, conditions, actions, postHook, triggers };
}

function parseCondition(v: unknown, where: string): LambdaCondition {
  const type = isJsonObject(v) ? v.type : undefined;
  if (type === 'fetch') return parseFetch(v, where);
  if (type !== 'code') fail(`${where}.type must be "code" or "fetch"`);
  const c = record(v, where, ['type', 'code', 'output_type', 'substitution']);
  return {
    type: 'code',
    code: text(c.code, `${where}.code`, L.maxCodeBytes, false),
    output_type: oneOf(c.output_type, `${where}.output_type`, OUTPUT_TYPES),
    substitution: bool(c.substitution, `${where}.substitution`),
  };
}

function parseFetch(v: unknown, where: string): FetchCondition {
  const f = record(v, where, ['type', 'headers', 'protocol', 'endpoint', 'body', 'substitution']);
  if (f.type !== 'fetch') fail(`${where}.type must be "fetch"`);
  const protocol = oneOf(typeof f.protocol === 'string' ? f.protocol.toUpperCase() : f.protocol, `${where}.protocol (the HTTP method)`, HTTP_METHODS);
  const substitution = bool(f.substitution, `${where}.substitution`);
  const endpoint = text(f.endpoint, `${where}.endpoint`, L.maxEndpointChars, false);
  if (!/^https?:\/\//.test(endpoint)) fail(`${where}.endpoint must start with https:// or http://`);
  if (!substitution || !endpoint.includes('{{')) checkEndpointSyntax(endpoint, where);

  if (!isJsonObject(f.body)) fail(`${where}.body must be an object`);
  const body = copyJson(f.body, { maxBytes: L.maxBodyBytes, maxDepth: L.maxJsonDepth }, `${where}.body`, 'invalid_definition') as JsonObject;
  if (protocol === 'GET' && Object.keys(body).length > 0) fail(`${where}.body must be {} for GET`);

  return { type: 'fetch', headers: parseHeaders(f.headers, `${where}.headers`), protocol, endpoint, body, substitution };
}

function checkEndpointSyntax(endpoint: string, where: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    fail(`${where}.endpoint is not a valid URL`);
  }
  if (url.username !== '' || url.password !== '') fail(`${where}.endpoint must not contain credentials`);
}

function parseHeaders(v: unknown, where: string): Record<string, string> {
  if (!isJsonObject(v)) fail(`${where} must be an object of strings`);
  const entries = Object.entries(v);
  if (entries.length > L.maxHeaders) fail(`${where} has more than ${L.maxHeaders} headers`);
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    if (name.length > L.maxHeaderNameChars || !TOKEN_RE.test(name)) fail(`${where} has an invalid header name`);
    if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith('proxy-')) fail(`${where} may not set ${lower}`);
    if (seen.has(lower)) fail(`${where} sets ${lower} twice`);
    seen.add(lower);
    text(value, `${where}.${name}`, L.maxHeaderValueBytes);
    if (BAD_HEADER_VALUE_RE.test(value as string)) fail(`${where}.${name} contains a line break or NUL`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
