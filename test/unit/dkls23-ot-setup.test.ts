import assert from 'node:assert/strict';
import { assertDkls23Error } from '../helpers/dkls23.js';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { TAGS, hash, hashToCurve } from '../../src/protocols/dkls23/hash/oracle.js';
import { Fn, G, Point, encodeScalar, randomScalar } from '../../src/protocols/dkls23/math/group.js';
import { mulBaseBytes, mulPointBytes, sharedX } from '../../src/protocols/dkls23/math/native.js';
import {
  BASE_OT_MSG1_BYTES,
  BASE_OT_MSG2_BYTES,
  baseOtReceiverFinish,
  baseOtReceiverStart,
  baseOtSend,
  decodeBaseOtMsg1,
  decodeBaseOtMsg2,
  encodeBaseOtMsg1,
  encodeBaseOtMsg2,
  type BaseOtMsg1,
} from '../../src/protocols/dkls23/ot/base-ot.js';
import { PPRF_LEAVES } from '../../src/protocols/dkls23/ot/pprf.js';
import {
  OT_SETUP_MSG1_BYTES,
  OT_SETUP_MSG2_BYTES,
  decodeOtSetupMsg1,
  decodeOtSetupMsg2,
  decodeOteReceiverSeed,
  decodeOteSenderSeed,
  encodeOtSetupMsg1,
  encodeOtSetupMsg2,
  encodeOteReceiverSeed,
  encodeOteSenderSeed,
  otSetupAliceFinish,
  otSetupAliceStart,
  otSetupBob,
} from '../../src/protocols/dkls23/ot/setup.js';
import { OTE_MSG_BYTES, OTE_XI, encodeOteExtensionMsg, decodeOteExtensionMsg, oteReceive, oteSend } from '../../src/protocols/dkls23/ot/softspoken.js';
import { asPartyId } from '../../src/core/ids.js';

const ALICE = asPartyId('alice');
const BOB = asPartyId('bob');
const dkgSid = new Uint8Array(randomBytes(32));
/** What session/ids.ts will derive: osid = H(dkgSid, sender, receiver, label) (TOB-SILA-5). */
const osidFor = (alice: string, bob: string) => hash(TAGS.otSid, dkgSid, alice, bob, 'ot-setup');


interface Timed<T> {
  value: T;
  ms: number;
  cpuMs: number;
}
/** Wall-clock and process CPU time of fn (the machine is shared, CPU time is the steadier number). */
function timed<T>(fn: () => T): Timed<T> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpuMs: (c.user + c.system) / 1000 };
}
const fmt = (t: { ms: number; cpuMs: number }) => `${t.ms.toFixed(0)} ms (cpu ${t.cpuMs.toFixed(0)} ms)`;

const leafOf = (leaves: Uint8Array, j: number, y: number) => leaves.subarray((16 * j + y) * 32, (16 * j + y + 1) * 32);

describe('libsecp256k1 as the scalar multiplication of the base OT (math/native.ts)', () => {
  // Scalars with leading zero bytes are included on purpose: a stripped leading zero (as
  // OpenSSL's getPrivateKey gives one time in 256) must not change or break anything.
  const scalars = [
    ...Array.from({ length: 4 }, () => randomScalar()),
    1n,
    Fn.ORDER - 1n,
    randomScalar() >> 8n,
    randomScalar() >> 72n,
  ];
  test('k·G, k·P and x(k·P) equal what @noble/curves computes', () => {
    for (const k of scalars) {
      const kb = encodeScalar(k);
      const P = G.multiply(randomScalar());
      assert.ok(mulBaseBytes(kb).equals(G.multiply(k)));
      assert.ok(mulPointBytes(P.toBytes(true), kb).equals(P.multiply(k)));
      const x = sharedX(P.toBytes(true), kb);
      assert.equal(x.length, 32);
      assert.deepEqual(x, P.multiply(k).toBytes(true).subarray(1));
    }
  });
  test('k = 0 and P = O give the identity; a short scalar is refused', () => {
    assert.ok(mulBaseBytes(new Uint8Array(32)).is0());
    assert.ok(mulPointBytes(Point.ZERO, encodeScalar(5n)).is0());
    assert.throws(() => mulBaseBytes(new Uint8Array(31)));
  });
});

