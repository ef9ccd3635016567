import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { configFrom, type NodeConfigFile } from '../../../src/node/config.js';

/**
 * A node's configuration: the file (checked against its schema) and every TANDEM_* variable
 * the node reads at start. A value that is wrong must stop the start with a message naming
 * the variable; nothing may silently become something else.
 */
const PK1 = 'aa'.repeat(32);
const PK2 = 'bb'.repeat(32);
const FILE: NodeConfigFile = { id: 'node-1', data_dir: '/var/lib/tandem', peers: [{ id: 'node-1', public_key: PK1 }, { id: 'node-2', public_key: PK2 }] };
const KEK = { TANDEM_KEK: 'cc'.repeat(32) };
const cfg = (env: NodeJS.ProcessEnv = {}, file: Partial<NodeConfigFile> = {}) => configFrom({ ...FILE, ...file } as NodeConfigFile, { ...KEK, ...env });

describe('the configuration file', () => {
  test('defaults: host, port, relay, timeouts, batch and slots', () => {
    const c = configFrom({ id: 'node-1' }, {});
    assert.equal(c.id, 'node-1');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 7001);
    assert.equal(c.relay, '127.0.0.1:7000');
    assert.deepEqual(c.fallbackRelays, []);
    assert.deepEqual(c.trustedRelays, []);
    assert.equal(c.dataDir, resolve('./.tandem', 'node-1'));
    assert.equal(c.peers.size, 0);
    assert.equal(c.ceremonyTimeoutMs, 15_000);
    assert.equal(c.maxBatch, 64);
    assert.equal(c.maxCeremoniesPerPeer, 32);
    assert.equal(c.maxKeygens, 8);
    assert.equal(c.maxKeygensPerUser, 4);
    assert.equal(c.adminKey, undefined);
    assert.equal(c.adminPublicKey, undefined);
    assert.deepEqual(c.requireSigned, { all: false, users: new Set() });
    assert.deepEqual(c.corsOrigins, []);
    assert.deepEqual(c.database, { kind: 'embedded', dir: resolve('./.tandem', 'node-1', 'db') });
  });

  test('values from the file win over the environment', () => {
    const c = cfg(
      { TANDEM_DATA_DIR: '/elsewhere', TANDEM_CEREMONY_TIMEOUT_MS: '9000', TANDEM_MAX_BATCH: '8' },
      { host: '0.0.0.0', port: 0, relay: 'relay.internal:7000', fallback_relays: ['relay-2.internal:7000'], ceremony_timeout_ms: 4000, max_batch: 16 },
    );
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 0, 'port 0 is taken as is (tests bind any port)');
    assert.equal(c.relay, 'relay.internal:7000');
    assert.deepEqual(c.fallbackRelays, ['relay-2.internal:7000']);
    assert.equal(c.dataDir, '/var/lib/tandem/node-1', "the file's data_dir, one directory per node");
    assert.equal(c.ceremonyTimeoutMs, 4000);
    assert.equal(c.maxBatch, 16);
  });

  test("peers: the node's own entry is skipped; public keys are 32 bytes", () => {
    const c = cfg();
    assert.deepEqual([...c.peers.keys()], ['node-2']);
    assert.deepEqual(c.peers.get('node-2' as never), new Uint8Array(32).fill(0xbb));
  });

  test('a peer listed twice is refused', () => {
    assert.throws(() => cfg({}, { peers: [{ id: 'node-2', public_key: PK2 }, { id: 'node-2', public_key: PK1 }] }), { message: 'peer node-2 listed twice' });
  });

  test('ids that are not party ids are refused', () => {
    assert.throws(() => cfg({}, { id: 'Node 1' }), { message: 'invalid party id "Node 1"' });
    assert.throws(() => cfg({}, { peers: [{ id: '../node-2', public_key: PK2 }] }), { message: 'invalid party id "../node-2"' });
  });

  test('the schema refuses unknown fields, wrong types and out-of-range values, naming the field', () => {
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ id: 'node-1', colour: 'blue' }, /^bad node configuration: /],
      [{ id: 7 }, /^bad node configuration: \/id /],
      [{}, /^bad node configuration: /],
      [{ id: 'node-1', port: 65536 }, /^bad node configuration: \/port /],
      [{ id: 'node-1', port: -1 }, /^bad node configuration: \/port /],
      [{ id: 'node-1', port: 80.5 }, /^bad node configuration: \/port /],
      [{ id: 'node-1', ceremony_timeout_ms: 99 }, /^bad node configuration: \/ceremony_timeout_ms /],
      [{ id: 'node-1', ceremony_timeout_ms: 2 ** 31 }, /^bad node configuration: \/ceremony_timeout_ms /],
      [{ id: 'node-1', max_batch: 0 }, /^bad node configuration: \/max_batch /],
      [{ id: 'node-1', max_batch: 257 }, /^bad node configuration: \/max_batch /],
      [{ id: 'node-1', fallback_relays: Array.from({ length: 17 }, (_, i) => `r${i}:7000`) }, /^bad node configuration: \/fallback_relays /],
      [{ id: 'node-1', peers: [{ id: 'node-2', public_key: PK2.slice(2) }] }, /^bad node configuration: \/peers\/0\/public_key /],
      [{ id: 'node-1', peers: [{ id: 'node-2', public_key: `${PK2.slice(2)}zz` }] }, /^bad node configuration: \/peers\/0\/public_key /],
      [{ id: 'node-1', peers: [{ id: 'node-2', public_key: PK2, extra: 1 }] }, /^bad node configuration: \/peers\/0/],
    ];
    for (const [file, message] of refused) assert.throws(() => configFrom(file as NodeConfigFile, KEK), { message }, JSON.stringify(file));
  });
});

