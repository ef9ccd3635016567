import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { WebSocket } from 'ws';
import { generateRequestKey, TandemApiError, TandemNodeClient, type EcdsaSignature } from '../../src/sdk/index.js';
import { DeviceParty, PeerBannedError, generateDeviceIdentity, MemoryShareStore } from '../../src/sdk/device/index.js';
import { ADMIN_KEY } from '../helpers/cluster.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/in-process-nodes.js';
import type { PartyId } from '../../src/core/ids.js';

/**
 * A device party from the SDK against three signer nodes and a relay (in this process): the
 * device holds one share of each key and takes part in every keygen and sign through a room.
 * Every signature is checked by an independent implementation: libsecp256k1 (BIP340, ECDSA),
 * ethers (address recovery) and Node's OpenSSL (Ed25519).
 */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const bytes = (h: string) => Buffer.from(h, 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const edKey = (pubHex: string): KeyObject => createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes(pubHex)]), format: 'der', type: 'spki' });

let tc: InProcessCluster;
let urls: string[];
let user: TandemNodeClient;
let other: TandemNodeClient;

function device(partyId: string, client = user, store = new MemoryShareStore()) {
  return { party: new DeviceParty({ client, identity: generateDeviceIdentity(partyId), store, WebSocket, timeoutMs: 10_000 }), store };
}

async function rejectsApi(p: Promise<unknown>, errType: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TandemApiError, `expected a TandemApiError, got ${String(e)}`);
    assert.equal(e.errType, errType, e.message);
    if (pattern) assert.match(e.errMsg, pattern);
    return true;
  });
}

function checkEcdsa(pubHex: string, hash: Buffer, s: EcdsaSignature): void {
  const sig = bytes(s.signature);
  assert.ok(ecc.verify(hash, bytes(pubHex), sig, true), 'libsecp256k1 accepts it (strict low-S)');
  const ethSig = Signature.from({ r: '0x' + hex(sig.subarray(0, 32)), s: '0x' + hex(sig.subarray(32)), v: 27 + s.recovery_id });
  assert.equal(recoverAddress(hash, ethSig), computeAddress('0x' + pubHex), 'ethers recovers the address');
}

