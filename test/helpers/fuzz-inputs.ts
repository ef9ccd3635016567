import fc from 'fast-check';

/**
 * Inputs for the property-based tests of the HTTP edges (test/adversarial/): arbitrary
 * JSON and text with what storage, parsers and routers trip on, and valid samples with
 * one thing broken, so that generated input also gets past the first check.
 */

// A failed property's report names the error it threw, not only the counterexample and seed:
// node's TAP drops the error's `cause`, where fast-check puts it by default.
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

/** Strings with what storage, parsers and routers trip on: NUL, controls, lone surrogates, separators, huge runs. */
export const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\ud800', '\udfff', '\ud83d\ude00', '%', '/', '?', '#', '&', '=', '\\', '"', "'", '.', 'é', 'a', '0', '-', ' ', 'm'), maxLength: 30 }),
  fc.constantFrom('', 'x'.repeat(65), 'k'.repeat(100_000), '%00', '%zz', 'm/0', 'm' + '/1'.repeat(300), '00'.repeat(40_000), 'ab'.repeat(32)),
);
/** JSON values with nasty strings in them, and wrong types. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 3 }),
  nastyString,
  fc.dictionary(nastyString, fc.oneof(nastyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null)), { maxKeys: 4 }),
  fc.array(fc.oneof(nastyString, fc.integer()), { maxLength: 4 }),
);

/** Characters that, put inside an otherwise valid string, reach the validators behind the schema. */
export const nastyChar = fc.constantFrom('\u0000', '\u0001', '\n', '\u007f', '\ud800', '\udfff', '%00', '%', '\\', '"', '\u2028', '\ufeff');

/**
 * `target` with one more field: an element at the end of an array (a named key on an array
 * would never be sent, and `length` would resize it or throw), otherwise `key` as an own
 * property. fast-check's strings include `__proto__`, and `target['__proto__'] = value` would
 * change the prototype instead (an array would lose `map`): defined, it is sent as a key like
 * any other.
 */
export function withField<T extends object>(target: T, key: string, value: unknown): T {
  if (Array.isArray(target)) target.push(value);
  else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/**
 * `sample` with one field (at any depth) replaced by arbitrary JSON, removed, or a field
 * added; or a nasty character put into one of its strings, which keeps the rest valid so
 * the input gets past the schema to what parses the field further (a URL, a path).
 */
export function mutated(sample: object): fc.Arbitrary<unknown> {
  const edit = fc.record({
    kind: fc.constantFrom('replace', 'remove', 'add', 'insert', 'insert'),
    slot: fc.nat(),
    at: fc.nat(),
    value: anyJson,
    key: nastyString,
    char: nastyChar,
  });
  return edit.map(({ kind, slot, at, value, key, char }) => {
    const copy = structuredClone(sample) as Record<string, unknown>;
    const slots: Array<[Record<string, unknown>, string]> = [];
    const walk = (v: unknown) => {
      if (typeof v !== 'object' || v === null) return;
      for (const k of Object.keys(v)) {
        slots.push([v as Record<string, unknown>, k]);
        walk((v as Record<string, unknown>)[k]);
      }
    };
    walk(copy);
    if (slots.length === 0 || kind === 'add') return withField(copy, key, value);
    const [where, k] = slots[slot % slots.length]!;
    const old = where[k];
    if (kind === 'insert' && typeof old === 'string') where[k] = old.slice(0, at % (old.length + 1)) + char + old.slice(at % (old.length + 1));
    else if (kind === 'remove') delete where[k];
    else where[k] = value;
    return copy;
  });
}

/**
 * The sample with what storage and text handling trip on put into each of its strings in
 * turn (every free-text field, systematically): a NUL inside, a control character inside,
 * a lone high surrogate at the end (a string cut in the middle of a pair), a lone low
 * surrogate at the start.
 */
const STRING_EDITS: Array<(s: string) => string> = [
  (s) => s.slice(0, s.length >> 1) + '\u0000' + s.slice(s.length >> 1),
  (s) => s.slice(0, s.length >> 1) + '\u0001' + s.slice(s.length >> 1),
  (s) => s + '\ud83d',
  (s) => '\udc00' + s,
];

export function stringEdits(sample: object): unknown[] {
  const out: unknown[] = [];
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    if (typeof v === 'string') paths.push(path);
    else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...path, k]);
  };
  walk(sample, []);
  for (const path of paths) {
    for (const edit of STRING_EDITS) {
      const copy = structuredClone(sample) as Record<string, unknown>;
      let parent = copy;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
      const leaf = path[path.length - 1]!;
      parent[leaf] = edit(parent[leaf] as string);
      out.push(copy);
    }
  }
  return out;
}

/** A body as sent: JSON text of a value, or raw text and bytes that are not JSON. */
export function bodyText(values: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: values.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: nastyString },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constantFrom('{', '{"key_id":', '[]', 'null', '"x"', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}') },
    // Deep nesting as text: as values it would overflow the test's own stack before the server's.
    { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 20_000 }), fc.constantFrom('[', '{"key_id":', '{"msg":')).map(([n, open]) => open.repeat(n) + '1' + (open === '[' ? ']' : '}').repeat(n)) },
  );
}

/** A path segment as sent: %-encoded text (any characters) or raw %-sequences that may not decode. */
export const pathSegment = fc.oneof(
  nastyString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/gu, '\ufffd'))),
  fc.string({ unit: fc.constantFrom('%', '%0', '%00', '%zz', '%ff', '%ED%A0%80', '%C0%AF', '%E0%A4%A', 'a', 'Z', '9', '-', '_', '.', '~', '!', '$', "'", '(', '*', '+', ',', ';', '=', ':', '@'), maxLength: 30 }),
  fc.nat({ max: 300 }).map((n) => 'k'.repeat(n)),
);
