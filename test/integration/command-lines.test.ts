import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

/**
 * Every program's command line: a mistake in it is one line naming the mistake and the
 * program's usage on stderr, exit code 2, and nothing started (no stack trace, nothing on
 * stdout). Each program runs as its own process, as an operator would run it.
 */
const DIST = join(import.meta.dirname, '../..');

function run(main: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A data directory that must never be made: a program that got past its command line would make it.
    const env = { ...process.env, TANDEM_DATA_DIR: join(DIST, 'never-made') };
    execFile(process.execPath, [join(DIST, main), ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

const CASES: Array<[string, string, string[], RegExp]> = [
  ['node', 'src/node/main.js', ['--help'], /^node: Unknown option '--help'\nusage: node dist\/src\/node\/main\.js --config /],
  ['relay', 'src/relay/main.js', ['--port'], /^relay: Option '--port <value>' argument missing\nusage: relay /],
  ['gateway', 'src/gateway/main.js', ['--dev-scope=yes'], /^gateway: Option '--dev-scope' does not take an argument\nusage: node dist\/src\/gateway\/main\.js/],
  ['npm start', 'src/cluster/dev.js', ['--help'], /^start: Unknown option '--help'\nusage: npm start -- /],
  ['npm start', 'src/cluster/dev.js', ['--base-port', '70000'], /^start: invalid --base-port "70000"\nusage: npm start -- /],
  ['npm run start:prod', 'src/cluster/production.js', ['--data'], /^start:prod: Unknown option '--data'\nusage: npm run start:prod/],
];

test('a mistake on any program\'s command line: the mistake and the usage, exit code 2, nothing started', async () => {
  const answers = await Promise.all(CASES.map(([, main, args]) => run(main, args)));
  CASES.forEach(([name, , args, expected], i) => {
    const a = answers[i]!;
    const what = `${name} ${args.join(' ')}: ${a.stderr}`;
    assert.equal(a.code, 2, what);
    assert.match(a.stderr, expected, what);
    assert.doesNotMatch(a.stderr, /\n\s+at /, `no stack trace: ${what}`);
    assert.equal(a.stdout, '', what);
  });
});
