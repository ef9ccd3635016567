import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { firstStartAdminKeys, startCluster, waitHealthy, type Cluster } from '../../src/cluster/processes.js';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { loadKek } from '../../src/crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN } from '../../src/gateway/sealed-settings.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { sealedCensus } from '../../src/db/reseal.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import {
  cleanEnv,
  copyDataDir,
  environOf,
  GATEWAY_MAIN,
  KEK_VAR,
  LINUX,
  makeKeys,
  NODE_MAIN,
  nodeCensus,
  pinPort,
  RELAY_MAIN,
  run,
  sealAsRelease010,
  signBoth,
  tempDataDir,
  until,
  type Keys,
  type Proc,
} from '../helpers/kek-cluster.js';

/**
 * The launcher's clusters through real processes (issue 12, finding 7): a data directory of
 * release 0.1.0 (kek.key inside each data directory, records without a KEK id), a cluster that
 * ran with one KEK for every node, and what the launcher gives each process (read from
 * /proc/<pid>/environ of the children).
 *
 * All three begin with a cluster's first start (firstStart): a relay, three nodes and a gateway,
 * a bip340 and an ecdsa key (the old records of both engines). The launcher test checks what that
 * start gave each process and starts the same directory again; the other two each turn a copy of
 * it into what the last release left. One first start instead of three (one file each before):
 * two relays, six nodes, two gateways (each making its RSA key), a DKLs23 and a FROST key
 * generation fewer, that checked nothing different. Shared set-up: test/helpers/kek-cluster.ts.
 */

/** What the launcher gave each process of a cluster, from /proc/<pid>/environ. */
interface Environs {
  relay: Map<string, string>;
  nodes: Array<{ id: string; env: Map<string, string> }>;
  gateway: Map<string, string>;
}

async function environsOf(cluster: Cluster): Promise<Environs> {
  return {
    relay: await environOf(cluster.relay.child),
    nodes: await Promise.all(cluster.nodes.map(async (n) => ({ id: n.id, env: await environOf(n.child) }))),
    gateway: await environOf(cluster.gateway!.child),
  };
}

interface FirstStart {
  /** Where the cluster first started (stopped now); the launcher test starts it again. */
  dataDir: string;
  /** Each node's admin key, made as at a first start without TANDEM_ADMIN_KEY. */
  adminKeys: Record<string, string>;
  /** What each process was given, read while it ran (Linux). */
  environs: Environs | undefined;
  keys: Keys;
  /** The gateway's RSA public key, made and sealed at its first start. */
  enclaveKey: unknown;
  relayPort: number;
  nodePorts: number[];
  gatewayPort: number;
  /** A copy of the data directory (and its secrets) as the first start left it. */
  copy(): Promise<string>;
}

let firstStarted: Promise<FirstStart> | undefined;
function firstStart(): Promise<FirstStart> {
  return (firstStarted ??= (async () => {
    const dataDir = await tempDataDir();
    // What npm start and start:prod do at a first start without TANDEM_ADMIN_KEY, even where the shell running the tests has one.
    const shell = process.env.TANDEM_ADMIN_KEY;
    delete process.env.TANDEM_ADMIN_KEY;
    const adminKeys = firstStartAdminKeys(dataDir, 3)!;
    if (shell !== undefined) process.env.TANDEM_ADMIN_KEY = shell;
    const cluster = await startCluster({ dataDir, adminKeys, basePort: 0, nodes: 3, env: cleanEnv(), gateway: { port: 0 }, output: () => {} });
    try {
      const environs = LINUX ? await environsOf(cluster) : undefined;
      const keys = await makeKeys(cluster.nodes[0]!.url, adminKeys['node-1']!);
      const enclaveKey = (await api(cluster.gateway!.url, 'GET', '/enclave-public-key')).body.public_key;
      const ports = { relayPort: cluster.relay.port, nodePorts: cluster.nodes.map((n) => n.port), gatewayPort: cluster.gateway!.port };
      await cluster.stop();
      const pristine = await copyDataDir(dataDir);
      return { dataDir, adminKeys, environs, keys, enclaveKey, ...ports, copy: () => copyDataDir(pristine) };
    } finally {
      await cluster.stop();
    }
  })());
}

