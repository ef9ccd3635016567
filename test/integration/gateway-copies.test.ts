import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Passport, type Network } from '@0xpass/passport';
import { ethers } from 'ethers';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/start.js';
import { PostgresClient } from '../../src/db/postgres-client.js';
import { ADMIN_KEY, dropSchemas, TEST_POSTGRES_URL } from '../helpers/cluster.js';
import { balancer } from '../helpers/balancer.js';
import { handingOutKey } from '../helpers/in-process-gateway.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import { captureSdkRequests, postRpc, WireClient } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

/**
 * Two copies of the wallet gateway on one PostgreSQL schema, behind a round-robin balancer,
 * in front of three signer nodes (in this process) that keep their state in PostgreSQL too,
 * a schema each (test/integration/cluster.test.ts counts on this file for nodes on
 * PostgreSQL). The unmodified Passport SDK talks to the balancer, so consecutive calls of
 * one flow land on different copies: a challenge issued by one copy completes on the other, and a single-use request
 * is refused by every copy. Signatures are checked with ethers. Carol's registration makes
 * her key on the nodes; the winner of the username race is handed hers (handingOutKey): an
 * ECDSA key generation of three nodes costs about 6 s of CPU, and the race is about the name.
 */
const ORIGIN = 'http://localhost:5173';
const SCOPE = `copies-${randomUUID().slice(0, 8)}`;

const lastCaptured = captureSdkRequests();

