import { LambdaError } from './errors.js';
import { utf8Bytes, type JsonValue } from './json.js';

/**
 * `substitution: true` lets a field refer to run-time values with placeholders:
 *
 *   {{params.0}}          the first execute-time parameter (any JSON path: {{params.0.user.id}})
 *   {{envs.1}}            the second entry of `envs`
 *   {{envs.API_KEY}}      the `value` of the `envs` entry `{ "name": "API_KEY", "value": ... }`
 *                         (`key` is accepted for `name`)
 *   {{conditions.0}}      the output of an earlier condition (a fetch condition's output is its
 *                         response body); only conditions that already ran are visible
 *   {{signature}}         in post hooks only: the signature just produced
 *
 * The Passport docs name the feature but not a syntax; this one is ours. Only these roots are
 * placeholders: any other `{{...}}` is left as written. A placeholder whose value does not
 * exist fails the execution (no silent empty string).
 *
 * How values are inserted depends on where they land, so a value can never change the
 * structure around it:
 * - code and `check` (JavaScript): a placeholder becomes `(__tandem_subst[k])`, a reference to
 *   an array the sandbox receives as JSON data. The value is never pasted into source text, so
 *   a param such as `"); while(true){} ("` stays an inert string.
 * - endpoint: the value's text is percent-encoded (encodeURIComponent), so it cannot add path
 *   segments, query parameters or a userinfo part; the final URL is then allowlist-checked.
 * - JSON bodies: a string that is exactly one placeholder is replaced by the value itself
 *   (keeping its JSON type); placeholders inside longer strings are replaced by text. Bodies
 *   are rebuilt as values and serialised once, so there is no JSON text to break out of.
 * - headers and `actions.data`: the value's text (strings as they are, anything else as JSON);
 *   header values are checked for line breaks afterwards.
 */

export interface SubstitutionScope {
  params: readonly JsonValue[];
  envs: readonly JsonValue[];
  conditions: readonly JsonValue[];
  signature?: string;
}

/** Results larger than this are refused: a few placeholders of a big param could otherwise multiply it. */
export const MAX_SUBSTITUTED_BYTES = 256 * 1024;

/** The name of the sandbox global that holds code placeholders' values. */
export const SUBST_GLOBAL = '__tandem_subst';

const PLACEHOLDER_RE = /\{\{\s*(params|envs|conditions|signature)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;
const WHOLE_PLACEHOLDER_RE = /^\{\{\s*(params|envs|conditions|signature)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;

function noValue(placeholder: string): never {
  throw new LambdaError('substitution_failed', `placeholder ${placeholder.slice(0, 80)} has no value`);
}

function resolve(scope: SubstitutionScope, root: string, path: string, placeholder: string): JsonValue {
  const segments = path === '' ? [] : path.slice(1).split('.');
  if (root === 'signature') {
    if (scope.signature === undefined || segments.length > 0) noValue(placeholder);
    return scope.signature;
  }
  let value: JsonValue = [...(root === 'params' ? scope.params : root === 'envs' ? scope.envs : scope.conditions)];
  const first = segments[0];
  if (root === 'envs' && first !== undefined && !/^\d+$/.test(first)) {
    const entry = scope.envs.find((e) => typeof e === 'object' && e !== null && !Array.isArray(e) && (e.name === first || e.key === first));
    if (entry === undefined || typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.hasOwn(entry, 'value')) noValue(placeholder);
    value = entry.value as JsonValue;
    segments.shift();
  }
  for (const seg of segments) {
    if (Array.isArray(value) && /^\d+$/.test(seg) && Number(seg) < value.length) value = value[Number(seg)] as JsonValue;
    else if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, seg)) value = value[seg] as JsonValue;
    else noValue(placeholder);
  }
  return value;
}

function asText(v: JsonValue): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function capped(s: string): string {
  if (utf8Bytes(s) > MAX_SUBSTITUTED_BYTES) throw new LambdaError('substitution_failed', `a substituted value exceeds ${MAX_SUBSTITUTED_BYTES} bytes`);
  return s;
}

/** Text fields (`actions.data`, header values): each placeholder becomes its value's text. */
export function substituteText(template: string, scope: SubstitutionScope, encode: (s: string) => string = (s) => s): string {
  return capped(template.replace(PLACEHOLDER_RE, (m, root: string, path: string) => encode(asText(resolve(scope, root, path, m)))));
}

/** The endpoint: values percent-encoded so they stay inside one URL component. */
export function substituteUrl(template: string, scope: SubstitutionScope): string {
  return substituteText(template, scope, encodeURIComponent);
}

export function substituteHeaders(headers: Readonly<Record<string, string>>, scope: SubstitutionScope): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, substituteText(v, scope)]));
}

/** JSON bodies, rebuilt value by value (keys are never substituted). */
export function substituteJson(value: JsonValue, scope: SubstitutionScope): JsonValue {
  const out = walk(value, scope);
  capped(JSON.stringify(out));
  return out;
}

function walk(v: JsonValue, scope: SubstitutionScope): JsonValue {
  if (typeof v === 'string') {
    const whole = WHOLE_PLACEHOLDER_RE.exec(v);
    return whole ? resolve(scope, whole[1] as string, whole[2] as string, v) : substituteText(v, scope);
  }
  if (Array.isArray(v)) return v.map((x) => walk(x, scope));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, scope)]));
  return v;
}

/**
 * JavaScript (code conditions and `check`): placeholders become references into
 * `__tandem_subst`, whose values travel to the sandbox as data. The inserted text comes from
 * a fixed grammar and an integer index only.
 */
export function substituteCode(code: string, scope: SubstitutionScope): { source: string; values: JsonValue[] } {
  const values: JsonValue[] = [];
  const source = code.replace(PLACEHOLDER_RE, (m, root: string, path: string) => {
    values.push(resolve(scope, root, path, m));
    return `(${SUBST_GLOBAL}[${values.length - 1}])`;
  });
  capped(JSON.stringify(values));
  return { source, values };
}
