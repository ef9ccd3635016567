import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareLauncherKeks, processEnvs, secretsDirOf, type LauncherKeks } from '../../../src/cluster/secrets.js';

/**
 * What a launcher gives each process: its own secrets and nothing else. The relay gets no admin
 * key and no KEK; each node its own KEK file and admin key; the gateway its KEK, and node-1's
 * admin key only at its first start.
 */
const POSIX = process.platform !== 'win32';
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-secrets-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('secretsDirOf', () => {
  test('beside the data directory, or TANDEM_SECRETS_DIR', () => {
    assert.equal(secretsDirOf('/var/lib/tandem', {}), '/var/lib/tandem-secrets');
    assert.equal(secretsDirOf('/var/lib/tandem/', {}), '/var/lib/tandem-secrets');
    assert.equal(secretsDirOf('data', {}), resolve('data-secrets'));
    assert.equal(secretsDirOf('/var/lib/tandem', { TANDEM_SECRETS_DIR: '/etc/tandem/keks' }), '/etc/tandem/keks');
  });
});

describe('processEnvs', () => {
  const keks: LauncherKeks = { nodeKekFiles: new Map([['node-1', '/s/node-1.kek'], ['node-2', '/s/node-2.kek']]), gatewayKekFile: '/s/gateway.kek', gatewayKekCreated: false };
  const env = {
    PATH: '/usr/bin',
    TANDEM_LOG_LEVEL: 'debug',
    TANDEM_ADMIN_KEY: 'tdm_admin_shared',
    TANDEM_KEK_PREVIOUS: 'aa'.repeat(32),
    TANDEM_KEK_COMMAND_TIMEOUT_MS: '5000',
    TANDEM_GATEWAY_KEK_PREVIOUS: 'bb'.repeat(32),
  };
  const secretNames = (e: NodeJS.ProcessEnv) => Object.keys(e).filter((k) => k === 'TANDEM_ADMIN_KEY' || /KEK/.test(k)).sort();

  test('the relay gets the environment without any secret', () => {
    const p = processEnvs(env, keks, true);
    assert.deepEqual(p.relay, { PATH: '/usr/bin', TANDEM_LOG_LEVEL: 'debug' });
  });

  test("each node gets its own KEK file and admin key, the launcher's earlier KEKs, and nothing of the gateway's", () => {
    const p = processEnvs(env, keks, false, { 'node-1': 'tdm_admin_one', 'node-2': 'tdm_admin_two' });
    assert.deepEqual(p.node('node-1'), {
      PATH: '/usr/bin',
      TANDEM_LOG_LEVEL: 'debug',
      TANDEM_ADMIN_KEY: 'tdm_admin_one',
      TANDEM_KEK_PREVIOUS: 'aa'.repeat(32),
      TANDEM_KEK_COMMAND_TIMEOUT_MS: '5000',
      TANDEM_KEK_FILE: '/s/node-1.kek',
    });
    assert.equal(p.node('node-2').TANDEM_ADMIN_KEY, 'tdm_admin_two');
    assert.equal(p.node('node-2').TANDEM_KEK_FILE, '/s/node-2.kek');
    assert.throws(() => p.node('node-3'), { message: 'no KEK prepared for node-3' });
  });

  test('without per-node admin keys a node gets TANDEM_ADMIN_KEY, or none', () => {
    assert.equal(processEnvs(env, keks, false).node('node-2').TANDEM_ADMIN_KEY, 'tdm_admin_shared');
    const { TANDEM_ADMIN_KEY: _, ...noAdmin } = env;
    assert.equal('TANDEM_ADMIN_KEY' in processEnvs(noAdmin, keks, false).node('node-2'), false);
  });

  test("the gateway gets its own KEK; the first node's admin key only at its first start", () => {
    const admin = { 'node-1': 'tdm_admin_one', 'node-2': 'tdm_admin_two' };
    const first = processEnvs(env, keks, true, admin).gateway;
    assert.deepEqual(secretNames(first), ['TANDEM_ADMIN_KEY', 'TANDEM_GATEWAY_KEK_FILE', 'TANDEM_GATEWAY_KEK_PREVIOUS']);
    assert.equal(first.TANDEM_ADMIN_KEY, 'tdm_admin_one');
    assert.equal(first.TANDEM_GATEWAY_KEK_FILE, '/s/gateway.kek');
    const later = processEnvs(env, keks, false, admin).gateway;
    assert.deepEqual(secretNames(later), ['TANDEM_GATEWAY_KEK_FILE', 'TANDEM_GATEWAY_KEK_PREVIOUS']);
  });

  test("a gateway KEK given to the launcher is passed on as given, and no file is made up", () => {
    const own = { ...env, TANDEM_GATEWAY_KEK: 'cc'.repeat(32) };
    const g = processEnvs(own, { ...keks, gatewayKekFile: undefined }, false).gateway;
    assert.equal(g.TANDEM_GATEWAY_KEK, 'cc'.repeat(32));
    assert.equal('TANDEM_GATEWAY_KEK_FILE' in g, false);
    assert.equal('TANDEM_KEK_PREVIOUS' in g, false, "the nodes' earlier KEKs are not the gateway's");
  });
});

