import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import * as ecc from 'tiny-secp256k1';
import { firstStartAdminKeys, startCluster, waitHealthy, type Cluster } from '../../src/cluster/processes.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { loadKek, shareAad } from '../../src/crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN, settingAad } from '../../src/gateway/sealed-settings.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { nodeSharesColumn } from '../../src/node/sealed-shares.js';
import { openNodeStore } from '../../src/storage/open-database.js';
import { sealedCensus } from '../../src/storage/reseal.js';
import { ADMIN_KEY, api, dropSchemas, TEST_POSTGRES_URL } from '../helpers/cluster.js';

/**
 * Issue 12, finding 7, through real processes: the launcher gives each process only its own
 * secrets (read from /proc/<pid>/environ of the children), a data directory of the last
 * release still works (in development mode, and under the launcher, which moves its KEKs
 * out) and is refused in production mode with how to move the KEK, and a node's KEK is
 * rotated while it signs.
 */
const DIST = join(import.meta.dirname, '../..');
const NODE_MAIN = join(DIST, 'src/node/main.js');
const RELAY_MAIN = join(DIST, 'src/relay/main.js');
const GATEWAY_MAIN = join(DIST, 'src/gateway/main.js');
const ROTATE = join(DIST, 'scripts/rotate-kek.js');
const LINUX = process.platform === 'linux';
const KEK_VAR = /KEK/;

const dirs: string[] = [];
async function tempDataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tandem-kek-it-'));
  dirs.push(d, secretsDirOf(d));
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function environOf(child: ChildProcess): Promise<Map<string, string>> {
  const raw = await readFile(`/proc/${child.pid}/environ`, 'utf8');
  return new Map(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** The process environment without anything a test runner might have set for the KEKs or the admin key. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TANDEM_ADMIN_KEY' && !KEK_VAR.test(k) && !k.startsWith('TANDEM_DATABASE')));
  return { ...base, TANDEM_CEREMONY_TIMEOUT_MS: '6000', ...extra };
}

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}
function run(main: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [main, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Release 0.1.0's format, byte for byte: 0x01 | iv(12) | AES-256-GCM(kek, iv, aad) | tag(16). */
function sealV1(kek: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: 16 });
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.of(1), iv, body, c.getAuthTag()]);
}

interface Keys {
  userKey: string;
  bip340: { keyId: string; pub: Buffer };
  ecdsa: { keyId: string; pub: Buffer };
}

