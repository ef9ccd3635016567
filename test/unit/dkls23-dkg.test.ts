import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dkls23Error } from '../../src/protocols/dkls23/errors.js';
import { decodeSecret, encodeSecret, publicFromJson, publicToJson } from '../../src/protocols/dkls23/keyshare/keyshare.js';
import { lagrangeCoefficients } from '../../src/protocols/dkls23/math/lagrange.js';
import { G, Point } from '../../src/protocols/dkls23/math/group.js';
import { parties } from '../helpers/frost.js';
import { runDkls23Dkg } from '../helpers/dkls23.js';

function combinations<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return xs.flatMap((x, i) => combinations(xs.slice(i + 1), k - 1).map((rest) => [x, ...rest]));
}

// 3-of-5 takes about a minute on these machines (20 OT setups per party); 2-of-3 covers the same code.
for (const [t, n] of [[2, 2], [2, 3]] as const) {
  test(`DKLs23 DKG ${t}-of-${n}: consistent public data; every t-subset's shares interpolate to the key`, () => {
    const started = performance.now();
    const shares = runDkls23Dkg(parties(n), t);
    const ms = performance.now() - started;
    const pk = shares[0]!.pub.publicKey;
    for (const s of shares) {
      assert.ok(s.pub.publicKey.equals(pk));
      assert.deepEqual(Buffer.from(s.pub.chainCode), Buffer.from(shares[0]!.pub.chainCode));
      assert.deepEqual(Buffer.from(s.pub.dkgSid), Buffer.from(shares[0]!.pub.dkgSid));
      assert.equal(s.peers.size, n - 1);
    }
    for (const set of combinations(shares, t)) {
      const idx = set.map((s) => s.pub.parties.indexOf(s.self) + 1);
      const lambdas = lagrangeCoefficients(idx);
      const sum = set.reduce((acc, s, k) => acc.add(G.multiply(Point.Fn.mul(lambdas.get(idx[k]!)!, s.secret))), Point.ZERO);
      assert.ok(sum.equals(pk), `subset ${idx}`);
    }
    // Serialization round trip of both halves.
    const s0 = shares[0]!;
    const back = decodeSecret(s0.self, publicFromJson(JSON.parse(JSON.stringify(publicToJson(s0.pub)))), encodeSecret(s0));
    assert.equal(back.secret, s0.secret);
    assert.deepEqual(encodeSecret(back), encodeSecret(s0));
    console.log(`# DKLs23 DKG ${t}-of-${n} in one process: ${ms.toFixed(0)} ms`);
  });
}

// One flipped bit 40 bytes from either end of each round's message (in rounds 1-3 the +40 one
// hits a length prefix); test/adversarial/dkls23-dkg-attacks.test.ts tampers every field.
test('DKLs23 DKG: a cheater\'s flipped bit near either end of its message of any round aborts; no honest party blames another', () => {
  const ids = parties(2);
  for (const round of [1, 2, 3, 4]) {
    for (const offset of [40, -40]) {
      assert.throws(
        () =>
          runDkls23Dkg(ids, 2, (r, from, _to, m) => {
            if (r !== round || from !== 'node-2') return m;
            const bad = Uint8Array.from(m);
            const k = offset < 0 ? bad.length + offset : Math.min(offset, bad.length - 1);
            bad[k]! ^= 1;
            return bad;
          }),
        (e: unknown) => {
          assert.ok(e instanceof Dkls23Error, String(e));
          const at = (e as { at?: string }).at;
          // node-2 cheats: what it concludes is worthless; an honest party must name node-2 or no one.
          if (at !== 'node-2') assert.ok(e.culprit === 'node-2' || e.culprit === undefined, `round ${round}+${offset}: ${at} blamed ${e.culprit}`);
          return true;
        },
        `round ${round} offset ${offset}`,
      );
    }
  }
});
