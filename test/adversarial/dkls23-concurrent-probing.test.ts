import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BanList, PeerBannedError } from '../../src/ceremony/bans.js';
import { runDklsSign, type DklsSignStart } from '../../src/ceremony/dkls-sign-rounds.js';
import { CeremonySession, type SessionChannel } from '../../src/ceremony/session.js';
import { loadOrCreateIdentity, type Identity } from '../../src/crypto/identity.js';
import { PortableCeremonyChannel, portableIdentity, type PortableIdentity } from '../../src/crypto/portable-channel.js';
import { participate as participateDklsSign } from '../../src/node/ceremonies/participants.js';
import { OP } from '../../src/ceremony/operations.js';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { deviceShareOf, runAsDevice, storeVaults, type DeviceCeremony } from '../../src/sdk/device/device-seat.js';
import { MemoryShareStore } from '../../src/sdk/device/share-store.js';
import { MemoryLink, nodeSeat, sessionsOf, signInvite, WatchedBans } from './node-seat.js';
import { toHex } from '../../src/core/hex.js';
import type { CeremonyId, KeyId, PartyId } from '../../src/core/ids.js';
import { SqlBanStore } from '../../src/storage/ban-store.js';
import { runDkls23Dkg } from '../helpers/dkls23.js';

/**
 * The attack of issue 11, finding 1 (design note §6.1): a malicious co-signer opens many
 * ceremonies on one key, lets the honest party pass its start checks in all of them, then
 * releases one SoftSpokenOT probe per ceremony at once. Each probe's pass/fail would be a
 * bit about the honest party's Δ, and round 2's RVOLE message (ã = α⁰ − α¹ + (r, sk)) of
 * any ceremony still answered would then give up the share. Here the honest party is the
 * real node participant code (participate, the shared flow on the node's ports) and the real device flow
 * (the device seat of src/sdk/device/device-seat.ts, on the same flow), over real sealed ceremony channels in memory; the attacker runs the
 * real engine with its round-1 message corrupted (inside t̂, the check values: the 15 in
 * 16 outcome of a guess).
 *
 * Must hold: exactly one probe is ever checked; no ceremony sends the attacker anything
 * after that check (in particular no round-2 message, in any ceremony); every ceremony
 * ends; the ban is durable, and a new ceremony is refused before anything is sent.
 */
const CEREMONIES = 64;
const ATTACKER = 'node-2' as PartyId;

/** Corrupts the attacker's round-1 messages and holds them until every ceremony has one ready. */
function probeGate(total: number) {
  const held: Array<() => void> = [];
  let released = false;
  return {
    hold(send: () => void) {
      held.push(send);
      if (held.length === total && !released) {
        released = true;
        // All at once, in random order: the attacker's best shot at racing the ban.
        for (const f of held.sort(() => Math.random() - 0.5)) f();
      }
    },
    get released() {
      return released;
    },
  };
}

function probing(s: CeremonySession, gate: ReturnType<typeof probeGate>): void {
  const step = s.step.bind(s);
  // From the probe on, this ceremony's messages wait for the gate, in order.
  let queued: Array<() => void> | undefined;
  s.step = (to, name, body) => {
    if (queued) {
      if (gate.released && queued.length === 0) return step(to, name, body);
      queued.push(() => step(to, name, body));
      return;
    }
    if (name !== 'r1') return step(to, name, body);
    const { agree, items } = body as { agree: string; items: string[] };
    const bad = items.map((b64) => {
      const bytes = Buffer.from(b64, 'base64');
      bytes[bytes.length - 100]! ^= 1;
      return bytes.toString('base64');
    });
    queued = [() => step(to, name, { agree, items: bad })];
    const q = queued;
    gate.hold(() => {
      for (const f of q.splice(0)) {
        try {
          f();
        } catch {
          // the attacker's own session may have closed meanwhile
        }
      }
    });
  };
}

/** What the honest party sent the attacker, in order, with a global clock. */
function recorder() {
  let clock = 0;
  const sent: Array<{ step: string; at: number; ceremony: string }> = [];
  return {
    tick: () => ++clock,
    sent,
    watch(s: CeremonySession) {
      const step = s.step.bind(s);
      s.step = (to, name, body) => {
        step(to, name, body); // throws (and so records nothing) when the send check refuses
        if (to === ATTACKER) sent.push({ step: name, at: ++clock, ceremony: s.id });
      };
    },
  };
}

