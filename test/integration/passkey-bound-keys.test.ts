import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Passport, type Network } from '@0xpass/passport';
import { ethers } from 'ethers';
import { startGateway, type RunningGateway } from '../../src/gateway/start.js';
import { devScopeConfig } from '../../src/gateway/scopes.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { personalMessageHash } from '../../src/wallet/ethereum.js';
import { ADMIN_KEY } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import { WireClient, postRpc } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * Issue 12, "forward the end user's passkey evidence": in a scope with
 * `signing.passkey_per_request`, an account's key is bound to its passkey on every node at
 * key generation, and the nodes sign with it only on that passkey's assertion over the very
 * request the user made. The gateway is played as compromised here: with its own request
 * key (it signs every node request) it asks the nodes (in this process) for signatures the user
 * did not approve, and is refused. On 17b7f45 (and with the nodes' check disabled) those
 * signatures were made: the gateway's word was all the nodes had.
 */
const ORIGIN = 'http://localhost:5173';
const SCOPE = `strict-${randomUUID().slice(0, 8)}`;

describe('keys bound to their passkey sign only what the passkey approved', { timeout: 300_000 }, () => {
  let tc: InProcessCluster;
  let dir: string;
  let gw: RunningGateway;
  let enclaveKey: string;
  const authenticator = new SoftAuthenticator({ origin: ORIGIN });
  const user = { username: `erin-${randomUUID().slice(0, 8)}`, userDisplayName: 'Erin' };
  let address: string;
  let keyId: string;

  before(async () => {
    tc = await startInProcessCluster();
    dir = await mkdtemp(join(tmpdir(), 'tandem-strict-'));
    const database = { kind: 'embedded' as const, dir: join(dir, 'db') };
    await seedPglite(database.dir);
    const store = await openGatewayStore(database);
    await store.insertScope({ scopeId: SCOPE, config: { ...devScopeConfig(), passkey_per_request: true }, ownerPublicKey: null });
    await store.close();
    gw = await startGateway({
      host: '127.0.0.1',
      port: 0,
      dataDir: dir,
      database,
      nodes: tc.cluster.nodes.map((n) => n.url),
      adminKey: ADMIN_KEY,
      kekHex: randomBytes(32).toString('hex'),
      sessionTtlSeconds: 900,
    });
    enclaveKey = ((await (await fetch(`${gw.url}/enclave-public-key`)).json()) as { public_key: string }).public_key;
    const passport = new Passport({ scopeId: SCOPE, signer: authenticator, network: gw.url as Network, enclavePublicKey: enclaveKey });
    await passport.setupEncryption();
    const reg = await passport.register(user);
    assert.equal(reg.error, undefined, JSON.stringify(reg.error));
    const [, addr] = await passport.authenticate(user);
    address = ethers.getAddress(addr);
    // A session exists, but this scope signs only per request.
    const bySession = await passport.signMessage('with a session');
    assert.equal(bySession.result, undefined, 'a session does not sign in this scope');
    const account = await gw.gateway.store.findAccount(SCOPE, user.username);
    keyId = account!.keyId!;
  });
  after(async () => {
    await gw?.close();
    await tc?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  /** The direct passkey flow for `message`: the body, its challenge and the assertion over both. */
  const approved = async (message: string) => {
    const wire = new WireClient(gw.url, enclaveKey);
    const encUser = wire.encrypt(JSON.stringify(user));
    const init = await wire.call('initiateAuthentication', { encrypted_user: encUser }, wire.headers(SCOPE));
    const challenge = JSON.parse(wire.decrypt(init.result.encrypted_request_challenge)).publicKey.challenge as string;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'personal_sign', params: [message, address] });
    const signedOver = createHash('sha256').update('tandem/passkey-request/v1').update(Buffer.from(challenge, 'base64url')).update(createHash('sha256').update(body).digest()).digest('base64url');
    const assertion = authenticator.assert(signedOver, 'localhost');
    const headers = wire.headers(SCOPE, { 'X-Encrypted-User': encUser, 'X-Encrypted-WebAuthn-Signature': wire.encrypt(JSON.stringify({ challenge_id: init.result.challenge_id, assertion })) });
    return { body, headers, evidence: { request_body: body, challenge, assertion } };
  };

  test('the direct passkey flow signs, and ethers recovers the account', async () => {
    const a = await approved('hello from the passkey');
    const signed = await postRpc(gw.url, a.body, a.headers);
    assert.equal(ethers.verifyMessage('hello from the passkey', signed.result), address);
  });

  test('a compromised gateway (its own request key, every node request signed) gets no signature the passkey did not approve', async () => {
    const nodes = gw.gateway.nodes;
    const refused = (p: Promise<unknown>) => assert.rejects(p, /access_denied/);
    // No evidence at all: what a session, a lambda or the gateway's own wish would send.
    await refused(nodes.sign(keyId, personalMessageHash('drain the wallet')));
    // An approval of one message, for another.
    const a = await approved('pay 1 to bob');
    await refused(nodes.sign(keyId, personalMessageHash('pay 1000 to mallory'), undefined, undefined, a.evidence));
    // The approval, once, for what it approved: signed, and verified by ethers.
    const sig = await nodes.sign(keyId, personalMessageHash('pay 1 to bob'), undefined, undefined, a.evidence);
    const rsv = ethers.Signature.from({ r: `0x${sig.signature.slice(0, 64)}`, s: `0x${sig.signature.slice(64)}`, v: 27 + sig.recoveryId });
    assert.equal(ethers.verifyMessage('pay 1 to bob', rsv), address);
    // The same approval again: every node spent its challenge.
    await refused(nodes.sign(keyId, personalMessageHash('pay 1 to bob'), undefined, undefined, a.evidence));
    // An assertion by a passkey of the gateway's making, over the body and challenge it chose.
    const forger = new SoftAuthenticator({ origin: ORIGIN });
    await forger.create({ publicKey: { challenge: randomBytes(32).toString('base64url'), rp: { id: 'localhost', name: 'x' }, user: { id: randomBytes(16).toString('base64url'), name: 'm', displayName: 'm' }, pubKeyCredParams: [{ type: 'public-key', alg: -7 }] } });
    const body = JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'personal_sign', params: ['pay 2 to mallory', address] });
    const challenge = randomBytes(32).toString('base64url');
    const over = createHash('sha256').update('tandem/passkey-request/v1').update(Buffer.from(challenge, 'base64url')).update(createHash('sha256').update(body).digest()).digest('base64url');
    const forged = { request_body: body, challenge, assertion: forger.assert(over, 'localhost') };
    await refused(nodes.sign(keyId, personalMessageHash('pay 2 to mallory'), undefined, undefined, forged));
  });
});
