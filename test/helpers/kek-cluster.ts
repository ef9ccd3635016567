import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createPublicKey, randomBytes, verify } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import * as ecc from 'tiny-secp256k1';
import { secretsDirOf } from '../../src/cluster/secrets.js';
import { nodeSharesColumn } from '../../src/node/sealed-shares.js';
import { openNodeStore } from '../../src/storage/open-node-store.js';
import { sealedCensus } from '../../src/db/reseal.js';
import { loadKek, shareAad } from '../../src/crypto/share-seal.js';
import { GATEWAY_SETTINGS_COLUMN, settingAad } from '../../src/gateway/sealed-settings.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { api, seedClusterDatabases } from './cluster.js';

/**
 * What the KEK-placement tests (test/integration/kek-*.test.ts) share: the launcher's clusters on
 * ports of the system's choosing, processes started by hand, release 0.1.0's formats. Issue 12,
 * finding 7, through real processes: the launcher gives each process only its own secrets, a data
 * directory of the last release still works, and a node's KEK is rotated while it signs.
 */
export const DIST = join(import.meta.dirname, '../..');
export const NODE_MAIN = join(DIST, 'src/node/main.js');
export const RELAY_MAIN = join(DIST, 'src/relay/main.js');
export const GATEWAY_MAIN = join(DIST, 'src/gateway/main.js');
export const ROTATE = join(DIST, 'scripts/rotate-kek.js');
export const LINUX = process.platform === 'linux';
export const KEK_VAR = /KEK/;

export const dirs: string[] = [];
/**
 * A cluster's data directory, its embedded databases made from the template (what is tested here
 * is where the KEKs go, not an initdb); `seed` false where nothing opens them (PostgreSQL, a
 * launcher that refuses before anything starts).
 */
export async function tempDataDir(seed = true): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tandem-kek-it-'));
  dirs.push(d, secretsDirOf(d));
  if (seed) await seedClusterDatabases(d, 3, true);
  return d;
}

/**
 * A copy of a stopped cluster's data directory and its secrets directory, as another cluster's:
 * the nodes' configuration files name the copy as their data directory (the launcher rewrites
 * them at every start; a node started by hand reads them as they are).
 */
export async function copyDataDir(from: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tandem-kek-it-'));
  dirs.push(d, secretsDirOf(d));
  await cp(from, d, { recursive: true });
  await cp(secretsDirOf(from), secretsDirOf(d), { recursive: true });
  const cluster = JSON.parse(await readFile(join(d, 'cluster.json'), 'utf8')) as { nodes: Array<{ id: string }> };
  for (const { id } of cluster.nodes) {
    const path = join(d, `${id}.json`);
    await writeFile(path, JSON.stringify({ ...(JSON.parse(await readFile(path, 'utf8')) as object), data_dir: d }, null, 2), { mode: 0o600 });
  }
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

export async function environOf(child: ChildProcess): Promise<Map<string, string>> {
  const raw = await readFile(`/proc/${child.pid}/environ`, 'utf8');
  return new Map(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** The process environment without anything a test runner might have set for the KEKs or the admin key. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TANDEM_ADMIN_KEY' && !KEK_VAR.test(k) && !k.startsWith('TANDEM_DATABASE')));
  return { ...base, TANDEM_CEREMONY_TIMEOUT_MS: '6000', ...extra };
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}
export function run(main: string, args: string[], env: NodeJS.ProcessEnv): Proc {
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

/**
 * Writes the port a node bound into its configuration file, as an operator's names a fixed one: the
 * launcher started the test clusters on ports of the system's choosing (port 0 in the file), and
 * the node started again here by hand, and npm run rotate-kek, find it there.
 */
export async function pinPort(dataDir: string, id: string, port: number): Promise<void> {
  const path = join(dataDir, `${id}.json`);
  await writeFile(path, JSON.stringify({ ...(JSON.parse(await readFile(path, 'utf8')) as object), port }, null, 2), { mode: 0o600 });
}

export async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Release 0.1.0's format, byte for byte: 0x01 | iv(12) | AES-256-GCM(kek, iv, aad) | tag(16). */
export function sealV1(kek: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: 16 });
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.of(1), iv, body, c.getAuthTag()]);
}

/** The key beside the bip340 one: ecdsa (DKLs23) where records of each engine are what is tested, else ed25519 (FROST, a fraction of the CPU). */
type Second = 'ecdsa' | 'ed25519';

