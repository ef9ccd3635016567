import { parseAddressRanges, type AddressRange } from './addresses.js';
import { parseAllowlist, type Allowlist } from './allowlist.js';
import { parseLambdaDefinition, type CodeCondition, type FetchCondition, type LambdaDefinition, type OutputType } from './definition.js';
import { LambdaError } from './errors.js';
import { DEFAULT_FETCH_LIMITS, performFetch, type HttpRequest, type Resolver } from './fetcher.js';
import { copyJson, type JsonValue } from './json.js';
import { DEFAULT_SANDBOX_LIMITS, runInSandbox } from './sandbox.js';
import { SUBST_GLOBAL, substituteCode, substituteHeaders, substituteJson, substituteText, substituteUrl, type SubstitutionScope } from './substitute.js';

/**
 * Runs one execution of a lambda: conditions in order, then `actions.check`, then the
 * action, then post hooks. The caller has already authenticated the user, checked the
 * lambda's `authorization` and claimed one of its `max_executions`.
 *
 * Pass rules (a condition that does not pass stops the execution; nothing is signed):
 * - code: the body runs as an async function (`return ...`, `await` allowed) with globals
 *   `params` (execute-time parameters), `envs` and `conditions` (outputs of the conditions
 *   before it). Its return value must have the declared `output_type` and be "on":
 *     boolean  -> true
 *     integer  -> a non-zero integer; true/false count as 1/0, because the Passport docs'
 *                 own example returns `true` with output_type "integer"
 *     number   -> a non-zero number
 *     string   -> a non-empty string
 *     json     -> any JSON value that is truthy (objects and arrays always are)
 *   Anything else (undefined, wrong type, a throw, a limit hit) fails.
 * - fetch: passes on a 2xx status; its output is the response body (JSON or text).
 * - `actions.check`, when not blank: a JavaScript expression with the same globals
 *   (`conditions` holding every output) that must evaluate to exactly `true`.
 * The action signs `actions.data` (after substitution) with `sign`, which the gateway
 * implements with the account's threshold key. Post hooks then run in parallel; their
 * failures are reported in `post_hooks` and do not undo the signature. An error from `sign`
 * itself is passed through unchanged.
 */

export interface LambdaLimits {
  /** Deadline of one code condition or check. */
  codeTimeoutMs: number;
  codeMemoryBytes: number;
  codeStackBytes: number;
  /** Deadline of one fetch condition or post hook, DNS lookup and body included. */
  fetchTimeoutMs: number;
  fetchMaxBodyBytes: number;
  /** Budget for all conditions and the check together (post hooks have their own timeouts). */
  totalTimeoutMs: number;
}

export const DEFAULT_LAMBDA_LIMITS: Readonly<LambdaLimits> = {
  codeTimeoutMs: DEFAULT_SANDBOX_LIMITS.timeoutMs,
  codeMemoryBytes: DEFAULT_SANDBOX_LIMITS.memoryBytes,
  codeStackBytes: DEFAULT_SANDBOX_LIMITS.stackBytes,
  fetchTimeoutMs: DEFAULT_FETCH_LIMITS.timeoutMs,
  fetchMaxBodyBytes: DEFAULT_FETCH_LIMITS.maxBodyBytes,
  totalTimeoutMs: 10_000,
};

export interface ExecuteInput {
  /** The executeLambda `params`: any JSON values. */
  params: unknown[];
  /** The scope's fetch allowlist (see allowlist.ts for the entry syntax). */
  allowlist: readonly string[];
  limits?: Partial<LambdaLimits>;
  /** Host name resolution; tests replace it, production uses the system resolver. */
  resolve?: Resolver;
  /** Internal ranges the gateway's operator opened (CIDR text); never from a scope. */
  internalAllow?: readonly string[];
}

export type ConditionReport =
  | { index: number; type: 'code'; output: JsonValue }
  | { index: number; type: 'fetch'; status: number; output: JsonValue };

export interface PostHookReport {
  index: number;
  ok: boolean;
  status?: number;
  error?: string;
}

export interface LambdaExecution {
  /** The signature returned by `sign`. */
  result: string;
  conditions: ConditionReport[];
  post_hooks: PostHookReport[];
}

export const MAX_PARAMS = 64;
export const MAX_PARAMS_BYTES = 64 * 1024;

export async function executeLambda(
  def: LambdaDefinition,
  input: ExecuteInput,
  sign: (message: string) => Promise<string>,
): Promise<LambdaExecution> {
  const lambda = parseLambdaDefinition(def); // re-checked: it may come back from storage
  const limits = checkLimits({ ...DEFAULT_LAMBDA_LIMITS, ...input.limits });
  const allowlist = parseAllowlist(input.allowlist);
  if (!Array.isArray(input.params) || input.params.length > MAX_PARAMS) throw new LambdaError('invalid_input', `params must be a list of at most ${MAX_PARAMS} values`);
  const params = copyJson(input.params, { maxBytes: MAX_PARAMS_BYTES, maxDepth: 16 }, 'params', 'invalid_input') as JsonValue[];
  const internalAllow = parseAddressRanges(input.internalAllow ?? []);
  const env: Env = { lambda, limits, allowlist, internalAllow, resolve: input.resolve, deadline: Date.now() + limits.totalTimeoutMs };

  const outputs: JsonValue[] = [];
  const reports: ConditionReport[] = [];
  for (const [index, condition] of lambda.conditions.entries()) {
    const scope: SubstitutionScope = { params, envs: lambda.envs, conditions: [...outputs] };
    try {
      const report = condition.type === 'code' ? await codeCondition(env, condition, index, scope) : await fetchCondition(env, condition, index, scope);
      reports.push(report);
      outputs.push(report.output);
    } catch (e) {
      throw e instanceof LambdaError && e.condition === undefined ? e.inCondition(index, condition.type) : e;
    }
  }

  const scope: SubstitutionScope = { params, envs: lambda.envs, conditions: outputs };
  await check(env, scope);
  const message = lambda.actions.substitution ? substituteText(lambda.actions.data, scope) : lambda.actions.data;
  const signature = await sign(message);
  const post_hooks = await Promise.all(lambda.postHook.map((hook, index) => postHook(env, hook, index, { ...scope, signature })));
  return { result: signature, conditions: reports, post_hooks };
}

