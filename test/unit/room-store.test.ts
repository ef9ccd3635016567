import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KeyId, PartyId, UserId } from '../../src/core/ids.js';
import { migrate } from '../../src/storage/migrations.js';
import { RoomStore, type RoomRecord } from '../../src/storage/room-store.js';
import { SqlNodeStore } from '../../src/storage/sql-store.js';
import { backends, type TestDatabase } from '../helpers/databases.js';

const alice = 'a'.repeat(32) as UserId;
const bob = 'b'.repeat(32) as UserId;

function room(id: string, over: Partial<RoomRecord> = {}): RoomRecord {
  return {
    roomUuid: id,
    ownerUserId: alice,
    numParties: 2,
    clients: [{ partyId: 'phone' as PartyId, publicKey: new Uint8Array(32).fill(3) }],
    relayAddress: '127.0.0.1:7000',
    expiresAt: new Date(Date.now() + 60_000),
    ...over,
  };
}

for (const backend of backends) {
  describe(`RoomStore on ${backend.name}`, () => {
    let db: TestDatabase;
    let rooms: RoomStore;
    let nodeStore: SqlNodeStore;

    before(async () => {
      db = await backend.open(migrate);
      rooms = new RoomStore(db.client);
      nodeStore = new SqlNodeStore(db.client);
      for (const userId of [alice, bob]) await nodeStore.insertUser({ userId, apiKeyHash: new Uint8Array(32), createdAt: new Date() });
    });

    after(() => db?.close());

    test('a room round-trips and is claimed once, by its owner, for its size', async () => {
      const id = '11111111-1111-4111-8111-111111111111';
      assert.equal(await rooms.insert(room(id)), true);
      assert.equal(await rooms.insert(room(id)), false, 'an id is stored once');
      assert.deepEqual(await rooms.claim(id, bob, 2), { refused: 'is unknown here' }, "another user's room looks unknown");
      assert.deepEqual(await rooms.claim(id, alice, 3), { refused: 'is for 2 parties, not 3' });
      const claimed = await rooms.claim(id, alice, 2);
      assert.ok(!('refused' in claimed));
      assert.equal(claimed.roomUuid, id);
      assert.equal(claimed.relayAddress, '127.0.0.1:7000');
      assert.deepEqual(claimed.clients.map((c) => [c.partyId, Buffer.from(c.publicKey).toString('hex')]), [['phone', '03'.repeat(32)]]);
      assert.deepEqual(await rooms.claim(id, alice, 2), { refused: 'was already used' });
    });

    test('an expired room is refused, and two claims racing for one room give it to one', async () => {
      const old = '22222222-2222-4222-8222-222222222222';
      await rooms.insert(room(old, { expiresAt: new Date(Date.now() - 1000) }));
      assert.deepEqual(await rooms.claim(old, alice, 2), { refused: 'has expired' });
      const raced = '33333333-3333-4333-8333-333333333333';
      await rooms.insert(room(raced));
      const results = await Promise.all(Array.from({ length: 8 }, () => rooms.claim(raced, alice, 2)));
      assert.equal(results.filter((r) => !('refused' in r)).length, 1);
    });

    test("a key's client parties are pinned and go with the key", async () => {
      const keyId = 'k-pinned' as KeyId;
      await nodeStore.insertKey({
        keyId,
        family: 'ed25519',
        ownerUserId: alice,
        publicKey: new Uint8Array(32),
        threshold: 2,
        parties: ['node-1', 'phone'] as PartyId[],
        publicPackage: {},
        shareCiphertext: new Uint8Array(40),
        createdAt: new Date(),
      });
      await rooms.pinClients(keyId, [{ partyId: 'phone' as PartyId, publicKey: new Uint8Array(32).fill(5) }]);
      const pinned = await rooms.clientsOf(keyId);
      assert.deepEqual(pinned.map((c) => [c.partyId, c.publicKey[0]]), [['phone', 5]]);
      await nodeStore.deleteKey(keyId);
      assert.deepEqual(await rooms.clientsOf(keyId), []);
    });
  });
}
