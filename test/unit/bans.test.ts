import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BanList, PeerBannedError, TooManyCeremoniesError, type BanRecord, type BanStore } from '../../src/ceremony/bans.js';
import type { PartyId } from '../../src/core/ids.js';

const [P2, P3] = ['node-2', 'node-3'] as [PartyId, PartyId];

/** A store whose writes resolve only when the test says so: shows what happens before a ban is durable. */
class SlowStore implements BanStore {
  readonly rows: BanRecord[] = [];
  readonly pending: Array<() => void> = [];
  async listBans(keyId: string) {
    return this.rows.filter((b) => b.keyId === keyId);
  }
  saveBan(ban: BanRecord) {
    return new Promise<void>((resolve) => {
      this.pending.push(() => {
        if (!this.rows.some((b) => b.keyId === ban.keyId && b.party === ban.party)) this.rows.push(ban);
        resolve();
      });
    });
  }
}

describe('BanList', () => {
  test('a ban is marked and live ceremonies with the peer are failed before the call returns, durable when it resolves', async () => {
    const store = new SlowStore();
    const audited: BanRecord[] = [];
    const bans = new BanList(store, { onBan: (b) => void audited.push(b) });
    const failed: string[] = [];
    const withP2 = await bans.enter('k1', [P2], (e) => failed.push(`a:${e.party}`));
    const withP3 = await bans.enter('k1', [P3], (e) => failed.push(`b:${e.party}`));
    const otherKey = await bans.enter('k2', [P2], (e) => failed.push(`c:${e.party}`));
    const done = bans.ban('k1', P2, 'OT extension consistency check failed');
    // Synchronously: marked, and only the ceremony with that peer on that key failed.
    assert.deepEqual(failed, ['a:node-2']);
    assert.throws(() => withP2.assertClear(), PeerBannedError);
    withP3.assertClear();
    otherKey.assertClear();
    assert.equal(store.rows.length, 0, 'not yet durable');
    assert.equal(audited.length, 0);
    store.pending.shift()!();
    await done;
    assert.deepEqual(store.rows.map((b) => [b.keyId, b.party, b.reason]), [['k1', 'node-2', 'OT extension consistency check failed']]);
    assert.deepEqual(audited.map((b) => b.party), ['node-2'], 'told once it is durable');
    // New ceremonies with the peer on that key are refused; others are not.
    await assert.rejects(bans.enter('k1', [P3, P2], () => {}), (e: unknown) => e instanceof PeerBannedError && e.party === P2 && e.banReason === 'OT extension consistency check failed');
    (await bans.enter('k2', [P2], () => {})).release();
    // A second ban of the same peer keeps the first record and is not audited again.
    const again = bans.ban('k1', P2, 'rvole: consistency check (μ) failed');
    store.pending.shift()!();
    await again;
    assert.equal(store.rows.length, 1);
    assert.equal(audited.length, 1);
    for (const g of [withP2, withP3, otherKey]) g.release();
  });

  test('bans written by another process or before a restart are read when a ceremony starts', async () => {
    const store = new SlowStore();
    store.rows.push({ keyId: 'k1', party: P3, reason: 'Γu check failed', at: new Date() });
    const bans = new BanList(store);
    assert.equal(bans.bannedIn('k1', [P3]), undefined, 'nothing in memory yet');
    await assert.rejects(bans.check('k1', [P2, P3]), PeerBannedError);
    assert.equal(bans.bannedIn('k1', [P3])?.reason, 'Γu check failed');
    await bans.check('k1', [P2]);
  });

  test('at most maxPerPeer live ceremonies with one peer on one key; released ones free their place', async () => {
    const bans = new BanList(new SlowStore(), { maxPerPeer: 2 });
    const a = await bans.enter('k1', [P2], () => {});
    const b = await bans.enter('k1', [P2, P3], () => {});
    await assert.rejects(bans.enter('k1', [P2], () => {}), (e: unknown) => e instanceof TooManyCeremoniesError && e.party === P2 && e.limit === 2);
    (await bans.enter('k1', [P3], () => {})).release();
    (await bans.enter('k2', [P2], () => {})).release();
    assert.equal(bans.liveWith('k1', P2), 2);
    a.release();
    a.release();
    assert.equal(bans.liveWith('k1', P2), 1);
    (await bans.enter('k1', [P2], () => {})).release();
    b.release();
    assert.equal(bans.liveWith('k1', P2), 0);
  });
});