async function makeKeys(url: string, adminKey: string): Promise<Keys> {
  const user = await api(url, 'POST', '/admin/create-user', { key: adminKey });
  assert.equal(user.status, 200, JSON.stringify(user.body));
  const userKey = String(user.body.api_key);
  const kg = async (family: string) => {
    const r = await api(url, 'POST', `/${family}/keygen`, { key: userKey, body: { num_parties: 3, threshold: 2 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { keyId: String(r.body.key_id), pub: Buffer.from(String(r.body.public_key), 'hex') };
  };
  return { userKey, bip340: await kg('bip340'), ecdsa: await kg('ecdsa') };
}

/** Both keys sign through `url` (which takes part: the coordinator is always a signer), checked by libsecp256k1. */
async function signBoth(url: string, keys: Keys): Promise<void> {
  const msg = randomBytes(32);
  const s = await api(url, 'POST', '/bip340/sign', { key: keys.userKey, body: { key_id: keys.bip340.keyId, msg: msg.toString('hex') } });
  assert.equal(s.status, 200, JSON.stringify(s.body));
  assert.ok(ecc.verifySchnorr(msg, keys.bip340.pub, Buffer.from(String(s.body.signature), 'hex')), 'bip340 signature verifies');
  const e = await api(url, 'POST', '/ecdsa/sign', { key: keys.userKey, body: { key_id: keys.ecdsa.keyId, msg: msg.toString('hex') } });
  assert.equal(e.status, 200, JSON.stringify(e.body));
  assert.ok(ecc.verify(msg, keys.ecdsa.pub, Buffer.from(String(e.body.signature), 'hex'), true), 'ecdsa signature verifies');
}

async function nodeCensus(dataDir: string, id: string): Promise<Record<string, number>> {
  const store = await openNodeStore({ kind: 'embedded', dir: join(dataDir, id, 'db') });
  try {
    return Object.fromEntries(await sealedCensus(store.client, nodeSharesColumn(id)));
  } finally {
    await store.close();
  }
}

describe('the launcher gives each process only its own secrets', { timeout: 180_000, skip: !LINUX && 'reads /proc/<pid>/environ' }, () => {
  let cluster: Cluster | undefined;
  after(() => cluster?.stop());

  test("relay: no admin key, no KEK; each node its own KEK file outside its data directory and its own admin key; the gateway node-1's admin key at its first start only", async () => {
    const dataDir = await tempDataDir();
    const logs: string[] = [];
    // What npm start and start:prod do at a first start without TANDEM_ADMIN_KEY.
    const adminKeys = firstStartAdminKeys(dataDir, 3)!;
    const opts = {
      dataDir,
      adminKeys,
      basePort: 18200,
      nodes: 3,
      env: cleanEnv(),
      gateway: { port: 18210 },
      output: (name: string, line: string) => void logs.push(`[${name}] ${line}`),
    };
    cluster = await startCluster(opts);
    const check = async (first: boolean) => {
      const relay = await environOf(cluster!.relay.child);
      assert.equal(relay.has('TANDEM_ADMIN_KEY'), false, 'the relay gets no admin key');
      assert.deepEqual([...relay.keys()].filter((k) => KEK_VAR.test(k)), [], 'the relay gets no KEK');
      const keks = new Set<string>();
      for (const n of cluster!.nodes) {
        const env = await environOf(n.child);
        assert.equal(env.get('TANDEM_ADMIN_KEY'), adminKeys[n.id], `${n.id} gets its own admin key`);
        const file = env.get('TANDEM_KEK_FILE');
        assert.ok(file, `${n.id} gets a KEK file`);
        assert.deepEqual([...env.keys()].filter((k) => KEK_VAR.test(k)), ['TANDEM_KEK_FILE'], `${n.id} gets its KEK file and no other KEK`);
        assert.ok(relative(dataDir, file!).startsWith('..'), `${n.id}'s KEK is outside the cluster's data directory`);
        keks.add((await readFile(file!)).toString('hex'));
        assert.equal(existsSync(join(dataDir, n.id, 'kek.key')), false, `no KEK in ${n.id}'s data directory`);
      }
      assert.equal(keks.size, 3, 'each node has a different KEK');
      assert.equal(new Set(Object.values(adminKeys)).size, 3, 'and a different admin key');
      const gw = await environOf(cluster!.gateway!.child);
      assert.deepEqual([...gw.keys()].filter((k) => KEK_VAR.test(k)), ['TANDEM_GATEWAY_KEK_FILE'], 'the gateway gets its own KEK only');
      assert.ok(!keks.has((await readFile(gw.get('TANDEM_GATEWAY_KEK_FILE')!)).toString('hex')));
      assert.equal(gw.get('TANDEM_ADMIN_KEY'), first ? adminKeys['node-1'] : undefined, first ? "the gateway gets node-1's admin key at its first start" : 'and never again');
    };
    await check(true);
    await cluster.stop();
    cluster = await startCluster(opts);
    await check(false);
    assert.equal((await api(cluster.gateway!.url, 'GET', '/health')).status, 200, 'the gateway works without the admin key after its first start');
    // Each admin key is its node's: node-2's works on node-2 (and the user reaches every node), not on node-1.
    assert.equal((await api(cluster.nodes[0]!.url, 'POST', '/admin/create-user', { key: adminKeys['node-2'] })).status, 401);
    assert.equal((await api(cluster.nodes[1]!.url, 'POST', '/admin/create-user', { key: adminKeys['node-2'] })).status, 200);
  });

  test('a KEK set for the launcher (one for every node) is refused before anything starts', async () => {
    const dataDir = await tempDataDir();
    await assert.rejects(
      startCluster({ dataDir, basePort: 18200, nodes: 3, env: cleanEnv({ TANDEM_KEK: 'ab'.repeat(32) }), output: () => {} }),
      /TANDEM_KEK set for the launcher would give every node the same KEK.*TANDEM_KEK_PREVIOUS/,
    );
  });
});

describe('a data directory of the last release (kek.key inside each data directory, records without a KEK id)', { timeout: 400_000 }, () => {
  const procs: Proc[] = [];
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.stop();
    for (const p of procs) await p.stop();
  });

  test('refused in production mode with how to move the KEK; works in development mode and under the launcher, which moves the KEKs out', async () => {
    const dataDir = await tempDataDir();
    const base = 18220;
    const gatewayPort = 18230;
    const ids = ['node-1', 'node-2', 'node-3'];
    const env = cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY });
    const opts = { dataDir, basePort: base, nodes: 3, env, gateway: { port: gatewayPort }, output: () => {} };

    // Keys and a gateway made by a cluster, then turned into release 0.1.0's layout.
    cluster = await startCluster(opts);
    const keys = await makeKeys(cluster.nodes[0]!.url, ADMIN_KEY);
    const enclaveKey = (await api(cluster.gateway!.url, 'GET', '/enclave-public-key')).body.public_key;
    await cluster.stop();
    cluster = undefined;
    const secrets = secretsDirOf(dataDir);
    for (const id of ids) {
      const file = join(secrets, `${id}.kek`);
      const kek = await loadKek({ keyFile: file });
      const raw = await readFile(file);
      const store = await openNodeStore({ kind: 'embedded', dir: join(dataDir, id, 'db') });
      const { rows } = await store.client.query<{ key_id: string; family: string; share_ciphertext: Uint8Array }>('select key_id, family, share_ciphertext from keys');
      for (const r of rows) {
        const aad = shareAad(id, r.key_id, r.family);
        await store.client.query('update keys set share_ciphertext = $1 where key_id = $2', [sealV1(raw, kek.open(new Uint8Array(r.share_ciphertext), aad), aad), r.key_id]);
      }
      await store.close();
      await rename(file, join(dataDir, id, 'kek.key'));
      assert.deepEqual(await nodeCensus(dataDir, id), { v1: 2 });
    }
    {
      const file = join(secrets, 'gateway.kek');
      const kek = await loadKek({ keyFile: file });
      const raw = await readFile(file);
      const store = await openGatewayStore({ kind: 'embedded', dir: join(dataDir, 'gateway', 'db') });
      const { rows } = await store.client.query<{ name: string; value: Uint8Array }>('select name, value from settings');
      for (const r of rows) {
        await store.client.query('update settings set value = $1 where name = $2', [sealV1(raw, kek.open(new Uint8Array(r.value), settingAad(r.name)), settingAad(r.name)), r.name]);
      }
      assert.ok(Object.keys(Object.fromEntries(await sealedCensus(store.client, GATEWAY_SETTINGS_COLUMN))).every((id) => id === 'v1'));
      await store.close();
      await rename(file, join(dataDir, 'gateway', 'kek.key'));
    }

    const gatewayEnv = (extra: NodeJS.ProcessEnv) =>
      cleanEnv({ TANDEM_NODES: ids.map((_, i) => `http://127.0.0.1:${base + i + 1}`).join(','), TANDEM_GATEWAY_PORT: String(gatewayPort), TANDEM_GATEWAY_DATA_DIR: join(dataDir, 'gateway'), ...extra });

    // Production mode (no development flag): the node and the gateway refuse, saying how to move the KEK.
    const node = run(NODE_MAIN, ['--config', join(dataDir, 'node-1.json')], env);
    assert.equal(await node.exited, 1);
    assert.match(node.output(), /node-1\/kek\.key is a KEK inside the data directory.*Move it out of the data directory.*set TANDEM_KEK_FILE to its new path.*TANDEM_DEV_KEK_IN_DATA_DIR=1/);
    const gw = run(GATEWAY_MAIN, [], gatewayEnv({}));
    assert.equal(await gw.exited, 1);
    assert.match(gw.output(), /gateway\/kek\.key is a KEK inside the data directory.*TANDEM_GATEWAY_KEK_FILE/);

    // Development mode: the same data directory, untouched, signs with its old keys.
    const dev = { TANDEM_DEV_KEK_IN_DATA_DIR: '1' };
    procs.push(run(RELAY_MAIN, ['--host', '127.0.0.1', '--port', String(base)], cleanEnv()));
    for (const id of ids) procs.push(run(NODE_MAIN, ['--config', join(dataDir, `${id}.json`)], { ...env, ...dev }));
    for (const i of [1, 2, 3]) await waitHealthy(`http://127.0.0.1:${base + i}`, 60_000);
    await signBoth(`http://127.0.0.1:${base + 1}`, keys);
    await signBoth(`http://127.0.0.1:${base + 2}`, keys);
    const devGateway = run(GATEWAY_MAIN, [], gatewayEnv(dev));
    procs.push(devGateway);
    await waitHealthy(`http://127.0.0.1:${gatewayPort}`, 60_000);
    assert.equal((await api(`http://127.0.0.1:${gatewayPort}`, 'GET', '/enclave-public-key')).body.public_key, enclaveKey, "the gateway's sealed RSA key opens");
    for (const p of procs.splice(0)) await p.stop();
    for (const id of ids) assert.equal((await nodeCensus(dataDir, id)).v1, 2, 'development mode leaves the old records as they are');

    // The launcher (npm start, start:prod): moves each KEK out to the secrets directory, and everything keeps working.
    const logs: string[] = [];
    cluster = await startCluster({ ...opts, output: (name, line) => void logs.push(`[${name}] ${line}`) });
    for (const id of ids) {
      assert.equal(existsSync(join(dataDir, id, 'kek.key')), false, `${id}'s KEK left its data directory`);
      assert.ok(existsSync(join(secrets, `${id}.kek`)));
      assert.ok(logs.some((l) => l.includes(`moved ${id}'s KEK out of its data directory`)));
    }
    assert.equal(existsSync(join(dataDir, 'gateway', 'kek.key')), false);
    await signBoth(cluster.nodes[2]!.url, keys);
    assert.equal((await api(cluster.gateway!.url, 'GET', '/enclave-public-key')).body.public_key, enclaveKey);
  });
});

