import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Passport, Network } from '@0xpass/passport';
import { KeySigner } from '@0xpass/key-signer';
import { ethers } from 'ethers';
import { handingOutKey, startInProcessDevLayout, type InProcessDevLayout } from '../helpers/in-process-gateway.js';
import { captureSdkRequests, WireClient, postRpc, type RpcAnswer } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { EIP712_DOMAIN_TYPE, MAIL_DOMAIN, MAIL_MESSAGE, MAIL_TYPES } from '../helpers/eip712-mail.js';
import { startGateway, type RunningGateway } from '../../src/gateway/start.js';
import type { EcdsaKey } from '../../src/gateway/node-client.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * The unmodified @0xpass/passport SDK against the dev cluster's layout (what `npm start` runs:
 * three signer nodes, a relay and the gateway as its main.ts starts it, here in this process on
 * ports of the system's choosing; `npm start`'s processes are test/integration/dev-cluster.test.ts's):
 * every signature checked with ethers, never with the gateway's own code (viem + noble). The
 * negative cases replay captured requests and craft ones the SDK would never send.
 *
 * An ECDSA key generation of three nodes costs about 6 s of CPU. Alice's registration and the
 * delegated account make keys of their own on the nodes; the two accounts that only need a key
 * that signs (the winner of the username race, the short-session gateway's user) are handed
 * alice's (`handingOutKey`).
 */
const ORIGIN = 'http://localhost:5173';
const SCOPE = `scope-${randomUUID()}`;

const lastCaptured = captureSdkRequests();

/** The wallet gateway's URL (what Network.LOCAL is for `npm start`). */
let GATEWAY_URL: string;

function newPassport(enclavePublicKey: string, signer: SoftAuthenticator, scopeId = SCOPE, network: string = GATEWAY_URL) {
  return new Passport({ scopeId, signer, network: network as Network, enclavePublicKey });
}

function assertRpcError(a: RpcAnswer, kind: string) {
  assert.equal(a.status, 200, 'JSON-RPC errors travel as HTTP 200');
  assert.equal(a.result, undefined, `no result: ${JSON.stringify(a.result)}`);
  assert.equal(a.error?.data, kind, JSON.stringify(a.error));
}

describe('wallet gateway with the unmodified Passport SDK', { timeout: 600_000 }, () => {
  let dataDir: string;
  let dev: InProcessDevLayout | undefined;
  let enclaveKey: string;
  const username = `alice-${randomUUID().slice(0, 8)}`;
  const user = { username, userDisplayName: 'Alice' };
  const authenticator = new SoftAuthenticator({ origin: ORIGIN });
  let passport: Passport;
  let address: string;

  /** Alice's key, as the gateway recorded it at her registration (the second test). */
  const alicesKey = async (): Promise<EcdsaKey> => {
    const a = await dev!.gateway.gateway.store.findAccount(SCOPE, username);
    assert.ok(a?.keyId && a.publicKey, 'alice is registered');
    return { keyId: a.keyId, publicKey: a.publicKey };
  };

  before(async () => {
    dev = await startInProcessDevLayout({ TANDEM_SCOPE_ID: SCOPE });
    dataDir = dev.nodes.dataDir; // removed by dev.close()
    GATEWAY_URL = dev.gatewayUrl;
    enclaveKey = ((await (await fetch(`${GATEWAY_URL}/enclave-public-key`)).json()) as { public_key: string }).public_key;
    passport = newPassport(enclaveKey, authenticator);
    await passport.setupEncryption();
  });
  after(async () => {
    await dev?.close();
  });

  test('GET /enclave-public-key is an RSA key of at least 2048 bits; CORS allows the encrypted headers', async () => {
    const key = createPublicKey({ key: Buffer.from(enclaveKey, 'base64'), format: 'der', type: 'spki' });
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.ok(key.asymmetricKeyDetails!.modulusLength! >= 2048);
    const pre = await fetch(GATEWAY_URL, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-encrypted-session' } });
    assert.ok(pre.status < 300);
    const allowed = pre.headers.get('access-control-allow-headers') ?? '';
    for (const h of ['x-encrypted-key', 'x-encrypted-user', 'x-encrypted-session', 'x-encrypted-webauthn-signature', 'x-scope-id']) assert.ok(allowed.includes(h), h);
  });

  test('register, authenticate, eth_requestAccounts, personal_sign (text and 0x-hex)', async () => {
    const reg = await passport.register(user);
    assert.equal(reg.error, undefined);
    assert.match(reg.result.account_id, /^[0-9a-f-]{36}$/);
    const [headers, addr] = await passport.authenticate(user);
    assert.ok(headers['X-Encrypted-Session']);
    address = ethers.getAddress(addr);
    const accounts = await passport.getAddresses();
    assert.deepEqual((accounts as unknown as { result: string[] }).result.map((a) => a.toLowerCase()), [address.toLowerCase()]);

    const text = await passport.signMessage('Sign in to Tandem');
    assert.equal(text.error, undefined);
    assert.match(text.result, /^0x[0-9a-f]{128}(1b|1c)$/, 'r | s | v with v = 27/28');
    assert.equal(ethers.verifyMessage('Sign in to Tandem', text.result), address);

    const hex = await passport.signMessage('0xdeadbeef00ff');
    assert.equal(ethers.verifyMessage(ethers.getBytes('0xdeadbeef00ff'), hex.result), address, '0x-hex is signed as bytes (viem sends text this way)');
  });

  test('eth_signTransaction: legacy with hex quantities, EIP-1559 with decimal ones', async () => {
    const legacy = { from: address, to: '0x000000000000000000000000000000000000dEaD', value: '0xde0b6b3a7640000', gas: '0x5208', gasPrice: '0x3b9aca00', nonce: '0x7', chainId: '0x1', data: '0x' };
    const a = await passport.signTransaction(legacy);
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    const tx1 = ethers.Transaction.from(a.result);
    assert.equal(tx1.type, 0);
    assert.equal(tx1.from, address);
    assert.equal(tx1.chainId, 1n);
    assert.equal(tx1.nonce, 7);
    assert.equal(tx1.value, 10n ** 18n);
    assert.equal(tx1.to, '0x000000000000000000000000000000000000dEaD');

    const eip1559 = { to: '0x1111111111111111111111111111111111111111', value: '12345', gas: '21000', maxFeePerGas: '30000000000', maxPriorityFeePerGas: '1000000000', nonce: 3, chainId: '11155111', data: '0xabcdef' };
    const b = await passport.signTransaction(eip1559);
    assert.equal(b.error, undefined, JSON.stringify(b.error));
    const tx2 = ethers.Transaction.from(b.result);
    assert.equal(tx2.type, 2);
    assert.equal(tx2.from, address);
    assert.equal(tx2.chainId, 11155111n);
    assert.equal(tx2.maxFeePerGas, 30_000_000_000n);
    assert.equal(tx2.data, '0xabcdef');
  });

  test('eth_signTypedData_v4 as an object and as JSON text', async () => {
    const [domain, types, message] = [MAIL_DOMAIN, MAIL_TYPES, MAIL_MESSAGE];
    const typed = { domain, types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...types }, primaryType: 'Mail', message };
    const a = await passport.signTypedData(typed);
    assert.equal(a.error, undefined, JSON.stringify(a.error));
    assert.equal(ethers.verifyTypedData(domain, types, message, a.result), address);
    const b = await passport.signTypedData(JSON.stringify(typed));
    assert.equal(ethers.verifyTypedData(domain, types, message, b.result), address);
  });

  test('replays: a captured login or registration completion, sent again, is refused', async () => {
    for (const method of ['completeAuthentication', 'completeRegistration']) {
      const c = lastCaptured(method);
      assertRpcError(await postRpc(GATEWAY_URL, c.body, c.headers), 'invalid_challenge');
    }
  });

  test('a username registers once; regenerate_seed and unknown users get no challenge', async () => {
    const p2 = newPassport(enclaveKey, new SoftAuthenticator({ origin: ORIGIN }));
    await p2.setupEncryption();
    await assert.rejects(p2.register(user), /already registered/);
    const nobody = { username: `nobody-${randomUUID()}`, userDisplayName: 'x' };
    await assert.rejects(p2.authenticate(nobody), /user not found/);
    await assert.rejects(p2.authenticate(user, true), /regenerate_seed/);

    // Two registrations of one new name started before either finishes: only the first completes
    // (the name is what is tested: the account that completes gets alice's key).
    const gw = dev!.gateway.gateway;
    const own = gw.nodes;
    gw.nodes = handingOutKey(await alicesKey(), own);
    try {
      const wire = new WireClient(GATEWAY_URL, enclaveKey);
      const name = { username: `race-${randomUUID().slice(0, 8)}`, userDisplayName: 'r' };
      const encUser = wire.encrypt(JSON.stringify(name));
      const h = wire.headers(SCOPE);
      const starts = [await wire.call('initiateRegistration', { encrypted_user: encUser }, h), await wire.call('initiateRegistration', { encrypted_user: encUser }, h)];
      const auth = new SoftAuthenticator({ origin: ORIGIN });
      const complete = async (s: RpcAnswer) => {
        const options = JSON.parse(wire.decrypt(s.result.encrypted_creation_challenge));
        const attestation = await auth.create(options);
        return wire.call('completeRegistration', { challenge_id: s.result.challenge_id, encrypted_attestation: wire.encrypt(JSON.stringify(attestation)), encrypted_user: encUser }, h);
      };
      assert.ok((await complete(starts[0]!)).result.account_id);
      assertRpcError(await complete(starts[1]!), 'username_taken');
    } finally {
      gw.nodes = own;
    }
  });

  test('wrong origin: a phishing page cannot register or log in', async () => {
    const evil = newPassport(enclaveKey, new SoftAuthenticator({ origin: 'https://evil.example' }));
    await evil.setupEncryption();
    await assert.rejects(evil.register({ username: `mallory-${randomUUID().slice(0, 8)}`, userDisplayName: 'm' }), /origin/);
    const phished = newPassport(enclaveKey, authenticator.withOrigin('http://localhost.evil.example:5173'));
    await phished.setupEncryption();
    await assert.rejects(phished.authenticate(user), /origin/);
  });

  test('sessions: another AES key, another scope, a forged token, another account\'s address, bad ciphertext', async () => {
    const session = lastCaptured('personal_sign').headers;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'personal_sign', params: ['hi', '0x0000000000000000000000000000000000000000'] });
    // The genuine session works as a bearer token with its own headers...
    const ok = await postRpc(GATEWAY_URL, body, session);
    assert.equal(ethers.verifyMessage('hi', ok.result), address);

    // ...but not re-encrypted under another AES key (the client knows its JWT; an attacker with a new key does too).
    const jwt = passportJwt(passport);
    const other = new WireClient(GATEWAY_URL, enclaveKey);
    const otherHeaders = other.headers(SCOPE, { 'X-Encrypted-User': other.encrypt(JSON.stringify(user)), 'X-Encrypted-Session': other.encrypt(jwt) });
    assertRpcError(await postRpc(GATEWAY_URL, body, otherHeaders), 'unauthorized');

    // Another scope id with the same headers.
    const { scopeId: scope2 } = await createLocalScope(other);
    assertRpcError(await postRpc(GATEWAY_URL, body, { ...session, 'X-Scope-Id': scope2 }), 'unauthorized');

    // A forged token: same claims, another user, re-signed with a guessed secret.
    const [h, p] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 3600 })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${createHmac('sha256', 'secret').update(`${h}.${forgedPayload}`).digest('base64url')}`;
    const mine = new WireClient(GATEWAY_URL, enclaveKey);
    assertRpcError(await postRpc(GATEWAY_URL, body, { ...session, 'X-Encrypted-Session': reEncrypt(passport, forged) }), 'unauthorized');
    assertRpcError(await postRpc(GATEWAY_URL, body, { ...session, 'X-Encrypted-Session': reEncrypt(passport, `${h}.${forgedPayload}.${jwt.split('.')[2]}`) }), 'unauthorized');

    // Another account's address.
    const notMine = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'personal_sign', params: ['hi', '0x1111111111111111111111111111111111111111'] });
    assertRpcError(await postRpc(GATEWAY_URL, notMine, session), 'forbidden');
    const tx = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'eth_signTransaction', params: [{ from: '0x1111111111111111111111111111111111111111', to: address, gas: '0x5208', gasPrice: '0x1', nonce: '0x0', chainId: '0x1' }] });
    assertRpcError(await postRpc(GATEWAY_URL, tx, session), 'forbidden');

    // Bad ciphertext: a key not encrypted to the gateway, a user not under the key, no session at all.
    assertRpcError(await postRpc(GATEWAY_URL, body, { ...session, 'X-Encrypted-Key': Buffer.alloc(384, 7).toString('base64') }), 'bad_encryption');
    assertRpcError(await postRpc(GATEWAY_URL, body, { ...session, 'X-Encrypted-User': mine.encrypt(JSON.stringify(user)) }), 'bad_encryption');
    const { 'X-Encrypted-Session': _s, ...noSession } = session;
    assertRpcError(await postRpc(GATEWAY_URL, body, noSession), 'unauthorized');
    const parse = await postRpc(GATEWAY_URL, '{"jsonrpc": "2.0", "method": ', session);
    assert.equal(parse.error?.code, -32700);
    assertRpcError(await postRpc(GATEWAY_URL, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'personal_sign', params: ['x'.repeat(2 << 20), address] }), session), 'invalid_request');
  });

  test('direct passkey flow: an assertion over one request body authorises that request once', async () => {
    const wire = new WireClient(GATEWAY_URL, enclaveKey);
    const encUser = wire.encrypt(JSON.stringify(user));
    const init = await wire.call('initiateAuthentication', { encrypted_user: encUser }, wire.headers(SCOPE));
    const options = JSON.parse(wire.decrypt(init.result.encrypted_request_challenge)).publicKey;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'personal_sign', params: ['direct', address] });
    const bodyHash = createHash('sha256').update(body).digest();
    const challenge = createHash('sha256').update('tandem/passkey-request/v1').update(Buffer.from(options.challenge, 'base64url')).update(bodyHash).digest('base64url');
    const assertion = authenticator.assert(challenge, 'localhost');
    const headers = wire.headers(SCOPE, {
      'X-Encrypted-User': encUser,
      'X-Encrypted-WebAuthn-Signature': wire.encrypt(JSON.stringify({ challenge_id: init.result.challenge_id, assertion })),
    });
    const other = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'personal_sign', params: ['something else', address] });
    assertRpcError(await postRpc(GATEWAY_URL, other, headers), 'unauthorized'); // the assertion does not cover this body
    assertRpcError(await postRpc(GATEWAY_URL, body, headers), 'invalid_challenge'); // and the failed try spent the challenge
    // A fresh challenge, the right body: signed once, refused the second time.
    const init2 = await wire.call('initiateAuthentication', { encrypted_user: encUser }, wire.headers(SCOPE));
    const ch2 = JSON.parse(wire.decrypt(init2.result.encrypted_request_challenge)).publicKey.challenge;
    const challenge2 = createHash('sha256').update('tandem/passkey-request/v1').update(Buffer.from(ch2, 'base64url')).update(bodyHash).digest('base64url');
    const headers2 = { ...headers, 'X-Encrypted-WebAuthn-Signature': wire.encrypt(JSON.stringify({ challenge_id: init2.result.challenge_id, assertion: authenticator.assert(challenge2, 'localhost') })) };
    const signed = await postRpc(GATEWAY_URL, body, headers2);
    assert.equal(ethers.verifyMessage('direct', signed.result), address);
    assertRpcError(await postRpc(GATEWAY_URL, body, headers2), 'invalid_challenge');
  });

  test('scopes are created and updated only with the app key; delegated accounts sign with key-signed requests', async () => {
    const wire = new WireClient(GATEWAY_URL, enclaveKey);
    const { scopeId, signer } = await createLocalScope(wire);
    const intruder = keySigner();
    const config = JSON.stringify({ rp: { id: 'localhost', origin: 'http://localhost:*' } });
    const bad = await wire.call('updateScope', { scope_id: scopeId, config, signature: intruder.createSignature(config), public_key: intruder.getPublicKey() }, wire.headers(scopeId));
    assertRpcError(bad, 'forbidden');
    const forgedCreate = await wire.call('createScope', { config, signature: intruder.createSignature(config + ' '), public_key: intruder.getPublicKey() }, wire.headers(scopeId));
    assertRpcError(forgedCreate, 'unauthorized');

    const p = new Passport({ scopeId, signer: signer as never, network: GATEWAY_URL as Network, enclavePublicKey: enclaveKey });
    await p.setupEncryption();
    const reg = await p.delegatedRegisterAccount({ username: 'dave' });
    assert.equal(reg.error, undefined, JSON.stringify(reg.error));
    p.setUserData({ username: 'dave', timestamp: Date.now() } as never);
    const res = await p.call('personal_sign', ['delegated', '0x0000000000000000000000000000000000000000']);
    assert.equal(ethers.verifyMessage('delegated', res.result), reg.result.address);
    const c = lastCaptured('personal_sign');
    assertRpcError(await postRpc(GATEWAY_URL, c.body, c.headers), 'unauthorized'); // a key-signed request works once
  });

  test('lambdas: created and listed by the owner, run in their scope within their limits', async () => {
    const def = (over: Record<string, unknown> = {}) => ({
      authorization: { type: 'none' },
      verifications: { count: 1 },
      envs: [],
      max_executions: 2,
      conditions: [{ type: 'code', code: 'return params[0] > 10;', output_type: 'boolean', substitution: false }],
      actions: { type: 'personal_sign', check: '', data: 'pay {{params.0}}', substitution: true },
      postHook: [],
      triggers: [{ type: 'hook' }],
      ...over,
    });
    const created = await passport.createLambda({ data: def() as never });
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    const id = created.result.id as string;
    const listed = await passport.listLambda();
    assert.ok(listed.result.some((l: { id: string }) => l.id === id));

    // The SDK's executeLambda carries no session: fine for authorization "none".
    const anyone = newPassport(enclaveKey, new SoftAuthenticator({ origin: ORIGIN }));
    await anyone.setupEncryption();
    const low = await anyone.executeLambda({ data: { id, params: [5] } });
    assert.equal(low.error?.data, 'lambda_failed', 'a false condition signs nothing');
    const ran = await anyone.executeLambda({ data: { id, params: [42] } });
    assert.equal(ran.error, undefined, JSON.stringify(ran.error));
    assert.equal(ethers.verifyMessage('pay 42', ran.result.result), address);
    const spent = await anyone.executeLambda({ data: { id, params: [43] } });
    assert.match(spent.error?.message ?? '', /max_executions/, 'two executions (one failed, one signed) spend max_executions 2');

    // Not from another scope, not "jwt" without the owner's credentials.
    const wire = new WireClient(GATEWAY_URL, enclaveKey);
    const { scopeId: other } = await createLocalScope(wire);
    assertRpcError(await wire.call('executeLambda', { data: { id, params: [42] } }, wire.headers(other)), 'invalid_params');
    const jwtOnly = await passport.createLambda({ data: def({ authorization: { type: 'jwt' }, max_executions: 5 }) as never });
    const denied = await anyone.executeLambda({ data: { id: jwtOnly.result.id, params: [42] } });
    assert.equal(denied.error?.data, 'unauthorized');
    const owner = await postRpc(GATEWAY_URL, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'executeLambda', params: { data: { id: jwtOnly.result.id, params: [50] } } }), lastCaptured('listLambda').headers);
    assert.equal(ethers.verifyMessage('pay 50', owner.result.result), address, 'the owner\'s session runs it');

    // The network: a fetch condition to a host the scope does not allow never leaves the gateway.
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end('true');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const fetchy = await passport.createLambda({
        data: def({ conditions: [{ type: 'fetch', headers: {}, protocol: 'GET', endpoint: `http://127.0.0.1:${port}/`, body: {}, substitution: false }] }) as never,
      });
      const r = await anyone.executeLambda({ data: { id: fetchy.result.id, params: [1] } });
      assert.equal(r.error?.data, 'lambda_failed');
      assert.equal(hits, 0, 'no request reached the local server');
      // Code cannot reach the host either, and a runaway loop is stopped.
      const loop = await passport.createLambda({ data: def({ conditions: [{ type: 'code', code: 'while (true) {}', output_type: 'boolean', substitution: false }] }) as never });
      // Without the sandbox's time limit this call would never return (the file's timeout would fail it).
      const stopped = await anyone.executeLambda({ data: { id: loop.result.id, params: [] } });
      assert.equal(stopped.error?.data, 'lambda_failed');
      const probe = await passport.createLambda({ data: def({ conditions: [{ type: 'code', code: 'return typeof process === "undefined" && typeof require === "undefined" && typeof fetch === "undefined";', output_type: 'boolean', substitution: false }] }) as never });
      const sandboxed = await anyone.executeLambda({ data: { id: probe.result.id, params: [7] } });
      assert.equal(sandboxed.error, undefined, 'the condition held: no process, require or fetch inside the sandbox');
      assert.equal(ethers.verifyMessage('pay 7', sandboxed.result.result), address);
    } finally {
      server.close();
    }
  });

  test('an expired or revoked session is refused (a second gateway on the same nodes, 5-second sessions)', async () => {
    let gw: RunningGateway | undefined;
    try {
      await seedPglite(join(dataDir, 'gateway-short', 'db'));
      gw = await startGateway({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(dataDir, 'gateway-short'),
        database: { kind: 'embedded', dir: join(dataDir, 'gateway-short', 'db') },
        adminKey: dev!.adminKey,
        nodes: dev!.nodeUrls,
        kekHex: randomBytes(32).toString('hex'),
        sessionTtlSeconds: 5,
        devScope: { scopeId: 'short' },
      });
      // Erin's account gets alice's key, signed with through the first gateway's user on the nodes (which owns it).
      gw.gateway.nodes = handingOutKey(await alicesKey(), dev!.gateway.gateway.nodes);
      const key = gw.gateway.envelope.publicKeyB64;
      const p = newPassport(key, new SoftAuthenticator({ origin: ORIGIN }), 'short', `http://localhost:${gw.port}`);
      await p.setupEncryption();
      const u = { username: 'erin', userDisplayName: 'Erin' };
      await p.register(u);
      await p.authenticate(u);
      const fresh = await p.signMessage('fresh');
      assert.ok(fresh.result);
      assert.equal(ethers.verifyMessage('fresh', fresh.result), address, 'erin signs with the key she was handed');
      await new Promise((r) => setTimeout(r, 6000));
      // Revocation: a second login of the same user, ended by revokeSession before it expires.
      const p2 = newPassport(key, (p as unknown as { signer: SoftAuthenticator }).signer, 'short', `http://localhost:${gw.port}`);
      await p2.setupEncryption();
      await p2.authenticate(u);
      const p2Headers = (p2 as unknown as { authenticatedHeaders: Record<string, string> }).authenticatedHeaders;
      const revoke = await postRpc(`http://localhost:${gw.port}`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'revokeSession', params: [] }), p2Headers);
      assert.equal(revoke.result, true, JSON.stringify(revoke.error));
      const after = await p2.signMessage('after revocation');
      assert.equal(after.result, undefined);
      assert.match(after.error.message, /revoked/);
      const late = await p.signMessage('late');
      assert.equal(late.result, undefined);
      assert.match(late.error.message, /expired/);
    } finally {
      await gw?.close();
    }
  });
});

function keySigner() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new KeySigner(privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'), true);
}

async function createLocalScope(wire: WireClient) {
  const signer = keySigner();
  const config = JSON.stringify({ rp: { id: 'localhost', name: 'Second app', origin: ['http://localhost:*'] } });
  const r = await wire.call('createScope', { config, signature: signer.createSignature(config), public_key: signer.getPublicKey() }, wire.headers('none'));
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  return { scopeId: r.result.scope_id as string, signer };
}

/** The session JWT the SDK holds (it decrypted it itself). */
function passportJwt(p: Passport): string {
  const key = Buffer.from(p.aesKey!);
  const enc = Buffer.from((p as unknown as { authenticatedHeaders: Record<string, string> }).authenticatedHeaders['X-Encrypted-Session']!, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, enc.subarray(0, 12));
  d.setAuthTag(enc.subarray(enc.length - 16));
  return Buffer.concat([d.update(enc.subarray(12, enc.length - 16)), d.final()]).toString();
}

function reEncrypt(p: Passport, text: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(p.aesKey!), iv);
  return Buffer.concat([iv, c.update(text, 'utf8'), c.final(), c.getAuthTag()]).toString('base64');
}
