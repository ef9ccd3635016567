import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign as signData, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { optionsFromEnv } from '../../src/gateway/start.js';
import { GATEWAY_MIGRATIONS } from '../../src/gateway/storage/migrations.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open-database.js';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { WireClient, type RpcAnswer } from '../helpers/passport-wire.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * Issue 12, findings 3 and 4, through the gateway's JSON-RPC edge: the scope owner's key
 * acts only for the accounts it made, a scope's lambda cannot fetch internal addresses
 * unless the gateway's operator opened the range, and scopes need the operator's approval.
 */

const ZERO = '0x0000000000000000000000000000000000000000';

function ownerKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return { pub, sign: (data: string) => signData('sha256', Buffer.from(data, 'utf8'), privateKey as KeyObject).toString('base64') };
}

function assertRpcError(res: RpcAnswer, data: string) {
  assert.equal(res.result, undefined, `expected ${data}, got a result`);
  assert.equal(res.error?.data, data, JSON.stringify(res.error));
}

// One gateway (an embedded database takes seconds to start) for both findings' RPC tests.
let gw: InProcessGateway;
before(async () => {
  gw = await startInProcessGateway();
});
after(() => gw.close());

describe('delegated (key-signed) requests reach only accounts made by delegatedRegistration', () => {
  let wire: WireClient;
  let scopeId: string;
  const owner = ownerKey();

  before(async () => {
    wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
    gw.gateway.scopeCreation = { open: false, ownerKeys: [owner.pub] };
    const config = JSON.stringify({ rp: { id: 'localhost', origin: 'http://localhost:*' } });
    const created = await wire.call('createScope', { config, signature: owner.sign(config), public_key: owner.pub }, wire.headers(gw.scopeId));
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    scopeId = created.result.scope_id;
  });

  /** A personal_sign for `username` signed by the scope owner's key, as @0xpass/key-signer does. */
  const keySigned = (username: string) => {
    const encUser = wire.encrypt(JSON.stringify({ username, timestamp: Date.now() }));
    return wire.call('personal_sign', ['hello', ZERO], wire.headers(scopeId, {
      'X-Encrypted-User': encUser,
      'X-Encrypted-Key-Signature': wire.encrypt(JSON.stringify({ id: owner.pub, clientData: encUser, signature: owner.sign(encUser) })),
    }));
  };

  test("the owner's key signs for a delegated account, and is refused for an account with a passkey", async () => {
    const encDave = wire.encrypt(JSON.stringify({ username: 'dave' }));
    const keySignature = wire.encrypt(JSON.stringify({ id: owner.pub, clientData: encDave, signature: owner.sign(encDave) }));
    const reg = await wire.call('delegatedRegistration', { encrypted_user: encDave, encrypted_credential: { KeySignature: keySignature } }, wire.headers(scopeId));
    assert.equal(reg.error, undefined, JSON.stringify(reg.error));
    const ok = await keySigned('dave');
    assert.equal(ok.error, undefined, JSON.stringify(ok.error));
    assert.match(ok.result, /^0x[0-9a-f]{130}$/);

    // Alice registers a passkey in the same scope, through the real registration flow.
    const encAlice = wire.encrypt(JSON.stringify({ username: 'alice' }));
    const init = await wire.call('initiateRegistration', { encrypted_user: encAlice }, wire.headers(scopeId));
    const attestation = await new SoftAuthenticator({ origin: 'http://localhost:5173' }).create(JSON.parse(wire.decrypt(init.result.encrypted_creation_challenge)));
    const done = await wire.call(
      'completeRegistration',
      { challenge_id: init.result.challenge_id, encrypted_attestation: wire.encrypt(JSON.stringify(attestation)), encrypted_user: encAlice },
      wire.headers(scopeId),
    );
    assert.equal(done.error, undefined, JSON.stringify(done.error));
    assertRpcError(await keySigned('alice'), 'unauthorized');
    assert.equal((await gw.gateway.store.findAccount(scopeId, 'alice'))?.kind, 'passkey');
    assert.equal((await gw.gateway.store.findAccount(scopeId, 'dave'))?.kind, 'delegated');
  });
});

