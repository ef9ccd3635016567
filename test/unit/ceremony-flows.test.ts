import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { BanList, PeerBannedError } from '../../src/ceremony/bans.js';
import { CallerGoneError } from '../../src/ceremony/caller-gone.js';
import { runDklsSign, type DklsSignStart } from '../../src/ceremony/dkls-sign-rounds.js';
import { FLOWS, participate, type ShareVaults } from '../../src/ceremony/flows.js';
import { FAMILIES, familyOfOperation, frostSuite } from '../../src/ceremony/families.js';
import { ProtocolError } from '../../src/protocols/errors.js';
import { OP, STEP, parseKeyOperation, type KeyOperation } from '../../src/ceremony/operations.js';
import { abortAll, refuse } from '../../src/ceremony/outcomes.js';
import type { Admission, AuditSink, CoordinatorSeat, ParticipantSeat } from '../../src/ceremony/ports.js';
import { CeremonySession, type SessionChannel } from '../../src/ceremony/session.js';
import { PortableCeremonyChannel, portableIdentity, type PortableIdentity } from '../../src/crypto/portable-channel.js';
import { decodeSecret, encodeSecret, publicFromJson, publicToJson } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import type { FrostKeyShare } from '../../src/protocols/frost/key-share.js';
import { runAsDevice, storeVaults, deviceShareOf, type DeviceCeremony } from '../../src/sdk/device/device-seat.js';
import { MemoryShareStore } from '../../src/sdk/device/share-store.js';
import type { CeremonyId, PartyId } from '../../src/core/ids.js';
import { TandemError } from '../../src/core/errors.js';
import { MemoryLink } from '../adversarial/node-seat.js';

/**
 * The ceremony layer in one process: every flow of src/ceremony/flows.ts run by a coordinator
 * seat and participant seats over sealed sessions on an in-memory relay. The node participant
 * here is the flow on test ports (memory vault, an authorizer that admits), the device is the
 * SDK's own seat (device-seat.ts, over a MemoryShareStore): the same participant code in both.
 */
const [N1, N2] = ['node-1', 'node-2'] as [PartyId, PartyId];
const DEVICE = 'device-1' as PartyId;
const TIMEOUT = 20_000;

const identities = new Map<PartyId, PortableIdentity>([N1, N2, DEVICE].map((p) => [p, portableIdentity(p, randomBytes(32))]));
const noBans = () => new BanList({ listBans: async () => [], saveBan: async () => {} });

/** One session per party, all in one room of `link`. */
function room(link: MemoryLink, parties: PartyId[], id = randomUUID() as CeremonyId): Map<PartyId, CeremonySession> {
  const keys = new Map(parties.map((p) => [p, identities.get(p)!.publicKey]));
  return new Map(
    parties.map((p) => {
      const s = new CeremonySession(p, new PortableCeremonyChannel(identities.get(p)!, id, keys) as SessionChannel, link);
      link.join(id, p, s);
      return [p, s];
    }),
  );
}

/** Shares in memory, copies in and out. */
function memoryVaults(self: PartyId): ShareVaults & { frostKeys: Map<string, FrostKeyShare> } {
  const frostKeys = new Map<string, FrostKeyShare>();
  const dkls = new Map<string, { pub: unknown; secret: Uint8Array }>();
  const copy = (s: FrostKeyShare): FrostKeyShare => ({ ...s, secretShare: Uint8Array.from(s.secretShare) });
  return {
    frostKeys,
    frost: {
      open: async (keyId) => copy(frostKeys.get(keyId)!),
      keep: async (keyId, share) => void frostKeys.set(keyId, copy(share)),
      forget: async (keyId) => void frostKeys.delete(keyId),
    },
    dkls23: {
      open: async (keyId) => {
        const d = dkls.get(keyId)!;
        return decodeSecret(self, publicFromJson(d.pub), Uint8Array.from(d.secret));
      },
      keep: async (keyId, share) => void dkls.set(keyId, { pub: publicToJson(share.pub), secret: encodeSecret(share) }),
      forget: async (keyId) => void dkls.delete(keyId),
    },
  };
}

