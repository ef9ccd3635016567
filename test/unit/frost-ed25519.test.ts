import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { ProtocolError } from '../../src/protocols/errors.js';
import { groupPublicKey } from '../../src/protocols/frost/key-share.js';
import { FrostAggregator, FrostSigner } from '../../src/protocols/frost/sign.js';
import { bip340Suite, ed25519Suite } from '../../src/protocols/frost/suite.js';
import { parties, runDkg, runSign } from '../helpers/frost.js';

/** Every Ed25519 signature is checked by Node's own Ed25519 (OpenSSL), not by noble. */
function nodeVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
  return verify(null, msg, key, sig);
}

for (const [t, n] of [[2, 2], [2, 3], [3, 5]] as const) {
  test(`Ed25519 ${t}-of-${n}: DKG, then signatures that Node's crypto.verify accepts, any message length`, () => {
    const shares = runDkg(parties(n), t, undefined, ed25519Suite);
    const pub = groupPublicKey(ed25519Suite, shares[0]!.publicPackage);
    assert.equal(pub.length, 32);
    for (const len of [0, 1, 32, 200]) {
      const msg = randomBytes(len);
      const sig = runSign(shares.slice(0, t), msg, ed25519Suite);
      assert.equal(sig.length, 64);
      assert.ok(nodeVerify(pub, msg, sig), `length ${len}`);
      assert.ok(!nodeVerify(pub, Buffer.concat([msg, Buffer.of(1)]), sig));
    }
    const tail = shares.slice(n - t);
    const msg = randomBytes(32);
    assert.ok(nodeVerify(pub, msg, runSign(tail, msg, ed25519Suite)), 'another signing set');
  });
}

test('Ed25519: a bad share is named; a secp256k1 commitment is refused', () => {
  const shares = runDkg(parties(3), 2, undefined, ed25519Suite);
  const msg = randomBytes(32);
  const agg = new FrostAggregator(ed25519Suite, shares[0]!.publicPackage, msg);
  const a = new FrostSigner(ed25519Suite, shares[0]!, msg);
  const b = new FrostSigner(ed25519Suite, shares[1]!, msg);
  agg.addCommitment(a.commit());
  const secpCommit = new FrostSigner(bip340Suite, runDkg(parties(3), 2)[1]!, msg).commit();
  assert.throws(() => agg.addCommitment(secpCommit), (e: unknown) => e instanceof ProtocolError && e.culprit === 'node-2');
  agg.addCommitment(b.commit());
  const pkg = agg.signingPackage();
  const bad = { ...b.sign(pkg), share: Buffer.from(randomBytes(32).fill(0, 31)).toString('hex') };
  assert.throws(() => agg.aggregate([a.sign(pkg), bad]), (e: unknown) => e instanceof ProtocolError && e.culprit === 'node-2');
});