describe('a cluster that ran with one KEK for every node (TANDEM_KEK set for the launcher)', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined;
  after(() => cluster?.stop());

  test('started once with that KEK as TANDEM_KEK_PREVIOUS (and TANDEM_GATEWAY_KEK_PREVIOUS): each node and the gateway re-seal under their own KEK', async () => {
    const dataDir = await tempDataDir();
    const ids = ['node-1', 'node-2', 'node-3'];
    const logs: string[] = [];
    const opts = { dataDir, basePort: 18280, nodes: 3, env: cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY }), gateway: { port: 18290 }, output: (n: string, l: string) => void logs.push(`[${n}] ${l}`) };
    cluster = await startCluster(opts);
    const keys = await makeKeys(cluster.nodes[0]!.url, ADMIN_KEY);
    const enclaveKey = (await api(cluster.gateway!.url, 'GET', '/enclave-public-key')).body.public_key;
    await cluster.stop();
    cluster = undefined;

    // What release 0.1.0 left with TANDEM_KEK set for the launcher: every record sealed (v1) under one shared KEK, no key files.
    const shared = randomBytes(32);
    const secrets = secretsDirOf(dataDir);
    for (const id of ids) {
      const kek = await loadKek({ keyFile: join(secrets, `${id}.kek`) });
      const store = await openNodeStore({ kind: 'embedded', dir: join(dataDir, id, 'db') });
      const { rows } = await store.client.query<{ key_id: string; family: string; share_ciphertext: Uint8Array }>('select key_id, family, share_ciphertext from keys');
      for (const r of rows) {
        const aad = shareAad(id, r.key_id, r.family);
        await store.client.query('update keys set share_ciphertext = $1 where key_id = $2', [sealV1(shared, kek.open(new Uint8Array(r.share_ciphertext), aad), aad), r.key_id]);
      }
      await store.close();
    }
    {
      const kek = await loadKek({ keyFile: join(secrets, 'gateway.kek') });
      const store = await openGatewayStore({ kind: 'embedded', dir: join(dataDir, 'gateway', 'db') });
      const { rows } = await store.client.query<{ name: string; value: Uint8Array }>('select name, value from settings');
      for (const r of rows) await store.client.query('update settings set value = $1 where name = $2', [sealV1(shared, kek.open(new Uint8Array(r.value), settingAad(r.name)), settingAad(r.name)), r.name]);
      await store.close();
    }
    await rm(secrets, { recursive: true });

    const hex = shared.toString('hex');
    cluster = await startCluster({ ...opts, env: { ...opts.env, TANDEM_KEK_PREVIOUS: hex, TANDEM_GATEWAY_KEK_PREVIOUS: hex } });
    const relayEnv = await readFile(`/proc/${cluster.relay.child.pid}/environ`, 'utf8').catch(() => '');
    assert.ok(!relayEnv.includes(hex), 'the relay does not get the old KEK either');
    await until('every node and the gateway re-sealing', () => logs.filter((l) => /KEK rotation: re-sealed \d+ records under KEK [0-9a-f]{16}; none is left/.test(l)).length === 4);
    await signBoth(cluster.nodes[1]!.url, keys);
    assert.equal((await api(cluster.gateway!.url, 'GET', '/enclave-public-key')).body.public_key, enclaveKey);
    await cluster.stop();
    cluster = undefined;

    const ownIds = new Set<string>();
    for (const id of ids) {
      const own = (await loadKek({ keyFile: join(secrets, `${id}.kek`) })).currentId;
      ownIds.add(own);
      assert.deepEqual(await nodeCensus(dataDir, id), { [own]: 2 }, `${id}'s shares are under its own KEK`);
    }
    assert.equal(ownIds.size, 3);
    const store = await openGatewayStore({ kind: 'embedded', dir: join(dataDir, 'gateway', 'db') });
    const gwCensus = Object.keys(Object.fromEntries(await sealedCensus(store.client, GATEWAY_SETTINGS_COLUMN)));
    await store.close();
    assert.deepEqual(gwCensus, [(await loadKek({ keyFile: join(secrets, 'gateway.kek') })).currentId]);

    // Without the old KEK from now on.
    cluster = await startCluster(opts);
    await signBoth(cluster.nodes[0]!.url, keys);
  });
});

