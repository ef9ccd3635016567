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
import { toHex } from '../../src/core/hex.js';
import { asPartyId, type PartyId, type UserId } from '../../src/core/ids.js';
import * as ecc from 'tiny-secp256k1';
import { loadKek } from '../../src/crypto/share-seal.js';
import { userIdOfApiKey } from '../../src/api/api-keys.js';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import { emptyReservation } from '../../src/node/policy-gate.js';
import { participate } from '../../src/node/ceremonies/participants.js';
import { OP } from '../../src/ceremony/operations.js';
import { openEmbeddedStore } from '../../src/storage/open-node-store.js';
import { ADMIN_KEY, api } from '../helpers/cluster.js';
import { nodeRelayKeys } from '../helpers/relay-auth.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { SqlPolicyStore } from '../../src/storage/sql-policy-store.js';
import { KeyPasskeyStore } from '../../src/storage/key-passkey-store.js';
import { RoomStore } from '../../src/storage/room-store.js';
import { RequestAuthStore } from '../../src/storage/request-auth-store.js';
import { BanList } from '../../src/ceremony/bans.js';
import { SqlBanStore } from '../../src/storage/ban-store.js';
import { KeygenSlots } from '../../src/node/keygen-slots.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * A party that cheats is named. Honest nodes run in this process over a real relay;
 * node-2 is replaced, after keygen, by an impostor holding node-2's identity key (so its
 * messages authenticate) that answers with protocol garbage.
 */
const ids = ['node-1', 'node-2', 'node-3'].map(asPartyId);
let root: string;
let relay: Awaited<ReturnType<typeof startRelay>>;
let relayAddress: string;
let relayKeys: Awaited<ReturnType<typeof nodeRelayKeys>>;
let peers: Array<{ id: string; public_key: string }>;
const running = new Map<PartyId, RunningNode>();
let identities: Identity[];

async function startNode(id: PartyId) {
  const config = configFrom(
    { id, port: 0, relay: relayAddress, data_dir: root, peers },
    // The data directory's kek.key (development flag): the impostor below reads node-2's.
    { TANDEM_ADMIN_KEY: ADMIN_KEY, TANDEM_CEREMONY_TIMEOUT_MS: '4000', TANDEM_DEV_KEK_IN_DATA_DIR: '1' },
  );
  await seedPglite(join(root, id, 'db'));
  running.set(id, await startSignerNode(config, () => {}));
}

const randomPoint = () => toHex(secp256k1.Point.BASE.multiply(secp256k1.Point.Fn.fromBytes(secp256k1.utils.randomSecretKey())).toBytes(true));

/** Joins as node-2 and behaves as `script` says instead of following the protocol. */
async function impostor(script: (session: Awaited<ReturnType<Parameters<InviteHandler>[2]>>, coordinator: PartyId) => Promise<void>) {
  const pool = new RelayPool({ signer: relayKeys.signer(ids[1]!) });
  const onInvite: InviteHandler = (_invite, from, join) => {
    void join().then((s) => script(s, from).catch(() => undefined));
  };
  const directory = new Map(identities.map((i) => [i.partyId, i.publicKey]));
  const net = new PeerNetwork(identities[1]!, directory, [relayAddress], pool, onInvite, () => {});
  await net.start();
  return { stop: async () => { await net.stop(); await pool.closeAll(); } };
}