export interface Keys {
  userKey: string;
  bip340: { keyId: string; pub: Buffer };
  second: { family: Second; keyId: string; pub: Buffer };
}

export async function makeKeys(url: string, adminKey: string, second: Second = 'ecdsa'): Promise<Keys> {
  const user = await api(url, 'POST', '/admin/create-user', { key: adminKey });
  assert.equal(user.status, 200, JSON.stringify(user.body));
  const userKey = String(user.body.api_key);
  const kg = async (family: string) => {
    const r = await api(url, 'POST', `/${family}/keygen`, { key: userKey, body: { num_parties: 3, threshold: 2 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { keyId: String(r.body.key_id), pub: Buffer.from(String(r.body.public_key), 'hex') };
  };
  return { userKey, bip340: await kg('bip340'), second: { family: second, ...(await kg(second)) } };
}

/** Both keys sign through `url` (which takes part: the coordinator is always a signer), checked by libsecp256k1 (bip340, ecdsa) or OpenSSL (ed25519). */
export async function signBoth(url: string, keys: Keys): Promise<void> {
  const msg = randomBytes(32);
  const s = await api(url, 'POST', '/bip340/sign', { key: keys.userKey, body: { key_id: keys.bip340.keyId, msg: msg.toString('hex') } });
  assert.equal(s.status, 200, JSON.stringify(s.body));
  assert.ok(ecc.verifySchnorr(msg, keys.bip340.pub, Buffer.from(String(s.body.signature), 'hex')), 'bip340 signature verifies');
  const { family, keyId, pub } = keys.second;
  const e = await api(url, 'POST', `/${family}/sign`, { key: keys.userKey, body: { key_id: keyId, msg: msg.toString('hex') } });
  assert.equal(e.status, 200, JSON.stringify(e.body));
  const sig = Buffer.from(String(e.body.signature), 'hex');
  if (family === 'ecdsa') assert.ok(ecc.verify(msg, pub, sig, true), 'ecdsa signature verifies');
  else assert.ok(verify(null, msg, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') }, format: 'jwk' }), sig), 'ed25519 signature verifies');
}

/**
 * Release 0.1.0's records for `who` (a node id, or 'gateway'): each sealed record (a node's shares,
 * the gateway's settings) opened under the KEK the launcher gave it and sealed again as a v1
 * record, with no KEK id, under `v1Key`. Returns the column's census afterwards.
 */
export async function sealAsRelease010(dataDir: string, who: string, v1Key: Uint8Array): Promise<Record<string, number>> {
  const kek = await loadKek({ keyFile: join(secretsDirOf(dataDir), `${who}.kek`) });
  if (who === 'gateway') {
    const store = await openGatewayStore({ kind: 'embedded', dir: join(dataDir, 'gateway', 'db') });
    try {
      const { rows } = await store.client.query<{ name: string; value: Uint8Array }>('select name, value from settings');
      for (const r of rows) await store.client.query('update settings set value = $1 where name = $2', [sealV1(v1Key, kek.open(new Uint8Array(r.value), settingAad(r.name)), settingAad(r.name)), r.name]);
      return Object.fromEntries(await sealedCensus(store.client, GATEWAY_SETTINGS_COLUMN));
    } finally {
      await store.close();
    }
  }
  const store = await openNodeStore({ kind: 'embedded', dir: join(dataDir, who, 'db') });
  try {
    const { rows } = await store.client.query<{ key_id: string; family: string; share_ciphertext: Uint8Array }>('select key_id, family, share_ciphertext from keys');
    for (const r of rows) {
      const aad = shareAad(who, r.key_id, r.family);
      await store.client.query('update keys set share_ciphertext = $1 where key_id = $2', [sealV1(v1Key, kek.open(new Uint8Array(r.share_ciphertext), aad), aad), r.key_id]);
    }
    return Object.fromEntries(await sealedCensus(store.client, nodeSharesColumn(who)));
  } finally {
    await store.close();
  }
}

export async function nodeCensus(dataDir: string, id: string): Promise<Record<string, number>> {
  const store = await openNodeStore({ kind: 'embedded', dir: join(dataDir, id, 'db') });
  try {
    return Object.fromEntries(await sealedCensus(store.client, nodeSharesColumn(id)));
  } finally {
    await store.close();
  }
}