interface Env {
  lambda: LambdaDefinition;
  limits: LambdaLimits;
  allowlist: Allowlist;
  internalAllow: AddressRange[];
  resolve: Resolver | undefined;
  deadline: number;
}

/** Time left in the execution's budget, capped at a step's own limit. */
function budget(env: Env, stepLimit: number): number {
  const left = env.deadline - Date.now();
  if (left <= 0) throw new LambdaError('timeout', `the lambda ran past its ${env.limits.totalTimeoutMs} ms budget`);
  return Math.max(1, Math.min(stepLimit, Math.floor(left)));
}

async function runCode(env: Env, mode: 'body' | 'expression', code: string, substitution: boolean, scope: SubstitutionScope): Promise<JsonValue | undefined> {
  const { source, values } = substitution ? substituteCode(code, scope) : { source: code, values: [] };
  return runInSandbox(
    { mode, source, globals: { params: [...scope.params], envs: [...scope.envs], conditions: [...scope.conditions], [SUBST_GLOBAL]: values } },
    { timeoutMs: budget(env, env.limits.codeTimeoutMs), memoryBytes: env.limits.codeMemoryBytes, stackBytes: env.limits.codeStackBytes },
  );
}

async function codeCondition(env: Env, c: CodeCondition, index: number, scope: SubstitutionScope): Promise<ConditionReport> {
  const output = await runCode(env, 'body', c.code, c.substitution, scope);
  const verdict = judge(output, c.output_type);
  if (verdict !== true) throw new LambdaError('condition_not_met', `condition not met: ${verdict}`);
  return { index, type: 'code', output: output as JsonValue };
}

/** `true` when the output passes, else the reason it does not. */
export function judge(output: JsonValue | undefined, type: OutputType): true | string {
  const got = output === undefined ? 'nothing' : output === null ? 'null' : Array.isArray(output) ? 'a list' : typeof output === 'object' ? 'an object' : JSON.stringify(output).slice(0, 60);
  const pass =
    type === 'boolean' ? (typeof output === 'boolean' ? output : undefined)
    : type === 'integer' ? (typeof output === 'boolean' ? output : Number.isInteger(output) ? output !== 0 : undefined)
    : type === 'number' ? (typeof output === 'number' ? output !== 0 : undefined)
    : type === 'string' ? (typeof output === 'string' ? output.length > 0 : undefined)
    : output === undefined ? undefined : Boolean(output);
  if (pass === undefined) return `returned ${got}, expected ${type === 'json' ? 'a JSON value' : type === 'integer' ? 'an integer' : `a ${type}`}`;
  return pass ? true : `returned ${got}`;
}

function requestOf(f: FetchCondition, scope: SubstitutionScope): HttpRequest {
  if (!f.substitution) return { method: f.protocol, url: f.endpoint, headers: f.headers, body: f.body };
  return { method: f.protocol, url: substituteUrl(f.endpoint, scope), headers: substituteHeaders(f.headers, scope), body: substituteJson(f.body, scope) };
}

async function fetchCondition(env: Env, f: FetchCondition, index: number, scope: SubstitutionScope): Promise<ConditionReport> {
  const limits = { timeoutMs: budget(env, env.limits.fetchTimeoutMs), maxBodyBytes: env.limits.fetchMaxBodyBytes };
  const res = await performFetch(requestOf(f, scope), env.allowlist, limits, env.resolve, env.internalAllow);
  if (res.status < 200 || res.status > 299) throw new LambdaError('condition_not_met', `condition not met: the server answered ${res.status}`);
  return { index, type: 'fetch', status: res.status, output: res.body };
}

async function check(env: Env, scope: SubstitutionScope): Promise<void> {
  const { check: expression, substitution } = env.lambda.actions;
  if (expression.trim() === '') return;
  let result: JsonValue | undefined;
  try {
    result = await runCode(env, 'expression', expression, substitution, scope);
  } catch (e) {
    if (e instanceof LambdaError) throw new LambdaError(e.code, `actions.check: ${e.message}`);
    throw e;
  }
  if (result !== true) throw new LambdaError('check_failed', `actions.check returned ${JSON.stringify(result ?? null).slice(0, 60)}; it must return true`);
}

async function postHook(env: Env, hook: FetchCondition, index: number, scope: SubstitutionScope): Promise<PostHookReport> {
  try {
    const limits = { timeoutMs: env.limits.fetchTimeoutMs, maxBodyBytes: env.limits.fetchMaxBodyBytes };
    const res = await performFetch(requestOf(hook, scope), env.allowlist, limits, env.resolve, env.internalAllow);
    return { index, ok: res.status >= 200 && res.status <= 299, status: res.status };
  } catch (e) {
    // Whatever went wrong, the signature stands: report, never throw.
    return { index, ok: false, error: e instanceof LambdaError ? e.message : 'the post hook failed' };
  }
}

function checkLimits(l: LambdaLimits): LambdaLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new TypeError(`lambda limit ${k} must be a positive integer`);
  }
  return l;
}