describe('rotating a node KEK while the cluster signs', { timeout: 400_000 }, () => {
  let cluster: Cluster | undefined;
  const procs: Proc[] = [];
  after(async () => {
    for (const p of procs) await p.stop();
    await cluster?.stop();
  });

  for (const backend of ['embedded', 'postgres'] as const) {
    test(`${backend}: restart with the new KEK and the old one as previous, re-seal (${backend === 'embedded' ? 'by the node itself' : 'npm run rotate-kek beside the running node'}), sign before, during and after`, async () => {
      const dataDir = await tempDataDir();
      const base = backend === 'embedded' ? 18240 : 18260;
      const prefix = `kek_${randomBytes(4).toString('hex')}`;
      const db = backend === 'postgres' ? { TANDEM_DATABASE_URL: TEST_POSTGRES_URL, TANDEM_DATABASE_SCHEMA_PREFIX: prefix } : {};
      const env = cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY, ...db });
      try {
        cluster = await startCluster({ dataDir, basePort: base, nodes: 3, env, output: () => {} });
        const keys = await makeKeys(cluster.nodes[0]!.url, ADMIN_KEY);
        const url = cluster.nodes[0]!.url;
        await signBoth(url, keys);

        // Node-1 moves to a new KEK; the old one stays as previous until everything is re-sealed.
        const oldFile = join(secretsDirOf(dataDir), 'node-1.kek');
        const newFile = join(secretsDirOf(dataDir), 'node-1.new.kek');
        await writeFile(newFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
        const oldId = (await loadKek({ keyFile: oldFile })).currentId;
        const newId = (await loadKek({ keyFile: newFile })).currentId;
        await cluster.nodes[0]!.stop();
        const census = async (): Promise<Record<string, number>> => {
          if (backend === 'embedded') return nodeCensus(dataDir, 'node-1');
          const store = await openNodeStore({ kind: 'postgres', url: TEST_POSTGRES_URL, schema: `${prefix}_node_1` });
          try {
            return Object.fromEntries(await sealedCensus(store.client, nodeSharesColumn('node-1')));
          } finally {
            await store.close();
          }
        };
        assert.deepEqual(await census(), { [oldId]: 2 });

        const nodeEnv = (kek: NodeJS.ProcessEnv) => ({ ...env, ...kek });
        const config = ['--config', join(dataDir, 'node-1.json')];
        const both = { TANDEM_KEK_FILE: newFile, TANDEM_KEK_PREVIOUS_FILE: oldFile };
        let node1: Proc;
        if (backend === 'embedded') {
          // The node re-seals by itself when it starts with a previous KEK, and signs meanwhile.
          node1 = run(NODE_MAIN, config, nodeEnv(both));
          procs.push(node1);
          await until('the node re-sealing its shares', () => /KEK rotation: re-sealed 2 records under KEK [0-9a-f]{16}; none is left/.test(node1.output()));
          await signBoth(url, keys);
          const busy = run(ROTATE, config, nodeEnv(both));
          assert.equal(await busy.exited, 1);
          assert.match(busy.output(), /node-1 is running .* its database is embedded: stop it first/);
        } else {
          // npm run rotate-kek on the stopped node's schema, while the other two nodes sign.
          const check = run(ROTATE, [...config, '--check'], nodeEnv(both));
          assert.equal(await check.exited, 2, check.output());
          const tool = run(ROTATE, config, nodeEnv(both));
          await signBoth(cluster.nodes[1]!.url, keys);
          assert.equal(await tool.exited, 0, tool.output());
          assert.match(tool.output(), new RegExp(`node-1: re-sealed 2; records per KEK now: ${newId}: 2`));
          node1 = run(NODE_MAIN, config, nodeEnv(both));
          procs.push(node1);
        }
        await waitHealthy(url, 60_000);
        await signBoth(url, keys);
        assert.deepEqual(await census(), { [newId]: 2 }, 'every record of node-1 carries the new KEK id');
        await node1.stop();

        // The old KEK is no longer needed: node-1 starts with the new one alone and signs.
        const after = run(NODE_MAIN, config, nodeEnv({ TANDEM_KEK_FILE: newFile }));
        procs.push(after);
        await waitHealthy(url, 60_000);
        await signBoth(url, keys);
        assert.match(after.output(), new RegExp(`sealing under KEK ${newId}; shares per KEK: ${newId} 2`));
        await after.stop();

        // And with only the old KEK it refuses to start, naming the KEK its shares need.
        const wrong = run(NODE_MAIN, config, nodeEnv({ TANDEM_KEK_FILE: oldFile }));
        assert.equal(await wrong.exited, 1);
        assert.match(wrong.output(), new RegExp(`sealed records are under KEK ${newId}, which TANDEM_KEK does not give \\(it gives ${oldId}`));
      } finally {
        for (const p of procs.splice(0)) await p.stop();
        await cluster?.stop();
        cluster = undefined;
        if (backend === 'postgres') await dropSchemas(`${prefix}_`);
      }
    });
  }
});

