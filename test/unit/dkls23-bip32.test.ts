import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import { ProtocolError } from '../../src/protocols/errors.js';
import { parseDerivationPath as parsePath } from '../../src/protocols/derivation/path.js';
import { Fn, G, randomScalar } from '../../src/protocols/dkls23/math/group.js';
import { lagrangeAtZero } from '../../src/protocols/dkls23/math/lagrange.js';
import { evaluatePolynomial, randomPolynomial } from '../../src/protocols/dkls23/math/feldman.js';
import {
  ckdPub,
  decodeXpub,
  derivePublic,
  encodeXpub,
  fingerprint,
  HARDENED_OFFSET,
} from '../../src/protocols/derivation/bip32.js';

/**
 * BIP-0032 test vectors 1 and 2 (bitcoin/bips, bip-0032.mediawiki): for every non-hardened
 * step, derive from the published parent xpub and compare with the published child xpub.
 */
const STEPS: { name: string; parent: string; index: number; child: string }[] = [
  {
    name: 'vector 1: m/0H → m/0H/1',
    parent: 'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw',
    index: 1,
    child: 'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ',
  },
  {
    name: 'vector 1: m/0H/1/2H → m/0H/1/2H/2',
    parent: 'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
    index: 2,
    child: 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
  },
  {
    name: 'vector 1: m/0H/1/2H/2 → m/0H/1/2H/2/1000000000',
    parent: 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
    index: 1000000000,
    child: 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
  },
  {
    name: 'vector 2: m → m/0',
    parent: 'xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB',
    index: 0,
    child: 'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH',
  },
  {
    name: 'vector 2: m/0/2147483647H → m/0/2147483647H/1',
    parent: 'xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a',
    index: 1,
    child: 'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon',
  },
  {
    name: 'vector 2: m/0/2147483647H/1/2147483646H → …/2',
    parent: 'xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL',
    index: 2,
    child: 'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt',
  },
];