describe('TANDEM_* variables', () => {
  test('TANDEM_DATA_DIR is used when the file names no data_dir', () => {
    assert.equal(cfg({ TANDEM_DATA_DIR: '/srv/tandem' }, { data_dir: undefined }).dataDir, '/srv/tandem/node-1');
  });

  test('TANDEM_CEREMONY_TIMEOUT_MS: milliseconds, at least 100 as in the file', () => {
    assert.equal(cfg({ TANDEM_CEREMONY_TIMEOUT_MS: '4000' }).ceremonyTimeoutMs, 4000);
    assert.equal(cfg({ TANDEM_CEREMONY_TIMEOUT_MS: '' }).ceremonyTimeoutMs, 15_000, 'empty is unset');
    assert.equal(cfg({ TANDEM_CEREMONY_TIMEOUT_MS: ' 2147483647 ' }).ceremonyTimeoutMs, 2 ** 31 - 1, 'the longest timer Node keeps');
    for (const bad of ['-1', '0', '99', '1.5', 'abc', '15s', 'Infinity', '2147483648']) {
      assert.throws(() => cfg({ TANDEM_CEREMONY_TIMEOUT_MS: bad }), { message: 'TANDEM_CEREMONY_TIMEOUT_MS must be an integer from 100 to 2147483647' }, bad);
    }
  });

  test('TANDEM_MAX_BATCH: 1 to 256, as in the file', () => {
    assert.equal(cfg({ TANDEM_MAX_BATCH: '1' }).maxBatch, 1);
    assert.equal(cfg({ TANDEM_MAX_BATCH: '256' }).maxBatch, 256);
    for (const bad of ['0', '-3', '257', '2.5', 'many']) {
      assert.throws(() => cfg({ TANDEM_MAX_BATCH: bad }), { message: 'TANDEM_MAX_BATCH must be an integer from 1 to 256' }, bad);
    }
  });

  test('TANDEM_MAX_CEREMONIES_PER_PEER, TANDEM_MAX_KEYGENS, TANDEM_MAX_KEYGENS_PER_USER: positive integers', () => {
    const c = cfg({ TANDEM_MAX_CEREMONIES_PER_PEER: '3', TANDEM_MAX_KEYGENS: '2', TANDEM_MAX_KEYGENS_PER_USER: '1' });
    assert.deepEqual([c.maxCeremoniesPerPeer, c.maxKeygens, c.maxKeygensPerUser], [3, 2, 1]);
    for (const name of ['TANDEM_MAX_CEREMONIES_PER_PEER', 'TANDEM_MAX_KEYGENS', 'TANDEM_MAX_KEYGENS_PER_USER']) {
      for (const bad of ['0', '-1', '1.5', 'Infinity', 'x', '1e400']) {
        assert.throws(() => cfg({ [name]: bad }), { message: `${name} must be an integer of at least 1` }, `${name}=${bad}`);
      }
    }
  });

  test('TANDEM_ADMIN_KEY: any non-empty string; empty means none', () => {
    assert.equal(cfg({ TANDEM_ADMIN_KEY: 'tdm_admin_x' }).adminKey, 'tdm_admin_x');
    assert.equal(cfg({ TANDEM_ADMIN_KEY: '' }).adminKey, undefined);
  });

  test('TANDEM_ADMIN_PUBLIC_KEY: ed25519:<hex> of a valid point; anything else stops the start', () => {
    const pub = ed25519.getPublicKey(new Uint8Array(32).fill(1));
    const hex = Buffer.from(pub).toString('hex');
    assert.deepEqual(cfg({ TANDEM_ADMIN_PUBLIC_KEY: `ed25519:${hex}` }).adminPublicKey, { type: 'ed25519', publicKey: pub });
    assert.deepEqual(cfg({ TANDEM_ADMIN_PUBLIC_KEY: ` ed25519:${hex.toUpperCase()} ` }).adminPublicKey?.publicKey, pub, 'trimmed, either case');
    const message = 'TANDEM_ADMIN_PUBLIC_KEY must be ed25519:<64 hex> or p256:<66 or 130 hex>';
    for (const bad of [hex, `rsa:${hex}`, `ed25519:${hex.slice(2)}`, 'ed25519:', `ed25519:${hex}:extra`, `p256:05${'00'.repeat(32)}`]) {
      assert.throws(() => cfg({ TANDEM_ADMIN_PUBLIC_KEY: bad }), { message }, bad);
    }
  });

  test('TANDEM_REQUIRE_SIGNED_REQUESTS: 1 or all, 0 or empty, or user ids', () => {
    const u = '0123456789abcdef0123456789abcdef';
    assert.deepEqual(cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: '1' }).requireSigned, { all: true });
    assert.deepEqual(cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: 'all' }).requireSigned, { all: true });
    assert.deepEqual(cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: '0' }).requireSigned, { all: false, users: new Set() });
    assert.deepEqual(cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: ` ${u} , ${u.replace('0', 'f')} ` }).requireSigned, { all: false, users: new Set([u, u.replace('0', 'f')]) });
    assert.throws(() => cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: 'yes' }), { message: 'TANDEM_REQUIRE_SIGNED_REQUESTS: "yes" is not a user id (32 hex), 1, all or 0' });
    assert.throws(() => cfg({ TANDEM_REQUIRE_SIGNED_REQUESTS: u.toUpperCase() }), /is not a user id/);
  });

  test('TANDEM_TRUSTED_RELAYS: host:port entries, comma-separated; a bad one stops the start', () => {
    assert.deepEqual(cfg({ TANDEM_TRUSTED_RELAYS: 'relay-2.internal:7000, 10.0.0.3:7000,,[::1]:7000' }).trustedRelays, ['relay-2.internal:7000', '10.0.0.3:7000', '[::1]:7000']);
    assert.throws(() => cfg({ TANDEM_TRUSTED_RELAYS: 'relay-2.internal' }), { message: 'TANDEM_TRUSTED_RELAYS: invalid relay address "relay-2.internal": expected host:port' });
  });

  test('TANDEM_CORS_ORIGINS: exact http(s) origins only', () => {
    assert.deepEqual(cfg({ TANDEM_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173']);
    assert.throws(() => cfg({ TANDEM_CORS_ORIGINS: 'app.example.com' }), { message: 'TANDEM_CORS_ORIGINS: app.example.com is not an origin' });
    for (const bad of ['https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com', 'https://APP.example.com', 'https://app.example.com:443']) {
      assert.throws(() => cfg({ TANDEM_CORS_ORIGINS: bad }), { message: `TANDEM_CORS_ORIGINS: ${bad} must be an exact origin such as https://app.example.com` }, bad);
    }
  });

  test('TANDEM_DATABASE_URL, _SCHEMA and _SCHEMA_PREFIX: a schema of its own per node', () => {
    const url = 'postgres://db.internal:5432/tandem';
    assert.deepEqual(cfg({ TANDEM_DATABASE_URL: url }).database, { kind: 'postgres', url, schema: 'tandem_node_1' });
    assert.deepEqual(cfg({ TANDEM_DATABASE_URL: url, TANDEM_DATABASE_SCHEMA_PREFIX: 'Prod' }).database, { kind: 'postgres', url, schema: 'prod_node_1' });
    assert.deepEqual(cfg({ TANDEM_DATABASE_URL: url, TANDEM_DATABASE_SCHEMA: 'signer_a' }).database, { kind: 'postgres', url, schema: 'signer_a' });
    assert.throws(() => cfg({ TANDEM_DATABASE_URL: url, TANDEM_DATABASE_SCHEMA: 'Signer; drop' }), /^Error: invalid schema name "Signer; drop"/);
    assert.deepEqual(cfg({ TANDEM_DATABASE_SCHEMA: 'ignored' }).database, { kind: 'embedded', dir: '/var/lib/tandem/node-1/db' }, 'no URL: embedded');
  });

  test('the KEK variables are read with the TANDEM_KEK prefix, and checked', () => {
    const c = cfg({ TANDEM_KEK: '', TANDEM_KEK_FILE: '/etc/tandem/node-1.kek', TANDEM_KEK_PREVIOUS: 'aa, bb', TANDEM_GATEWAY_KEK: 'dd'.repeat(32) });
    assert.equal(c.kek.prefix, 'TANDEM_KEK');
    assert.equal(c.kek.file, '/etc/tandem/node-1.kek');
    assert.equal(c.kek.hex, undefined, "an empty TANDEM_KEK is unset; the gateway's variable is not the node's");
    assert.deepEqual(c.kek.previousHex, ['aa', 'bb']);
    assert.throws(() => cfg({ TANDEM_KEK_COMMAND_TIMEOUT_MS: '50' }), { message: 'TANDEM_KEK_COMMAND_TIMEOUT_MS must be 100..600000 milliseconds' });
    assert.throws(() => cfg({ TANDEM_DEV_KEK_IN_DATA_DIR: 'yes' }), { message: 'TANDEM_DEV_KEK_IN_DATA_DIR must be 0 or 1' });
  });
});