describe('a cheating party is named', { timeout: 240_000 }, () => {
  let key: string;
  let keyId: string;
  let ecdsaKeyId: string;
  let ecdsaPub: Buffer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-cheat-'));
    // The impostors below are node-2 with its own keys (a compromised node), so the relay admits them.
    relayKeys = await nodeRelayKeys(root, ids);
    relay = await startRelay({ port: 0, nodes: relayKeys.nodes });
    relayAddress = `127.0.0.1:${relay.port}`;
    identities = await Promise.all(ids.map((id) => loadOrCreateIdentity(id, join(root, id, 'identity.key'))));
    peers = identities.map((i) => ({ id: i.partyId, public_key: toHex(i.publicKey) }));
    for (const id of ids) await startNode(id);
    const url = running.get(ids[0]!)!.url;
    key = String((await api(url, 'POST', '/admin/create-user', { key: ADMIN_KEY })).body.api_key);
    const kg = await api(url, 'POST', '/bip340/keygen', { key, body: { num_parties: 3, threshold: 2 } });
    assert.equal(kg.status, 200, JSON.stringify(kg.body));
    keyId = String(kg.body.key_id);
    const ek = await api(url, 'POST', '/ecdsa/keygen', { key, body: { num_parties: 3, threshold: 2 } });
    assert.equal(ek.status, 200, JSON.stringify(ek.body));
    ecdsaKeyId = String(ek.body.key_id);
    ecdsaPub = Buffer.from(String(ek.body.public_key), 'hex');
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

  test('ECDSA: a signer whose OT-extension message fails the consistency check is banned from that key', async () => {
    // node-2 as it really is (its own share, from its own data directory), except that
    // its round-1 message is corrupted on the way out.
    const dir = join(root, 'node-2');
    const store = await openEmbeddedStore(dir);
    const pool = new RelayPool({ signer: relayKeys.signer(ids[1]!) });
    const directory = new Map(identities.map((i) => [i.partyId, i.publicKey]));
    let ctx: NodeContext;
    const onInvite: InviteHandler = (invite, from, joinRoom) => {
      if (invite.op.type !== OP.dklsSign) return;
      const corrupting = async () => {
        const session = await joinRoom();
        const step = session.step.bind(session);
        session.step = (to, name, body) => {
          if (name !== 'r1') return step(to, name, body);
          const { agree, items } = body as { agree: string; items: string[] };
          const bad = items.map((b64) => {
            const bytes = Buffer.from(b64, 'base64');
            bytes[bytes.length - 100]! ^= 1; // inside t̂, the check values
            return bytes.toString('base64');
          });
          return step(to, name, { agree, items: bad });
        };
        return session;
      };
      void participate(ctx, invite, from, corrupting);
    };
    const network = new PeerNetwork(identities[1]!, directory, [relayAddress], pool, onInvite, () => {});
    ctx = {
      self: ids[1]!,
      store,
      kek: await loadKek({ keyFile: join(dir, 'kek.key') }),
      network,
      stepTimeoutMs: 3000,
      authorize: async () => emptyReservation(),
      policies: new SqlPolicyStore(store.client),
      audit: new AuditLog(store.client),
      signingPublicKey: '',
      relayCapability: () => '',
      channelPublicKey: '',
      rooms: new RoomStore(store.client),
      keyPasskeys: new KeyPasskeyStore(store.client),
      bans: new BanList(new SqlBanStore(store.client)),
      banRecords: new SqlBanStore(store.client),
      keygens: new KeygenSlots(8, 4),
      maxBatch: 64,
      requestKeys: new RequestAuthStore(store.client),
      callers: {
        admin: async () => {},
        user: async (credential) => {
          const user = await store.getUser(userIdOfApiKey(credential ?? '')!);
          if (!user) throw new Error('unknown user');
          return user;
        },
        invitedUser: async (evidence) => {
          const user = await store.getUser((JSON.parse(evidence) as { vouched_user: UserId }).vouched_user);
          if (!user) throw new Error('unknown user');
          return user;
        },
        invitedAdmin: async () => undefined,
      },
      log: () => {},
    };
    await network.start();
    const node1 = running.get(ids[0]!)!.url;
    const signEcdsa = () => api(node1, 'POST', '/ecdsa/sign', { key, body: { key_id: ecdsaKeyId, msg: randomBytes(32).toString('hex') } });
    try {
      const r = await signEcdsa();
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.err_type, 'executor_result');
      assert.match(String(r.body.err_msg), /party node-2 sent an invalid message: OT extension consistency check failed/);
      // Banned: node-1 no longer even invites node-2 for this key; only node-3 (down) is asked.
      const again = await signEcdsa();
      assert.equal(again.body.err_type, 'executor_result');
      assert.match(String(again.body.err_msg), /1 of 2 parties took part \(node-3: no ready/);
      assert.doesNotMatch(String(again.body.err_msg), /node-2/);
    } finally {
      await network.stop();
      await pool.closeAll();
      await store.close();
    }
    // Operators see it: GET /admin/bans and the audit log (the ban is durable before the error is answered).
    const listed = await api(node1, 'GET', `/admin/bans?key_id=${ecdsaKeyId}`, { key: ADMIN_KEY });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const bans = listed.body.bans as Array<Record<string, string>>;
    assert.deepEqual(bans.map((b) => [b.key_id, b.party_id, b.reason]), [[ecdsaKeyId, 'node-2', 'OT extension consistency check failed']]);
    assert.ok(!Number.isNaN(Date.parse(bans[0]!.banned_at!)));
    assert.equal((await api(node1, 'GET', '/admin/bans', { key })).body.err_type, 'you_have_to_be_admin');
    const audit = await api(node1, 'GET', '/admin/audit?limit=1000', { key: ADMIN_KEY });
    const entries = audit.body.entries as Array<Record<string, unknown>>;
    assert.equal(entries.filter((e) => e.operation === 'ban' && e.key_id === ecdsaKeyId && e.actor === 'node-2').length, 1, JSON.stringify(entries.slice(-3)));
    // With node-3 back, node-1 signs with node-3, never with node-2.
    await startNode(ids[2]!);
    const hash = randomBytes(32);
    const ok = await api(node1, 'POST', '/ecdsa/sign', { key, body: { key_id: ecdsaKeyId, msg: hash.toString('hex') } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(ecc.verify(hash, ecdsaPub, Buffer.from(String(ok.body.signature), 'hex'), true));
  });

  test('the honest node still serves afterwards', async () => {
    const h = await api(running.get(ids[0]!)!.url, 'GET', '/health');
    assert.equal(h.status, 200);
  });
});