describe('endemic base OT (256 OTs)', () => {
  const osid = osidFor('alice', 'bob');
  // Both choice values present; OT 0 has choice 0 (the malformed-message-2 test relies on it).
  const choice = Uint8Array.from({ length: 256 }, (_, i) => (i < 2 ? i : randomBytes(1)[0]! & 1));
  // The receiver's step 1 (256 hash-to-curve evaluations), made once for the tests of this
  // group. Its state is single-use (step 2 consumes and wipes it), so each test takes a copy.
  let receiver: Timed<ReturnType<typeof baseOtReceiverStart>> | undefined;
  const receiverStart = () => (receiver ??= timed(() => baseOtReceiverStart(osid, choice)));
  const receiverState = () => structuredClone(receiverStart().value.state);

  test('receiver key = sender key of its choice, ≠ the other, for both choice values', () => {
    const start = receiverStart();
    const state = receiverState();
    const m1 = decodeBaseOtMsg1(encodeBaseOtMsg1(start.value.msg), ALICE);
    assert.equal(m1.points.length, BASE_OT_MSG1_BYTES);
    const send = timed(() => baseOtSend(osid, m1, ALICE));
    const m2 = decodeBaseOtMsg2(encodeBaseOtMsg2(send.value.msg), BOB);
    assert.equal(m2.points.length, BASE_OT_MSG2_BYTES);
    const fin = timed(() => baseOtReceiverFinish(state, m2, BOB));
    const { rho0, rho1 } = send.value.keys;
    const { rho } = fin.value;
    let zeros = 0;
    for (let i = 0; i < 256; i++) {
      const mine = rho.subarray(32 * i, 32 * i + 32);
      const [chosen, other] = choice[i] ? [rho1, rho0] : [rho0, rho1];
      assert.deepEqual(mine, chosen.subarray(32 * i, 32 * i + 32), `OT ${i}`);
      assert.notDeepEqual(mine, other.subarray(32 * i, 32 * i + 32), `OT ${i}`);
      zeros += 1 - choice[i]!;
    }
    assert.ok(zeros > 0 && zeros < 256);
    assert.deepEqual(fin.value.choice, choice);
    console.log(
      `[dkls23-ot timing] base OT ×256: receiver step 1 ${fmt(start)}, sender ${fmt(send)}, receiver step 2 ${fmt(fin)}; ` +
        `messages ${BASE_OT_MSG1_BYTES} B + ${BASE_OT_MSG2_BYTES} B`,
    );
    // The state is single-use.
    assertDkls23Error(() => baseOtReceiverFinish(state, m2, BOB), 'abort', undefined, /already used/);
  });

  test('malformed or degenerate message 1 → abort naming the receiver, never another exception', () => {
    // a valid point encoding for the untouched slots
    const valid = G.multiply(12345n).toBytes(true);
    const withQ0 = (q0: Uint8Array): BaseOtMsg1 => {
      const points = new Uint8Array(BASE_OT_MSG1_BYTES);
      for (let i = 0; i < 512; i++) points.set(valid, 33 * i);
      points.set(q0, 0);
      return { type: 'dkls23/base-ot/1', points };
    };
    let offCurveX = 1n;
    for (;;) {
      const b = new Uint8Array(33);
      b[0] = 2;
      b.set(Fn.toBytes(offCurveX), 1);
      try {
        Point.fromBytes(b);
        offCurveX++;
      } catch {
        break;
      }
    }
    const p = Point.Fp.ORDER;
    const enc = (prefix: number, x: bigint) => {
      const b = new Uint8Array(33);
      b[0] = prefix;
      for (let i = 0; i < 32; i++) b[32 - i] = Number((x >> BigInt(8 * i)) & 0xffn);
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['identity (all zero)', new Uint8Array(33)],
      ['identity marker 0x00', Uint8Array.from([0, ...new Array(32).fill(0)])],
      ['uncompressed prefix', enc(4, 1n)],
      ['bad prefix', enc(5, 1n)],
      ['x not on the curve', enc(2, offCurveX)],
      ['x = p', enc(2, p)],
      ['x ≥ p', enc(3, p + 1n)],
    ];
    for (const [name, q0] of cases) {
      assertDkls23Error(() => baseOtSend(osid, withQ0(q0), ALICE), 'abort', ALICE, /Q_0/);
      assert.ok(name);
    }
    // M_0 = Q_0 + H_0(osid, 0, Q_1) = O would give a key anyone can compute.
    const q1 = valid;
    const degenerate = hashToCurve(TAGS.baseOtH0, osid, 0, q1).negate().toBytes(true);
    assertDkls23Error(() => baseOtSend(osid, withQ0(degenerate), ALICE), 'abort', ALICE, /degenerate/);
    // Lengths.
    assertDkls23Error(() => decodeBaseOtMsg1(new Uint8Array(BASE_OT_MSG1_BYTES - 33), ALICE), 'abort', ALICE);
    assertDkls23Error(() => decodeBaseOtMsg1(new Uint8Array(BASE_OT_MSG1_BYTES + 1), ALICE), 'abort', ALICE);
    assertDkls23Error(() => baseOtSend(osid, { type: 'dkls23/base-ot/1', points: new Uint8Array(5) }, ALICE), 'abort', ALICE);
    assertDkls23Error(() => baseOtSend(osid, undefined as unknown as BaseOtMsg1, ALICE), 'abort', ALICE);
    assertDkls23Error(() => baseOtSend(new Uint8Array(3), withQ0(valid), ALICE), 'abort', undefined);
    assertDkls23Error(() => baseOtReceiverStart(osid, new Uint8Array(255)), 'abort', undefined);
    assertDkls23Error(() => baseOtReceiverStart(osid, new Uint8Array(256).fill(2)), 'abort', undefined);
  });

  test('malformed message 2 → abort naming the sender', () => {
    const state = receiverState();
    assert.equal(state.choice[0], 0);
    assertDkls23Error(() => decodeBaseOtMsg2(new Uint8Array(10), BOB), 'abort', BOB);
    const points = new Uint8Array(BASE_OT_MSG2_BYTES);
    const valid = G.multiply(777n).toBytes(true);
    for (let i = 0; i < 512; i++) points.set(valid, 33 * i);
    points[33 * 1] = 0x07; // B_{0,1}: the one the receiver (choice 0) does not use is checked too
    assertDkls23Error(() => baseOtReceiverFinish(state, { type: 'dkls23/base-ot/2', points }, BOB), 'abort', BOB, /B_1/);
  });
});

