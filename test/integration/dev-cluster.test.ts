import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { Passport, type Network } from '@0xpass/passport';
import { ethers } from 'ethers';
import { api } from '../helpers/cluster.js';
import { devPortsBusy, interrupt, portOpen, startDev } from '../helpers/dev-cluster.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

/**
 * The README's `npm start` contract: relay on 7000, node-1..3 on 7001..7003, an admin key per node
 * generated and shown once, Ctrl-C stops everything, a restart keeps users and keys. The
 * unmodified Passport SDK registers a passkey wallet on the gateway process (9545) in the dev
 * scope and signs through it and the node processes, before and after the restart (same
 * session): the only test where a gateway process signs; wallet-gateway.test.ts tests the
 * gateway's API in depth in its own process. Signatures are checked with ethers.
 */
describe('npm start (dev cluster contract)', { timeout: 240_000 }, () => {
  let dataDir: string;
  let busy = false;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-dev-'));
    busy = await devPortsBusy();
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
    await rm(secretsDirOf(dataDir), { recursive: true, force: true });
  });

  test('ports, admin key shown once, Ctrl-C, restart keeps state', async (t) => {
    if (busy) return t.skip('ports 7000-7003 or 9545 are in use (is a dev cluster running?)');
    const first = await startDev(dataDir);
    const admin = first.adminKey;
    assert.ok(admin, 'the generated admin keys are printed at first start');
    const keys = first.adminKeys;
    assert.deepEqual(Object.keys(keys), ['node-1', 'node-2', 'node-3']);
    assert.equal(new Set(Object.values(keys)).size, 3, 'each node has its own admin key');
    assert.ok(await portOpen(7000), 'relay on 7000');
    for (const port of [7001, 7002, 7003]) assert.equal((await api(`http://127.0.0.1:${port}`, 'GET', '/health')).status, 200);
    assert.equal((await api('http://127.0.0.1:9545', 'GET', '/health')).status, 200, 'wallet gateway on 9545');
    // The wallet page (test/integration/wallet-page.test.ts runs it in a browser) at the README's address.
    const page = await fetch('http://localhost:9545/wallet/');
    assert.equal(page.status, 200, 'the wallet page is served at http://localhost:9545/wallet/');
    assert.match(await page.text(), /wallet\.js/);
    assert.equal((await fetch('http://localhost:9545/wallet/wallet.js')).status, 200);
    const scope = /scope\s+(\S+)\s+\(TANDEM_SCOPE_ID/.exec(first.stdout())?.[1];
    assert.ok(scope, 'without TANDEM_SCOPE_ID a dev scope is made and printed');

    const enclavePublicKey = String((await api('http://127.0.0.1:9545', 'GET', '/enclave-public-key')).body.public_key);
    const passport = new Passport({ scopeId: scope, signer: new SoftAuthenticator({ origin: 'http://localhost:5173' }), network: 'http://localhost:9545' as Network, enclavePublicKey });
    await passport.setupEncryption();
    const wallet = { username: `dev-${randomBytes(4).toString('hex')}`, userDisplayName: 'Dev' };
    assert.equal((await passport.register(wallet)).error, undefined, 'a passkey wallet registers in the dev scope');
    const address = ethers.getAddress((await passport.authenticate(wallet))[1]);
    const signed = await passport.signMessage('signed by npm start');
    assert.equal(ethers.verifyMessage('signed by npm start', signed.result), address, "the gateway process's signature, from the node processes");

    assert.equal((await api('http://127.0.0.1:7003', 'POST', '/admin/create-user', { key: admin })).status, 401, "node-1's admin key is not node-3's");
    const user = await api('http://127.0.0.1:7003', 'POST', '/admin/create-user', { key: keys['node-3'] });
    assert.equal(user.status, 200, 'a user made with node-3 admin key exists on every node');
    const key = String(user.body.api_key);
    const kg = await api('http://127.0.0.1:7001', 'POST', '/bip340/keygen', { key, body: { num_parties: 3, threshold: 2 } });
    const keyId = String(kg.body.key_id);
    const pub = Buffer.from(String(kg.body.public_key), 'hex');
    assert.equal(await interrupt(first.child), 0, 'Ctrl-C exits cleanly');
    for (const port of [7000, 7001, 7002, 7003, 9545]) assert.equal(await portOpen(port), false, `port ${port} released`);

    const second = await startDev(dataDir);
    try {
      for (const k of Object.values(keys)) assert.ok(!second.stdout().includes(k), 'the admin keys are never shown again');
      assert.ok(!second.stdout().includes('Admin API key'));
      assert.ok(second.stdout().includes(`scope    ${scope}`), 'the dev scope is kept across restarts');
      const msg = randomBytes(32);
      const r = await api('http://127.0.0.1:7002', 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: msg.toString('hex') } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(ecc.verifySchnorr(msg, pub, Buffer.from(String(r.body.signature), 'hex')));
      assert.equal((await api('http://127.0.0.1:7001', 'POST', '/admin/create-user', { key: admin })).status, 200, 'the admin key still works');
      const again = await passport.signMessage('signed after a restart');
      assert.equal(again.error, undefined, JSON.stringify(again.error));
      assert.equal(ethers.verifyMessage('signed after a restart', again.result), address, "the wallet's session, account and key outlive a restart");
    } finally {
      assert.equal(await interrupt(second.child), 0);
    }
  });
});
