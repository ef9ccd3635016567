import assert from 'node:assert/strict';
import { assertDkls23Error } from '../helpers/dkls23.js';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { getBit, packBits, transposeBits, unpackBits } from '../../src/protocols/dkls23/math/bitmatrix.js';
import { Gf128Dot, gf128Add, gf128Mul } from '../../src/protocols/dkls23/math/gf128.js';
import { q } from '../../src/protocols/dkls23/math/group.js';
import { DKLS23_VERSION } from '../../src/protocols/dkls23/params.js';
import type { BaseOtReceiverKeys, BaseOtSenderKeys } from '../../src/protocols/dkls23/ot/base-ot.js';
import {
  PPRF_BLOCKS,
  PPRF_BLOCK_BYTES,
  PPRF_LEAVES,
  PPRF_MSG_BYTES,
  decodePprfMsg,
  encodePprfMsg,
  pprfBuild,
  pprfEval,
} from '../../src/protocols/dkls23/ot/pprf.js';
import {
  OTE_RECEIVER_SEED_BYTES,
  OTE_SENDER_SEED_BYTES,
  decodeOteReceiverSeed,
  decodeOteSenderSeed,
  encodeOteReceiverSeed,
  encodeOteSenderSeed,
  type OteReceiverSeed,
  type OteSenderSeed,
} from '../../src/protocols/dkls23/ot/setup.js';
import {
  OTE_MSG_BYTES,
  OTE_XI,
  decodeOteExtensionMsg,
  encodeOteExtensionMsg,
  oteReceive,
  oteSend,
  type OteExtensionMsg,
} from '../../src/protocols/dkls23/ot/softspoken.js';
import { XofScratch } from '../../src/protocols/dkls23/ot/xof-scratch.js';
import { TAGS, xof } from '../../src/protocols/dkls23/hash/oracle.js';
import { asPartyId } from '../../src/core/ids.js';

const BOB = asPartyId('bob');


// ---------------------------------------------------------------- GF(2^128)

/** Slow reference: element ↔ BigInt (byte i bit k = x^(8i+k)), schoolbook carry-less product, bitwise reduction. */
const toBig = (a: Uint8Array) => a.reduceRight((x, byte) => (x << 8n) | BigInt(byte), 0n);
const fromBig = (x: bigint) => Uint8Array.from({ length: 16 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));
const POLY = (1n << 128n) | 0x87n;
function refMul(a: Uint8Array, b: Uint8Array): Uint8Array {
  const A = toBig(a);
  const B = toBig(b);
  let p = 0n;
  for (let i = 0n; i < 128n; i++) if ((A >> i) & 1n) p ^= B << i;
  for (let i = 254n; i >= 128n; i--) if ((p >> i) & 1n) p ^= POLY << (i - 128n);
  return fromBig(p);
}
const rnd16 = () => new Uint8Array(randomBytes(16));
const ONE = fromBig(1n);
const ZERO = new Uint8Array(16);