function assertAbort(fn: () => unknown, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

for (const step of STEPS) {
  test(`bip32 ${step.name}`, () => {
    const parent = decodeXpub(step.parent);
    const child = decodeXpub(step.child);
    const d = derivePublic(parent, [step.index]);
    assert.deepEqual(d.publicKey.toBytes(true), child.publicKey.toBytes(true));
    assert.deepEqual(d.chainCode, child.chainCode);
    assert.equal(d.depth, child.depth);
    assert.equal(d.childNumber, child.childNumber);
    assert.deepEqual(d.parentFingerprint, child.parentFingerprint);
    assert.deepEqual(d.parentFingerprint, fingerprint(parent.publicKey));
    assert.equal(encodeXpub(d), step.child);
    assert.equal(encodeXpub(parent), step.parent, 'xpub codec round trip');
    // The tweak moves the key: K' = K + δ·G.
    assert.ok(d.publicKey.equals(parent.publicKey.add(G.multiply(d.tweak))));
  });
}

test('bip32 vector 1: two steps at once (m/0H/1/2H → …/2/1000000000) accumulate the tweak', () => {
  const parent = decodeXpub(STEPS[1]!.parent);
  const d = derivePublic(parent, 'm/2/1000000000');
  assert.equal(encodeXpub(d), STEPS[2]!.child);
  const s1 = ckdPub(parent.publicKey, parent.chainCode, 2);
  const s2 = ckdPub(s1.publicKey, s1.chainCode, 1000000000);
  assert.equal(d.tweak, Fn.add(s1.tweak, s2.tweak));
});

test('bip32: random non-hardened paths match @scure/bip32', () => {
  const roots = [
    ...STEPS.map((s) => s.parent),
    HDKey.fromMasterSeed(new Uint8Array(randomBytes(32))).publicExtendedKey,
    HDKey.fromMasterSeed(new Uint8Array(randomBytes(64))).derive("m/44'/60'/0'").publicExtendedKey,
  ];
  for (const xpub of roots) {
    for (let k = 0; k < 4; k++) {
      const path = Array.from({ length: 1 + randomInt(5) }, () => (k === 0 ? randomInt(10) : randomInt(HARDENED_OFFSET)));
      const pathStr = 'm/' + path.join('/');
      const ref = HDKey.fromExtendedKey(xpub).derive(pathStr);
      const mine = derivePublic(decodeXpub(xpub), pathStr);
      assert.deepEqual(mine.publicKey.toBytes(true), ref.publicKey);
      assert.deepEqual(mine.chainCode, ref.chainCode);
      assert.equal(encodeXpub(mine), ref.publicExtendedKey, `${xpub} ${pathStr}`);
      assert.deepEqual(derivePublic(decodeXpub(xpub), path), mine, 'string and number paths agree');
    }
  }
});

test('bip32: (sk + δ)·G is the derived child key; threshold shares shifted by δ interpolate to sk + δ', () => {
  const sk = randomScalar();
  const chainCode = new Uint8Array(randomBytes(32));
  const pk = G.multiply(sk);
  const d = derivePublic({ publicKey: pk, chainCode }, 'm/7/0/42');
  assert.ok(G.multiply(Fn.add(sk, d.tweak)).equals(d.publicKey));
  // Same as a full private derivation with @scure/bip32.
  const priv = new HDKey({ privateKey: Fn.toBytes(sk), chainCode });
  const ref = priv.derive('m/7/0/42');
  assert.equal(Fn.fromBytes(ref.privateKey!), Fn.add(sk, d.tweak));
  // 2-of-3: x'_i = x_i + δ, Σ λ_i·x'_i = sk + δ.
  const f = randomPolynomial(2, sk);
  const signers = [1, 3];
  const sum = signers.reduce((acc, i) => Fn.add(acc, Fn.mul(lagrangeAtZero(signers, i), Fn.add(evaluatePolynomial(f, i), d.tweak))), 0n);
  assert.equal(sum, Fn.add(sk, d.tweak));
  // Empty path: no tweak.
  const root = derivePublic({ publicKey: pk.toBytes(true), chainCode }, 'm');
  assert.equal(root.tweak, 0n);
  assert.ok(root.publicKey.equals(pk));
});

test('bip32: hardened steps and malformed paths are refused with a clear error', () => {
  const root = decodeXpub(STEPS[3]!.parent);
  for (const p of ["m/0'", 'm/0h', 'm/1/2H', [HARDENED_OFFSET], [0, 0xffffffff]]) {
    assertAbort(() => derivePublic(root, p), /hardened/);
  }
  assertAbort(() => parsePath('m/2147483648'), /hardened/);
  for (const p of ['m/', '/0', 'm//1', 'm/-1', 'm/01', 'm/1.5', 'm/0x1', 'x/1', 'm/1 ', 'm/99999999999']) {
    assertAbort(() => parsePath(p));
  }
  for (const p of [[-1], [1.5], [2 ** 32]]) assertAbort(() => parsePath(p));
  assert.deepEqual(parsePath('m'), []);
  assert.deepEqual(parsePath(''), [], "'' is the key itself, as the API has always taken it");
  assert.deepEqual(parsePath('m/0/2147483647'), [0, 2147483647]);
  assert.deepEqual(parsePath('5/6'), [5, 6]);
  assertAbort(() => ckdPub(root.publicKey, root.chainCode, HARDENED_OFFSET), /hardened/);
  assertAbort(() => ckdPub(root.publicKey, root.chainCode.subarray(1), 0), /chain code/);
  assertAbort(() => derivePublic({ publicKey: new Uint8Array(33), chainCode: root.chainCode }, 'm/0'));
});

test('xpub codec: refuses private keys, bad checksums, bad keys and bad depth-0 metadata', () => {
  const good = STEPS[3]!.parent;
  assertAbort(() => decodeXpub(HDKey.fromMasterSeed(new Uint8Array(32)).privateExtendedKey), /private/);
  const chars = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  const last = good[good.length - 1]!;
  const swapped = good.slice(0, -1) + chars[(chars.indexOf(last) + 1) % 58];
  assertAbort(() => decodeXpub(swapped), /checksum|length/);
  assertAbort(() => decodeXpub(good.slice(0, -1)), /length|checksum/);
  assertAbort(() => decodeXpub(good + '0'), /Base58/);
  assertAbort(() => decodeXpub(''), /length/);
  const x = decodeXpub(good);
  assertAbort(() => decodeXpub(encodeXpub({ ...x, childNumber: 1 })), /depth 0/);
  assertAbort(() => decodeXpub(encodeXpub({ ...x, parentFingerprint: new Uint8Array([0, 0, 0, 1]) })), /depth 0/);
  assert.equal(decodeXpub(encodeXpub({ ...x, depth: 1, childNumber: 1 })).childNumber, 1);
});