describe('a data directory of the last release (kek.key inside each data directory, records without a KEK id)', { timeout: 400_000 }, () => {
  const procs: Proc[] = [];
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.stop();
    for (const p of procs) await p.stop();
  });

  test('refused in production mode with how to move the KEK; works in development mode and under the launcher, which moves the KEKs out', async () => {
    const first = await firstStart();
    const dataDir = await first.copy();
    const ids = ['node-1', 'node-2', 'node-3'];
    const env = cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY });
    const opts = { dataDir, basePort: 0, nodes: 3, env, gateway: { port: 0 }, output: () => {} };

    // Keys and a gateway made by a cluster (the first start, copied), then turned into release 0.1.0's layout.
    const { keys, enclaveKey } = first;
    // The processes started by hand below listen where the cluster's did (the nodes' files name the relay's port).
    const { relayPort, nodePorts, gatewayPort } = first;
    for (const [i, id] of ids.entries()) await pinPort(dataDir, id, nodePorts[i]!);
    const secrets = secretsDirOf(dataDir);
    // Each KEK file's bytes seal its records as release 0.1.0 did, and the file goes inside the data directory.
    for (const id of ids) {
      const file = join(secrets, `${id}.kek`);
      await sealAsRelease010(dataDir, id, await readFile(file));
      await rename(file, join(dataDir, id, 'kek.key'));
      assert.deepEqual(await nodeCensus(dataDir, id), { v1: 2 });
    }
    {
      const file = join(secrets, 'gateway.kek');
      const census = await sealAsRelease010(dataDir, 'gateway', await readFile(file));
      assert.ok(Object.keys(census).every((id) => id === 'v1'));
      await rename(file, join(dataDir, 'gateway', 'kek.key'));
    }

    const gatewayEnv = (extra: NodeJS.ProcessEnv) =>
      cleanEnv({ TANDEM_NODES: nodePorts.map((p) => `http://127.0.0.1:${p}`).join(','), TANDEM_GATEWAY_PORT: String(gatewayPort), TANDEM_GATEWAY_DATA_DIR: join(dataDir, 'gateway'), ...extra });

    // Production mode (no development flag): the node and the gateway refuse, saying how to move the KEK.
    const node = run(NODE_MAIN, ['--config', join(dataDir, 'node-1.json')], env);
    assert.equal(await node.exited, 1);
    assert.match(node.output(), /node-1\/kek\.key is a KEK inside the data directory.*Move it out of the data directory.*set TANDEM_KEK_FILE to its new path.*TANDEM_DEV_KEK_IN_DATA_DIR=1/);
    const gw = run(GATEWAY_MAIN, [], gatewayEnv({}));
    assert.equal(await gw.exited, 1);
    assert.match(gw.output(), /gateway\/kek\.key is a KEK inside the data directory.*TANDEM_GATEWAY_KEK_FILE/);

    // Development mode: the same data directory, untouched, signs with its old keys.
    const dev = { TANDEM_DEV_KEK_IN_DATA_DIR: '1' };
    procs.push(run(RELAY_MAIN, ['--host', '127.0.0.1', '--port', String(relayPort), '--nodes', join(dataDir, 'cluster.json')], cleanEnv()));
    for (const id of ids) procs.push(run(NODE_MAIN, ['--config', join(dataDir, `${id}.json`)], { ...env, ...dev }));
    for (const p of nodePorts) await waitHealthy(`http://127.0.0.1:${p}`, 60_000);
    await signBoth(`http://127.0.0.1:${nodePorts[0]}`, keys);
    await signBoth(`http://127.0.0.1:${nodePorts[1]}`, keys);
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
    // Keys and a gateway made by a cluster (the first start, copied).
    const first = await firstStart();
    const dataDir = await first.copy();
    const ids = ['node-1', 'node-2', 'node-3'];
    const logs: string[] = [];
    const opts = { dataDir, basePort: 0, nodes: 3, env: cleanEnv({ TANDEM_ADMIN_KEY: ADMIN_KEY }), gateway: { port: 0 }, output: (n: string, l: string) => void logs.push(`[${n}] ${l}`) };
    const { keys, enclaveKey } = first;

    // What release 0.1.0 left with TANDEM_KEK set for the launcher: every record sealed (v1) under one shared KEK, no key files.
    const shared = randomBytes(32);
    const secrets = secretsDirOf(dataDir);
    for (const who of [...ids, 'gateway']) await sealAsRelease010(dataDir, who, shared);
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