describe('GF(2^128)', () => {
  test('fixed bit order: x^127 · x = x^128 = x^7 + x^2 + x + 1; 1 and 0', () => {
    assert.deepEqual(gf128Mul(fromBig(1n << 127n), fromBig(2n)), fromBig(0x87n));
    assert.deepEqual(fromBig(2n), Uint8Array.from([2, ...new Array(15).fill(0)]));
    assert.deepEqual(gf128Mul(fromBig(1n << 127n), fromBig(1n << 127n)), refMul(fromBig(1n << 127n), fromBig(1n << 127n)));
    for (let i = 0; i < 20; i++) {
      const a = rnd16();
      assert.deepEqual(gf128Mul(a, ONE), a);
      assert.deepEqual(gf128Mul(ONE, a), a);
      assert.deepEqual(gf128Mul(a, ZERO), ZERO);
      assert.deepEqual(gf128Add(a, a), ZERO);
    }
  });

  test('matches the slow reference multiply', () => {
    for (let i = 0; i < 300; i++) {
      const a = rnd16();
      const b = rnd16();
      assert.deepEqual(gf128Mul(a, b), refMul(a, b));
    }
    // sparse / extreme operands
    for (const x of [1n, 2n, 0x87n, 1n << 64n, (1n << 128n) - 1n, 1n << 127n, 0x80000000n]) {
      for (const y of [1n, 3n, (1n << 128n) - 1n, 1n << 100n]) {
        assert.deepEqual(gf128Mul(fromBig(x), fromBig(y)), refMul(fromBig(x), fromBig(y)));
      }
    }
  });

  test('commutative, associative, distributive', () => {
    for (let i = 0; i < 50; i++) {
      const [a, b, c] = [rnd16(), rnd16(), rnd16()];
      assert.deepEqual(gf128Mul(a, b), gf128Mul(b, a));
      assert.deepEqual(gf128Mul(gf128Mul(a, b), c), gf128Mul(a, gf128Mul(b, c)));
      assert.deepEqual(gf128Mul(a, gf128Add(b, c)), gf128Add(gf128Mul(a, b), gf128Mul(a, c)));
    }
  });

  test('a^(2^128) = a (Frobenius), and a^(2^k) ≠ a for a generic a and small k', () => {
    for (let i = 0; i < 10; i++) {
      const a = rnd16();
      let x: Uint8Array = a;
      for (let k = 1; k <= 128; k++) {
        x = gf128Mul(x, x);
        if (k < 128 && k % 32 === 0) assert.notDeepEqual(x, a); // a random a lies in no proper subfield
      }
      assert.deepEqual(x, a);
    }
  });

  test('Gf128Dot = Σ γ_m · a_m', () => {
    const gammas = [rnd16(), rnd16(), rnd16(), rnd16()];
    const dot = new Gf128Dot(gammas);
    for (let i = 0; i < 50; i++) {
      const src = new Uint8Array(randomBytes(80));
      const out = new Uint8Array(16);
      dot.dotInto(src, 8, out, 0);
      let exp: Uint8Array = new Uint8Array(16);
      for (let m = 0; m < 4; m++) exp = gf128Add(exp, refMul(gammas[m]!, src.slice(8 + 16 * m, 24 + 16 * m)));
      assert.deepEqual(out, exp);
    }
    assert.throws(() => dot.dotInto(new Uint8Array(63), 0, new Uint8Array(16), 0), RangeError);
  });
});

// ---------------------------------------------------------------- bit matrices

describe('bit matrices', () => {
  test('pack/unpack round trip, bit order', () => {
    const bits = Uint8Array.from({ length: 64 }, () => Math.round(Math.random()));
    const packed = packBits(bits);
    assert.deepEqual(unpackBits(packed), bits);
    for (let j = 0; j < 64; j++) assert.equal(getBit(packed, j), bits[j]);
    assert.deepEqual(packBits(Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1])), Uint8Array.from([1, 0x82]));
  });

  test('transpose matches the definition and round-trips (incl. strided source)', () => {
    for (const [rows, cols, stride] of [
      [8, 8, 1],
      [16, 24, 3],
      [256, 512, 80],
      [256, 640, 80],
      [40, 16, 5],
    ] as const) {
      const src = new Uint8Array(randomBytes(rows * stride));
      const t = transposeBits(src, rows, cols, stride);
      assert.equal(t.length, (cols * rows) / 8);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) assert.equal(getBit(t.subarray((c * rows) / 8), r), getBit(src.subarray(r * stride), c));
      }
      const back = transposeBits(t, cols, rows);
      for (let r = 0; r < rows; r++) assert.deepEqual(back.subarray((r * cols) / 8, ((r + 1) * cols) / 8), src.subarray(r * stride, r * stride + cols / 8));
    }
  });
});

