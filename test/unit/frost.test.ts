import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { ProtocolError } from '../../src/protocols/errors.js';
import { FrostDkg } from '../../src/protocols/frost/dkg.js';
import { groupPublicKey, type FrostKeyShare } from '../../src/protocols/frost/key-share.js';
import { parseDkgRound1, parseDkgRound1Set, parseSigningPackage, type SigningPackage } from '../../src/protocols/frost/messages.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import { bip340Suite } from '../../src/protocols/frost/suite.js';
import { parties, runDkg, runSign } from '../helpers/frost.js';
import { asPartyId } from '../../src/core/ids.js';

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
  assertCulprit(() => dkgs[0]!.round2({ v: 2, packages: [r1[0]!, bad, r1[2]!] }), 'node-2');
  // In a set relayed to us, the relayer answers for it: it may have altered node-2's package.
  assertCulprit(() => dkgs[2]!.round2({ v: 2, packages: [r1[0]!, bad, r1[2]!] }, ids[0]), 'node-1', /rejected/);
});

test('DKG: a commitment of the wrong length is rejected and its sender named', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const bad = { ...r1[2]!, commitment: [...r1[2]!.commitment, r1[2]!.commitment[0]!] };
  assertCulprit(() => dkgs[0]!.round2({ v: 2, packages: [r1[0]!, r1[1]!, bad] }), 'node-3', /terms/);
  assertCulprit(() => dkgs[1]!.round2({ v: 2, packages: [r1[0]!, r1[1]!, bad] }, ids[0]), 'node-1', /terms/);
});

test('DKG: a relayed set with a duplicate, a missing package or our own altered names the relayer', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  assertCulprit(() => dkgs[1]!.round2({ v: 2, packages: [r1[1]!, r1[2]!, r1[2]!] }, ids[0]), 'node-1', /duplicate/);
  const again = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1b = again.map((d) => d.round1());
  assertCulprit(() => again[1]!.round2({ v: 2, packages: [r1b[0]!, r1b[1]!] }, ids[0]), 'node-1', /2 packages/);
  const other = new FrostDkg(bip340Suite, ids[2]!, 2, 3).round1();
  assertCulprit(() => again[2]!.round2({ v: 2, packages: [r1b[0]!, r1b[1]!, other] }, ids[0]), 'node-1', /own package/);
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
  const honest = { v: 2 as const, packages: r1 };
  // node-3's package as node-1 sees it was swapped for another valid one.
  const impostor = new FrostDkg(bip340Suite, ids[2]!, 2, 3).round1();
  const r2a = dkgs[0]!.round2({ v: 2, packages: [r1[0]!, r1[1]!, impostor] });
  const r2b = dkgs[1]!.round2(honest);
  const r2c = dkgs[2]!.round2(honest);
  assert.throws(() => dkgs[0]!.round3([...r2b, ...r2c].filter((m) => m.to === 'node-1')), /different round-1 set/);
  void r2a;
});

test('DKG: a share from a party our (relayed) set left out fails on the echo, naming nobody', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  // node-1 relays to node-2 a set where node-3 is a party it made up; node-3 got the real set.
  const madeUp = new FrostDkg(bip340Suite, asPartyId('node-9'), 2, 3).round1();
  dkgs[1]!.round2({ v: 2, packages: [r1[0]!, r1[1]!, madeUp] }, ids[0]);
  const fromNode3 = dkgs[2]!.round2({ v: 2, packages: r1 }, ids[0]).filter((m) => m.to === 'node-2');
  assertCulprit(() => dkgs[1]!.round3(fromNode3), undefined, /different round-1 set/);
});

