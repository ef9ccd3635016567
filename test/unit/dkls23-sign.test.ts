import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { computeAddress, recoverAddress, Signature } from 'ethers';
import * as ecc from 'tiny-secp256k1';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import type { Dkls23KeyShare } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { encodePoint, G } from '../../src/protocols/dkls23/math/group.js';
import { parties } from '../helpers/frost.js';
import { runDkls23Dkg, runDkls23Sign } from '../helpers/dkls23.js';

const hex32 = (x: bigint) => x.toString(16).padStart(64, '0');

/** Checks with libsecp256k1 (low-S enforced) and with ethers' recovery. */
function assertValid(pub: Uint8Array, hash: Uint8Array, sig: { r: bigint; s: bigint; recovery: number }) {
  const compact = Buffer.from(hex32(sig.r) + hex32(sig.s), 'hex');
  assert.ok(ecc.verify(hash, pub, compact, true), 'libsecp256k1 accepts it (strict low-S)');
  const recovered = recoverAddress(hash, Signature.from({ r: '0x' + hex32(sig.r), s: '0x' + hex32(sig.s), v: 27 + (sig.recovery & 1) }));
  assert.equal(recovered, computeAddress('0x' + Buffer.from(pub).toString('hex')), 'ethers recovers the key\'s address');
}

describe('DKLs23 signing', { timeout: 600_000 }, () => {
  let shares: Dkls23KeyShare[];
  let pub: Uint8Array;
  before(() => {
    shares = runDkls23Dkg(parties(3), 2);
    pub = encodePoint(shares[0]!.pub.publicKey);
  });

  test('2-of-3: every pair signs; signatures verify under libsecp256k1 and ethers recovery', () => {
    for (const pair of [[0, 1], [0, 2], [1, 2], [2, 0]]) {
      const hash = randomBytes(32);
      const started = performance.now();
      const sig = runDkls23Sign(pair.map((k) => shares[k]!), hash);
      console.log(`# DKLs23 2-of-3 sign in one process: ${(performance.now() - started).toFixed(0)} ms`);
      assertValid(pub, hash, sig);
    }
  });

  test('many signatures: fresh R every time, all low-S', () => {
    const rs = new Set<bigint>();
    for (let i = 0; i < 6; i++) {
      const hash = randomBytes(32);
      const sig = runDkls23Sign([shares[i % 3]!, shares[(i + 1) % 3]!], hash);
      assertValid(pub, hash, sig);
      rs.add(sig.r);
    }
    assert.equal(rs.size, 6);
  });

  test('a derived child (tweak δ) signs under PK + δ·G', () => {
    const tweak = 123456789n;
    const hash = randomBytes(32);
    const sig = runDkls23Sign([shares[0]!, shares[2]!], hash, tweak);
    assertValid(encodePoint(shares[0]!.pub.publicKey.add(G.multiply(tweak))), hash, sig);
  });

  test('a cheater is caught in every round; OT/RVOLE/Γ failures are bans naming it; no honest party blames another', () => {
    const outcomes = new Map<string, number>();
    for (const round of [1, 2, 3]) {
      for (const offset of [4, 60, 200, -70, -1]) {
        assert.throws(
          () =>
            runDkls23Sign([shares[0]!, shares[1]!], randomBytes(32), 0n, (r, from, _to, m) => {
              if (r !== round || from !== 'node-2') return m;
              const bad = Uint8Array.from(m);
              bad[offset < 0 ? bad.length + offset : Math.min(offset, bad.length - 1)]! ^= 1;
              return bad;
            }),
          (e: unknown) => {
            assert.ok(e instanceof Dkls23Error, String(e));
            const at = (e as { at?: string }).at;
            if (at !== 'node-2') assert.ok(e.culprit === 'node-2' || e.culprit === undefined, `round ${round}+${offset}: ${at} blamed ${e.culprit}`);
            outcomes.set(`${e.kind}:${e.culprit ?? '-'}`, (outcomes.get(`${e.kind}:${e.culprit ?? '-'}`) ?? 0) + 1);
            return true;
          },
        );
      }
    }
    assert.ok(outcomes.get('ban:node-2'), `some tampering is a ban of node-2: ${[...outcomes]}`);
  });
});

describe('DKLs23 3-of-5', { timeout: 600_000 }, () => {
  test('DKG among 5, then signing sets of 3 (including non-adjacent indices) verify under libsecp256k1 and ethers', () => {
    const shares = runDkls23Dkg(parties(5), 3);
    const pub = encodePoint(shares[0]!.pub.publicKey);
    for (const set of [[0, 1, 2], [0, 2, 4], [1, 3, 4]]) {
      const hash = randomBytes(32);
      assertValid(pub, hash, runDkls23Sign(set.map((k) => shares[k]!), hash));
    }
  });
});
