import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { assertChromium, launchChromium } from '../helpers/chromium.js';
import * as ecc from 'tiny-secp256k1';
import * as browserPlatform from '../../src/protocols/platform/browser.js';
import * as nodePlatform from '../../src/protocols/platform/node.js';
import { TandemNodeClient } from '../../src/sdk/index.js';
import type { KeyFamily } from '../../src/sdk/types.js';
import { ADMIN_KEY, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import type { DeviceRun, DeviceRunResult, TandemDevicePage } from '../helpers/device-browser-entry.js';

/**
 * The SDK's device party in real headless Chromium: DeviceParty, TandemNodeClient and
 * MemoryShareStore bundled by esbuild for the browser (a Node built-in anywhere in the graph
 * fails the build), against a real cluster. The page makes its own request-signing key, then
 * runs keygen and sign as a party of each key; every public key and signature it reports is
 * checked here by independent implementations: OpenSSL (Ed25519), libsecp256k1 (ECDSA,
 * BIP340) and ethers (ECDSA address recovery).
 *
 * The nodes answer no CORS preflight, so the page and the nodes share one origin: a small
 * proxy serves the page and forwards /nodes/<i>/… to node i. Request signatures cover the
 * API path the node sees, which the proxy keeps. The relay is reached directly (WebSockets
 * are not subject to CORS).
 */
const ROOT = join(import.meta.dirname, '../../..');
const ENTRY = join(import.meta.dirname, '../helpers/device-browser-entry.js'); // compiled by tsc
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const bytes = (h: string) => Buffer.from(h, 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const edKey = (pubHex: string): KeyObject => createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes(pubHex)]), format: 'der', type: 'spki' });