describe('prepareLauncherKeks', () => {
  test('one KEK file per node (0600) and the gateway\'s, kept across starts', async () => {
    const dataDir = join(dir, 'a', 'data');
    const secretsDir = join(dir, 'a', 'data-secrets');
    const notes: string[] = [];
    const first = await prepareLauncherKeks({ dataDir, secretsDir, nodeIds: ['node-1', 'node-2'], gateway: true, env: {}, note: (m) => notes.push(m) });
    assert.deepEqual([...first.nodeKekFiles], [['node-1', join(secretsDir, 'node-1.kek')], ['node-2', join(secretsDir, 'node-2.kek')]]);
    assert.equal(first.gatewayKekFile, join(secretsDir, 'gateway.kek'));
    assert.equal(first.gatewayKekCreated, true);
    const k1 = await readFile(join(secretsDir, 'node-1.kek'));
    assert.equal(k1.length, 32);
    assert.notDeepEqual(await readFile(join(secretsDir, 'node-2.kek')), k1, 'each node its own');
    if (POSIX) assert.equal((await stat(join(secretsDir, 'node-1.kek'))).mode & 0o777, 0o600);
    const again = await prepareLauncherKeks({ dataDir, secretsDir, nodeIds: ['node-1', 'node-2'], gateway: true, env: {}, note: (m) => notes.push(m) });
    assert.equal(again.gatewayKekCreated, false);
    assert.deepEqual(await readFile(join(secretsDir, 'node-1.kek')), k1);
    assert.deepEqual(notes, []);
  });

  test('a KEK source for the launcher itself is refused: it would give every node the same KEK', async () => {
    for (const name of ['TANDEM_KEK', 'TANDEM_KEK_FILE', 'TANDEM_KEK_COMMAND']) {
      await assert.rejects(
        prepareLauncherKeks({ dataDir: join(dir, 'b'), secretsDir: join(dir, 'b-secrets'), nodeIds: ['node-1'], gateway: false, env: { [name]: 'x' }, note: () => {} }),
        (e: Error) => e.message.startsWith(`${name} set for the launcher would give every node the same KEK`),
      );
    }
  });

  test("a release 0.1.0 KEK inside a node's data directory is moved out, said so, and kept", async () => {
    const dataDir = join(dir, 'c', 'data');
    const secretsDir = join(dir, 'c', 'data-secrets');
    await mkdir(join(dataDir, 'node-1'), { recursive: true });
    const legacy = join(dataDir, 'node-1', 'kek.key');
    await writeFile(legacy, Buffer.alloc(32, 5), { mode: 0o600 });
    const notes: string[] = [];
    await prepareLauncherKeks({ dataDir, secretsDir, nodeIds: ['node-1'], gateway: false, env: {}, note: (m) => notes.push(m) });
    assert.deepEqual(await readFile(join(secretsDir, 'node-1.kek')), Buffer.alloc(32, 5));
    await assert.rejects(stat(legacy), { code: 'ENOENT' });
    assert.deepEqual(notes, [`moved node-1's KEK out of its data directory: ${legacy} -> ${join(secretsDir, 'node-1.kek')}`]);
  });

  test('two KEKs for one node (inside and beside the data directory) stop the start', async () => {
    const dataDir = join(dir, 'd', 'data');
    const secretsDir = join(dir, 'd', 'data-secrets');
    await mkdir(join(dataDir, 'node-1'), { recursive: true });
    await mkdir(secretsDir, { recursive: true });
    await writeFile(join(dataDir, 'node-1', 'kek.key'), Buffer.alloc(32, 5), { mode: 0o600 });
    await writeFile(join(secretsDir, 'node-1.kek'), Buffer.alloc(32, 6), { mode: 0o600 });
    await assert.rejects(prepareLauncherKeks({ dataDir, secretsDir, nodeIds: ['node-1'], gateway: false, env: {}, note: () => {} }), (e: Error) =>
      e.message.startsWith(`node-1 has two KEKs, ${join(dataDir, 'node-1', 'kek.key')} (inside its data directory) and ${join(secretsDir, 'node-1.kek')}`),
    );
  });
});