describe('the launcher gives each process only its own secrets', { timeout: 180_000, skip: !LINUX && 'reads /proc/<pid>/environ' }, () => {
  let cluster: Cluster | undefined;
  after(() => cluster?.stop());

  test("relay: no admin key, no KEK; each node its own KEK file outside its data directory and its own admin key; the gateway node-1's admin key at its first start only", async () => {
    // The first start (firstStart above: what npm start and start:prod do at a first start without TANDEM_ADMIN_KEY).
    const { dataDir, adminKeys, environs } = await firstStart();
    const opts = { dataDir, adminKeys, basePort: 0, nodes: 3, env: cleanEnv(), gateway: { port: 0 }, output: () => {} };
    const check = (first: boolean, started: Environs) => {
      const relay = started.relay;
      assert.equal(relay.has('TANDEM_ADMIN_KEY'), false, 'the relay gets no admin key');
      assert.deepEqual([...relay.keys()].filter((k) => KEK_VAR.test(k)), [], 'the relay gets no KEK');
      const keks = new Set<string>();
      for (const n of started.nodes) {
        const env = n.env;
        assert.equal(env.get('TANDEM_ADMIN_KEY'), adminKeys[n.id], `${n.id} gets its own admin key`);
        const file = env.get('TANDEM_KEK_FILE');
        assert.ok(file, `${n.id} gets a KEK file`);
        assert.deepEqual([...env.keys()].filter((k) => KEK_VAR.test(k)), ['TANDEM_KEK_FILE'], `${n.id} gets its KEK file and no other KEK`);
        assert.ok(relative(dataDir, file!).startsWith('..'), `${n.id}'s KEK is outside the cluster's data directory`);
        keks.add(readFileSync(file!).toString('hex'));
        assert.equal(existsSync(join(dataDir, n.id, 'kek.key')), false, `no KEK in ${n.id}'s data directory`);
      }
      assert.equal(keks.size, 3, 'each node has a different KEK');
      assert.equal(new Set(Object.values(adminKeys)).size, 3, 'and a different admin key');
      const gw = started.gateway;
      assert.deepEqual([...gw.keys()].filter((k) => KEK_VAR.test(k)), ['TANDEM_GATEWAY_KEK_FILE'], 'the gateway gets its own KEK only');
      assert.ok(!keks.has(readFileSync(gw.get('TANDEM_GATEWAY_KEK_FILE')!).toString('hex')));
      assert.equal(gw.get('TANDEM_ADMIN_KEY'), first ? adminKeys['node-1'] : undefined, first ? "the gateway gets node-1's admin key at its first start" : 'and never again');
    };
    check(true, environs!);
    // The same cluster started again.
    cluster = await startCluster(opts);
    check(false, await environsOf(cluster));
    assert.equal((await api(cluster.gateway!.url, 'GET', '/health')).status, 200, 'the gateway works without the admin key after its first start');
    // Each admin key is its node's: node-2's works on node-2 (and the user reaches every node), not on node-1.
    assert.equal((await api(cluster.nodes[0]!.url, 'POST', '/admin/create-user', { key: adminKeys['node-2'] })).status, 401);
    assert.equal((await api(cluster.nodes[1]!.url, 'POST', '/admin/create-user', { key: adminKeys['node-2'] })).status, 200);
  });

  test('a KEK set for the launcher (one for every node) is refused before anything starts', async () => {
    const dataDir = await tempDataDir(false);
    await assert.rejects(
      startCluster({ dataDir, basePort: 0, nodes: 3, env: cleanEnv({ TANDEM_KEK: 'ab'.repeat(32) }), output: () => {} }),
      /TANDEM_KEK set for the launcher would give every node the same KEK.*TANDEM_KEK_PREVIOUS/,
    );
  });
});