describe('accounts in a database made by the previous release', () => {
  test('an account with a passkey credential becomes a passkey account, one without a delegated one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-gw-old-'));
    try {
      const db = { kind: 'embedded' as const, dir: join(dir, 'db') };
      await seedPglite(db.dir);
      const old = await openDatabase(db, (sql) => runMigrations(sql, GATEWAY_MIGRATIONS.filter((m) => m.name === '0001_gateway_initial')));
      const scopeId = randomUUID();
      await old.query(`insert into scopes (scope_id, config, owner_public_key) values ($1, '{}'::jsonb, null)`, [scopeId]);
      for (const [id, name] of [['acct-passkey', 'alice'], ['acct-delegated', 'dave']] as const) {
        await old.query(
          `insert into accounts (account_id, scope_id, username, display_name, user_handle, key_id, public_key, address) values ($1, $2, $3, $3, 'h', 'k', 'p', 'a')`,
          [id, scopeId, name],
        );
      }
      await old.query(`insert into credentials (credential_id, account_id, public_key, counter, transports) values ('cred-1', 'acct-passkey', '\\x00', 0, '[]'::jsonb)`);
      await old.close();

      const store = await openGatewayStore(db);
      try {
        assert.equal((await store.getAccount('acct-passkey'))?.kind, 'passkey');
        assert.equal((await store.getAccount('acct-delegated'))?.kind, 'delegated');
        assert.equal((await store.getAccount('acct-delegated'))?.keyId, 'k', 'the old row is otherwise unchanged');
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a scope's lambda cannot fetch internal addresses unless the operator opened them", () => {
  let local: Server;
  let port: number;
  let connections = 0;

  before(async () => {
    local = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ AccessKeyId: 'ASIA-LOOPBACK-SECRET' }));
    });
    local.on('connection', () => connections++);
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    port = (local.address() as AddressInfo).port;
    // The allowlist is the scope's, and anyone can write one: it names the loopback server.
    const scope = (await gw.gateway.store.getScope(gw.scopeId))!;
    await gw.gateway.store.updateScopeConfig(gw.scopeId, { ...scope.config, lambda_allowlist: [`127.0.0.1:${port}`, `[::ffff:127.0.0.1]:${port}`, `10.0.0.7:${port}`] });
  });
  after(() => {
    local.closeAllConnections();
    local.close();
  });

  const runFetchLambda = async (endpoint: string) => {
    const data = {
      authorization: { type: 'none' },
      verifications: { count: 1 },
      envs: [],
      max_executions: 5,
      conditions: [{ type: 'fetch', headers: {}, protocol: 'GET', endpoint, body: {}, substitution: false }],
      actions: { type: 'personal_sign', check: '', data: 'x', substitution: false },
      postHook: [],
      triggers: [{ type: 'hook' }],
    };
    const created = await gw.client.call('createLambda', { data }, gw.sessionHeaders);
    assert.equal(created.error, undefined, JSON.stringify(created.error));
    return gw.client.call('executeLambda', { data: { id: created.result.id, params: [] } }, gw.client.headers(gw.scopeId));
  };

  test('loopback, IPv4-mapped loopback and a private address on the allowlist are refused, and nothing connects', async () => {
    for (const endpoint of [`http://127.0.0.1:${port}/latest/meta-data`, `http://[::ffff:127.0.0.1]:${port}/`, `http://10.0.0.7:${port}/`]) {
      const res = await runFetchLambda(endpoint);
      assertRpcError(res, 'lambda_failed');
      assert.match(res.error?.message ?? '', /internal address that the gateway's operator has not opened/);
      assert.doesNotMatch(JSON.stringify(res), /LOOPBACK-SECRET/);
    }
    assert.equal(connections, 0, 'no connection reached the loopback server');
  });

  test("the operator's range opens loopback, and only what it lists", async () => {
    gw.gateway.lambdaInternalAllow = ['127.0.0.0/8'];
    try {
      const res = await runFetchLambda(`http://127.0.0.1:${port}/latest/meta-data`);
      assert.equal(res.error, undefined, JSON.stringify(res.error));
      assert.deepEqual(res.result.conditions[0].output, { AccessKeyId: 'ASIA-LOOPBACK-SECRET' });
      assert.equal(connections, 1);
      assertRpcError(await runFetchLambda(`http://10.0.0.7:${port}/`), 'lambda_failed'); // not in the operator's range
      assert.equal(connections, 1);
    } finally {
      delete gw.gateway.lambdaInternalAllow;
    }
  });
});