describe('XofScratch (hot-loop oracle)', () => {
  test('hashes exactly what oracle.xof hashes, for every use in the OT extension', () => {
    const sid = new Uint8Array(randomBytes(32));
    const prg = new XofScratch(TAGS.oteExpand, [sid]);
    const hx = new XofScratch(TAGS.oteOutput, [sid], 8);
    for (const [b, y] of [[0, 0], [63, 15], [7, 9]] as const) {
      const leaf = new Uint8Array(randomBytes(32));
      assert.deepEqual(new Uint8Array(prg.reset().num(b).num(y).bytes(leaf).digest(80)), xof(TAGS.oteExpand, 80, sid, b, y, leaf));
      assert.deepEqual(new Uint8Array(hx.reset().num(b * 8).bytes(leaf).digest(144)), xof(TAGS.oteOutput, 144, sid, b * 8, leaf));
    }
    const big = new XofScratch(TAGS.oteExpand, ['s', 2 ** 40]);
    const long = new Uint8Array(randomBytes(300)); // grows the buffer
    assert.deepEqual(new Uint8Array(big.reset().num(2 ** 33 + 5).bytes(long).digest(32)), xof(TAGS.oteExpand, 32, 's', 2 ** 40, 2 ** 33 + 5, long));
    assert.throws(() => big.num(-1), RangeError);
  });
});

// ---------------------------------------------------------------- PPRF and OT extension on synthetic base OTs

/** Random base-OT outputs with known choice bits (what a correct base OT yields), to test the layers above quickly. */
function syntheticBaseOt(): { sender: BaseOtSenderKeys; receiver: BaseOtReceiverKeys } {
  const rho0 = new Uint8Array(randomBytes(256 * 32));
  const rho1 = new Uint8Array(randomBytes(256 * 32));
  const choice = unpackBits(new Uint8Array(randomBytes(32)));
  const rho = new Uint8Array(256 * 32);
  for (let i = 0; i < 256; i++) rho.set((choice[i] ? rho1 : rho0).subarray(32 * i, 32 * i + 32), 32 * i);
  return { sender: { rho0, rho1 }, receiver: { choice, rho } };
}

const newSid = () => new Uint8Array(randomBytes(32));
const leaf = (leaves: Uint8Array, j: number, y: number) => leaves.subarray((16 * j + y) * 32, (16 * j + y + 1) * 32);

function syntheticSeeds(): { alice: OteSenderSeed; bob: OteReceiverSeed } {
  const osid = newSid();
  const { sender, receiver } = syntheticBaseOt();
  const built = pprfBuild(osid, sender);
  const ev = pprfEval(osid, receiver, built.msg, BOB);
  return {
    alice: { type: 'dkls23/ote-sender-seed', delta: ev.delta, leaves: ev.leaves },
    bob: { type: 'dkls23/ote-receiver-seed', leaves: built.leaves },
  };
}

