import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/start.js';
import { openGatewayStore } from '../../src/gateway/storage/sql-gateway-store.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * A gateway of release 0.1.0 kept one API key for its user on the nodes (the user that owns
 * every wallet key). After the upgrade it makes its own request key, registers it for that
 * same user on each node with the API key (sent to each node itself), and signs every node
 * request from then on; the wallets' keys keep working. The 0.1.0 record is written here in
 * that release's exact format (version byte 1, IV, AES-256-GCM body and tag, its AAD).
 */

function sealAs010(kekHex: string, name: string, plaintext: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(kekHex, 'hex'), iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(`tandem/gateway/setting/v1/${name}`));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.of(1), iv, body, cipher.getAuthTag()]));
}

describe('a 0.1.0 gateway moves from its API key to its own request key', { timeout: 300_000 }, () => {
  let tc: InProcessCluster;
  let dir: string;
  let gw: RunningGateway | undefined;
  const kekHex = randomBytes(32).toString('hex');

  before(async () => {
    tc = await startInProcessCluster();
    dir = await mkdtemp(join(tmpdir(), 'tandem-gw-upgrade-'));
  });
  after(async () => {
    await gw?.close();
    await tc?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const options = (): GatewayOptions => ({
    host: '127.0.0.1',
    port: 0,
    dataDir: dir,
    database: { kind: 'embedded', dir: join(dir, 'db') },
    nodes: tc.cluster.nodes.map((n) => n.url),
    kekHex,
    sessionTtlSeconds: 900,
  });

  test("the old user's wallet key signs through the upgraded gateway; the API key no longer changes the request key", async () => {
    const nodes = tc.cluster.nodes.map((n) => n.url);
    // What 0.1.0 did at its first start, and a wallet key its user made.
    const made = await api(nodes[0]!, 'POST', '/admin/create-user', { key: ADMIN_KEY });
    assert.equal(made.status, 200);
    const apiKey = String(made.body.api_key);
    const kg = await api(nodes[0]!, 'POST', '/ecdsa/keygen', { key: apiKey, body: { num_parties: 3, threshold: 2 } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    await seedPglite(join(dir, 'db'));
    const store = await openGatewayStore({ kind: 'embedded', dir: join(dir, 'db') });
    await store.putSettingIfAbsent('node-api-key', sealAs010(kekHex, 'node-api-key', Buffer.from(apiKey, 'utf8')));
    await store.close();

    // No admin key: the upgrade needs none.
    gw = await startGateway(options());
    const hash = randomBytes(32);
    const sig = await gw.gateway.nodes.sign(String(kg.body.key_id), hash);
    assert.ok(ecc.verify(hash, fromHex(String(kg.body.public_key)), fromHex(sig.signature)), 'tiny-secp256k1 accepts the signature');

    // Every node has a request key for the user now: a leaked API key can't replace it.
    const other = { public_key: { type: 'ed25519', key: toHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey())) } };
    for (const url of nodes) {
      const r = await api(url, 'POST', '/request-key', { key: apiKey, body: other });
      assert.equal(r.status, 401, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.err_type, 'access_denied');
    }

    // And the user signs what spans nodes: its bearer key at node-1 is no longer enough for node-2 and node-3.
    const bearerSign = await api(nodes[0]!, 'POST', '/ecdsa/sign', { key: apiKey, body: { key_id: kg.body.key_id, msg: randomBytes(32).toString('hex') } });
    assert.notEqual(bearerSign.status, 200, JSON.stringify(bearerSign.body));

    // A restart keeps the same identity.
    await gw.close();
    gw = await startGateway(options());
    const again = await gw.gateway.nodes.sign(String(kg.body.key_id), hash);
    assert.ok(ecc.verify(hash, fromHex(String(kg.body.public_key)), fromHex(again.signature)));
  });

  test('without an admin key the gateway names its request key; started with the id of a user made with it, it signs', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'tandem-gw-operator-'));
    const opts = { ...options(), port: 0, dataDir: fresh, database: { kind: 'embedded' as const, dir: join(fresh, 'db') } };
    try {
      await seedPglite(opts.database.dir);
      const refusal = await startGateway(opts).then(
        () => assert.fail('started without a user'),
        (e: Error) => e.message,
      );
      const key = /"key":"([0-9a-f]{64})"/.exec(refusal)?.[1];
      assert.ok(key, refusal);
      const made = await api(tc.cluster.nodes[0]!.url, 'POST', '/admin/create-user', { key: ADMIN_KEY, body: { public_key: { type: 'ed25519', key } } });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      const started = await startGateway({ ...opts, userId: String(made.body.user_id) });
      try {
        const k = await started.gateway.nodes.keygen();
        const hash = randomBytes(32);
        const sig = await started.gateway.nodes.sign(k.keyId, hash);
        assert.ok(ecc.verify(hash, fromHex(k.publicKey), fromHex(sig.signature)), 'tiny-secp256k1 accepts the signature');
      } finally {
        await started.close();
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });
});