/** A node participant on test ports: admits every operation, with the parties it is told of. */
function nodeSeat(session: CeremonySession, coordinator: PartyId, known: PartyId[], key?: Admission['key']): ParticipantSeat & { kept: number } {
  const seat = {
    kept: 0,
    session,
    coordinator,
    stepTimeoutMs: TIMEOUT,
    maxBatch: 64,
    bans: noBans(),
    authorizer: {
      admit: async (): Promise<Admission> => ({ known: new Set(known), clients: [], ...(key ? { key } : {}), keep: () => void (seat.kept += 1), release: async () => {} }),
    },
    refuse: (e: unknown) => refuse(session, coordinator, e),
    abandon: (_e: unknown, tell: boolean) => {
      if (tell) abortAll(session, [coordinator], 'participant_failed');
    },
  };
  return seat;
}

const SIGN_REFUSED = 'refused or failed before committing';
const KEYGEN_UNFINISHED = 'the key generation did not complete';

/** nodeSeat, noting what the flow did with its seat and its admission. */
function recordingSeat(session: CeremonySession, coordinator: PartyId, known: PartyId[], key?: Admission['key']) {
  const base = nodeSeat(session, coordinator, known, key);
  const seat = {
    ...base,
    released: [] as string[],
    refused: [] as unknown[],
    abandoned: [] as Array<[unknown, boolean]>,
    authorizer: {
      admit: async (): Promise<Admission> => ({
        known: new Set(known),
        clients: [],
        ...(key ? { key } : {}),
        keep: () => void (seat.kept += 1),
        release: async (why: string) => void seat.released.push(why),
      }),
    },
    refuse: (e: unknown) => {
      seat.refused.push(e);
      base.refuse(e);
    },
    abandon: (e: unknown, tell: boolean) => {
      seat.abandoned.push([e, tell]);
      base.abandon(e, tell);
    },
  };
  return seat;
}

/** Every operation a coordinator put on the wire, as JSON. */
const wire: Array<Record<string, unknown>> = [];

/**
 * node-1 coordinates, node-2 takes part through its inbox (here: `invite` runs its flow),
 * the device in the room. Returns what each participant's flow ended with.
 */
function coordinatorSeat(
  sessions: Map<PartyId, CeremonySession>,
  audits: Parameters<AuditSink['signed']>[0][],
  node2: (s: CeremonySession, op: KeyOperation) => Promise<unknown>,
  inRoom = true,
) {
  const runs: Promise<unknown>[] = [];
  const seat: CoordinatorSeat = {
    self: N1,
    stepTimeoutMs: TIMEOUT,
    open: async () => sessions.get(N1)!,
    peers: {
      nodes: [N2],
      invite: async (_s, to, op) => {
        assert.equal(to, N2);
        // What travels is the wire form: node-2 parses it as a peer's inbox would.
        wire.push(JSON.parse(JSON.stringify(op)) as Record<string, unknown>);
        runs.push(node2(sessions.get(N2)!, parseKeyOperation(JSON.parse(JSON.stringify(op)), N1)));
      },
    },
    ...(inRoom ? { room: { uuid: sessions.get(N1)!.id, clients: [DEVICE] } } : {}),
    bans: noBans(),
    audit: { signed: async (e) => void audits.push(e) },
  };
  return { seat, runs };
}

function device(session: CeremonySession, bans = noBans()): DeviceCeremony {
  return { session, self: DEVICE, coordinator: N1, nodes: new Set([N1, N2]), roomUuid: session.id, timeoutMs: TIMEOUT, bans };
}

/**
 * The DKLs23 keygen of the flows, 2-of-3: node-1 coordinates, node-2 takes part, the device in
 * the room. Its DKG is most of this file's CPU (six directed OT setups), so it runs once: the
 * keygen test checks what it made, the device-bans test signs with its device and node-2 shares.
 */
