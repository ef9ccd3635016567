import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BanList } from '../../src/ceremony/bans.js';
import { loadOrCreateIdentity, type Identity } from '../../src/crypto/identity.js';
import { loadKek } from '../../src/crypto/share-seal.js';
import { KeygenSlots } from '../../src/node/keygen-slots.js';
import type { NodeContext } from '../../src/node/ceremonies/context.js';
import { emptyReservation } from '../../src/node/policy-gate.js';
import { participate } from '../../src/node/ceremonies/participants.js';
import { sealFrostShare } from '../../src/node/ceremonies/key-shares.js';
import type { Invite, NodeSession } from '../../src/node/peer-network.js';
import { ProtocolError } from '../../src/protocols/errors.js';
import { FrostDkg } from '../../src/protocols/frost/dkg.js';
import { groupPublicKey, type FrostKeyShare } from '../../src/protocols/frost/key-share.js';
import { parseDkgRound1, parseSignCommitmentBatch, type DkgRound1, type DkgRound1Set, type SignCommitment, type SigningPackage } from '../../src/protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import { bip340Suite } from '../../src/protocols/frost/suite.js';
import { deviceShareOf, runAsDevice, storeVaults, type DeviceCeremony } from '../../src/sdk/device/device-seat.js';
import { MemoryShareStore } from '../../src/sdk/device/share-store.js';
import { toHex } from '../../src/core/hex.js';
import type { CeremonyId, KeyId, PartyId } from '../../src/core/ids.js';
import { openEmbeddedStore } from '../../src/storage/open-node-store.js';
import type { SqlNodeStore } from '../../src/storage/sql-store.js';
import { runDkg } from '../helpers/frost.js';
import { MemoryLink, OWNER, sessionsOf } from './node-seat.js';
import { seedPglite } from '../helpers/pglite-template.js';

/**
 * A malicious FROST coordinator against the real participant code (src/ceremony/frost-keygen.ts,
 * frost-sign.ts), in a node's seat and in a device's: a bad entry in the round-1 set it relays or in
 * the signing package it builds names the coordinator, never the party the entry lists
 * (issue 11, "no misattribution"). The engine-level cases are in frost-attacks.test.ts; this
 * checks that the ceremonies tell the engine who relayed what.
 */
const [EVIL, A, B] = ['node-1', 'node-2', 'node-3'] as [PartyId, PartyId, PartyId];
const flip = (h: string) => h.slice(0, 3) + (parseInt(h[3]!, 16) ^ 1).toString(16) + h.slice(4);

