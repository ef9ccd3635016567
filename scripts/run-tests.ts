import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { makePgliteTemplate, PGLITE_TEMPLATE_ENV } from '../test/helpers/pglite-template.js';

/**
 * `npm test`: every `*.test.js` under dist/test/ (the helpers beside them are modules, not
 * tests), several files at a time. Every server a test starts binds port 0, and every
 * PostgreSQL schema a test makes has a name of its own, so files don't collide.
 *
 *   npm test                          all of them
 *   npm test -- relay storage         only the files whose path contains one of the words
 *   TANDEM_TEST_CONCURRENCY=1 npm test   one file at a time (default 3 on this project's 2-core machines)
 *
 * The output and exit code are node's test runner's own (TAP), followed on stderr by the list of
 * failed tests (failures-reporter.ts). Before the files start it makes one
 * empty PGlite database that the tests copy instead of each paying an initdb
 * (test/helpers/pglite-template.ts).
 */
const ROOT = resolve(import.meta.dirname, '..', 'test');

const SOURCES = resolve(import.meta.dirname, '..', '..', 'test');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : []))
    .sort();
}

/** tsc leaves the output of a deleted test behind in dist/: only files with a source in test/ run. */
function hasSource(file: string): boolean {
  return existsSync(join(SOURCES, relative(ROOT, file).replace(/\.js$/, '.ts')));
}

const words = process.argv.slice(2);
const compiled = testFiles(ROOT);
for (const f of compiled.filter((f) => !hasSource(f))) process.stderr.write(`not run: ${relative(ROOT, f)} (its source is gone; a clean build removes it)\n`);
const files = compiled.filter(hasSource).filter((f) => words.length === 0 || words.some((w) => relative(ROOT, f).includes(w)));
if (files.length === 0) {
  process.stderr.write(`no test file under ${ROOT}${words.length ? ` matches ${words.join(', ')}` : ''}\n`);
  process.exit(1);
}
const concurrency = process.env.TANDEM_TEST_CONCURRENCY ?? '3';
if (!/^[1-9][0-9]*$/.test(concurrency)) {
  process.stderr.write(`TANDEM_TEST_CONCURRENCY must be a positive integer, not ${JSON.stringify(concurrency)}\n`);
  process.exit(2);
}
const base = mkdtempSync(join(tmpdir(), 'tandem-test-run-'));
const cleanUp = () => rmSync(base, { recursive: true, force: true });
await makePgliteTemplate(join(base, 'pglite'));
const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${join(import.meta.dirname, 'failures-reporter.js')}`, '--test-reporter-destination=stderr'];
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], {
  stdio: 'inherit',
  env: { ...process.env, [PGLITE_TEMPLATE_ENV]: join(base, 'pglite') },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  cleanUp();
  process.exit(code ?? (signal ? 1 : 0));
});
