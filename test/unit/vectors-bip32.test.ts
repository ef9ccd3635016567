import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HDKey } from '@scure/bip32';
import { decodeXpub, derivePublic, encodeXpub, fingerprint } from '../../src/protocols/derivation/bip32.js';
import { encodePoint, encodeScalar } from '../../src/protocols/dkls23/math/group.js';
import { parseDerivationPath } from '../../src/protocols/derivation/path.js';

/**
 * BIP32 known answers (test/vectors/bip32.json): public derivation and xpubs against the BIP32
 * document's test vectors, the depth limit, refused keys and steps, and both path parsers.
 */
interface KeyNode {
  vector: number;
  chain: string;
  xpub: string;
  xprv: string;
  publicKey: string;
  chainCode: string;
  depth: number;
  parentFingerprint: string;
  childNumber: number;
  fingerprint: string;
}
type Expected = number[] | { refused: 'hardened' | 'malformed' | 'depth' };
interface Vectors {
  about: string;
  derivations: Array<{ parent: KeyNode; indices: number[]; child: KeyNode; tweak: string }>;
  depthLimit: { root: string; rootXprv: string; accepted: { indices: number[]; childXpub: string }; refused: { indices: number[] } };
  refusedDerivations: Array<{ parentXpub: string; indices?: number[]; path?: string; reason: string }>;
  refusedExtendedKeys: Array<{ key: string; reason: string }>;
  paths: Array<{ path: string; expected: Expected }>;
}

const v = JSON.parse(readFileSync(new URL('../../../test/vectors/bip32.json', import.meta.url), 'utf8')) as Vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const REASON = { hardened: /hardened/, malformed: /malformed|32-bit/, depth: /255/ } as const;
const name = (d: Vectors['derivations'][number]) => `vector ${d.parent.vector}: ${d.parent.chain} -> ${d.child.chain}`;

describe('BIP32 vectors: the file\'s hex fields are the BIP32 document\'s strings (decoded by @scure/bip32)', () => {
  for (const d of v.derivations) {
    test(name(d), () => {
      for (const n of [d.parent, d.child]) {
        const k = HDKey.fromExtendedKey(n.xpub);
        assert.equal(hex(k.publicKey!), n.publicKey);
        assert.equal(hex(k.chainCode!), n.chainCode);
        assert.equal(k.depth, n.depth);
        assert.equal(k.parentFingerprint.toString(16).padStart(8, '0'), n.parentFingerprint);
        assert.equal(k.index, n.childNumber);
        assert.equal(k.fingerprint.toString(16).padStart(8, '0'), n.fingerprint);
        assert.equal(HDKey.fromExtendedKey(n.xprv).publicExtendedKey, n.xpub, 'the xprv is the xpub\'s');
      }
      const priv = (s: string) => BigInt('0x' + hex(HDKey.fromExtendedKey(s).privateKey!));
      assert.equal((((priv(d.child.xprv) - priv(d.parent.xprv)) % N) + N) % N, BigInt('0x' + d.tweak), 'tweak = k_child − k_parent');
    });
  }
});

describe('BIP32 public derivation (derivePublic, decodeXpub, encodeXpub)', () => {
  for (const d of v.derivations) {
    test(name(d), () => {
      const parent = decodeXpub(d.parent.xpub);
      assert.equal(hex(encodePoint(parent.publicKey)), d.parent.publicKey);
      assert.equal(hex(parent.chainCode), d.parent.chainCode);
      assert.equal(parent.depth, d.parent.depth);
      assert.equal(hex(parent.parentFingerprint), d.parent.parentFingerprint);
      assert.equal(parent.childNumber, d.parent.childNumber);
      assert.equal(hex(fingerprint(parent.publicKey)), d.parent.fingerprint);
      assert.equal(encodeXpub(parent), d.parent.xpub);

      for (const path of [d.indices, `m/${d.indices.join('/')}`, d.indices.join('/')]) {
        const child = derivePublic(parent, path);
        assert.equal(hex(encodePoint(child.publicKey)), d.child.publicKey);
        assert.equal(hex(child.chainCode), d.child.chainCode);
        assert.equal(hex(encodeScalar(child.tweak)), d.tweak);
        assert.equal(child.depth, d.child.depth);
        assert.equal(hex(child.parentFingerprint), d.child.parentFingerprint);
        assert.equal(child.childNumber, d.child.childNumber);
        assert.deepEqual(child.path, d.indices);
        assert.equal(encodeXpub(child), d.child.xpub);
      }
    });
  }

  test('depth limit: 255 steps from a depth-0 key work, a 256th is refused', () => {
    const root = decodeXpub(v.depthLimit.root);
    const child = derivePublic(root, v.depthLimit.accepted.indices);
    assert.equal(child.depth, 255);
    assert.equal(encodeXpub(child), v.depthLimit.accepted.childXpub);
    assert.throws(() => derivePublic(root, v.depthLimit.refused.indices), REASON.depth);
    assert.throws(() => derivePublic(decodeXpub(v.depthLimit.accepted.childXpub), [0]), REASON.depth);
  });

  for (const r of v.refusedDerivations) {
    test(`refused: ${r.path ?? JSON.stringify(r.indices)} from ${r.parentXpub.slice(0, 12)}… (${r.reason})`, () => {
      assert.throws(() => derivePublic(decodeXpub(r.parentXpub), r.path ?? r.indices!), REASON[r.reason as keyof typeof REASON]);
    });
  }

  for (const k of v.refusedExtendedKeys) {
    test(`refused extended key: ${k.reason} (${k.key.slice(0, 12)}…)`, () => {
      assert.throws(() => decodeXpub(k.key));
    });
  }
});

describe('derivation paths', () => {
  const check = (fn: (p: string) => number[], path: string, expected: Expected) => {
    if (Array.isArray(expected)) assert.deepEqual(fn(path), expected);
    else assert.throws(() => fn(path), REASON[expected.refused]);
  };
  for (const c of v.paths) {
    const shown = c.path.length > 24 ? `${c.path.slice(0, 12)}… (${c.path.split('/').length - 1} steps)` : JSON.stringify(c.path);
    test(`${shown}: ${JSON.stringify(c.expected).slice(0, 40)}`, () => check(parseDerivationPath, c.path, c.expected));
  }
});
