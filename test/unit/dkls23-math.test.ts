import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDkls23Error } from '../helpers/dkls23.js';
import { randomBytes } from 'node:crypto';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import type { PartyId } from '../../src/core/ids.js';
import { TAGS } from '../../src/protocols/dkls23/hash/oracle.js';
import { decodePoint, Fn, G, Point, q, randomScalar } from '../../src/protocols/dkls23/math/group.js';
import { decodePointBytes } from '../../src/protocols/dkls23/math/native.js';
import { lagrangeAtZero, lagrangeCoefficients } from '../../src/protocols/dkls23/math/lagrange.js';
import {
  evaluateCommitment,
  evaluatePolynomial,
  feldmanCommit,
  randomPolynomial,
  sumCommitments,
  verifyFeldmanShare,
} from '../../src/protocols/dkls23/math/feldman.js';
import { randomZeroSeed, zeroShare } from '../../src/protocols/dkls23/zero/zero-share.js';
import {
  decodeSchnorrProof,
  encodeSchnorrProof,
  proveDlog,
  SCHNORR_PROOF_BYTES,
  verifyDlog,
} from '../../src/protocols/dkls23/proofs/schnorr.js';
import { checkOpening, commit, verifyOpening } from '../../src/protocols/dkls23/commit.js';
import { dkgSid, mulSid, osid, signSid, sortedSignerSet } from '../../src/protocols/dkls23/session/ids.js';

const bob = 'node-2' as PartyId;

function subsets<T>(xs: readonly T[]): T[][] {
  return xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);
}


test('decodePointBytes (OpenSSL square root) accepts exactly what decodePoint (noble) accepts, as the same point, with the same error otherwise', () => {
  const p = Point.Fp.ORDER;
  const be = (x: bigint) => Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * (31 - i))) & 0xffn));
  const inputs = [
    ...Array.from({ length: 64 }, () => G.multiply(randomScalar()).toBytes(true)),
    ...Array.from({ length: 64 }, () => Uint8Array.from([2 + (randomBytes(1)[0]! & 1), ...randomBytes(32)])),
    ...Array.from({ length: 8 }, () => randomBytes(33)),
    Uint8Array.from([2, ...be(0n)]),
    Uint8Array.from([3, ...be(p - 1n)]),
    Uint8Array.from([2, ...be(p)]),
    Uint8Array.from([3, ...be(p + 7n)]),
    new Uint8Array(33),
    G.toBytes(false),
    new Uint8Array(32),
  ];
  const outcome = (f: () => Point) => {
    try {
      return { point: f().toHex(true) };
    } catch (e) {
      return { error: (e as Error).message, culprit: (e as Dkls23Error).culprit };
    }
  };
  let accepted = 0;
  for (const b of inputs) {
    const want = outcome(() => decodePoint(b, bob, 'Q'));
    assert.deepEqual(outcome(() => decodePointBytes(b, bob, 'Q')), want, Buffer.from(b).toString('hex'));
    if ('point' in want) accepted++;
  }
  assert.ok(accepted >= 64 + 16, `only ${accepted} of the inputs were points`);
});

test('oracle tags are unique', () => {
  const values = Object.values(TAGS);
  assert.equal(new Set(values).size, values.length);
});

test('lagrange: Σλ_i = 1 on every subset of {1..6}, and interpolation recovers f(0)', () => {
  const all = [1, 2, 3, 4, 5, 6];
  for (const s of subsets(all)) {
    if (s.length === 0) continue;
    const lambdas = lagrangeCoefficients(s);
    assert.equal([...lambdas.values()].reduce((a, b) => Fn.add(a, b), 0n), 1n);
    const f = randomPolynomial(s.length);
    const recovered = s.reduce((acc, i) => Fn.add(acc, Fn.mul(lagrangeAtZero(s, i), evaluatePolynomial(f, i))), 0n);
    assert.equal(recovered, f[0]);
    // Fewer points than coefficients do not interpolate (overwhelmingly).
    if (s.length >= 2) {
      const g = randomPolynomial(s.length + 1);
      const wrong = s.reduce((acc, i) => Fn.add(acc, Fn.mul(lagrangeAtZero(s, i), evaluatePolynomial(g, i))), 0n);
      assert.notEqual(wrong, g[0]);
    }
  }
  // Order of the signer set does not matter.
  assert.equal(lagrangeAtZero([5, 1, 3], 3), lagrangeAtZero([1, 3, 5], 3));
});