test('TANDEM_LAMBDA_INTERNAL_ALLOW is read as CIDR ranges, and a bad one stops the start', () => {
  const base = { TANDEM_NODES: 'http://127.0.0.1:7001' };
  assert.deepEqual(optionsFromEnv(base, false).lambdaInternalAllow, []);
  assert.deepEqual(optionsFromEnv({ ...base, TANDEM_LAMBDA_INTERNAL_ALLOW: ' 10.0.0.0/8, fd00::/8,127.0.0.1 ' }, false).lambdaInternalAllow, ['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);
  for (const bad of ['10.0.0.0/33', 'localhost', '10.0.0/8', '::1/129']) {
    assert.throws(() => optionsFromEnv({ ...base, TANDEM_LAMBDA_INTERNAL_ALLOW: bad }, false), /TANDEM_LAMBDA_INTERNAL_ALLOW/);
  }
});

describe("creating a scope needs the operator's approval", () => {
  const config = JSON.stringify({ rp: { id: 'localhost', origin: 'http://localhost:*' } });
  const create = (key: ReturnType<typeof ownerKey>) => {
    const wire = new WireClient(gw.url, gw.gateway.envelope.publicKeyB64);
    return wire.call('createScope', { config, signature: key.sign(config), public_key: key.pub }, wire.headers(gw.scopeId));
  };

  test('by default nobody may; a listed key may; TANDEM_OPEN_SCOPES lets anyone', async () => {
    const saved = gw.gateway.scopeCreation;
    try {
      const app = ownerKey();
      const stranger = ownerKey();
      delete gw.gateway.scopeCreation;
      assertRpcError(await create(app), 'forbidden');
      gw.gateway.scopeCreation = { open: false, ownerKeys: [] };
      assertRpcError(await create(app), 'forbidden');
      gw.gateway.scopeCreation = { open: false, ownerKeys: [app.pub] };
      assert.equal(typeof (await create(app)).result?.scope_id, 'string');
      assertRpcError(await create(stranger), 'forbidden');
      gw.gateway.scopeCreation = { open: true, ownerKeys: [] };
      assert.equal(typeof (await create(stranger)).result?.scope_id, 'string');
    } finally {
      if (saved) gw.gateway.scopeCreation = saved;
    }
  });

  test('the environment: closed by default, TANDEM_OPEN_SCOPES=1 opens, TANDEM_SCOPE_OWNER_KEYS lists keys, bad values stop the start', () => {
    const base = { TANDEM_NODES: 'http://127.0.0.1:7001' };
    const key = ownerKey().pub;
    assert.deepEqual(optionsFromEnv(base, false).scopeCreation, { open: false, ownerKeys: [] });
    assert.deepEqual(optionsFromEnv({ ...base, TANDEM_OPEN_SCOPES: '1' }, false).scopeCreation, { open: true, ownerKeys: [] });
    assert.deepEqual(optionsFromEnv({ ...base, TANDEM_SCOPE_OWNER_KEYS: ` ${key} ` }, false).scopeCreation, { open: false, ownerKeys: [key] });
    assert.throws(() => optionsFromEnv({ ...base, TANDEM_OPEN_SCOPES: 'yes' }, false), /TANDEM_OPEN_SCOPES/);
    assert.throws(() => optionsFromEnv({ ...base, TANDEM_SCOPE_OWNER_KEYS: 'not-a-key' }, false), /TANDEM_SCOPE_OWNER_KEYS/);
  });
});
