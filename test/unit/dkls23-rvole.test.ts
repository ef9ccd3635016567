import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import type { PartyId } from '../../src/core/ids.js';
import { Fn, q, randomScalar } from '../../src/protocols/dkls23/math/group.js';
import type { OtReceiverOutput, OtSenderOutput } from '../../src/protocols/dkls23/ot/types.js';
import {
  aliceRespond,
  bobChi,
  bobFinish,
  decodeRvoleMessage,
  encodeRvoleMessage,
  gadgetVector,
  RVOLE_ELL,
  RVOLE_MESSAGE_BYTES,
  RVOLE_WIDTH,
  RVOLE_XI,
  RvoleBob,
  type RvoleMessage,
} from '../../src/protocols/dkls23/vole/rvole.js';

const alice = 'node-1' as PartyId;

/** An ideal random OT: uniform α⁰, α¹, β and ω_j = α^{β_j}_j. */
function idealOt(beta?: Uint8Array): { sender: OtSenderOutput; receiver: OtReceiverOutput } {
  const row = () => Array.from({ length: RVOLE_WIDTH }, () => randomScalar());
  const alpha0 = Array.from({ length: RVOLE_XI }, row);
  const alpha1 = Array.from({ length: RVOLE_XI }, row);
  const b = beta ?? new Uint8Array(RVOLE_XI).map(() => randomBytes(1)[0]! & 1);
  const omega = alpha0.map((r0, j) => (b[j] === 1 ? alpha1[j]! : r0).slice());
  return { sender: { alpha0, alpha1 }, receiver: { beta: b, omega } };
}

const sid = () => new Uint8Array(randomBytes(32));

function assertDkls(fn: () => unknown, kind: 'abort' | 'ban', culprit?: string, pattern?: RegExp, what = '') {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Dkls23Error, `${what}: expected Dkls23Error, got ${String(e)}`);
    assert.equal(e.kind, kind);
    assert.equal(e.culprit, culprit);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

const clone = (m: RvoleMessage): RvoleMessage => ({
  aTilde: m.aTilde.map((r) => r.slice()),
  etaPrime: m.etaPrime.slice(),
  mu: m.mu.slice(),
});

test('rvole: c_i + d_i = a_i·χ for both inputs (ideal OT), also through the codec', () => {
  for (let run = 0; run < 3; run++) {
    const mul = sid();
    const { sender, receiver } = idealOt();
    const bob = new RvoleBob(mul, receiver);
    assert.equal(bob.chi, bobChi(mul, receiver));
    const a = [randomScalar(), randomScalar()];
    const { message, shares } = aliceRespond(mul, a, sender);
    const bytes = encodeRvoleMessage(message);
    assert.equal(bytes.length, RVOLE_MESSAGE_BYTES);
    assert.equal(RVOLE_MESSAGE_BYTES, 49_248);
    const d = bob.finish(decodeRvoleMessage(bytes, alice), alice);
    assert.equal(d.length, RVOLE_ELL);
    for (let i = 0; i < RVOLE_ELL; i++) assert.equal(Fn.add(shares[i]!, d[i]!), Fn.mul(a[i]!, bob.chi));
    assertDkls(() => bob.finish(message, alice), 'abort', undefined, /already finished/);
  }
});

test('rvole: edge inputs (zero, q−1) and all-zero / all-one β', () => {
  for (const beta of [new Uint8Array(RVOLE_XI), new Uint8Array(RVOLE_XI).fill(1)]) {
    const mul = sid();
    const { sender, receiver } = idealOt(beta);
    const a = [0n, q - 1n];
    const { message, shares } = aliceRespond(mul, a, sender);
    const d = bobFinish(mul, receiver, message, alice);
    const chi = bobChi(mul, receiver);
    for (let i = 0; i < RVOLE_ELL; i++) assert.equal(Fn.add(shares[i]!, d[i]!), Fn.mul(a[i]!, chi));
  }
});

test('rvole: gadget vector depends on mulSid only', () => {
  const mul = sid();
  assert.deepEqual(gadgetVector(mul), gadgetVector(mul.slice()));
  assert.notDeepEqual(gadgetVector(mul), gadgetVector(sid()));
  assert.equal(gadgetVector(mul).length, RVOLE_XI);
});

test('rvole: tampered ã, η′ or μ, or another mulSid ⇒ ban naming Alice', () => {
  const mul = sid();
  const { sender, receiver } = idealOt();
  const { message } = aliceRespond(mul, [randomScalar(), randomScalar()], sender);
  // Untouched message passes.
  bobFinish(mul, receiver, message, alice);

  const j0 = receiver.beta.indexOf(0);
  const j1 = receiver.beta.indexOf(1);
  const tampers: [string, (m: RvoleMessage) => void][] = [
    ['ã input column, row with β=1', (m) => (m.aTilde[j1]![0] = Fn.add(m.aTilde[j1]![0]!, 1n))],
    ['ã input column, row with β=0', (m) => (m.aTilde[j0]![1] = Fn.add(m.aTilde[j0]![1]!, 1n))],
    ['ã check column', (m) => (m.aTilde[j1]![RVOLE_ELL] = Fn.sub(m.aTilde[j1]![RVOLE_ELL]!, 5n))],
    ['ã swapped rows', (m) => ([m.aTilde[0], m.aTilde[1]] = [m.aTilde[1]!, m.aTilde[0]!])],
    ["η'", (m) => (m.etaPrime[0] = Fn.add(m.etaPrime[0]!, 1n))],
    ['μ', (m) => (m.mu[63]! ^= 0x80)],
  ];
  for (const [name, tamper] of tampers) {
    const m = clone(message);
    tamper(m);
    assertDkls(() => bobFinish(mul, receiver, m, alice), 'ban', alice, /μ/, name);
    // Through the wire too.
    assertDkls(() => bobFinish(mul, receiver, decodeRvoleMessage(encodeRvoleMessage(m), alice), alice), 'ban', alice, /μ/, name);
  }
  assertDkls(() => bobFinish(sid(), receiver, message, alice), 'ban', alice, /μ/);
});