async function attackerSide(s: CeremonySession, share: Dkls23KeyShare, victim: PartyId, keyId: string, hash: Uint8Array, bans: BanList) {
  const ready = (await s.expect(victim, 'ready', 20_000)) as { contribution: string };
  const start: DklsSignStart = { signers: [victim, ATTACKER].sort() as PartyId[], contributions: { [victim]: ready.contribution, [ATTACKER]: toHex(randomBytes(32)) } };
  s.step(victim, 'start', start);
  const seat = { session: s, share, keyId, coordinator: ATTACKER, bans, stepTimeoutMs: 20_000 };
  await runDklsSign(seat, start, [hash], [], 0n).catch(() => undefined);
}

describe('DKLs23: concurrent selective-abort probing by a malicious co-signer', { timeout: 240_000 }, () => {
  let root: string;
  let identities: Identity[];
  let nodeShares: Dkls23KeyShare[];
  let deviceShares: Dkls23KeyShare[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-probe-'));
    identities = await Promise.all(['node-1', 'node-2'].map((id) => loadOrCreateIdentity(id as PartyId, join(root, `${id}.key`))));
    nodeShares = runDkls23Dkg(['node-1', 'node-2'] as PartyId[], 2);
    deviceShares = runDkls23Dkg(['device-1', 'node-2'] as PartyId[], 2);
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test(`node participant: ${CEREMONIES} ceremonies, one probe checked, then nothing more to the attacker`, async () => {
    const victim = 'node-1' as PartyId;
    const keyId = randomUUID() as KeyId;
    const rec = recorder();
    const seat = await nodeSeat(root, victim, keyId, nodeShares[0]!, { clock: rec.tick });
    const { ctx, store, logs, bans } = seat;
    try {
      const link = new MemoryLink();
      const attackerBans = new BanList({ listBans: async () => [], saveBan: async () => {} }, { maxPerPeer: 1000 });
      const gate = probeGate(CEREMONIES);
      const hash = randomBytes(32);
      const runs = Array.from({ length: CEREMONIES }, async () => {
        const sessions = sessionsOf(link, identities);
        const mine = sessions.get(victim)!;
        rec.watch(mine);
        const theirs = sessions.get(ATTACKER)!;
        probing(theirs, gate);
        const honest = participateDklsSign(ctx, signInvite(mine.id, keyId, [toHex(hash)]), ATTACKER, async () => mine);
        await Promise.all([honest, attackerSide(theirs, nodeShares[1]!, victim, keyId, hash, attackerBans)]);
      });
      await Promise.all(runs);
      assert.ok(gate.released, `every ceremony got past its start checks before the probes went out: ${logs.slice(0, 3).join('; ')}`);

      // Exactly one probe was checked; every other ceremony stopped on the ban.
      assert.equal(logs.filter((l) => /party node-2: OT extension consistency check failed$/.test(l)).length, 1, logs.join('\n'));
      assert.equal(logs.filter((l) => /banned for this key/.test(l)).length, CEREMONIES - 1, logs.join('\n'));
      assert.equal(bans.saved.length, 1);
      const banAt = bans.saved[0]!.at;
      // Nothing after the check, and no round-2 (ã) message at all, in any ceremony.
      assert.deepEqual(rec.sent.filter((m) => m.at > banAt), []);
      assert.deepEqual(rec.sent.filter((m) => m.step !== 'ready' && m.step !== 'r1'), []);
      assert.equal(ctx.bans.liveWith(keyId, ATTACKER), 0);

      // Durable: a new ban list on the same database (a restart) refuses the attacker at once.
      const stored = await new SqlBanStore(store.client).listBans(keyId);
      assert.deepEqual(stored.map((b) => [b.party, b.reason]), [[ATTACKER, 'OT extension consistency check failed']]);
      const restarted = { ...ctx, bans: new BanList(new SqlBanStore(store.client)) } as NodeContext;
      const sessions = sessionsOf(link, identities);
      const mine = sessions.get(victim)!;
      const theirs = sessions.get(ATTACKER)!;
      await participateDklsSign(restarted, signInvite(mine.id, keyId, [toHex(hash)]), ATTACKER, async () => mine);
      await assert.rejects(theirs.expect(victim, 'ready', 5000), (e: Error) => /refused \(executor_result\)/.test(e.message));
    } finally {
      await seat.close();
    }
  });

  test(`device party: ${CEREMONIES} ceremonies, one probe checked, the ban kept in the device's store`, async () => {
    const device = portableIdentity('device-1' as PartyId, randomBytes(32));
    const node: PortableIdentity = portableIdentity(ATTACKER, randomBytes(32));
    const peersOf = (who: PortableIdentity) => new Map([[who === device ? node.partyId : device.partyId, (who === device ? node : device).publicKey]]);
    const link = new MemoryLink();
    const rec = recorder();
    const store = new MemoryShareStore();
    const watched = new WatchedBans(store, rec.tick);
    const bans = new BanList(watched, { maxPerPeer: 1000 });
    const attackerBans = new BanList({ listBans: async () => [], saveBan: async () => {} }, { maxPerPeer: 1000 });
    const gate = probeGate(CEREMONIES);
    const keyId = randomUUID();
    const hash = randomBytes(32);
    await store.save(deviceShareOf(keyId, 'ecdsa', device.partyId, deviceShares[0]!));
    const vaults = storeVaults(store, device.partyId, 'ecdsa');
    const signReq = { kind: 'sign' as const, family: 'ecdsa' as const, keyId, msgs: [hash], path: [], extraData: new Uint8Array() };
    const session = (who: PortableIdentity, id: CeremonyId) => {
      const s = new CeremonySession(who.partyId, new PortableCeremonyChannel(who, id, peersOf(who)) as SessionChannel, link);
      link.join(id, who.partyId, s);
      return s;
    };
    const outcomes = await Promise.all(
      Array.from({ length: CEREMONIES }, async () => {
        const id = randomUUID() as CeremonyId;
        const mine = session(device, id);
        rec.watch(mine);
        const theirs = session(node, id);
        probing(theirs, gate);
        const c: DeviceCeremony = { session: mine, self: device.partyId, coordinator: ATTACKER, nodes: new Set([ATTACKER]), roomUuid: id, timeoutMs: 20_000, bans };
        theirs.step(device.partyId, 'invite', { op: { type: OP.dklsSign, key_id: keyId, msgs: [toHex(hash)], path: [], extra_data: '', room_uuid: id } });
        const [outcome] = await Promise.allSettled([
          runAsDevice(c, signReq, vaults),
          attackerSide(theirs, deviceShares[1]!, device.partyId, keyId, hash, attackerBans),
        ]);
        return outcome;
      }),
    );
    assert.ok(gate.released);
    const reasons = outcomes.map((o) => (o.status === 'rejected' ? o.reason : undefined));
    assert.ok(reasons.every((e) => e instanceof PeerBannedError && e.party === ATTACKER), 'every ceremony ends in a typed ban naming the node');
    assert.equal(reasons.filter((e) => (e as PeerBannedError).banReason === 'OT extension consistency check failed').length, CEREMONIES);
    assert.equal(watched.saved.length, 1, 'one probe checked');
    assert.deepEqual(rec.sent.filter((m) => m.at > watched.saved[0]!.at), []);
    assert.deepEqual(rec.sent.filter((m) => m.step !== 'ready' && m.step !== 'r1'), []);
    assert.deepEqual((await store.listBans(keyId)).map((b) => b.party), [ATTACKER]);
    // A later sign on the same store is refused before the device says anything.
    const id = randomUUID() as CeremonyId;
    const mine = session(device, id);
    const theirs = session(node, id);
    theirs.step(device.partyId, 'invite', { op: { type: OP.dklsSign, key_id: keyId, msgs: [toHex(hash)], path: [], extra_data: '', room_uuid: id } });
    const c: DeviceCeremony = { session: mine, self: device.partyId, coordinator: ATTACKER, nodes: new Set([ATTACKER]), roomUuid: id, timeoutMs: 5000, bans: new BanList(store) };
    await assert.rejects(runAsDevice(c, signReq, vaults), PeerBannedError);
    await assert.rejects(theirs.expect(device.partyId, 'ready', 300), /no ready/);
  });
});