describe('two gateway copies on one PostgreSQL schema', { timeout: 600_000 }, () => {
  let tc: InProcessCluster;
  let dataDir: string;
  const carol = { username: `carol-${randomUUID().slice(0, 8)}`, userDisplayName: 'Carol' };
  const copies: RunningGateway[] = [];
  let lb: ReturnType<typeof balancer>;
  let lbUrl: string;
  let enclaveKey: string;
  const kekHex = randomBytes(32).toString('hex');
  const schemaPrefix = `it_gw_${randomBytes(4).toString('hex')}`;
  const options = (i: number, kek = kekHex): GatewayOptions => ({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(dataDir, `gateway-${i}`),
    database: { kind: 'postgres', url: TEST_POSTGRES_URL, schema: `${schemaPrefix}_gateway` },
    nodes: tc.cluster.nodes.map((n) => n.url),
    adminKey: ADMIN_KEY,
    kekHex: kek,
    sessionTtlSeconds: 900,
    devScope: { scopeId: SCOPE },
  });

  before(async () => {
    // A ceremony step may wait 15 s (npm start's default), not 6: the three nodes share this process's one thread.
    tc = await startInProcessCluster({ TANDEM_CEREMONY_TIMEOUT_MS: '15000', TANDEM_DATABASE_URL: TEST_POSTGRES_URL, TANDEM_DATABASE_SCHEMA_PREFIX: schemaPrefix });
    const pg = await PostgresClient.connect(TEST_POSTGRES_URL, 'public');
    try {
      const { rows } = await pg.query<{ nspname: string }>('select nspname from pg_namespace where starts_with(nspname, $1) order by nspname', [`${schemaPrefix}_node`]);
      assert.deepEqual(rows.map((r) => r.nspname), [1, 2, 3].map((i) => `${schemaPrefix}_node_${i}`), "the nodes' schemas");
    } finally {
      await pg.close();
    }
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-gw-copies-'));
    // Started together, as a deployment would: first-start secrets and the scope are made once.
    copies.push(...(await Promise.all([startGateway(options(0)), startGateway(options(1))])));
    lb = balancer(copies.map((c) => c.url));
    await new Promise<void>((resolve) => lb.server.listen(0, '127.0.0.1', resolve));
    lbUrl = `http://127.0.0.1:${(lb.server.address() as AddressInfo).port}`;
    enclaveKey = ((await (await fetch(`${copies[0]!.url}/enclave-public-key`)).json()) as { public_key: string }).public_key;
  });
  after(async () => {
    lb?.server.close();
    for (const c of copies) await c.close();
    await tc?.destroy();
    await dropSchemas(`${schemaPrefix}_`); // the nodes' schemas and the gateway's
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the copies share one enclave key; a copy with another KEK refuses to start', async () => {
    const second = ((await (await fetch(`${copies[1]!.url}/enclave-public-key`)).json()) as { public_key: string }).public_key;
    assert.equal(second, enclaveKey);
    await assert.rejects(startGateway(options(2, randomBytes(32).toString('hex'))), /TANDEM_GATEWAY_KEK/);
  });

  test('register, log in and sign through the balancer: every flow crosses copies', async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const passport = new Passport({ scopeId: SCOPE, signer: authenticator, network: lbUrl as Network, enclavePublicKey: enclaveKey });
    await passport.setupEncryption();
    const user = carol;
    const before = lb.served.length;
    const reg = await passport.register(user);
    assert.equal(reg.error, undefined, JSON.stringify(reg.error));
    const [, addr] = await passport.authenticate(user);
    const address = ethers.getAddress(addr);
    for (let i = 0; i < 4; i++) {
      const text = `message ${i}`;
      const signed = await passport.signMessage(text);
      assert.equal(signed.error, undefined, JSON.stringify(signed.error));
      assert.equal(ethers.verifyMessage(text, signed.result), address, 'ethers recovers the account');
    }
    const used = new Set(lb.served.slice(before));
    assert.equal(used.size, 2, 'both copies served this user');

    // The captured login completion, sent again to each copy directly: refused by both.
    const completion = lastCaptured('completeAuthentication');
    for (const copy of copies) {
      const again = await postRpc(copy.url, completion.body, completion.headers);
      assert.equal(again.result, undefined, `${copy.url} refused the replay`);
      assert.equal(again.error?.data, 'invalid_challenge', JSON.stringify(again.error));
    }

    // The direct passkey flow: a challenge from copy 0, used on copy 1, then refused on copy 0.
    const wire = new WireClient(copies[0]!.url, enclaveKey);
    const encUser = wire.encrypt(JSON.stringify(user));
    const init = await wire.call('initiateAuthentication', { encrypted_user: encUser }, wire.headers(SCOPE));
    const options = JSON.parse(wire.decrypt(init.result.encrypted_request_challenge)).publicKey;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'personal_sign', params: ['direct', address] });
    const { createHash } = await import('node:crypto');
    const challenge = createHash('sha256')
      .update('tandem/passkey-request/v1')
      .update(Buffer.from(options.challenge, 'base64url'))
      .update(createHash('sha256').update(body).digest())
      .digest('base64url');
    const headers = wire.headers(SCOPE, {
      'X-Encrypted-User': encUser,
      'X-Encrypted-WebAuthn-Signature': wire.encrypt(JSON.stringify({ challenge_id: init.result.challenge_id, assertion: authenticator.assert(challenge, 'localhost') })),
    });
    const signed = await postRpc(copies[1]!.url, body, headers);
    assert.equal(ethers.verifyMessage('direct', signed.result), address);
    const replay = await postRpc(copies[0]!.url, body, headers);
    assert.equal(replay.error?.data, 'invalid_challenge', JSON.stringify(replay.error));
  });

  test('a username registers once, even when two copies race for it', async () => {
    const account = await copies[0]!.gateway.store.findAccount(SCOPE, carol.username);
    assert.ok(account?.keyId && account.publicKey, 'carol is registered');
    const own = copies.map((c) => c.gateway.nodes);
    for (const [i, c] of copies.entries()) c.gateway.nodes = handingOutKey({ keyId: account.keyId, publicKey: account.publicKey }, own[i]!);
    const username = `dave-${randomUUID().slice(0, 8)}`;
    const attempt = async (i: number) => {
      const p = new Passport({ scopeId: SCOPE, signer: new SoftAuthenticator({ origin: ORIGIN }), network: copies[i]!.url as Network, enclavePublicKey: enclaveKey });
      await p.setupEncryption();
      return p.register({ username, userDisplayName: 'Dave' }).then(
        (r) => (r.error ? 'refused' : 'registered'),
        () => 'refused',
      );
    };
    try {
      const results = await Promise.all([attempt(0), attempt(1)]);
      assert.deepEqual(results.sort(), ['refused', 'registered']);
    } finally {
      for (const [i, c] of copies.entries()) c.gateway.nodes = own[i]!;
    }
  });
});
