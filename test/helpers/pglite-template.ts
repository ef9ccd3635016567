import { existsSync, rmSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/**
 * A new embedded (PGlite) database starts with an initdb, seconds of CPU each time; most tests
 * want a fresh empty database, not the initdb. seedPglite puts a copy of one made once (a
 * directory PGlite made and closed, nothing in it) where a test's database will be, so the
 * code under test opens it as it opens any existing data directory. `npm test`
 * (scripts/run-tests.ts) makes the template once for all files and names it in
 * TANDEM_TEST_PGLITE_TEMPLATE; a test file run on its own makes one for itself.
 *
 * The test of `npm start` itself (test/integration/dev-cluster.test.ts) does not seed: there a
 * first start, initdb included, is what is tested.
 */
export const PGLITE_TEMPLATE_ENV = 'TANDEM_TEST_PGLITE_TEMPLATE';

/** Makes an empty PGlite data directory at `dir` (which must not exist). */
export async function makePgliteTemplate(dir: string): Promise<void> {
  const pg = new PGlite(dir);
  await pg.waitReady;
  await pg.close();
}

let own: Promise<string> | undefined;

function template(): Promise<string> {
  const given = process.env[PGLITE_TEMPLATE_ENV];
  if (given && existsSync(join(given, 'PG_VERSION'))) return Promise.resolve(given);
  return (own ??= (async () => {
    const base = await mkdtemp(join(tmpdir(), 'tandem-pglite-template-'));
    process.once('exit', () => rmSync(base, { recursive: true, force: true }));
    await makePgliteTemplate(join(base, 'db'));
    return join(base, 'db');
  })());
}

/** Puts a fresh, empty PGlite database at `dir` (mode 0700, as openDatabase makes it), unless `dir` exists already (a database to open again). */
export async function seedPglite(dir: string): Promise<void> {
  if (existsSync(dir)) return;
  const from = await template();
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  await cp(from, dir, { recursive: true, errorOnExist: true, force: false });
  await chmod(dir, 0o700);
}
