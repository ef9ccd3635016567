// Builds the wallet page into dist/web/ (served by the gateway under /wallet/):
//   node web/build.mjs                 type-check web/ (lib DOM), bundle, copy index.html
//   node web/build.mjs --no-typecheck  bundle and copy only
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const out = join(root, 'dist', 'web');

if (!process.argv.includes('--no-typecheck')) {
  // The main tsconfig has no DOM types; the page is checked with its own.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(web, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('web: type check failed');
    process.exit(r.status ?? 1);
  }
}

await mkdir(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [join(web, 'wallet.ts')],
  outfile: join(out, 'wallet.js'),
  bundle: true,
  platform: 'browser', // honours package.json "browser" fields (axios, node-forge, brorand)
  format: 'esm',
  target: 'es2020',
  sourcemap: 'linked',
  // The SDK calls Node's Buffer (publicKeyToEthereumAddress); free `Buffer` references
  // become imports of the npm `buffer` polyfill.
  inject: [join(web, 'buffer-shim.ts')],
  define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' },
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
});
await copyFile(join(web, 'index.html'), join(out, 'index.html'));

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`web: ${relative(root, out)}/ (wallet.js, index.html; ${(bytes / 1024).toFixed(0)} KiB total)`);