let dklsKeygen: ReturnType<typeof runDklsKeygen> | undefined;
const dklsKey = () => (dklsKeygen ??= runDklsKeygen());
async function runDklsKeygen() {
  const link = new MemoryLink();
  const node2 = memoryVaults(N2);
  const coordinatorVault = memoryVaults(N1);
  const store = new MemoryShareStore();
  const keyId = randomUUID();
  const audits: Parameters<AuditSink['signed']>[0][] = [];
  const k = room(link, [N1, N2, DEVICE]);
  const kg = coordinatorSeat(k, audits, (s, op) => participate(nodeSeat(s, N1, [N1, DEVICE]), op, node2));
  const devKeygen = runAsDevice(device(k.get(DEVICE)!), { kind: 'keygen', family: 'ecdsa', n: 3, t: 2 }, storeVaults(store, DEVICE, 'ecdsa'));
  const made = await FLOWS.dkls23.keygen.coordinate(kg.seat, { keyId, n: 3, t: 2 }, coordinatorVault.dkls23);
  const deviceResult = await devKeygen;
  await Promise.all(kg.runs);
  return { link, node2, coordinatorVault, store, keyId, audits, made, deviceResult };
}

describe('ceremony flows: one flow for every seat', { timeout: 180_000 }, () => {
  test('FROST (bip340): keygen 2-of-3 and sign with a node and a device participant', async () => {
    const link = new MemoryLink();
    const node2 = memoryVaults(N2);
    const coordinatorVault = memoryVaults(N1);
    const store = new MemoryShareStore();
    const keyId = randomUUID();

    // Keygen: node-1, node-2, and the device in the room.
    const k = room(link, [N1, N2, DEVICE]);
    const audits: Parameters<AuditSink['signed']>[0][] = [];
    const kg = coordinatorSeat(k, audits, (s, op) => participate(nodeSeat(s, N1, [N1, DEVICE]), op, node2));
    const devKeygen = runAsDevice(device(k.get(DEVICE)!), { kind: 'keygen', family: 'bip340', n: 3, t: 2 }, storeVaults(store, DEVICE, 'bip340'));
    const made = await FLOWS.frost.keygen.coordinate(kg.seat, { family: 'bip340', keyId, n: 3, t: 2 }, coordinatorVault.frost);
    assert.deepEqual(await devKeygen, { keyId });
    assert.deepEqual(await Promise.all(kg.runs), [{ keyId }]);
    const kept = await store.load(keyId);
    assert.equal(kept?.publicKey, Buffer.from(made.publicKey).toString('hex'), 'the device kept the key the coordinator made');
    assert.ok(node2.frostKeys.has(keyId));

    // Sign (t = 2): the coordinator and the device, the room's client; no node needed.
    const msg = randomBytes(32);
    const s = room(link, [N1, N2, DEVICE]);
    const sg = coordinatorSeat(s, audits, () => assert.fail('no node is invited when the room fills the threshold'));
    const devSign = runAsDevice(device(s.get(DEVICE)!), { kind: 'sign', family: 'bip340', keyId, msgs: [msg], path: [], extraData: new Uint8Array() }, storeVaults(store, DEVICE, 'bip340'));
    const key = { keyId, parties: [N1, N2, DEVICE], threshold: 2 };
    const [signature] = await FLOWS.frost.sign.coordinate(sg.seat, { family: 'bip340', key, msgs: [msg], path: [], extraData: new Uint8Array() }, coordinatorVault.frost);
    await devSign;
    assert.ok(ecc.verifySchnorr(msg, made.publicKey, signature!));
    assert.deepEqual(audits.map((a) => [a.keyId, a.signers]), [[keyId, [N1, DEVICE]]]);
  });

  test('DKLs23: keygen 2-of-3, then the node participant and the device each sign with the coordinator', async () => {
    const { link, node2, coordinatorVault, store, keyId, audits, made, deviceResult } = await dklsKey();
    assert.deepEqual(deviceResult, { keyId });
    assert.equal((await store.load(keyId))?.publicKey, Buffer.from(made.publicKey).toString('hex'));
    const key = { keyId, parties: [N1, N2, DEVICE].sort() as PartyId[], threshold: 2 };

    // With the device (a room's client).
    const hash = randomBytes(32);
    const s = room(link, [N1, N2, DEVICE]);
    const sg = coordinatorSeat(s, audits, () => assert.fail('no node is invited'));
    const devSign = runAsDevice(device(s.get(DEVICE)!), { kind: 'sign', family: 'ecdsa', keyId, msgs: [hash], path: [], extraData: new Uint8Array() }, storeVaults(store, DEVICE, 'ecdsa'));
    const [sig] = await FLOWS.dkls23.sign.coordinate(sg.seat, { key, hashes: [hash], path: [], extraData: new Uint8Array() }, coordinatorVault.dkls23);
    await devSign;
    const rs = (x: bigint) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
    assert.ok(ecc.verify(hash, made.publicKey, Buffer.concat([rs(sig!.r), rs(sig!.s)]), true));

    // With node-2 (no room): the same participant flow on the node's side; its reservation is kept once its partials are out.
    const hash2 = randomBytes(32);
    const s2 = room(link, [N1, N2]);
    let seat2: ReturnType<typeof nodeSeat> | undefined;
    const sg2 = coordinatorSeat(s2, audits, (ss, op) => participate((seat2 = nodeSeat(ss, N1, key.parties, key)), op, node2), false);
    const [sig2] = await FLOWS.dkls23.sign.coordinate(sg2.seat, { key, hashes: [hash2], path: [], extraData: new Uint8Array() }, coordinatorVault.dkls23);
    await Promise.all(sg2.runs);
    assert.ok(ecc.verify(hash2, made.publicKey, Buffer.concat([rs(sig2!.r), rs(sig2!.s)]), true));
    assert.equal(seat2?.kept, 1);
    assert.deepEqual(audits.map((a) => a.signers), [[DEVICE, N1].sort(), [N1, N2]]);
  });

  test('the wire form of every operation is the last release\'s (its field names and values)', () => {
    const keysOf = (type: string) => wire.filter((o) => o.type === type).map((o) => Object.keys(o).sort());
    assert.deepEqual(keysOf(OP.frostKeygen)[0], ['family', 'key_id', 'n', 'room_uuid', 't', 'type']);
    assert.deepEqual(keysOf(OP.dklsKeygen)[0], ['key_id', 'n', 'room_uuid', 't', 'type']);
    assert.deepEqual(keysOf(OP.dklsSign)[0], ['extra_data', 'key_id', 'msgs', 'path', 'type']);
    const sign = wire.find((o) => o.type === OP.dklsSign)!;
    assert.equal(typeof sign.msgs === 'object' && (sign.msgs as string[])[0]!.length, 64);
    assert.deepEqual([sign.path, sign.extra_data], [[], '']);
  });

  test('typed operations: anything malformed names its coordinator; the registry says every operation\'s family', () => {
    const sign = { type: OP.frostSign, family: 'bip340', key_id: randomUUID(), path: [0, 7], msgs: ['00ff'], extra_data: '' };
    assert.deepEqual(parseKeyOperation(sign, N1), sign);
    for (const bad of [{ ...sign, key_id: 'x' }, { ...sign, msgs: [] }, { ...sign, msgs: ['0'] }, { ...sign, path: [-1] }, { type: 'frost-refresh' }, null]) {
      assert.throws(() => parseKeyOperation(bad, N1), (e: unknown) => e instanceof ProtocolError && e.culprit === N1, JSON.stringify(bad));
    }
    assert.equal(familyOfOperation({ type: OP.dklsSign }), 'ecdsa');
    assert.equal(familyOfOperation({ type: OP.frostKeygen, family: 'ed25519' }), 'ed25519');
    assert.equal(familyOfOperation({ type: OP.createUser }), 'none');
    assert.deepEqual(Object.entries(FAMILIES).map(([f, e]) => [f, e.engine]), [['bip340', 'frost'], ['ed25519', 'frost'], ['ecdsa', 'dkls23']]);
    assert.throws(() => frostSuite('ecdsa'), (e: unknown) => e instanceof TandemError && e.type === 'bad_request_params');
  });

  test('a refusal stops a participant before it contributes: the coordinator hears its error type, the flow keeps nothing', async () => {
    const link = new MemoryLink();
    const s = room(link, [N1, N2]);
    const base = nodeSeat(s.get(N2)!, N1, [N1]);
    let admitted = 0;
    const seat: ParticipantSeat = {
      ...base,
      authorizer: {
        admit: async () => {
          admitted += 1;
          throw new TandemError('key_id_not_exists', 'no such key');
        },
      },
    };
    const op = parseKeyOperation({ type: OP.dklsSign, key_id: randomUUID(), msgs: [randomBytes(32).toString('hex')], path: [], extra_data: '' }, N1);
    const vaults = memoryVaults(N2);
    const opened: string[] = [];
    const run = assert.rejects(participate(seat, op, { ...vaults, dkls23: { ...vaults.dkls23, open: async (k) => (opened.push(k), vaults.dkls23.open(k)) } }), /no such key/);
    await assert.rejects(s.get(N1)!.expect(N2, STEP.ready, 5000), /refused \(key_id_not_exists\)/);
    await run;
    assert.equal(admitted, 1);
    assert.deepEqual(opened, [], 'no share opened');
    assert.equal(base.kept, 0, "nothing kept");
  });

  test('a check after the admission still refuses: the coordinator hears a refusal and nothing else, the reservation goes back', async () => {
    const keyId = randomUUID();
    const msgs = [randomBytes(32).toString('hex')];
    const frostSign = parseKeyOperation({ type: OP.frostSign, family: 'bip340', key_id: keyId, path: [], msgs, extra_data: '' }, N1);
    const dklsSign = parseKeyOperation({ type: OP.dklsSign, key_id: keyId, path: [], msgs, extra_data: '' }, N1);
    const elsewhere = { parties: [N2, 'node-3' as PartyId], threshold: 2 };
    const held = { parties: [N1, N2], threshold: 2 };
    const cases: Array<{ what: string; op: KeyOperation; key?: Admission['key']; first: string; why: string }> = [
      { what: 'FROST sign, coordinator holds no share', op: frostSign, key: elsewhere, first: STEP.commit, why: SIGN_REFUSED },
      { what: 'DKLs23 sign, coordinator holds no share', op: dklsSign, key: elsewhere, first: STEP.ready, why: SIGN_REFUSED },
      { what: 'FROST sign, no share here to derive the child from', op: frostSign, key: held, first: STEP.commit, why: SIGN_REFUSED },
      // Bypasses the operation schema: the engine's own check is the one after the admission.
      { what: 'FROST keygen, a threshold the engine refuses', op: { type: OP.frostKeygen, family: 'bip340', key_id: keyId, n: 2, t: 1 }, first: STEP.r1, why: KEYGEN_UNFINISHED },
    ];
    for (const c of cases) {
      const s = room(new MemoryLink(), [N1, N2]);
      const seat = recordingSeat(s.get(N2)!, N1, [N1], c.key);
      const vaults = memoryVaults(N2);
      const opened: string[] = [];
      const watched: ShareVaults = {
        frost: { ...vaults.frost, open: async (k) => (opened.push(k), vaults.frost.open(k)) },
        dkls23: { ...vaults.dkls23, open: async (k) => (opened.push(k), vaults.dkls23.open(k)) },
      };
      const run = assert.rejects(participate(seat, c.op, watched));
      await assert.rejects(s.get(N1)!.expect(N2, c.first, 5000), /refused \(/, c.what);
      await run;
      await assert.rejects(s.get(N1)!.expect(N2, c.first, 300), /no .* within/, `${c.what}: nothing after the refusal`);
      assert.equal(seat.refused.length, 1, c.what);
      assert.deepEqual(seat.abandoned, [], `${c.what}: not an abort`);
      assert.deepEqual(seat.released, [c.why], c.what);
      assert.equal(seat.kept, 0, c.what);
      if (c.key === elsewhere) assert.deepEqual(opened, [], `${c.what}: no share opened`);
    }
  });

  test('a keygen participant that stops after its rounds began: only the coordinator\'s abort undoes its kept share', async () => {
    const run = async (tamper: (coordinator: CeremonySession, participant: CeremonySession) => void) => {
      const s = room(new MemoryLink(), [N1, N2]);
      tamper(s.get(N1)!, s.get(N2)!);
      const vault = memoryVaults(N2);
      let seat: ReturnType<typeof recordingSeat> | undefined;
      // Settled at once: node-2 fails before the coordinator's own outcome is awaited.
      const kg = coordinatorSeat(s, [], (ss, op) => participate((seat = recordingSeat(ss, N1, [N1])), op, vault).then(() => undefined, (e: unknown) => String(e)), false);
      const keyId = randomUUID();
      const made = await FLOWS.frost.keygen.coordinate(kg.seat, { family: 'bip340', keyId, n: 2, t: 2 }, memoryVaults(N1).frost).then(
        () => true,
        () => false,
      );
      assert.equal(kg.runs.length, 1, 'node-2 was invited');
      const error = (await kg.runs[0]) as string | undefined;
      return { made, error, stored: vault.frostKeys.has(keyId), ...seat! };
    };
    const afterStep = (session: CeremonySession, step: string, then: () => void) => {
      const expect = session.expect.bind(session);
      session.expect = async (from, name, ms) => {
        const body = await expect(from, name, ms);
        if (name === step) then();
        return body;
      };
    };

    // The coordinator gives up before node-2 kept anything: the abort is answered, nothing to undo.
    const early = await run((c) => afterStep(c, STEP.r1, () => { throw new Error('the coordinator failed'); }));
    assert.match(early.error!, /aborted \(/);
    assert.deepEqual([early.stored, early.kept, early.released, early.abandoned.map(([, tell]) => tell)], [false, 0, [KEYGEN_UNFINISHED], [true]]);

    // The coordinator aborts after node-2 kept its share (and confirmed): the share is dropped, the coordinator is not told back.
    const undone = await run((c) => afterStep(c, STEP.confirm, () => { throw new Error('the coordinator failed'); }));
    assert.match(undone.error!, /aborted \(ceremony_failed\)/);
    assert.deepEqual([undone.stored, undone.kept, undone.released, undone.abandoned.map(([, tell]) => tell)], [false, 0, [KEYGEN_UNFINISHED], [false]]);

    // node-2 loses the commit (its link fails after it confirmed): the coordinator may have handed the key out, so node-2 keeps it and its budget.
    const lost = await run((_c, p) => {
      const step = p.step.bind(p);
      p.step = (to, name, body) => {
        step(to, name, body);
        if (name === STEP.confirm) p.fail(new Error('the link went away'));
      };
    });
    assert.equal(lost.made, true);
    assert.match(lost.error!, /the link went away/);
    assert.deepEqual([lost.stored, lost.kept, lost.released, lost.abandoned.map(([, tell]) => tell)], [true, 1, [KEYGEN_UNFINISHED], [true]]);
  });

  test('an admitted signer that stops before its shares are out tells the coordinator and gives its reservation back, saying why', async () => {
    const key = { parties: [N1, N2], threshold: 2 };
    for (const [code, why] of [['not_selected', 'not selected'], ['ceremony_failed', 'the ceremony failed before this node signed']] as const) {
      const s = room(new MemoryLink(), [N1, N2]);
      const seat = recordingSeat(s.get(N2)!, N1, [N1], key);
      const op = parseKeyOperation({ type: OP.dklsSign, key_id: randomUUID(), path: [], msgs: [randomBytes(32).toString('hex')], extra_data: '' }, N1);
      const run = assert.rejects(participate(seat, op, memoryVaults(N2)), new RegExp(`aborted \\(${code}\\)`));
      await s.get(N1)!.expect(N2, STEP.ready, 5000);
      s.get(N1)!.send(N2, { kind: 'abort', code });
      await run;
      await assert.rejects(s.get(N1)!.expect(N2, STEP.start, 5000), /aborted \(participant_failed\)/, code);
      assert.deepEqual([seat.refused.length, seat.kept, seat.released, seat.abandoned.map(([, tell]) => tell)], [0, 0, [why], [true]], code);
    }
  });

  test('a caller that leaves while its coordinator invites: the peer hears caller_gone and nothing before it, in every flow', async () => {
    // The race CI met in caller-gone.test.ts: node-2 had its invitation (and asked its policy)
    // while node-1 still awaited its invitations; the caller left then, and node-2 was first
    // told `not_selected` (which a node does not log) and only then why.
    const link = new MemoryLink();
    const [vault1, vault2] = [memoryVaults(N1), memoryVaults(N2)];
    const frostKeyId = randomUUID();
    const k = room(link, [N1, N2]);
    const kg = coordinatorSeat(k, [], (s, op) => participate(nodeSeat(s, N1, [N1]), op, vault2), false);
    await FLOWS.frost.keygen.coordinate(kg.seat, { family: 'bip340', keyId: frostKeyId, n: 2, t: 2 }, vault1.frost);
    await Promise.all(kg.runs);
    const dkls = await dklsKey();
    const none = new Uint8Array();
    const flows: Array<[string, (seat: CoordinatorSeat) => Promise<unknown>]> = [
      ['FROST keygen', (seat) => FLOWS.frost.keygen.coordinate(seat, { family: 'bip340', keyId: randomUUID(), n: 2, t: 2 }, vault1.frost)],
      ['FROST sign', (seat) => FLOWS.frost.sign.coordinate(seat, { family: 'bip340', key: { keyId: frostKeyId, parties: [N1, N2], threshold: 2 }, msgs: [randomBytes(32)], path: [], extraData: none }, vault1.frost)],
      ['DKLs23 keygen', (seat) => FLOWS.dkls23.keygen.coordinate(seat, { keyId: randomUUID(), n: 2, t: 2 }, vault1.dkls23)],
      ['DKLs23 sign', (seat) => FLOWS.dkls23.sign.coordinate(seat, { key: { keyId: dkls.keyId, parties: [N1, N2, DEVICE].sort() as PartyId[], threshold: 2 }, hashes: [randomBytes(32)], path: [], extraData: none }, dkls.coordinatorVault.dkls23)],
    ];
    for (const [name, coordinate] of flows) {
      const s = room(link, [N1, N2]);
      const { seat } = coordinatorSeat(s, [], async () => s.get(N1)!.fail(new CallerGoneError()), false);
      await assert.rejects(coordinate(seat), /cancelled: the caller went away/, name);
      await assert.rejects(s.get(N2)!.expect(N1, STEP.ready, 5000), /aborted \(caller_gone\)/, name);
    }
  });

  test("a keygen that fails while gathering tells the room's client too, not only the nodes", async () => {
    // node-2 refuses; the device (a room client) had answered and waits for the coordinator's
    // next step. Before, the coordinator aborted only the nodes, and the device waited out its timeout.
    for (const [name, engine] of [['FROST', 'frost'], ['DKLs23', 'dkls23']] as const) {
      const k = room(new MemoryLink(), [N1, N2, DEVICE]);
      const refusing = (session: CeremonySession): ParticipantSeat => ({
        ...nodeSeat(session, N1, [N1, DEVICE]),
        authorizer: { admit: async () => Promise.reject(new TandemError('access_denied', 'no')) },
      });
      const kg = coordinatorSeat(k, [], (session, op) => assert.rejects(participate(refusing(session), op, memoryVaults(N2)), /no/));
      const family = engine === 'frost' ? 'bip340' : 'ecdsa';
      const started = Date.now();
      const devKeygen = runAsDevice(device(k.get(DEVICE)!), { kind: 'keygen', family, n: 3, t: 2 }, storeVaults(new MemoryShareStore(), DEVICE, family));
      const keygen =
        engine === 'frost'
          ? FLOWS.frost.keygen.coordinate(kg.seat, { family: 'bip340', keyId: randomUUID(), n: 3, t: 2 }, memoryVaults(N1).frost)
          : FLOWS.dkls23.keygen.coordinate(kg.seat, { keyId: randomUUID(), n: 3, t: 2 }, memoryVaults(N1).dkls23);
      await assert.rejects(keygen, /access_denied|refused/, name);
      await assert.rejects(devKeygen, /aborted \(ceremony_failed\)/, name);
      assert.ok(Date.now() - started < TIMEOUT / 2, `${name}: the device was told, it did not wait out its ${TIMEOUT} ms`);
      await Promise.all(kg.runs);
    }
  });

  test('the device party gets the bans through the shared flow: a node that fails the OT check is banned in the device\'s store', async () => {
    // The keygen test's key (2-of-3): the device's and node-2's shares of it.
    const shared = await dklsKey();
    const deviceShare = await storeVaults(shared.store, DEVICE, 'ecdsa').dkls23.open(shared.keyId);
    const nodeShare = await shared.node2.dkls23.open(shared.keyId);
    const keyId = randomUUID();
    const store = new MemoryShareStore();
    await store.save(deviceShareOf(keyId, 'ecdsa', DEVICE, deviceShare));
    const bans = new BanList(store);
    const hash = randomBytes(32);
    const req = { kind: 'sign' as const, family: 'ecdsa' as const, keyId, msgs: [hash], path: [], extraData: new Uint8Array() };

    // node-2 coordinates and corrupts its OT-extension message (inside t̂, the check values).
    const link = new MemoryLink();
    const s = room(link, [N2, DEVICE]);
    const evil = s.get(N2)!;
    const step = evil.step.bind(evil);
    evil.step = (to, name, body) => {
      if (name !== STEP.r1) return step(to, name, body);
      const { agree, items } = body as { agree: string; items: string[] };
      return step(to, name, { agree, items: items.map((b64) => { const b = Buffer.from(b64, 'base64'); b[b.length - 100]! ^= 1; return b.toString('base64'); }) });
    };
    const c: DeviceCeremony = { session: s.get(DEVICE)!, self: DEVICE, coordinator: N2, nodes: new Set([N1, N2]), roomUuid: evil.id, timeoutMs: TIMEOUT, bans };
    const run = runAsDevice(c, req, storeVaults(store, DEVICE, 'ecdsa'));
    evil.step(DEVICE, STEP.invite, { op: { type: OP.dklsSign, key_id: keyId, msgs: [hash.toString('hex')], path: [], extra_data: '', room_uuid: evil.id } });
    const ready = (await evil.expect(DEVICE, STEP.ready, TIMEOUT)) as { contribution: string };
    const start: DklsSignStart = { signers: [DEVICE, N2].sort() as PartyId[], contributions: { [DEVICE]: ready.contribution, [N2]: randomBytes(32).toString('hex') } };
    evil.step(DEVICE, STEP.start, start);
    const attacker = runDklsSign({ session: evil, share: nodeShare, keyId, coordinator: N2, bans: noBans(), stepTimeoutMs: TIMEOUT }, start, [hash], [], 0n).catch(() => undefined);
    await assert.rejects(run, (e: unknown) => e instanceof PeerBannedError && e.party === N2 && e.banReason === 'OT extension consistency check failed');
    await attacker;
    assert.deepEqual((await store.listBans(keyId)).map((b) => [b.party, b.reason]), [[N2, 'OT extension consistency check failed']]);

    // Durable in the store: a new ban list over it (a restarted app) refuses node-2 before the device says anything.
    const again = room(link, [N2, DEVICE]);
    const evil2 = again.get(N2)!;
    evil2.step(DEVICE, STEP.invite, { op: { type: OP.dklsSign, key_id: keyId, msgs: [hash.toString('hex')], path: [], extra_data: '', room_uuid: evil2.id } });
    const c2: DeviceCeremony = { ...c, session: again.get(DEVICE)!, roomUuid: evil2.id, bans: new BanList(store) };
    await assert.rejects(runAsDevice(c2, req, storeVaults(store, DEVICE, 'ecdsa')), PeerBannedError);
    await assert.rejects(evil2.expect(DEVICE, STEP.ready, 300), /no ready/);
  });
});
