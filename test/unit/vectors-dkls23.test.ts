import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { HDKey } from '@scure/bip32';
import * as ecc from 'tiny-secp256k1';
import { runDkls23Transcript, type Dkls23VectorInputs, type Dkls23VectorOutputs } from '../helpers/dkls23-transcript.js';

/**
 * DKLs23 known answers with fixed randomness (test/vectors/dkls23-*.json, made by
 * test/vectors/generate.ts): the same seed must give the same messages, key and signature,
 * byte for byte, so any change to the protocol's messages shows here as a vector change.
 * The signature and the derived key are also checked independently of our code.
 */
const dir = new URL('../../../test/vectors/', import.meta.url);
const files = readdirSync(dir).filter((f) => /^dkls23-.*\.json$/.test(f));
const unhex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

interface Vector extends Dkls23VectorOutputs {
  about: string;
  inputs: Dkls23VectorInputs;
}

test('there are DKLs23 vectors', () => assert.ok(files.length > 0));

for (const file of files) {
  const v = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Vector;

  describe(`${file}: ${v.inputs.threshold}-of-${v.inputs.parties.length}, signers ${v.inputs.signers.join(', ')}, path ${v.inputs.path}`, { timeout: 300_000 }, () => {
    const first = runDkls23Transcript(v.inputs);

    test('the DKG gives exactly the recorded messages, key, public shares, chain code and session id', () => {
      assert.deepEqual(first.outputs.dkg.messages, v.dkg.messages);
      assert.deepEqual(first.outputs.dkg, v.dkg);
    });

    test('signing gives exactly the recorded messages, session id, tweak and signature', () => {
      assert.deepEqual(first.outputs.sign.messages, v.sign.messages);
      assert.deepEqual(first.outputs.sign, v.sign);
    });

    test('the recorded signature verifies under the recorded derived key with libsecp256k1 (strict low-S), and recovers it', () => {
      const hash = unhex(v.inputs.messageHash);
      const pub = unhex(v.sign.derivedPublicKey);
      const compact = unhex(v.sign.signature.r + v.sign.signature.s);
      assert.ok(ecc.verify(hash, pub, compact, true));
      const recovered = ecc.recover(hash, compact, v.sign.signature.recovery as 0 | 1 | 2 | 3, true);
      assert.ok(recovered && Buffer.from(recovered).equals(Buffer.from(pub)), 'the recovery id recovers the derived key');
      // Not under the root key, nor for another hash.
      assert.equal(ecc.verify(hash, unhex(v.dkg.publicKey), compact), false);
      const other = Uint8Array.from(hash);
      other[0]! ^= 1;
      assert.equal(ecc.verify(other, pub, compact), false);
    });

    test('the derived key and chain code are those of @scure/bip32 from the root key and chain code', () => {
      const root = new HDKey({ publicKey: unhex(v.dkg.publicKey), chainCode: unhex(v.dkg.chainCode) });
      const child = root.derive(v.inputs.path);
      assert.equal(Buffer.from(child.publicKey!).toString('hex'), v.sign.derivedPublicKey);
      assert.equal(Buffer.from(child.chainCode!).toString('hex'), v.sign.derivedChainCode);
      // δ·G = child − root: the tweak is the one that moves the key.
      const tweakG = ecc.pointFromScalar(unhex(v.sign.tweak), true)!;
      assert.equal(Buffer.from(ecc.pointAdd(unhex(v.dkg.publicKey), tweakG, true)!).toString('hex'), v.sign.derivedPublicKey);
    });

    test('the public shares interpolate to the public key (any two of them, Lagrange at 0)', () => {
      const ids = v.inputs.parties;
      for (let a = 0; a < ids.length; a++) {
        for (let b = a + 1; b < ids.length; b++) {
          // λ_a = b/(b−a), λ_b = a/(a−b) for indices a+1, b+1.
          const [i, j] = [BigInt(a + 1), BigInt(b + 1)];
          const la = mod(j * inv(mod(j - i)));
          const lb = mod(i * inv(mod(i - j)));
          const pa = ecc.pointMultiply(unhex(v.dkg.publicShares[ids[a]!]!), be32(la), true)!;
          const pb = ecc.pointMultiply(unhex(v.dkg.publicShares[ids[b]!]!), be32(lb), true)!;
          assert.equal(Buffer.from(ecc.pointAdd(pa, pb, true)!).toString('hex'), v.dkg.publicKey, `${ids[a]} + ${ids[b]}`);
        }
      }
    });

    test('a second run with the same seed is byte-identical; another seed changes every party\'s messages', () => {
      const again = runDkls23Transcript(v.inputs);
      assert.equal(again.raw.length, first.raw.length);
      first.raw.forEach((m, k) => assert.ok(Buffer.from(m).equals(Buffer.from(again.raw[k]!)), `message ${k}`));
      assert.deepEqual(again.outputs, first.outputs);
      const other = runDkls23Transcript({ ...v.inputs, seed: `${v.inputs.seed} (another)` });
      const before = new Set([...v.dkg.messages, ...v.sign.messages].map((m) => m.sha256));
      for (const m of [...other.outputs.dkg.messages, ...other.outputs.sign.messages]) assert.ok(!before.has(m.sha256), `round ${m.round} ${m.from}→${m.to}`);
      assert.notEqual(other.outputs.dkg.publicKey, v.dkg.publicKey);
    });
  });
}

const N = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const mod = (x: bigint) => ((x % N) + N) % N;
function inv(x: bigint): bigint {
  let [a, b, u, w] = [mod(x), N, 1n, 0n];
  while (a !== 0n) {
    const k = b / a;
    [a, b] = [b - k * a, a];
    [u, w] = [w - k * u, u];
  }
  return mod(w);
}
const be32 = (x: bigint) => unhex(x.toString(16).padStart(64, '0'));