describe('PPRF (all-but-one OT)', () => {
  const osid = newSid();
  const { sender, receiver } = syntheticBaseOt();
  const built = pprfBuild(osid, sender);

  test('15 leaves match, the punctured one is unknown; Δ_j = complemented choice bits, MSB first', () => {
    assert.equal(built.msg.bytes.length, PPRF_MSG_BYTES);
    const { delta, leaves } = pprfEval(osid, receiver, decodePprfMsg(encodePprfMsg(built.msg), BOB), BOB);
    for (let j = 0; j < PPRF_BLOCKS; j++) {
      let expDelta = 0;
      for (let i = 0; i < 4; i++) expDelta = 2 * expDelta + (1 - receiver.choice[4 * j + i]!);
      assert.equal(delta[j], expDelta);
      for (let y = 0; y < PPRF_LEAVES; y++) {
        if (y === delta[j]) {
          assert.deepEqual(leaf(leaves, j, y), new Uint8Array(32));
          assert.notDeepEqual(leaf(built.leaves, j, y), new Uint8Array(32));
        } else assert.deepEqual(leaf(leaves, j, y), leaf(built.leaves, j, y));
      }
    }
    // The 16 leaves of a block are distinct (a GGM tree, not copies).
    assert.equal(new Set(Array.from({ length: 16 }, (_, y) => Buffer.from(leaf(built.leaves, 0, y)).toString('hex'))).size, 16);
  });

  test('every puncture position 0..15 works (choice bits crafted so that Δ_j = j mod 16)', () => {
    const { sender } = syntheticBaseOt();
    const choice = new Uint8Array(256);
    for (let j = 0; j < 64; j++) for (let i = 0; i < 4; i++) choice[4 * j + i] = 1 - (((j % 16) >> (3 - i)) & 1);
    const rho = new Uint8Array(256 * 32);
    for (let i = 0; i < 256; i++) rho.set((choice[i] ? sender.rho1 : sender.rho0).subarray(32 * i, 32 * i + 32), 32 * i);
    const b = pprfBuild(osid, sender);
    const { delta, leaves } = pprfEval(osid, { choice, rho }, b.msg, BOB);
    for (let j = 0; j < 64; j++) {
      assert.equal(delta[j], j % 16);
      for (let y = 0; y < 16; y++) {
        if (y === j % 16) assert.deepEqual(leaf(leaves, j, y), new Uint8Array(32));
        else assert.deepEqual(leaf(leaves, j, y), leaf(b.leaves, j, y));
      }
    }
    const alice: OteSenderSeed = { type: 'dkls23/ote-sender-seed', delta, leaves };
    const bob: OteReceiverSeed = { type: 'dkls23/ote-receiver-seed', leaves: b.leaves };
    const mulSid = newSid();
    const { msg, output } = oteReceive(bob, mulSid);
    const got = oteSend(alice, mulSid, msg, BOB);
    for (let j = 0; j < OTE_XI; j++) assert.deepEqual(output.omega[j], output.beta[j] ? got.alpha1[j] : got.alpha0[j]);
  });

  test('tampering with the used correction, t̃ or s̃ fails the proof (abort naming Bob)', () => {
    for (const j of [0, 37, 63]) {
      for (const i of [1, 2, 3]) {
        const c = receiver.choice[4 * j + i]!;
        const bad = Uint8Array.from(built.msg.bytes);
        bad[j * PPRF_BLOCK_BYTES + (i - 1) * 64 + c * 32 + 5]! ^= 1; // t_{i, c_i}: the one Alice uses
        assertDkls23Error(() => pprfEval(osid, receiver, { type: 'dkls23/pprf', bytes: bad }, BOB), 'abort', BOB, /PPRF proof/);
      }
      for (const off of [192, 192 + 63, 256, 319]) {
        const bad = Uint8Array.from(built.msg.bytes);
        bad[j * PPRF_BLOCK_BYTES + off]! ^= 0x80; // t̃ then s̃
        assertDkls23Error(() => pprfEval(osid, receiver, { type: 'dkls23/pprf', bytes: bad }, BOB), 'abort', BOB, /PPRF proof/);
      }
    }
  });

  test('the unused correction does not matter (Alice never reads it; she only learns that it was unused)', () => {
    const j = 9;
    const c = receiver.choice[4 * j + 2]!;
    const bad = Uint8Array.from(built.msg.bytes);
    bad[j * PPRF_BLOCK_BYTES + 64 + (1 - c) * 32]! ^= 1;
    assert.doesNotThrow(() => pprfEval(osid, receiver, { type: 'dkls23/pprf', bytes: bad }, BOB));
  });

  test('a different osid on one side fails; malformed inputs give typed errors', () => {
    assertDkls23Error(() => pprfEval(newSid(), receiver, built.msg, BOB), 'abort', BOB, /PPRF proof/);
    assertDkls23Error(() => decodePprfMsg(new Uint8Array(PPRF_MSG_BYTES - 1), BOB), 'abort', BOB);
    assertDkls23Error(() => decodePprfMsg(new Uint8Array(PPRF_MSG_BYTES + 1), BOB), 'abort', BOB);
    assertDkls23Error(() => decodePprfMsg('x' as unknown as Uint8Array, BOB), 'abort', BOB);
    assertDkls23Error(() => pprfEval(osid, receiver, { type: 'dkls23/pprf', bytes: new Uint8Array(10) }, BOB), 'abort', BOB);
    assertDkls23Error(() => pprfEval(osid, receiver, undefined as unknown as never, BOB), 'abort', BOB);
    assertDkls23Error(() => pprfEval(new Uint8Array(31), receiver, built.msg, BOB), 'abort', undefined);
  });
});

