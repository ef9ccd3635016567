import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { loadOrCreateIdentity, type Identity } from '../../src/crypto/identity.js';
import { configFrom } from '../../src/node/config.js';
import { PeerNetwork, type InviteHandler } from '../../src/node/peer-network.js';
import { startSignerNode, type RunningNode } from '../../src/node/signer-node.js';
import { RelayPool } from '../../src/relay/pool.js';
import { startRelay } from '../../src/relay/server.js';
import { toHex } from '../../src/shared/hex.js';
import { asPartyId, type PartyId } from '../../src/shared/ids.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';

/**
 * A party that cheats is named. Honest nodes run in this process over a real relay;
 * node-2 is replaced, after keygen, by an impostor holding node-2's identity key (so its
 * messages authenticate) that answers with protocol garbage.
 */
const ids = ['node-1', 'node-2', 'node-3'].map(asPartyId);
let root: string;
let relay: Awaited<ReturnType<typeof startRelay>>;
let relayAddress: string;
let peers: Array<{ id: string; public_key: string }>;
const running = new Map<PartyId, RunningNode>();
let identities: Identity[];

async function startNode(id: PartyId) {
  const config = configFrom(
    { id, port: 0, relay: relayAddress, data_dir: root, peers },
    { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '2000' },
  );
  running.set(id, await startSignerNode(config, () => {}));
}

const randomPoint = () => toHex(secp256k1.Point.BASE.multiply(secp256k1.Point.Fn.fromBytes(secp256k1.utils.randomSecretKey())).toBytes(true));

/** Joins as node-2 and behaves as `script` says instead of following the protocol. */
async function impostor(script: (session: Awaited<ReturnType<Parameters<InviteHandler>[2]>>, coordinator: PartyId) => Promise<void>) {
  const pool = new RelayPool();
  const onInvite: InviteHandler = (_invite, from, join) => {
    void join().then((s) => script(s, from).catch(() => undefined));
  };
  const directory = new Map(identities.map((i) => [i.partyId, i.publicKey]));
  const net = new PeerNetwork(identities[1]!, directory, relayAddress, pool, onInvite, () => {});
  await net.start();
  return { stop: async () => { await net.stop(); await pool.closeAll(); } };
}

describe('a cheating party is named', { timeout: 120_000 }, () => {
  let key: string;
  let keyId: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-cheat-'));
    relay = await startRelay({ port: 0 });
    relayAddress = `127.0.0.1:${relay.port}`;
    identities = await Promise.all(ids.map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
    peers = identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) }));
    for (const id of ids) await startNode(id);
    const url = running.get(ids[0]!)!.url;
    key = String((await api(url, 'POST', '/admin/create-user', { key: ADMIN_KEY })).body.api_key);
    const kg = await api(url, 'POST', '/bip340/keygen', { key, body: { num_parties: 3, threshold: 2 } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    keyId = String(kg.body.key_id);
    // Leave node-1 honest and alone with the impostor.
    for (const id of [ids[1]!, ids[2]!]) {
      await running.get(id)!.close();
      running.delete(id);
    }
  });

  after(async () => {
    for (const n of running.values()) await n.close();
    await relay?.close();
    await rm(root, { recursive: true, force: true });
  });

  const sign = () =>
    api(running.get(ids[0]!)!.url, 'POST', '/bip340/sign', { key, body: { key_id: keyId, msg: randomBytes(32).toString('hex') } });

  test('a signature share that does not verify', async () => {
    const evil = await impostor(async (s, coordinator) => {
      s.step(coordinator, 'commit', { v: 1, commitments: [{ v: 1, from: 'node-2', hiding: randomPoint(), binding: randomPoint() }] });
      await s.expect(coordinator, 'package', 5000);
      s.step(coordinator, 'share', { v: 1, shares: [{ v: 1, from: 'node-2', share: toHex(secp256k1.utils.randomSecretKey()) }] });
    });
    try {
      const r = await sign();
      assert.equal(r.status, 400);
      assert.equal(r.body.err_type, 'executor_result');
      assert.match(String(r.body.err_msg), /party node-2 sent an invalid message: signature share does not verify/);
    } finally {
      await evil.stop();
    }
  });

  test('a malformed commitment, or one that is not a curve point', async () => {
    for (const commit of [{ v: 1, from: 'node-2', hiding: 'zz' }, { v: 1, from: 'node-2', hiding: '02' + 'ff'.repeat(32), binding: randomPoint() }]) {
      const evil = await impostor(async (s, coordinator) => {
        s.step(coordinator, 'commit', { v: 1, commitments: [commit] });
      });
      try {
        const r = await sign();
        assert.equal(r.body.err_type, 'executor_result', JSON.stringify(r.body));
        assert.match(String(r.body.err_msg), /party node-2 sent an invalid message/);
      } finally {
        await evil.stop();
      }
    }
  });

  test('a DKG round-1 package with a forged proof of knowledge', async () => {
    const evil = await impostor(async (s, coordinator) => {
      s.step(coordinator, 'r1', { v: 1, from: 'node-2', commitment: [randomPoint(), randomPoint()], proofOfKnowledge: toHex(randomBytes(64)) });
    });
    try {
      const r = await api(running.get(ids[0]!)!.url, 'POST', '/bip340/keygen', { key, body: { num_parties: 2, threshold: 2 } });
      assert.equal(r.status, 400);
      assert.equal(r.body.err_type, 'executor_result');
      assert.match(String(r.body.err_msg), /party node-2 sent an invalid message/);
    } finally {
      await evil.stop();
    }
  });

  test('the honest node still serves afterwards', async () => {
    const h = await api(running.get(ids[0]!)!.url, 'GET', '/health');
    assert.equal(h.status, 200);
  });
});