// Node behaviour through HTTP: three signer nodes and a relay in this process (test/helpers/in-process-nodes.ts);
// test/integration/cluster.test.ts runs the separate processes. One storage backend (embedded): the PostgreSQL
// store's contract is the storage tests' (test/unit/storage.test.ts and others).
describe('device party (SDK) with client-held shares (in-process nodes, embedded storage)', { timeout: 600_000 }, () => {
  before(async () => {
    tc = await startInProcessCluster();
    urls = tc.cluster.nodes.map((n) => n.url);
    const admin = new TandemNodeClient({ nodes: urls, credential: { apiKey: ADMIN_KEY } });
    // The device's user signs its requests with a key that never leaves the device.
    const requestKey = generateRequestKey('ed25519');
    const { user_id } = await admin.createUser({ publicKey: { type: 'ed25519', key: requestKey.publicKey } });
    user = new TandemNodeClient({ nodes: urls, credential: { userId: user_id, key: requestKey } });
    other = new TandemNodeClient({ nodes: urls, credential: { apiKey: (await admin.createUser()).api_key } });
  });
  after(async () => {
    await tc?.destroy();
  });

  test('bip340 2-of-2 (device + node): the device signs with the node, and the cluster alone cannot', async () => {
    const { party } = device('phone-bip340');
    const { key_id, public_key } = await party.keygen('bip340', { num_parties: 2, threshold: 2 });
    const info = await user.publicKey('bip340', key_id);
    assert.equal(info.public_key, public_key);
    assert.equal(info.num_parties, 2);
    assert.ok(info.parties.includes('phone-bip340'), `the device is a party of the key (${info.parties.join(', ')})`);
    for (let i = 0; i < 3; i++) {
      const msg = randomBytes(32);
      const { signature } = await party.sign('bip340', { key_id, msg: hex(msg) });
      assert.ok(ecc.verifySchnorr(msg, bytes(public_key), bytes(signature)), 'libsecp256k1 verifies the BIP340 signature');
      assert.ok(!ecc.verifySchnorr(randomBytes(32), bytes(public_key), bytes(signature)));
    }
    // Without the device there is no second share anywhere in the cluster.
    await rejectsApi(user.sign('bip340', { key_id, msg: hex(randomBytes(32)) }), 'executor_result', /room_uuid.*phone-bip340/);
    // A child key (non-hardened path) signs with the device too.
    const child = await user.derive('bip340', { key_id, derivation_path: 'm/0/4' });
    const cmsg = randomBytes(32);
    const cs = await party.sign('bip340', { key_id, msg: hex(cmsg), derivation_path: 'm/0/4' });
    assert.ok(ecc.verifySchnorr(cmsg, bytes(child.public_key), bytes(cs.signature)), 'the child key signs');
  });

  test('ed25519 2-of-3 (device + two nodes): the device signs; the two nodes alone sign too (the backup)', async () => {
    const { party } = device('laptop-ed');
    const { key_id, public_key } = await party.keygen('ed25519', { num_parties: 3, threshold: 2 });
    const info = await user.publicKey('ed25519', key_id);
    assert.equal(info.parties.length, 3);
    assert.ok(info.parties.includes('laptop-ed'));
    const msg = Buffer.from('a message of any length, signed by the device and one node');
    const { signature } = await party.sign('ed25519', { key_id, msg: hex(msg) });
    assert.ok(verify(null, msg, edKey(public_key), bytes(signature)), 'OpenSSL verifies the Ed25519 signature');
    assert.ok(!verify(null, Buffer.from('another message'), edKey(public_key), bytes(signature)));
    const backup = await user.sign('ed25519', { key_id, msg: hex(msg) });
    assert.ok(verify(null, msg, edKey(public_key), bytes(backup.signature)), 'the two nodes sign without the device');
    const child = await user.derive('ed25519', { key_id, derivation_path: 'm/9' });
    const cs = await party.sign('ed25519', { key_id, msg: hex(msg), derivation_path: 'm/9' });
    assert.ok(verify(null, msg, edKey(child.public_key), bytes(cs.signature)), 'the child key signs');
  });

  test('ecdsa (DKLs23) 2-of-2 and 2-of-3 with the device: ethers recovers the address', async () => {
    const { party, store } = device('phone-ecdsa');
    for (const n of [2, 3]) {
      const { key_id, public_key } = await party.keygen('ecdsa', { num_parties: n, threshold: 2 });
      const info = await user.publicKey('ecdsa', key_id);
      assert.equal(info.parties.length, n);
      assert.ok(info.parties.includes('phone-ecdsa'));
      const hash = randomBytes(32);
      checkEcdsa(public_key, hash, await party.sign('ecdsa', { key_id, msg: hex(hash) }));
      const child = await user.derive('ecdsa', { key_id, derivation_path: 'm/0/7' });
      const chash = randomBytes(32);
      checkEcdsa(child.public_key, chash, await party.sign('ecdsa', { key_id, msg: hex(chash), derivation_path: 'm/0/7' }));
      if (n === 2) await rejectsApi(user.sign('ecdsa', { key_id, msg: hex(randomBytes(32)) }), 'executor_result', /room_uuid.*phone-ecdsa/);
      else checkEcdsa(public_key, hash, await user.sign('ecdsa', { key_id, msg: hex(hash) }));
      // A node the device banned for this key (kept in the device's store) is never asked again;
      // with no other node able to sign, the app gets a typed error naming the node.
      const nodes = info.parties.filter((p) => p !== 'phone-ecdsa') as PartyId[];
      for (const p of nodes) await store.saveBan({ keyId: key_id, party: p, reason: 'OT extension consistency check failed', at: new Date() });
      await assert.rejects(party.sign('ecdsa', { key_id, msg: hex(hash) }), (e: unknown) => e instanceof PeerBannedError && e.party === nodes[0] && e.keyId === key_id);
    }
  });

  test('rooms: bad rooms are room_creation_problem; a room works once, for its owner, with its own clients', async () => {
    const id = generateDeviceIdentity('tablet');
    const client = { party_id: 'tablet', public_key: hex(id.publicKey) };
    await rejectsApi(user.createRoom({ num_parties: 2, parties: [{ party_id: 'node-1', public_key: hex(id.publicKey) }] }), 'room_creation_problem', /node's id/);
    await rejectsApi(user.createRoom({ num_parties: 5, parties: [client] }), 'room_creation_problem', /needs 4 nodes/);
    await rejectsApi(user.createRoom({ num_parties: 2, parties: [client, { ...client }] }), 'room_creation_problem');
    await rejectsApi(user.createRoom({ num_parties: 2, parties: [{ party_id: 'tablet', public_key: '00'.repeat(32) }] }), 'room_creation_problem');
    await rejectsApi(user.createRoom({ num_parties: 2, parties: [{ party_id: 'tab let', public_key: hex(id.publicKey) }] }), 'bad_request_params');

    const room = await user.createRoom({ num_parties: 2, parties: [client], ttl_s: 60 });
    assert.match(room.room_uuid, /^[0-9a-f-]{36}$/);
    assert.deepEqual([...room.nodes].sort(), ['node-1', 'node-2', 'node-3']);
    assert.ok(Date.parse(room.expires_at) > Date.now());
    // Another user can't use it; a keygen of another size can't either (and neither spends it).
    await rejectsApi(other.keygen('bip340', { num_parties: 2, threshold: 2, room_uuid: room.room_uuid }), 'room_creation_problem');
    await rejectsApi(user.keygen('bip340', { num_parties: 3, threshold: 2, room_uuid: room.room_uuid }), 'room_creation_problem', /for 2 parties, not 3/);
    // The owner's keygen with nobody in the room: the client never answers, so it fails...
    await rejectsApi(user.forNode(urls[0]!).keygen('bip340', { num_parties: 2, threshold: 2, room_uuid: room.room_uuid }), 'executor_result', /tablet/);
    // ...and the room is spent on that node.
    await rejectsApi(user.forNode(urls[0]!).keygen('bip340', { num_parties: 2, threshold: 2, room_uuid: room.room_uuid }), 'room_creation_problem', /already used/);
    await rejectsApi(user.keygen('bip340', { num_parties: 2, threshold: 2, room_uuid: '00000000-0000-4000-8000-000000000000' }), 'room_creation_problem');

    // Every node's audit log has the room: made on each node, used once and then refused on node-1.
    for (const url of urls) {
      const admin = new TandemNodeClient({ nodes: [url], credential: { apiKey: ADMIN_KEY } });
      const entries: Array<{ operation: string; result: string; detail: unknown }> = [];
      for (let after = 0; ; ) {
        const page = await admin.audit({ after_seq: after, limit: 1000 });
        entries.push(...page.entries.filter((e) => (e.detail as { room_uuid?: string } | null)?.room_uuid === room.room_uuid));
        if (page.next_after_seq === null) break;
        after = page.next_after_seq;
      }
      assert.ok(entries.some((e) => e.operation === 'create-room' && e.result === 'ok'), `${url} logged the room`);
      if (url === urls[0]) {
        assert.equal(entries.filter((e) => e.operation === 'use-room' && e.result === 'ok').length, 1, 'used once');
        assert.ok(entries.some((e) => e.operation === 'use-room' && e.result === 'refused' && /already used/.test(JSON.stringify(e.detail))));
      }
      assert.equal((await admin.verifyAudit()).ok, true);
    }
  });

  test('a key made with one device identity cannot be signed through a room that names another key for it', async () => {
    const { party, store } = device('watch');
    const { key_id, public_key } = await party.keygen('ed25519', { num_parties: 2, threshold: 2 });
    // Same party id, another channel key (the share copied to an impostor device): the nodes refuse the room.
    const impostor = new DeviceParty({ client: user, identity: generateDeviceIdentity('watch'), store, WebSocket, timeoutMs: 10_000 });
    await rejectsApi(impostor.sign('ed25519', { key_id, msg: '00' }), 'room_creation_problem', /did not take part/);
    // The genuine device still signs, and OpenSSL verifies it.
    const { signature } = await party.sign('ed25519', { key_id, msg: 'abcd' });
    assert.ok(verify(null, bytes('abcd'), edKey(public_key), bytes(signature)));
  });
});