describe('SoftSpokenOT extension', () => {
  const { alice, bob } = syntheticSeeds();

  test('ω_j = α^{β_j}_j for all j < ξ, ω_j ≠ α^{1−β_j}_j; scalars in range; β fresh', () => {
    const mulSid = newSid();
    const { msg, output } = oteReceive(bob, mulSid);
    const wire = encodeOteExtensionMsg(msg);
    assert.equal(wire.length, OTE_MSG_BYTES);
    const got = oteSend(alice, mulSid, decodeOteExtensionMsg(wire, BOB), BOB);
    assert.equal(output.beta.length, OTE_XI);
    assert.equal(output.omega.length, OTE_XI);
    assert.equal(got.alpha0.length, OTE_XI);
    let ones = 0;
    for (let j = 0; j < OTE_XI; j++) {
      const b = output.beta[j]!;
      assert.ok(b === 0 || b === 1);
      ones += b;
      assert.equal(output.omega[j]!.length, 3);
      assert.deepEqual(output.omega[j], b ? got.alpha1[j] : got.alpha0[j]);
      assert.notDeepEqual(output.omega[j], b ? got.alpha0[j] : got.alpha1[j]);
      for (const s of [...got.alpha0[j]!, ...got.alpha1[j]!]) assert.ok(s >= 0n && s < q);
    }
    assert.ok(ones > 150 && ones < 362, 'β looks uniform');
    const again = oteReceive(bob, mulSid);
    assert.notDeepEqual(again.output.beta, output.beta);
  });

  test('a tampered u row, x̂ or t̂ makes Alice ban Bob', () => {
    const mulSid = newSid();
    const { msg } = oteReceive(bob, mulSid);
    const variants: [string, OteExtensionMsg][] = [];
    for (const at of [0, 79, 80 * 17 + 3, 80 * 63 + 70]) {
      const u = Uint8Array.from(msg.u);
      u[at]! ^= 4;
      variants.push([`u[${at}]`, { ...msg, u }]);
    }
    const xHat = Uint8Array.from(msg.xHat);
    xHat[15]! ^= 1;
    variants.push(['x̂', { ...msg, xHat }]);
    for (const row of [0, 128, 255]) {
      const tHat = Uint8Array.from(msg.tHat);
      tHat[16 * row + 7]! ^= 0x10;
      variants.push([`t̂ row ${row}`, { ...msg, tHat }]);
    }
    for (const [name, bad] of variants) {
      assertDkls23Error(() => oteSend(alice, mulSid, bad, BOB), 'ban', BOB, /consistency check/);
      assert.ok(name);
    }
    // The untampered message still passes.
    assert.doesNotThrow(() => oteSend(alice, mulSid, msg, BOB));
  });

  test('mulSid: announced mismatch → abort (not ban); computed with another sid → ban', () => {
    const sidA = newSid();
    const sidB = newSid();
    const { msg } = oteReceive(bob, sidB);
    assertDkls23Error(() => oteSend(alice, sidA, msg, BOB), 'abort', BOB, /session id mismatch/);
    assertDkls23Error(() => oteSend(alice, sidA, { ...msg, mulSid: sidA }, BOB), 'ban', BOB, /consistency check/);
  });

  test('seeds of another pair fail the check (ban)', () => {
    const other = syntheticSeeds();
    const mulSid = newSid();
    const { msg } = oteReceive(other.bob, mulSid);
    assertDkls23Error(() => oteSend(alice, mulSid, msg, BOB), 'ban', BOB);
  });

  test('malformed extension messages give typed aborts naming Bob', () => {
    const mulSid = newSid();
    const { msg } = oteReceive(bob, mulSid);
    const wire = encodeOteExtensionMsg(msg);
    assertDkls23Error(() => decodeOteExtensionMsg(wire.subarray(1), BOB), 'abort', BOB);
    assertDkls23Error(() => decodeOteExtensionMsg(new Uint8Array(OTE_MSG_BYTES + 1), BOB), 'abort', BOB);
    assertDkls23Error(() => decodeOteExtensionMsg(null as unknown as Uint8Array, BOB), 'abort', BOB);
    assertDkls23Error(() => oteSend(alice, mulSid, { ...msg, u: msg.u.subarray(80) }, BOB), 'abort', BOB);
    assertDkls23Error(() => oteSend(alice, mulSid, { ...msg, xHat: new Uint8Array(15) }, BOB), 'abort', BOB);
    assertDkls23Error(() => oteSend(alice, mulSid, { ...msg, tHat: new Uint8Array(4097) }, BOB), 'abort', BOB);
    assertDkls23Error(() => oteSend(alice, mulSid, { ...msg, mulSid: new Uint8Array(33) }, BOB), 'abort', BOB);
    assertDkls23Error(() => oteSend(alice, mulSid, {} as OteExtensionMsg, BOB), 'abort', BOB);
    assertDkls23Error(() => oteReceive(bob, new Uint8Array(16)), 'abort', undefined);
  });

  test('seed serialization: round trip, version, kind, length and Δ range checks', () => {
    const a = encodeOteSenderSeed(alice);
    const b = encodeOteReceiverSeed(bob);
    assert.equal(a.length, OTE_SENDER_SEED_BYTES);
    assert.equal(b.length, OTE_RECEIVER_SEED_BYTES);
    assert.equal(OTE_SENDER_SEED_BYTES, 2 + 32_832);
    assert.equal(a[0], DKLS23_VERSION);
    const a2 = decodeOteSenderSeed(a);
    const b2 = decodeOteReceiverSeed(b);
    assert.deepEqual(a2.delta, alice.delta);
    assert.deepEqual(a2.leaves, alice.leaves);
    assert.deepEqual(b2.leaves, bob.leaves);
    // Restored seeds still work together.
    const mulSid = newSid();
    const { msg, output } = oteReceive(b2, mulSid);
    const got = oteSend(a2, mulSid, msg, BOB);
    for (let j = 0; j < OTE_XI; j += 37) assert.deepEqual(output.omega[j], output.beta[j] ? got.alpha1[j] : got.alpha0[j]);

    const bump = (x: Uint8Array, i: number, v: number) => {
      const y = Uint8Array.from(x);
      y[i] = v;
      return y;
    };
    assertDkls23Error(() => decodeOteSenderSeed(bump(a, 0, DKLS23_VERSION + 1)), 'abort', undefined, /version/);
    assertDkls23Error(() => decodeOteSenderSeed(b), 'abort', undefined, /kind/);
    assertDkls23Error(() => decodeOteReceiverSeed(a), 'abort', undefined, /kind/);
    assertDkls23Error(() => decodeOteSenderSeed(a.subarray(0, a.length - 1)), 'abort', undefined);
    assertDkls23Error(() => decodeOteReceiverSeed(new Uint8Array([DKLS23_VERSION, 2, 0])), 'abort', undefined);
    assertDkls23Error(() => decodeOteSenderSeed(bump(a, 2 + 5, 16)), 'abort', undefined, /nibble/);
    assertDkls23Error(() => decodeOteSenderSeed(new Uint8Array(0)), 'abort', undefined);
  });

  test('timing and sizes: one multiplication (synthetic seeds)', () => {
    const runs = 5;
    let tb = 0;
    let ta = 0;
    for (let i = 0; i < runs + 1; i++) {
      const mulSid = newSid();
      const t0 = performance.now();
      const { msg } = oteReceive(bob, mulSid);
      const t1 = performance.now();
      oteSend(alice, mulSid, msg, BOB);
      const t2 = performance.now();
      if (i > 0) {
        tb += t1 - t0;
        ta += t2 - t1;
      }
    }
    console.log(
      `[dkls23-ot timing] softspoken per multiplication: Bob (receiver) ${(tb / runs).toFixed(1)} ms, ` +
        `Alice (sender, check + outputs) ${(ta / runs).toFixed(1)} ms; message ${OTE_MSG_BYTES} B; ` +
        `seeds ${OTE_SENDER_SEED_BYTES} B (Alice) / ${OTE_RECEIVER_SEED_BYTES} B (Bob); PPRF msg ${PPRF_MSG_BYTES} B`,
    );
  });
});