test('rvole: a consistent Alice using different inputs per row is caught exactly when β selects the row', () => {
  // The selective-failure attack the ban rule answers: Alice shifts input 0 in row j by e and
  // recomputes μ honestly over her message; Bob's check then fails iff β_j = 1.
  const mul = sid();
  const { sender, receiver } = idealOt();
  const a = [randomScalar(), randomScalar()];
  const g = gadgetVector(mul);
  for (const bit of [0, 1] as const) {
    const j = receiver.beta.indexOf(bit);
    const shifted: OtSenderOutput = {
      alpha0: sender.alpha0,
      // ã_{j,0} = α⁰ − α¹ + a_0 + e  ⇔  α¹_{j,0} lowered by e.
      alpha1: sender.alpha1.map((r, k) => (k === j ? [Fn.sub(r[0]!, 7n), ...r.slice(1)] : r)),
    };
    const { message, shares } = aliceRespond(mul, a, shifted);
    if (bit === 1) assertDkls(() => bobFinish(mul, receiver, message, alice), 'ban', alice);
    else {
      // Undetected, and harmless to correctness: Bob never saw the shifted pad.
      const d = bobFinish(mul, receiver, message, alice);
      const chi = bobChi(mul, receiver, g);
      for (let i = 0; i < RVOLE_ELL; i++) assert.equal(Fn.add(shares[i]!, d[i]!), Fn.mul(a[i]!, chi));
    }
  }
});

test('rvole codec: exact length, scalars < q, typed errors only', () => {
  const mul = sid();
  const { sender } = idealOt();
  const { message } = aliceRespond(mul, [randomScalar(), randomScalar()], sender);
  const bytes = encodeRvoleMessage(message);
  assert.deepEqual(decodeRvoleMessage(bytes, alice), message);
  for (const len of [0, 1, RVOLE_MESSAGE_BYTES - 1, RVOLE_MESSAGE_BYTES + 1, RVOLE_MESSAGE_BYTES - 32]) {
    const b = new Uint8Array(len);
    b.set(bytes.subarray(0, Math.min(len, bytes.length)));
    assertDkls(() => decodeRvoleMessage(b, alice), 'abort', alice, /expected 49248 bytes/);
  }
  const qBytes = Fn.toBytes(q - 1n);
  qBytes[31]! += 1; // exactly q
  for (const off of [0, 32 * 700, RVOLE_XI * RVOLE_WIDTH * 32 /* η' */]) {
    const b = bytes.slice();
    b.set(qBytes, off);
    assertDkls(() => decodeRvoleMessage(b, alice), 'abort', alice, /group order/);
    b.fill(0xff, off, off + 32);
    assertDkls(() => decodeRvoleMessage(b, alice), 'abort', alice, /group order/);
  }
  // Random garbage of the right length: decodes or aborts, never another exception.
  for (let k = 0; k < 20; k++) {
    const b = new Uint8Array(randomBytes(RVOLE_MESSAGE_BYTES));
    if (k % 2) b.fill(0xff, 32 * k, 32 * k + 16); // ≥ q: must abort
    if (k % 2) {
      assertDkls(() => decodeRvoleMessage(b, alice), 'abort', alice, /group order/);
    } else {
      const m = decodeRvoleMessage(b, alice);
      assertDkls(() => bobFinish(mul, idealOt().receiver, m, alice), 'ban', alice);
    }
  }
  assertDkls(() => decodeRvoleMessage('x' as unknown as Uint8Array, alice), 'abort', alice);
});

test('rvole: malformed typed messages abort naming Alice; malformed local OT output aborts without culprit', () => {
  const mul = sid();
  const { sender, receiver } = idealOt();
  const { message } = aliceRespond(mul, [randomScalar(), randomScalar()], sender);
  const bad: RvoleMessage[] = [
    { ...clone(message), aTilde: message.aTilde.slice(1) },
    { ...clone(message), aTilde: message.aTilde.map((r) => r.slice(0, 2)) },
    { ...clone(message), etaPrime: [] },
    { ...clone(message), etaPrime: [q] },
    { ...clone(message), mu: message.mu.subarray(1) },
  ];
  for (const m of bad) assertDkls(() => bobFinish(mul, receiver, m, alice), 'abort', alice, /rvole message/);

  assertDkls(() => aliceRespond(mul, [1n], sender), 'abort', undefined);
  assertDkls(() => aliceRespond(mul, [1n, q], sender), 'abort', undefined);
  assertDkls(() => aliceRespond(mul.subarray(1), [1n, 2n], sender), 'abort', undefined);
  assertDkls(() => aliceRespond(mul, [1n, 2n], { ...sender, alpha1: sender.alpha1.slice(1) }), 'abort', undefined);
  const beta2 = receiver.beta.slice();
  beta2[3] = 2;
  assertDkls(() => new RvoleBob(mul, { ...receiver, beta: beta2 }), 'abort', undefined, /0 or 1/);
  assertDkls(() => new RvoleBob(mul, { ...receiver, beta: receiver.beta.subarray(1) }), 'abort', undefined);
});