test('lagrange: bad signer sets are typed errors', () => {
  assertDkls23Error(() => lagrangeAtZero([1, 2, 2], 1), 'abort', undefined, /duplicate/);
  assertDkls23Error(() => lagrangeAtZero([0, 2], 2), 'abort');
  assertDkls23Error(() => lagrangeAtZero([1, 2], 3), 'abort', undefined, /not in the signer set/);
  assertDkls23Error(() => lagrangeAtZero([1, 2.5], 1), 'abort');
  assertDkls23Error(() => lagrangeAtZero([], 1), 'abort');
});

test('feldman: shares verify, wrong share/index/vector fails, sums are consistent', () => {
  const t = 3;
  const n = 5;
  const polys = Array.from({ length: n }, () => randomPolynomial(t));
  const vectors = polys.map(feldmanCommit);
  for (const [k, poly] of polys.entries()) {
    const F = vectors[k]!;
    assert.equal(F.length, t);
    assert.ok(F[0]!.equals(G.multiply(poly[0]!)));
    for (let i = 1; i <= n; i++) {
      const share = evaluatePolynomial(poly, i);
      assert.ok(verifyFeldmanShare(share, i, F));
      assert.ok(!verifyFeldmanShare(Fn.add(share, 1n), i, F));
      assert.ok(!verifyFeldmanShare(share, (i % n) + 1, F));
      assert.ok(!verifyFeldmanShare(share, i, vectors[(k + 1) % n]!));
      assert.ok(!verifyFeldmanShare(share, i, F.slice(0, t - 1)), 'truncated vector');
      assert.ok(!verifyFeldmanShare(q, i, F), 'out-of-range share');
    }
  }
  // The joint vector verifies the summed shares, and X_j = Σ_k j^k·F_k = x_j·G.
  const F = sumCommitments(vectors);
  for (let i = 1; i <= n; i++) {
    const x = polys.reduce((acc, p) => Fn.add(acc, evaluatePolynomial(p, i)), 0n);
    assert.ok(verifyFeldmanShare(x, i, F));
    assert.ok(evaluateCommitment(F, i).equals(G.multiply(x)));
  }
  const pk = polys.reduce((acc, p) => Fn.add(acc, p[0]!), 0n);
  assert.ok(F[0]!.equals(G.multiply(pk)));
  // Refresh polynomial: constant term 0 gives F_0 = O and still verifies.
  const z = randomPolynomial(t, 0n);
  const Fz = feldmanCommit(z);
  assert.ok(Fz[0]!.equals(Point.ZERO));
  assert.ok(verifyFeldmanShare(evaluatePolynomial(z, 4), 4, Fz));
  assertDkls23Error(() => sumCommitments([vectors[0]!, vectors[1]!.slice(1)]), 'abort', undefined, /different lengths/);
  assertDkls23Error(() => randomPolynomial(0), 'abort');
  assertDkls23Error(() => evaluateCommitment([], 1), 'abort');
});

test('zero shares sum to 0 on every subset of {1..5}; independent across sessions', () => {
  const n = 5;
  const seeds = new Map<string, Uint8Array>();
  for (let i = 1; i <= n; i++) for (let j = i + 1; j <= n; j++) seeds.set(`${i},${j}`, randomZeroSeed());
  const seedsOf = (i: number) => {
    const m = new Map<number, Uint8Array>();
    for (let j = 1; j <= n; j++) if (j !== i) m.set(j, seeds.get(`${Math.min(i, j)},${Math.max(i, j)}`)!);
    return m;
  };
  const sid1 = new Uint8Array(randomBytes(32));
  const sid2 = new Uint8Array(randomBytes(32));
  for (const s of subsets([1, 2, 3, 4, 5])) {
    if (s.length < 2) continue;
    const shares = s.map((i) => zeroShare(sid1, i, s, seedsOf(i)));
    assert.equal(shares.reduce((a, b) => Fn.add(a, b), 0n), 0n, `subset ${s}`);
    for (const x of shares) assert.notEqual(x, 0n);
    const other = s.map((i) => zeroShare(sid2, i, s, seedsOf(i)));
    assert.equal(other.reduce((a, b) => Fn.add(a, b), 0n), 0n);
    assert.notEqual(other[0], shares[0], 'a new session gives new shares');
  }
  // Sign convention: with two signers, the lower index holds −Fz and the higher +Fz.
  const a = zeroShare(sid1, 1, [1, 2], seedsOf(1));
  const b = zeroShare(sid1, 2, [1, 2], seedsOf(2));
  assert.equal(Fn.add(a, b), 0n);
  assertDkls23Error(() => zeroShare(sid1, 1, [1, 2], new Map()), 'abort', undefined, /no valid seed/);
  assertDkls23Error(() => zeroShare(sid1, 3, [1, 2], seedsOf(3)), 'abort', undefined, /not a signer/);
  assertDkls23Error(() => zeroShare(sid1.subarray(1), 1, [1, 2], seedsOf(1)), 'abort');
});