test('DKG: a set that drops or alters our own package is refused; steps run in order only', () => {
  const ids = parties(3);
  const dkgs = ids.map((p) => new FrostDkg(bip340Suite, p, 2, 3));
  const r1 = dkgs.map((d) => d.round1());
  const other = new FrostDkg(bip340Suite, ids[0]!, 2, 3).round1();
  assert.throws(() => dkgs[0]!.round2({ v: 2, packages: [other, r1[1]!, r1[2]!] }), /own package/);
  assert.throws(() => dkgs[1]!.round1(), /out of order/);
  assert.throws(() => dkgs[1]!.round3([]), /out of order/);
  assert.throws(() => new FrostDkg(bip340Suite, ids[0]!, 4, 3), /threshold/);
});

/** Holders 1 and 2 of `shares` committed to signing `msg`, with holder 1 aggregating. */
function twoSigners(shares: FrostKeyShare[], msg: Uint8Array) {
  const agg = new FrostAggregator(bip340Suite, shares[0]!.publicPackage, msg);
  const a = new FrostSigner(bip340Suite, shares[0]!, msg);
  const b = new FrostSigner(bip340Suite, shares[1]!, msg);
  agg.addCommitment(a.commit());
  agg.addCommitment(b.commit());
  return { agg, a, b, pkg: agg.signingPackage() };
}

test('sign: a wrong signature share is caught and its sender named', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const { agg, a: s1, b: s2, pkg } = twoSigners(shares, msg);
  const good = s1.sign(pkg);
  const bad = { ...s2.sign(pkg), share: Buffer.from(randomBytes(32)).toString('hex') };
  assertCulprit(() => agg.aggregate([good, bad]), 'node-2', /does not verify/);
});

test('sign: a signer refuses a package for another message, without its commitment, or a second time', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const mk = () => twoSigners(shares, msg);
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

test('sign: what is wrong with a package names its sender when the signer is told it, never a party it lists', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const mk = () => twoSigners(shares, msg);
  const coordinator = parties(1)[0]!;
  let { b, pkg } = mk();
  assertCulprit(() => b.sign({ ...pkg, commitments: [...pkg.commitments, pkg.commitments[0]!] }, coordinator), 'node-1', /duplicate/);
  ({ b, pkg } = mk());
  assertCulprit(() => b.sign({ ...pkg, commitments: [...pkg.commitments, { ...pkg.commitments[0]!, from: 'node-9' }] }, coordinator), 'node-1', /holds no share/);
  ({ b, pkg } = mk());
  assertCulprit(() => b.sign({ ...pkg, commitments: [...pkg.commitments, pkg.commitments[0]!] }), undefined, /duplicate/);
  ({ b, pkg } = mk());
  b.sign(pkg, coordinator);
  assertCulprit(() => b.sign(pkg, coordinator), 'node-1', /signs once/);
});

test('aggregate: a share that is no scalar is refused naming its sender', () => {
  const shares = runDkg(parties(3), 2);
  const msg = randomBytes(32);
  const { agg, a: s1, b: s2, pkg } = twoSigners(shares, msg);
  const order = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141';
  assertCulprit(() => agg.aggregate([s1.sign(pkg), { ...s2.sign(pkg), share: order }]), 'node-2', /not a scalar/);
});

test('wire parsers reject malformed messages and name the sender', () => {
  const good = new FrostDkg(bip340Suite, parties(1)[0]!, 2, 2).round1();
  assert.deepEqual(parseDkgRound1(good, parties(1)[0]), good);
  for (const bad of [null, 'x', { ...good, v: 2 }, { ...good, proofOfKnowledge: 'zz' }, { ...good, extra: 1 }, { ...good, commitment: [] }]) {
    assertCulprit(() => parseDkgRound1(bad, parties(2)[1]), 'node-2', /malformed/);
  }
  assertCulprit(() => parseSigningPackage({ v: 1, msg: 'abc', commitments: [] }, parties(1)[0]), 'node-1');
  // A version-1 coordinator relayed the round-1 set unchecked: its set is refused at once.
  assert.deepEqual(parseDkgRound1Set({ v: 2, packages: [good, good] }, parties(1)[0]), { v: 2, packages: [good, good] });
  assertCulprit(() => parseDkgRound1Set({ v: 1, packages: [good, good] }, parties(1)[0]), 'node-1', /malformed/);
});
