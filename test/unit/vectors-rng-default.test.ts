import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Rng parameters added for the known-answer vectors (src/core/rng.ts) must never be passed
 * by production code: every construction in src/ leaves them to their CSPRNG default, and no
 * file in src/ imports test code (where the seeded generator lives). A source scan, so that
 * a production caller passing a fixed or seeded source fails here rather than in review.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Call sites and the number of arguments production code may pass (the Rng is the next one). */
const CALLS: Array<{ pattern: RegExp; args: number }> = [
  { pattern: /new Dkls23Dkg\(/g, args: 3 },
  { pattern: /new Dkls23Signer\(/g, args: 5 },
  { pattern: /new CeremonyChannel\(/g, args: 3 },
  { pattern: /new PortableCeremonyChannel\(/g, args: 3 },
  { pattern: /\bgenerateEphemeral\(/g, args: 0 },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Top-level arguments of the call whose '(' is at `open` (brackets, braces, strings and template literals skipped). */
function countArgs(text: string, open: number): number {
  let depth = 0;
  let args = 0;
  let any = false;
  for (let i = open; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' || ch === "'" || ch === '`') {
      const end = text.indexOf(ch, i + 1);
      i = end < 0 ? text.length : end;
      any = true;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') {
      depth++;
      if (depth > 1) any = true;
      continue;
    }
    if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return any ? args + 1 : 0;
      continue;
    }
    if (depth === 1 && ch === ',') {
      // A trailing comma before ')' does not start an argument.
      if (/^\s*\)/.test(text.slice(i + 1))) continue;
      args++;
    } else if (depth === 1 && !/\s/.test(ch)) any = true;
  }
  throw new Error('unbalanced call');
}

test('the argument counter counts what it should', () => {
  assert.equal(countArgs('f()', 1), 0);
  assert.equal(countArgs('f(a, [b, c], { d: (e, f) }, `g,(`)', 1), 4);
  assert.equal(countArgs('f(\n  a,\n  b,\n)', 1), 2);
});

test('production code never passes an Rng: the DKLs23 engines and the channels keep their CSPRNG default', () => {
  const files = sources(join(root, 'src')).filter((f) => !f.endsWith(join('src', 'core', 'rng.ts')));
  let seen = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const { pattern, args } of CALLS) {
      for (const m of text.matchAll(pattern)) {
        // The declaration itself (`export function generateEphemeral(rng?: Rng)`) is no call,
        // and CeremonyChannel hands its own (default: none) Rng on to it.
        if (/function\s+$/.test(text.slice(Math.max(0, m.index! - 20), m.index!))) continue;
        if (text.startsWith('generateEphemeral(this.#rng)', m.index!)) continue;
        seen++;
        const n = countArgs(text, m.index! + m[0].length - 1);
        assert.ok(n <= args, `${relative(root, file)}: ${m[0]}…) with ${n} arguments passes an Rng (only tests may)`);
      }
    }
    assert.doesNotMatch(text, /from ['"](\.\.\/)+test\//, `${relative(root, file)} imports test code`);
    assert.doesNotMatch(text, /seededRng|fixedRng/, `${relative(root, file)} names a test generator`);
  }
  assert.ok(seen >= 5, `the scan found the production call sites (${seen})`);
});