describe('device party in headless Chromium (browser bundle, no Node built-ins)', { timeout: 600_000 }, () => {
  let tc: TestCluster | undefined;
  let proxy: Server | undefined;
  let browser: Browser | undefined;
  const log: string[] = [];

  after(async () => {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    await tc?.destroy();
  });

  test('the browser platform computes what the Node platform computes', () => {
    for (const len of [0, 1, 55, 64, 137, 5_000]) {
      const data = new Uint8Array(randomBytes(len));
      const split = [data.subarray(0, len >> 1), data.subarray(len >> 1)];
      assert.deepEqual(browserPlatform.sha256(...split), nodePlatform.sha256(data));
      for (const out of [32, 80, 144]) assert.deepEqual(browserPlatform.shake256(data, out), nodePlatform.shake256(data, out));
      assert.deepEqual(browserPlatform.hmacSha512(data.subarray(0, 32), ...split), nodePlatform.hmacSha512(data.subarray(0, 32), data));
      assert.deepEqual(browserPlatform.fromBase64(nodePlatform.toBase64(data)), data);
      assert.equal(browserPlatform.toBase64(data), nodePlatform.toBase64(data));
    }
    const [b, n] = [browserPlatform.secp256k1, nodePlatform.secp256k1];
    for (let i = 0; i < 8; i++) {
      const k = new Uint8Array(randomBytes(32));
      const t = new Uint8Array(randomBytes(32));
      for (const compressed of [true, false, undefined]) {
        const p = n.pointFromScalar(k, compressed)!;
        assert.deepEqual(b.pointFromScalar(k, compressed), p);
        assert.deepEqual(b.pointMultiply(p, t, compressed), n.pointMultiply(p, t, compressed));
      }
      const c = n.pointFromScalar(k, true)!;
      assert.deepEqual(b.decompress(c), n.decompress(c));
      // A random x is on the curve about half the time; both must agree which.
      const x = Uint8Array.of(2, ...randomBytes(32));
      assert.deepEqual(b.decompress(x), n.decompress(x));
    }
    // Out-of-range scalars are TypeErrors on both (thrown before tiny-secp256k1 enters its WebAssembly).
    const order = bytes('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
    const g = n.pointFromScalar(Uint8Array.of(...new Uint8Array(31), 1))!;
    for (const impl of [b, n]) {
      assert.throws(() => impl.pointFromScalar(new Uint8Array(32)), TypeError);
      assert.throws(() => impl.pointFromScalar(order), TypeError);
      assert.throws(() => impl.pointMultiply(g, order), TypeError);
      assert.equal(impl.decompress(Uint8Array.of(2, ...new Uint8Array(31), 5)), undefined, 'x = 5 is on no point');
      assert.equal(impl.decompress(Uint8Array.of(2, ...new Uint8Array(32).fill(0xff))), undefined, 'x ≥ p');
    }
  });

  test('keygen and sign in the browser: ed25519, ecdsa and bip340, 2-of-2 with a node', async (t) => {
    assertChromium();

    const bundle = await bundleForBrowser();
    const inputs = Object.keys(bundle.metafile.inputs);
    assert.ok(inputs.some((f) => f.endsWith('protocols/platform/browser.js')), 'the bundle takes the browser platform');
    assert.ok(!inputs.some((f) => f.endsWith('protocols/platform/node.js') || f.includes('tiny-secp256k1')), 'and nothing of the Node one');
    t.diagnostic(`bundle: ${(bundle.code.length / 1024).toFixed(0)} KiB, ${inputs.length} modules`);

    // The device is slower than a node (pure-JS hashing and curves): give each ceremony step more than the usual 3 s.
    tc = await startTestCluster({ TANDEM_CEREMONY_TIMEOUT_MS: '20000' });
    const urls = tc.cluster.nodes.map((node) => node.url);
    proxy = await serve(bundle.code, urls);
    const origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    browser = await launchChromium();
    const page = await browser.newPage();
    watch(page, log);
    try {
      await page.goto(`${origin}/`, { waitUntil: 'load' });
      await page.waitForFunction(() => 'tandemDevice' in globalThis, undefined, { timeout: 10_000 });
      assert.deepEqual(await page.evaluate(() => (globalThis as unknown as InPage).tandemDevice.nodeGlobals()), [], 'no Buffer, process or require in the page');

      const admin = new TandemNodeClient({ nodes: urls, credential: { apiKey: ADMIN_KEY } });
      const publicKey = await page.evaluate(() => (globalThis as unknown as InPage).tandemDevice.newRequestKey());
      const { user_id } = await admin.createUser({ publicKey: { type: 'ed25519', key: publicKey } });
      const nodes = urls.map((_, i) => `${origin}/nodes/${i}`);
      const run = async (family: KeyFamily, msgs: Buffer[]): Promise<DeviceRunResult> => {
        const r: DeviceRun = { nodes, userId: user_id, family, numParties: 2, threshold: 2, msgs: msgs.map(hex) };
        const out = await page.evaluate((arg) => (globalThis as unknown as InPage).tandemDevice.run(arg), r);
        t.diagnostic(`${family}: keygen ${out.keygenMs.toFixed(0)} ms, sign ${out.signMs.map((ms) => ms.toFixed(0)).join(', ')} ms (in the browser)`);
        assert.equal(out.reported.public_key, out.publicKey, `${family}: the nodes report the key the page made`);
        assert.equal(out.reported.parties.length, 2);
        assert.ok(out.reported.parties.includes(`browser-${family}`), `${family}: the page is a party of the key (${out.reported.parties.join(', ')})`);
        assert.equal(out.signatures.length, msgs.length);
        return out;
      };

      const edMsgs = [Buffer.from('signed in a browser, by a device share and a node share'), randomBytes(100)];
      const ed = await run('ed25519', edMsgs);
      edMsgs.forEach((m, i) => {
        assert.ok(verify(null, m, edKey(ed.publicKey), bytes(ed.signatures[i]!.signature)), 'OpenSSL verifies the Ed25519 signature');
        assert.ok(!verify(null, Buffer.concat([m, Buffer.of(0)]), edKey(ed.publicKey), bytes(ed.signatures[i]!.signature)));
      });

      const hashes = [randomBytes(32), randomBytes(32)];
      const ec = await run('ecdsa', hashes);
      hashes.forEach((h, i) => {
        const { signature, recovery_id } = ec.signatures[i]!;
        const sig = bytes(signature);
        assert.ok(ecc.verify(h, bytes(ec.publicKey), sig, true), 'libsecp256k1 accepts the ECDSA signature (strict low-S)');
        assert.ok(!ecc.verify(randomBytes(32), bytes(ec.publicKey), sig));
        const ethSig = Signature.from({ r: '0x' + hex(sig.subarray(0, 32)), s: '0x' + hex(sig.subarray(32)), v: 27 + recovery_id! });
        assert.equal(recoverAddress(h, ethSig), computeAddress('0x' + ec.publicKey), 'ethers recovers the address');
      });

      const schnorrMsgs = [randomBytes(32)];
      const sc = await run('bip340', schnorrMsgs);
      assert.ok(ecc.verifySchnorr(schnorrMsgs[0]!, bytes(sc.publicKey), bytes(sc.signatures[0]!.signature)), 'libsecp256k1 verifies the BIP340 signature');
      assert.ok(!ecc.verifySchnorr(randomBytes(32), bytes(sc.publicKey), bytes(sc.signatures[0]!.signature)));
    } catch (e) {
      // One diagnostic per line: TAP escapes newlines inside one.
      for (const line of ['browser log:', ...log, 'cluster output (last 80 lines):', ...(tc?.logs.slice(-80) ?? [])]) t.diagnostic(line);
      throw e;
    }
  });
});

/** The page's globals; page.evaluate sends functions as source, so each one casts on its own. */
interface InPage {
  tandemDevice: TandemDevicePage;
}

/**
 * The entry script, bundled as a browser would get it. `platform: 'browser'` selects the
 * "browser" condition of package.json "imports" ('#protocols/platform'); any Node built-in
 * (node:crypto, or a bare `buffer` that would silently pick up the npm polyfill) fails it.
 */
async function bundleForBrowser(): Promise<{ code: string; metafile: Metafile }> {
  const builtins = new Set(builtinModules);
  const noNodeBuiltins: Plugin = {
    name: 'no-node-builtins',
    setup(b) {
      b.onResolve({ filter: /^[a-z_:][a-z0-9_/:]*$/ }, (args) => {
        const name = args.path.replace(/^node:/, '');
        if (args.path.startsWith('node:') || builtins.has(name)) {
          return { errors: [{ text: `${args.importer} imports the Node built-in "${args.path}"` }] };
        }
        return undefined;
      });
    },
  };
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    plugins: [noNodeBuiltins],
    logLevel: 'silent',
  });
  return { code: result.outputFiles[0]!.text, metafile: result.metafile };
}

/** The page, its script, and /nodes/<i>/… forwarded to node i, all on one ephemeral port. */
async function serve(script: string, nodeUrls: string[]): Promise<Server> {
  const page = '<!doctype html><meta charset="utf-8"><title>Tandem device party</title><script type="module" src="/device.js"></script>';
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${(e as Error).message}`);
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (req.method === 'GET' && url === '/device.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    if (url === '/favicon.ico') return void res.writeHead(204).end();
    const m = /^\/nodes\/(\d+)(\/.*)$/.exec(url);
    const target = m && nodeUrls[Number(m[1])];
    if (!m || !target) return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const h of ['authorization', 'content-type', 'accept']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    const upstream = await fetch(target + m[2], {
      method: req.method,
      headers,
      ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
      signal: AbortSignal.timeout(120_000),
    });
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function watch(page: Page, log: string[]): void {
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => log.push(`[http] ${r.request().method()} ${r.url()} -> ${r.status()}`));
}