describe('FROST: a malicious coordinator is the one named', { timeout: 120_000 }, () => {
  let root: string;
  let ids: Identity[];
  let shares: FrostKeyShare[];
  let store: SqlNodeStore;
  let ctx: NodeContext;
  const logs: string[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tandem-frost-coord-'));
    ids = await Promise.all([EVIL, A, B].map((id) => loadOrCreateIdentity(id, join(root, `${id}.key`))));
    shares = runDkg([EVIL, A, B], 2);
    // Node A's participant context, with its own database.
    await seedPglite(join(root, A, 'db'));
    store = await openEmbeddedStore(join(root, A));
    await store.insertUser(OWNER);
    const kek = await loadKek({ env: randomBytes(32).toString('hex'), keyFile: join(root, 'unused-kek') });
    ctx = {
      self: A,
      store,
      kek,
      stepTimeoutMs: 5_000,
      maxBatch: 64,
      keygens: new KeygenSlots(8, 4),
      network: { peerIds: [EVIL, B] },
      callers: { user: async () => OWNER, invitedUser: async () => OWNER },
      authorize: async () => emptyReservation(),
      log: (m: string) => logs.push(m),
    } as unknown as NodeContext;
  });

  after(async () => {
    await store?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** What node A logged while `run` ran. */
  async function logOf(run: Promise<void>): Promise<string> {
    logs.length = 0;
    await run;
    return logs.join('\n');
  }

  const invite = (id: string, op: Record<string, unknown>): Invite => ({ v: 2, ceremony: id, relay: 'memory', issuedAt: Date.now(), evidence: JSON.stringify({ vouched_user: OWNER.userId }), op: op as Invite['op'] });

  const device = (s: NodeSession): DeviceCeremony => ({
    session: s,
    self: A,
    coordinator: EVIL,
    nodes: new Set([EVIL, B]),
    roomUuid: s.id,
    timeoutMs: 5_000,
    bans: new BanList({ listBans: async () => [], saveBan: async () => {} }),
  });

  /** The set the coordinator relays to A: its own and B's genuine packages, A's, then `tamper`. */
  function badSet(a: DkgRound1, tamper: (set: DkgRound1Set, b: DkgRound1) => DkgRound1Set): DkgRound1Set {
    const mine = new FrostDkg(bip340Suite, EVIL, 2, 3).round1();
    const b = new FrostDkg(bip340Suite, B, 2, 3).round1();
    return tamper({ v: 2, packages: [mine, a, b] }, b);
  }

  const setAttacks: Array<[string, (set: DkgRound1Set, b: DkgRound1) => DkgRound1Set]> = [
    ['B\'s proof of knowledge altered', (s, b) => ({ ...s, packages: s.packages.map((p) => (p === b ? { ...p, proofOfKnowledge: flip(p.proofOfKnowledge) } : p)) })],
    ['B listed twice (and A left out)', (s, b) => ({ ...s, packages: [s.packages[0]!, b, b] })],
    ['B\'s commitment one term too long', (s, b) => ({ ...s, packages: s.packages.map((p) => (p === b ? { ...p, commitment: [...p.commitment, p.commitment[0]!] } : p)) })],
  ];

  for (const [name, tamper] of setAttacks) {
    test(`DKG, node participant: round-1 set with ${name}`, async () => {
      const sessions = sessionsOf(new MemoryLink(), ids);
      const evil = sessions.get(EVIL)!;
      const run = participate(ctx, invite(evil.id, { type: 'frost-keygen', family: 'bip340', key_id: randomUUID(), n: 3, t: 2 }), EVIL, async () => sessions.get(A)!);
      const logged = logOf(run);
      const a = parseDkgRound1(await evil.expect(A, 'r1', 5_000), A);
      evil.step(A, 'r1set', badSet(a, tamper));
      const log = await logged;
      assert.match(log, new RegExp(`party ${EVIL}: `), log);
      assert.doesNotMatch(log, new RegExp(`party ${B}`), log);
    });

    test(`DKG, device: round-1 set with ${name}`, async () => {
      const sessions = sessionsOf(new MemoryLink(), ids);
      const evil = sessions.get(EVIL)!;
      const run = runAsDevice(device(sessions.get(A)!), { kind: 'keygen', family: 'bip340', n: 3, t: 2 }, storeVaults(new MemoryShareStore(), A, 'bip340'));
      evil.step(A, 'invite', { op: { type: 'frost-keygen', family: 'bip340', key_id: randomUUID(), n: 3, t: 2, room_uuid: evil.id } });
      const a = parseDkgRound1(await evil.expect(A, 'r1', 5_000), A);
      evil.step(A, 'r1set', badSet(a, tamper));
      await assert.rejects(run, (e: unknown) => e instanceof ProtocolError && e.culprit === EVIL);
    });
  }

  /** The package the coordinator builds honestly (itself and A), then `tamper`. */
  function badPackage(msg: Uint8Array, theirs: unknown, tamper: (p: SigningPackage) => SigningPackage): SigningPackage {
    const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, msg);
    agg.addCommitment(new FrostSigner(bip340Suite, shares[0]!, msg).commit());
    agg.addCommitment((parseSignCommitmentBatch(theirs, A).commitments as SignCommitment[])[0]!);
    return tamper(agg.signingPackage([EVIL, A]));
  }

  const packageAttacks: Array<[string, (p: SigningPackage) => SigningPackage]> = [
    ['another holder (B, not signing) listed twice', (p) => ({ ...p, commitments: [...p.commitments, ...[0, 1].map(() => ({ ...p.commitments[0]!, from: B }))] })],
    ['a commitment from a non-holder', (p) => ({ ...p, commitments: [...p.commitments, { ...p.commitments[0]!, from: 'node-9' }] })],
    ['A\'s commitment altered', (p) => ({ ...p, commitments: p.commitments.map((c) => (c.from === A ? { ...c, hiding: c.binding } : c)) })],
  ];

  for (const [name, tamper] of packageAttacks) {
    test(`sign, node participant: package with ${name}`, async () => {
      const keyId = randomUUID() as KeyId;
      await store.insertKey(sealFrostShare(ctx, keyId, 'bip340', OWNER, shares[1]!, groupPublicKey(bip340Suite, shares[1]!.publicPackage)));
      const sessions = sessionsOf(new MemoryLink(), ids);
      const evil = sessions.get(EVIL)!;
      const msg = randomBytes(32);
      const op = { type: 'frost-sign', family: 'bip340', key_id: keyId, path: [], msgs: [toHex(msg)], extra_data: '' };
      const logged = logOf(participate(ctx, invite(evil.id, op), EVIL, async () => sessions.get(A)!));
      const pkg = badPackage(msg, await evil.expect(A, 'commit', 5_000), tamper);
      evil.step(A, 'package', { v: 1, packages: [pkg] });
      const log = await logged;
      assert.match(log, new RegExp(`party ${EVIL}: `), log);
      assert.doesNotMatch(log, /party node-(2|3|9)/, log);
    });

    test(`sign, device: package with ${name}`, async () => {
      const sessions = sessionsOf(new MemoryLink(), ids, randomUUID() as CeremonyId);
      const evil = sessions.get(EVIL)!;
      const msg = randomBytes(32);
      const keyId = randomUUID();
      const req = { kind: 'sign' as const, family: 'bip340' as const, keyId, msgs: [msg], path: [], extraData: new Uint8Array() };
      const store = new MemoryShareStore();
      await store.save(deviceShareOf(keyId, 'bip340', A, shares[1]!));
      const run = runAsDevice(device(sessions.get(A)!), req, storeVaults(store, A, 'bip340'));
      evil.step(A, 'invite', { op: { type: 'frost-sign', family: 'bip340', key_id: keyId, path: [], msgs: [toHex(msg)], extra_data: '', room_uuid: evil.id } });
      const pkg = badPackage(msg, await evil.expect(A, 'commit', 5_000), tamper);
      evil.step(A, 'package', { v: 1, packages: [pkg] });
      await assert.rejects(run, (e: unknown) => e instanceof ProtocolError && e.culprit === EVIL);
    });
  }
});
