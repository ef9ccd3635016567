import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { verifyMessage } from 'ethers';
import type { Browser, Page } from 'playwright-core';
import { assertChromium, launchChromium } from '../helpers/chromium.js';
import { startInProcessDevLayout, type InProcessDevLayout } from '../helpers/in-process-gateway.js';

/**
 * The wallet page (web/, built into dist/web/ by web/build.mjs) in real headless Chromium
 * against the dev cluster's gateway (what `npm start` runs: the nodes, relay and gateway in this
 * process, on ports of the system's choosing; test/integration/dev-cluster.test.ts checks
 * `npm start`'s processes serve the page on 9545): the
 * unmodified 0xPass SDK registers a passkey (CDP virtual authenticator), logs in, signs a
 * message; the signature is checked with ethers.
 */
const BUILT_PAGE = join(import.meta.dirname, '../../web'); // dist/web/, from web/build.mjs

describe('wallet page in headless Chromium (0xPass SDK against the gateway)', { timeout: 300_000 }, () => {
  let dev: InProcessDevLayout | undefined;
  let browser: Browser | undefined;
  /** Console lines, page errors and JSON-RPC exchanges, printed when something fails. */
  const log: string[] = [];

  after(async () => {
    await browser?.close().catch(() => undefined);
    await dev?.close();
  });

  test('register, log in, sign; the signature recovers to the account', async (t) => {
    assertChromium();
    assert.ok(
      existsSync(join(BUILT_PAGE, 'index.html')) && existsSync(join(BUILT_PAGE, 'wallet.js')),
      `${BUILT_PAGE} is not built: run \`node web/build.mjs\``,
    );

    dev = await startInProcessDevLayout({ TANDEM_SCOPE_ID: randomUUID() });
    const PAGE_URL = `${dev.gatewayUrl}/wallet/`;
    browser = await launchChromium();
    const page = await browser.newPage();
    watch(page, log);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    try {
      await page.goto(PAGE_URL, { waitUntil: 'load' });
      await finished(page, 'setup', 30_000);

      const username = `tandem-${randomBytes(5).toString('hex')}`;
      await page.fill('#username', username);
      await page.click('#register');
      await finished(page, 'register', 60_000);
      await page.click('#login');
      await finished(page, 'login', 60_000);
      const address = (await page.textContent('#address'))?.trim() ?? '';
      assert.match(address, /^0x[0-9a-fA-F]{40}$/, 'eth_requestAccounts gave an address');

      const message = `Tandem wallet page test ${randomUUID()}`;
      await page.fill('#message', message);
      await page.click('#sign');
      await finished(page, 'sign', 60_000);
      await page.waitForSelector('#match[data-match]', { timeout: 10_000 });
      assert.equal((await page.textContent('#match'))?.trim(), 'addresses match');

      const signature = (await page.textContent('#signature'))?.trim() ?? '';
      assert.match(signature, /^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature');
      const recovered = verifyMessage(message, signature);
      assert.equal(recovered.toLowerCase(), address.toLowerCase(), 'ethers recovers the address shown in #address');
      assert.equal(recovered.toLowerCase(), (await page.textContent('#recovered'))?.trim().toLowerCase(), 'and the one viem recovered in the page');
    } catch (e) {
      // One diagnostic per line: TAP escapes newlines inside one.
      for (const line of ['browser log:', ...log, 'nodes log:', ...(dev?.nodes.logs ?? [])]) t.diagnostic(line);
      throw e;
    }
  });
});

/** Wait until the page's step is done; fail with the page's #error text if it failed. */
async function finished(page: Page, step: string, timeout: number): Promise<void> {
  const status = await page.waitForSelector(`#status[data-step="${step}"]:is([data-state="done"], [data-state="error"])`, { timeout });
  if ((await status.getAttribute('data-state')) === 'error') {
    assert.fail(`${step} failed on the page: ${(await page.textContent('#error'))?.trim()}`);
  }
}

function watch(page: Page, log: string[]): void {
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', async (r) => {
    const req = r.request();
    if (req.method() !== 'POST') {
      log.push(`[http] ${req.method()} ${r.url()} -> ${r.status()}`);
      return;
    }
    let method = '?';
    try {
      method = String((req.postDataJSON() as { method?: unknown }).method);
    } catch {
      /* not JSON */
    }
    const body = await r.text().catch((e: Error) => `<${e.message}>`);
    log.push(`[rpc] ${method} -> ${r.status()} ${body.length > 600 ? `${body.slice(0, 600)}…` : body}`);
  });
}
