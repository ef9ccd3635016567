import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { groupPublicKey } from '../src/protocols/frost/key-share.js';
import { FrostAggregator, FrostSigner } from '../src/protocols/frost/sign.js';
import { bip340Suite, ed25519Suite, type FrostSuite } from '../src/protocols/frost/suite.js';
import { parties, runDkg, runSign } from '../test/helpers/frost.js';
import { timeSync } from './stats.js';
import { ed25519KeyObject, verifyBip340, verifyEd25519 } from './verify.js';

/**
 * In-process measurements (no network, no storage): what the cryptography alone costs,
 * as a floor for the cluster numbers. Signatures are collected during the timed loop and
 * verified afterwards, so verification never counts as signing time.
 */
export interface InProcessResult {
  samples: number[];
  /** Signatures that the independent verifier (verify.ts) rejected. */
  badSignatures: number;
}

export const msgs = (count: number): Uint8Array[] => Array.from({ length: count }, () => new Uint8Array(randomBytes(32)));

type Verifier = (msg: Uint8Array, sig: Uint8Array) => boolean;

/** BIP340 keys are checked by libsecp256k1, Ed25519 keys by OpenSSL (node:crypto). */
function verifierFor(suite: FrostSuite, publicKey: Uint8Array): Verifier {
  if (suite === ed25519Suite) {
    const key = ed25519KeyObject(publicKey);
    return (msg, sig) => verifyEd25519(msg, key, sig);
  }
  return (msg, sig) => verifyBip340(msg, publicKey, sig);
}

export function signAndVerify(warmup: number, iterations: number, verify: Verifier, sign: (msg: Uint8Array) => Uint8Array): InProcessResult {
  const inputs = msgs(warmup + iterations);
  const sigs: Uint8Array[] = [];
  let i = 0;
  const samples = timeSync(warmup, iterations, () => {
    const msg = inputs[i++]!;
    sigs.push(sign(msg));
  });
  let badSignatures = 0;
  sigs.forEach((sig, k) => {
    if (!verify(inputs[k]!, sig)) badSignatures++;
  });
  return { samples, badSignatures };
}

/** The baseline: one key, one process, plain BIP340 (noble, with random aux data). */
export function benchSingleKeySign(warmup: number, iterations: number): InProcessResult {
  const secretKey = schnorr.utils.randomSecretKey();
  return signAndVerify(warmup, iterations, verifierFor(bip340Suite, schnorr.getPublicKey(secretKey)), (msg) => schnorr.sign(msg, secretKey));
}

/** The Ed25519 baseline: one key, one process, plain RFC 8032 (noble; deterministic, no self-verify). */
export function benchEd25519SingleKeySign(warmup: number, iterations: number): InProcessResult {
  const secretKey = ed25519.utils.randomSecretKey();
  return signAndVerify(warmup, iterations, verifierFor(ed25519Suite, ed25519.getPublicKey(secretKey)), (msg) => ed25519.sign(msg, secretKey));
}

/** FROST 2-of-3: both signers' rounds plus aggregation, all in this process. */
export function benchFrostSign(warmup: number, iterations: number, suite: FrostSuite = bip340Suite): InProcessResult {
  const shares = runDkg(parties(3), 2, undefined, suite);
  const signingSet = shares.slice(0, 2);
  const pub = groupPublicKey(suite, shares[0]!.publicPackage);
  return signAndVerify(warmup, iterations, verifierFor(suite, pub), (msg) => runSign(signingSet, msg, suite));
}

/** A whole 3-party DKG (threshold 2), all parties in this process. */
export function benchFrostDkg(warmup: number, iterations: number, suite: FrostSuite = bip340Suite): InProcessResult {
  const samples = timeSync(warmup, iterations, () => {
    runDkg(parties(3), 2, undefined, suite);
  });
  return { samples, badSignatures: 0 };
}

export interface SignPhases {
  /** Per signer: fresh nonces and their commitments. */
  commit: number[];
  /** Per signer: checks the package, then computes its share. */
  signShare: number[];
  /** Coordinator only: checks every share against its verifying share, aggregates, verifies. */
  aggregate: number[];
}

/**
 * Times the FROST 2-of-3 rounds separately, as the cluster splits them: the coordinator
 * runs one commit, one signShare and the aggregate; the other signer one commit and one
 * signShare. Medians of these say how much of a cluster sign is cryptography on the
 * critical path.
 */
export function benchFrostSignPhases(warmup: number, iterations: number, suite: FrostSuite = bip340Suite): SignPhases {
  const shares = runDkg(parties(3), 2, undefined, suite).slice(0, 2);
  const phases: SignPhases = { commit: [], signShare: [], aggregate: [] };
  const timed = <T>(into: number[] | undefined, fn: () => T): T => {
    const t0 = performance.now();
    const out = fn();
    into?.push(performance.now() - t0);
    return out;
  };
  for (let i = 0; i < warmup + iterations; i++) {
    const keep = i >= warmup;
    const msg = msgs(1)[0]!;
    const agg = new FrostAggregator(suite, shares[0]!.publicPackage, msg);
    const signers = shares.map((s) => new FrostSigner(suite, s, msg));
    for (const s of signers) agg.addCommitment(timed(keep ? phases.commit : undefined, () => s.commit()));
    const pkg = agg.signingPackage(shares.map((s) => s.party));
    const sigShares = signers.map((s) => timed(keep ? phases.signShare : undefined, () => s.sign(pkg)));
    timed(keep ? phases.aggregate : undefined, () => agg.aggregate(sigShares));
  }
  return phases;
}