test('schnorr: proves and verifies; fails for another sid/prover/purpose/statement or a tampered proof', () => {
  const sid = new Uint8Array(randomBytes(32));
  const ctx = { sid, prover: 3, purpose: 'dkg/coeff/0' };
  const x = randomScalar();
  const { statement, proof } = proveDlog(ctx, x);
  assert.ok(statement.equals(G.multiply(x)));
  assert.ok(verifyDlog(ctx, statement, proof));
  assert.ok(!verifyDlog({ ...ctx, sid: new Uint8Array(randomBytes(32)) }, statement, proof));
  assert.ok(!verifyDlog({ ...ctx, prover: 4 }, statement, proof));
  assert.ok(!verifyDlog({ ...ctx, purpose: 'dkg/coeff/1' }, statement, proof));
  assert.ok(!verifyDlog(ctx, statement.add(G), proof));
  assert.ok(!verifyDlog(ctx, statement, { A: proof.A, z: Fn.add(proof.z, 1n) }));
  assert.ok(!verifyDlog(ctx, statement, { A: proof.A.add(G), z: proof.z }));
  assert.ok(!verifyDlog(ctx, statement, { A: Point.ZERO, z: proof.z }));
  assert.ok(!verifyDlog(ctx, statement, { A: proof.A, z: q }));

  const bytes = encodeSchnorrProof(proof);
  assert.equal(bytes.length, SCHNORR_PROOF_BYTES);
  const back = decodeSchnorrProof(bytes, bob);
  assert.ok(verifyDlog(ctx, statement, back));
  for (let k = 0; k < bytes.length; k += 7) {
    const t = bytes.slice();
    t[k]! ^= 1;
    let ok = false;
    try {
      ok = verifyDlog(ctx, statement, decodeSchnorrProof(t, bob));
    } catch (e) {
      assert.ok(e instanceof Dkls23Error && e.culprit === bob);
    }
    assert.ok(!ok, `flipped byte ${k}`);
  }
  assertDkls23Error(() => decodeSchnorrProof(bytes.subarray(1), bob), 'abort', bob, /65 bytes/);
  assertDkls23Error(() => decodeSchnorrProof(new Uint8Array([...bytes, 0]), bob), 'abort', bob);
  const highZ = bytes.slice();
  highZ.fill(0xff, 33);
  assertDkls23Error(() => decodeSchnorrProof(highZ, bob), 'abort', bob, /group order/);
  const badA = bytes.slice();
  badA[0] = 0x04;
  assertDkls23Error(() => decodeSchnorrProof(badA, bob), 'abort', bob, /curve point/);
  assertDkls23Error(() => proveDlog(ctx, 0n), 'abort');
});

