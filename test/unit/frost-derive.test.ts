import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import * as ecc from 'tiny-secp256k1';
import { deriveFrostPublic, deriveFrostShare, frostChainCode } from '../../src/protocols/frost/derive.js';
import { parseDerivationPath } from '../../src/protocols/derivation/path.js';
import { groupPublicKey } from '../../src/protocols/frost/key-share.js';
import { bip340Suite, ed25519Suite } from '../../src/protocols/frost/suite.js';
import { fromHex } from '../../src/core/hex.js';
import { parties, runDkg, runSign } from '../helpers/frost.js';

test('BIP340: a derived child key is the one @scure/bip32 derives from the same xpub, and it signs 2-of-3', () => {
  const shares = runDkg(parties(3), 2);
  const pkg = shares[0]!.publicPackage;
  const root = new HDKey({ publicKey: fromHex(pkg.commitments[0]!), chainCode: frostChainCode(bip340Suite, pkg) });
  for (const path of ['m/0', 'm/0/1', 'm/44/0/0/7', 'm/2147483647']) {
    const steps = parseDerivationPath(path);
    const child = deriveFrostPublic(bip340Suite, pkg, steps);
    const expected = root.derive(path);
    assert.equal(Buffer.from(fromHex(child.publicPackage.commitments[0]!)).toString('hex'), Buffer.from(expected.publicKey!).toString('hex'), path);
    assert.deepEqual(Buffer.from(child.chainCode), Buffer.from(expected.chainCode!));
    const childShares = [shares[0]!, shares[2]!].map((s) => deriveFrostShare(bip340Suite, s, steps));
    const msg = randomBytes(32);
    const sig = runSign(childShares, msg);
    const xonly = groupPublicKey(bip340Suite, child.publicPackage);
    assert.ok(ecc.verifySchnorr(msg, xonly, sig), `child ${path} signs`);
    assert.ok(!ecc.verifySchnorr(msg, groupPublicKey(bip340Suite, pkg), sig), 'not under the parent');
  }
});

test('Ed25519: additive-tweak children sign, verified by Node\'s Ed25519', () => {
  const shares = runDkg(parties(3), 2, undefined, ed25519Suite);
  const steps = parseDerivationPath('m/7/3');
  const child = deriveFrostPublic(ed25519Suite, shares[0]!.publicPackage, steps);
  const pub = groupPublicKey(ed25519Suite, child.publicPackage);
  const msg = randomBytes(40);
  const sig = runSign(shares.slice(1).map((s) => deriveFrostShare(ed25519Suite, s, steps)), msg, ed25519Suite);
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
  assert.ok(verify(null, msg, key, sig));
  assert.notDeepEqual(pub, groupPublicKey(ed25519Suite, shares[0]!.publicPackage));
});

test('paths: hardened or malformed steps are refused', () => {
  assert.deepEqual(parseDerivationPath('m'), []);
  assert.deepEqual(parseDerivationPath('m/0/12'), [0, 12]);
  for (const bad of ["m/0'", 'm/1h', 'm/2147483648', 'm//1', 'm/01', 'm/-1', 'x/1', 'm/1/']) assert.throws(() => parseDerivationPath(bad), bad);
});