describe('OT setup of one directed pair, then SoftSpokenOT', () => {
  const osid = osidFor('alice', 'bob');
  // Alice's step 1 and Bob's step over the wire (≈ 1 s of CPU, nearly all of this group's),
  // made once for both tests. Alice's state is single-use (her step 2 consumes and wipes it),
  // so each finish below gets its own copy of it, made before any finish ran.
  let shared: { a1: Timed<ReturnType<typeof otSetupAliceStart>>; wire1: Uint8Array; b: Timed<ReturnType<typeof otSetupBob>> } | undefined;
  const setup = () =>
    (shared ??= (() => {
      const a1 = timed(() => otSetupAliceStart(osid));
      const wire1 = encodeOtSetupMsg1(a1.value.msg);
      return { a1, wire1, b: timed(() => otSetupBob(osid, decodeOtSetupMsg1(wire1, ALICE), ALICE)) };
    })());
  const aliceState = () => structuredClone(setup().a1.value.state);

  test('setup (both sides) → seeds agree on all but Δ; codecs; ω_j = α^{β_j}_j; timing', () => {
    const { a1, wire1, b } = setup();
    assert.equal(wire1.length, OT_SETUP_MSG1_BYTES);
    const wire2 = encodeOtSetupMsg2(b.value.msg);
    assert.equal(wire2.length, OT_SETUP_MSG2_BYTES);
    const a2 = timed(() => otSetupAliceFinish(aliceState(), decodeOtSetupMsg2(wire2, BOB), BOB));
    const aliceSeed = decodeOteSenderSeed(encodeOteSenderSeed(a2.value));
    const bobSeed = decodeOteReceiverSeed(encodeOteReceiverSeed(b.value.seed));
    for (let j = 0; j < 64; j++) {
      const d = aliceSeed.delta[j]!;
      assert.ok(d < 16);
      for (let y = 0; y < PPRF_LEAVES; y++) {
        if (y === d) assert.notDeepEqual(leafOf(aliceSeed.leaves, j, y), leafOf(bobSeed.leaves, j, y));
        else assert.deepEqual(leafOf(aliceSeed.leaves, j, y), leafOf(bobSeed.leaves, j, y));
      }
    }
    const setupCpu = a1.cpuMs + b.cpuMs + a2.cpuMs;
    console.log(
      `[dkls23-ot timing] OT setup of one directed pair: Alice step 1 ${fmt(a1)}, Bob ${fmt(b)}, Alice step 2 ${fmt(a2)}; ` +
        `total cpu ${setupCpu.toFixed(0)} ms; messages ${OT_SETUP_MSG1_BYTES} B (A→B) + ${OT_SETUP_MSG2_BYTES} B (B→A)`,
    );

    const mulSid = hash(TAGS.mulSid, new Uint8Array(32), 1, 2);
    const rx = timed(() => oteReceive(bobSeed, mulSid));
    const wire = encodeOteExtensionMsg(rx.value.msg);
    assert.equal(wire.length, OTE_MSG_BYTES);
    const tx = timed(() => oteSend(aliceSeed, mulSid, decodeOteExtensionMsg(wire, BOB), BOB));
    for (let j = 0; j < OTE_XI; j++) {
      const beta = rx.value.output.beta[j]!;
      assert.deepEqual(rx.value.output.omega[j], beta ? tx.value.alpha1[j] : tx.value.alpha0[j]);
    }
    console.log(`[dkls23-ot timing] softspoken after a real setup: Bob ${fmt(rx)}, Alice ${fmt(tx)}; message ${OTE_MSG_BYTES} B`);
  });

  test('Bob sending inconsistent base-OT points fails Alice’s PPRF proof (abort naming Bob); wrong osid too', () => {
    const { a1, b } = setup();
    const baseOt = Uint8Array.from(b.value.msg.baseOt);
    // Swap B_{5,0} and B_{5,1}: still valid points, but Alice's key for OT 5 is now wrong.
    const b50 = baseOt.slice(5 * 66, 5 * 66 + 33);
    baseOt.copyWithin(5 * 66, 5 * 66 + 33, 5 * 66 + 66);
    baseOt.set(b50, 5 * 66 + 33);
    assertDkls23Error(() => otSetupAliceFinish(aliceState(), { ...b.value.msg, baseOt }, BOB), 'abort', BOB, /PPRF proof/);

    // Bob in another session (other osid) than Alice.
    const bWrong = otSetupBob(osidFor('alice', 'carol'), a1.value.msg, ALICE);
    const wrongState = aliceState();
    assertDkls23Error(() => otSetupAliceFinish(wrongState, bWrong.msg, BOB), 'abort', BOB, /PPRF proof/);
    assertDkls23Error(() => decodeOtSetupMsg2(new Uint8Array(OT_SETUP_MSG2_BYTES - 1), BOB), 'abort', BOB);
    assertDkls23Error(() => decodeOtSetupMsg1(new Uint8Array(OT_SETUP_MSG1_BYTES + 1), ALICE), 'abort', ALICE);
    assertDkls23Error(() => otSetupAliceFinish(wrongState, { ...bWrong.msg, pprf: new Uint8Array(3) }, BOB), 'abort', BOB);
  });
});