test('commitments open, and fail for another sid/sender/label/content/salt', () => {
  const sid = new Uint8Array(randomBytes(32));
  const ctx = { sid, sender: 2, label: 'sign/R' };
  const R = G.multiply(randomScalar()).toBytes(true);
  const { commitment, salt } = commit(ctx, [R]);
  assert.equal(commitment.length, 32);
  assert.equal(salt.length, 32);
  assert.ok(verifyOpening(ctx, commitment, salt, [R]));
  checkOpening(ctx, commitment, salt, [R], bob);
  assert.ok(!verifyOpening({ ...ctx, sid: new Uint8Array(randomBytes(32)) }, commitment, salt, [R]));
  assert.ok(!verifyOpening({ ...ctx, sender: 3 }, commitment, salt, [R]));
  assert.ok(!verifyOpening({ ...ctx, label: 'dkg/feldman' }, commitment, salt, [R]));
  assert.ok(!verifyOpening(ctx, commitment, salt, [G.toBytes(true)]));
  assert.ok(!verifyOpening(ctx, commitment, salt, [R, R]));
  assert.ok(!verifyOpening(ctx, commitment, salt, []));
  const s2 = salt.slice();
  s2[0]! ^= 1;
  assert.ok(!verifyOpening(ctx, commitment, s2, [R]));
  assert.ok(!verifyOpening(ctx, commitment, salt.subarray(1), [R]));
  assert.ok(!verifyOpening(ctx, commitment.subarray(1), salt, [R]));
  // Splitting the same bytes into different parts changes the commitment.
  const ab = commit(ctx, [new Uint8Array([1, 2]), new Uint8Array([3])]);
  assert.ok(!verifyOpening(ctx, ab.commitment, ab.salt, [new Uint8Array([1]), new Uint8Array([2, 3])]));
  assertDkls23Error(() => checkOpening(ctx, commitment, s2, [R], bob), 'abort', bob, /does not open/);
  assert.notDeepEqual(commit(ctx, [R]).salt, salt, 'fresh salt');
});

test('session ids: deterministic, bind every input, validate', () => {
  const contributions = [1, 2, 3].map(() => new Uint8Array(randomBytes(32)));
  const d = dkgSid({ t: 2, n: 3, indices: [1, 2, 3], contributions });
  assert.equal(d.length, 32);
  assert.deepEqual(dkgSid({ t: 2, n: 3, indices: [1, 2, 3], contributions }), d);
  assert.notDeepEqual(dkgSid({ t: 3, n: 3, indices: [1, 2, 3], contributions }), d);
  assert.notDeepEqual(dkgSid({ t: 2, n: 3, indices: [1, 2, 3], contributions: [...contributions].reverse() }), d);
  assertDkls23Error(() => dkgSid({ t: 2, n: 3, indices: [1, 3, 2], contributions }), 'abort', undefined, /increasing/);
  assertDkls23Error(() => dkgSid({ t: 4, n: 3, indices: [1, 2, 3], contributions }), 'abort');
  assertDkls23Error(() => dkgSid({ t: 2, n: 3, indices: [1, 2, 3], contributions: contributions.slice(1) }), 'abort');

  const nonce = new Uint8Array(randomBytes(32));
  const base = { dkgSid: d, epoch: 0, signers: [3, 1], path: [0, 1], nonce };
  const s = signSid(base);
  assert.deepEqual(signSid({ ...base, signers: [1, 3] }), s, 'signer order is irrelevant');
  for (const changed of [
    { epoch: 1 },
    { signers: [1, 2] },
    { path: [0, 2] },
    { path: [] },
    { nonce: new Uint8Array(randomBytes(32)) },
    { dkgSid: new Uint8Array(randomBytes(32)) },
  ]) {
    assert.notDeepEqual(signSid({ ...base, ...changed }), s, JSON.stringify(Object.keys(changed)));
  }
  assertDkls23Error(() => signSid({ ...base, signers: [1, 1] }), 'abort', undefined, /duplicate/);
  assertDkls23Error(() => signSid({ ...base, path: [0x80000000] }), 'abort', undefined, /non-hardened/);
  assertDkls23Error(() => signSid({ ...base, nonce: new Uint8Array(8) }), 'abort', undefined, /nonce/);

  assert.notDeepEqual(mulSid(s, 1, 3), mulSid(s, 3, 1), 'directed');
  assert.deepEqual(mulSid(s, 1, 3), mulSid(s, 1, 3));
  assertDkls23Error(() => mulSid(s, 2, 2), 'abort');
  assert.notDeepEqual(osid(d, 1, 2, 'base-ot'), osid(d, 2, 1, 'base-ot'));
  assert.notDeepEqual(osid(d, 1, 2, 'base-ot'), osid(d, 1, 2, 'pprf'));
  assert.deepEqual(sortedSignerSet([5, 2, 9]), [2, 5, 9]);
});
