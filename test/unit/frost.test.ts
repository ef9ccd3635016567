import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { ProtocolError } from '../../src/protocols/errors.js';
import { FrostDkg } from '../../src/protocols/frost/dkg.js';
import { groupPublicKey } from '../../src/protocols/frost/key-share.js';
import { parseDkgRound1, parseSigningPackage, type SigningPackage } from '../../src/protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import { bip340Suite } from '../../src/protocols/frost/suite.js';
import { parties, runDkg, runSign } from '../helpers/frost.js';

const pubOf = (shares: ReturnType<typeof runDkg>) => groupPublicKey(bip340Suite, shares[0]!.publicPackage);

function combinations<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return xs.flatMap((x, i) => combinations(xs.slice(i + 1), k - 1).map((rest) => [x, ...rest]));
}

function assertCulprit(fn: () => unknown, culprit: string | undefined, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${e}`);
    assert.equal(e.culprit, culprit);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

for (const [t, n] of [
  [2, 2],
  [2, 3],
  [3, 3],
  [3, 5],
] as const) {
  test(`${t}-of-${n}: DKG then every signing set of t parties gives a libsecp256k1-valid BIP340 signature`, () => {
    const shares = runDkg(parties(n), t);
    const pub = pubOf(shares);
    assert.equal(pub.length, 32);
    for (const s of shares) assert.deepEqual(groupPublicKey(bip340Suite, s.publicPackage), pub, 'all parties agree on the key');
    for (const set of combinations(shares, t)) {
      const msg = randomBytes(32);
      const sig = runSign(set, msg);
      assert.equal(sig.length, 64);
      assert.ok(ecc.verifySchnorr(msg, pub, sig), `signers ${set.map((s) => s.party)}`);
      const other = randomBytes(32);
      assert.ok(!ecc.verifySchnorr(other, pub, sig), 'signature is bound to its message');
    }
  });
}

test('many signatures with one key use fresh nonces (distinct R) and all verify', () => {
  const shares = runDkg(parties(3), 2);
  const pub = pubOf(shares);
  const rs = new Set<string>();
  const msg = randomBytes(32);
  for (let i = 0; i < 20; i++) {
    const sig = runSign([shares[i % 3]!, shares[(i + 1) % 3]!], msg);
    assert.ok(ecc.verifySchnorr(msg, pub, sig));
    rs.add(Buffer.from(sig.subarray(0, 32)).toString('hex'));
  }
  assert.equal(rs.size, 20);
});

test('fewer than t signers cannot sign', () => {
  const shares = runDkg(parties(3), 2);
  const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, randomBytes(32));
  agg.addCommitment(new FrostSigner(bip340Suite, shares[0]!, randomBytes(32)).commit());
  assert.throws(() => agg.signingPackage(), ProtocolError);
});

test('DKG: a forged proof of knowledge is rejected and its sender named', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const bad = { ...r1[1]!, proofOfKnowledge: r1[2]!.proofOfKnowledge };
  assertCulprit(() => dkgs[0]!.round2({ v: 1, packages: [r1[0]!, bad, r1[2]!] }), 'node-2');
});

test('DKG: a commitment of the wrong length is rejected and its sender named', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const bad = { ...r1[2]!, commitment: [...r1[2]!.commitment, r1[2]!.commitment[0]!] };
  assertCulprit(() => dkgs[0]!.round2({ v: 1, packages: [r1[0]!, r1[1]!, bad] }), 'node-3', /terms/);
});

test('DKG: a round-2 share that does not match its commitment names the sender', () => {
  const ids = parties(3);
  assertCulprit(
    () =>
      runDkg(ids, 2, (m) =>
        m.from === 'node-3' && m.to === 'node-1' ? { ...m, signingShare: Buffer.from(randomBytes(32)).toString('hex') } : m,
      ),
    'node-3',
    /VSS/,
  );
});

test('DKG: equivocation in round 1 (different sets to different parties) is caught', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const honest = { v: 1 as const, packages: r1 };
  // node-3's package as node-1 sees it was swapped for another valid one.
  const impostor = new FrostDkg(bip340Suite, ids[2]!, 2, 3).round1();
  const r2a = dkgs[0]!.round2({ v: 1, packages: [r1[0]!, r1[1]!, impostor] });
  const r2b = dkgs[1]!.round2(honest);
  const r2c = dkgs[2]!.round2(honest);
  assert.throws(() => dkgs[0]!.round3([...r2b, ...r2c].filter((m) => m.to === 'node-1')), /different round-1 set/);
  void r2a;
});

test('DKG: a set that drops or alters our own package is refused; steps run in order only', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const other = new FrostDkg(bip340Suite, ids[0]!, 2, 3).round1();
  assert.throws(() => dkgs[0]!.round2({ v: 1, packages: [other, r1[1]!, r1[2]!] }), /own package/);
  assert.throws(() => dkgs[1]!.round1(), /out of order/);
  assert.throws(() => dkgs[1]!.round3([]), /out of order/);
  assert.throws(() => new FrostDkg(bip340Suite, ids[0]!, 4, 3), /threshold/);
});

test('sign: a wrong signature share is caught and its sender named', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, msg);
  const s1 = new FrostSigner(bip340Suite, shares[0]!, msg);
  const s2 = new FrostSigner(bip340Suite, shares[1]!, msg);
  agg.addCommitment(s1.commit());
  agg.addCommitment(s2.commit());
  const pkg = agg.signingPackage();
  const good = s1.sign(pkg);
  const bad = { ...s2.sign(pkg), share: Buffer.from(randomBytes(32)).toString('hex') };
  assertCulprit(() => agg.aggregate([good, bad]), 'node-2', /does not verify/);
});

test('sign: a signer refuses a package for another message, without its commitment, or a second time', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const mk = () => {
    const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, msg);
    const a = new FrostSigner(bip340Suite, shares[0]!, msg);
    const b = new FrostSigner(bip340Suite, shares[1]!, msg);
    agg.addCommitment(a.commit());
    agg.addCommitment(b.commit());
    return { a, b, pkg: agg.signingPackage() };
  };
  let { a, pkg } = mk();
  assert.throws(() => a.sign({ ...pkg, msg: Buffer.from(randomBytes(32)).toString('hex') }), /another message/);
  ({ a, pkg } = mk());
  const swapped: SigningPackage = { ...pkg, commitments: pkg.commitments.map((c) => (c.from === 'node-1' ? { ...c, hiding: c.binding } : c)) };
  assert.throws(() => a.sign(swapped), /our commitment/);
  ({ a, pkg } = mk());
  a.sign(pkg);
  assert.throws(() => a.sign(pkg), /signs once/);
});

test('sign: commitments from non-holders, duplicates and invalid points are refused and named', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, msg);
  const c = new FrostSigner(bip340Suite, shares[1]!, msg).commit();
  assertCulprit(() => agg.addCommitment({ ...c, from: 'node-9' }), 'node-9', /holds no share/);
  assertCulprit(() => agg.addCommitment({ ...c, hiding: '02' + 'ff'.repeat(32) }), 'node-2', /curve point/);
  agg.addCommitment(c);
  assertCulprit(() => agg.addCommitment(c), 'node-2', /second/);
});

test('wire parsers reject malformed messages and name the sender', () => {
  const good = new FrostDkg(bip340Suite, parties(1)[0]!, 2, 2).round1();
  assert.deepEqual(parseDkgRound1(good, parties(1)[0]), good);
  for (const bad of [null, 'x', { ...good, v: 2 }, { ...good, proofOfKnowledge: 'zz' }, { ...good, extra: 1 }, { ...good, commitment: [] }]) {
    assertCulprit(() => parseDkgRound1(bad, parties(2)[1]), 'node-2', /malformed/);
  }
  assertCulprit(() => parseSigningPackage({ v: 1, msg: 'abc', commitments: [] }, parties(1)[0]), 'node-1');
});
