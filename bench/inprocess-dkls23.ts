import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Dkls23KeyShare } from '../src/protocols/dkls23/keyshare/keyshare.js';
import { encodePoint } from '../src/protocols/dkls23/math/group.js';
import type { EcdsaSignature } from '../src/protocols/dkls23/sign/sign.js';
import type { PartyId } from '../src/core/ids.js';
import { runDkls23Dkg, runDkls23Sign } from '../test/helpers/dkls23.js';
import { parties } from '../test/helpers/frost.js';
import { msgs, signAndVerify, type InProcessResult } from './inprocess.js';
import { timeSync } from './stats.js';
import { ethAddress, recoversTo, verifyEcdsa } from './verify.js';

/**
 * Threshold ECDSA (DKLs23) in process: the DKG and 2-of-3 signing of the test helpers,
 * all parties in this process with messages routed in memory, against single-key ECDSA.
 * The helpers' message hook sees every message on its way from one party to another;
 * the bench uses it only to add up the bytes each party sends, round by round.
 */

/** Bytes each party sent in one ceremony, by round (index 0 = round 1). */
export class ByteCounter {
  readonly sent: Map<PartyId, number[]>;

  constructor(ids: readonly PartyId[], rounds: number) {
    this.sent = new Map(ids.map((p) => [p, new Array<number>(rounds).fill(0)]));
  }

  /** The helpers' tamper hook, passing every message through unchanged. */
  readonly hook = (round: number, from: PartyId, to: PartyId, m: Uint8Array): Uint8Array => {
    // The combiner's own round-3 partial is handed to itself, not sent anywhere.
    if (from !== to) this.sent.get(from)![round - 1]! += m.length;
    return m;
  };
}

export interface Dkls23DkgResult extends InProcessResult {
  /** The key shares of the last run, for the signing bench. */
  shares: Dkls23KeyShare[];
  bytes: ByteCounter[];
}

/**
 * Whole 3-party DKGs (threshold 2), no warm-up: at several seconds each the JIT is warm
 * early in the first. `between` runs (untimed) before each DKG, so a caller can let signals through.
 */
export async function benchDkls23Dkg(iterations: number, between: () => Promise<void> = async () => {}): Promise<Dkls23DkgResult> {
  const ids = parties(3);
  const bytes: ByteCounter[] = [];
  const samples: number[] = [];
  let shares: Dkls23KeyShare[] = [];
  for (let i = 0; i < iterations; i++) {
    await between();
    const counter = new ByteCounter(ids, 4);
    const t0 = performance.now();
    shares = runDkls23Dkg(ids, 2, counter.hook);
    samples.push(performance.now() - t0);
    bytes.push(counter);
  }
  // Every party must come out with the same public key, or the DKG is broken.
  const pk = shares[0]?.pub.publicKey;
  const badSignatures = pk && shares.every((s) => s.pub.publicKey.equals(pk)) ? 0 : 1;
  return { samples, badSignatures, shares, bytes };
}

const sigBytes = (sig: EcdsaSignature): Uint8Array => {
  const hex32 = (x: bigint) => x.toString(16).padStart(64, '0');
  return new Uint8Array(Buffer.from(hex32(sig.r) + hex32(sig.s), 'hex'));
};

export interface Dkls23SignResult extends InProcessResult {
  bytes: ByteCounter[];
}

/**
 * 2-of-3 signing (signers = the first two shares; the first combines), 32-byte hashes.
 * Each signature is checked afterwards by libsecp256k1 (strict, low-S) and by ethers'
 * address recovery from its recovery id.
 */
export function benchDkls23Sign(shares: readonly Dkls23KeyShare[], warmup: number, iterations: number): Dkls23SignResult {
  const signingSet = shares.slice(0, 2);
  const pub33 = encodePoint(signingSet[0]!.pub.publicKey);
  const address = ethAddress(pub33);
  const hashes = msgs(warmup + iterations);
  const sigs: EcdsaSignature[] = [];
  const bytes: ByteCounter[] = [];
  let i = 0;
  const samples = timeSync(warmup, iterations, () => {
    const counter = new ByteCounter(
      signingSet.map((s) => s.self),
      3,
    );
    bytes.push(counter);
    sigs.push(runDkls23Sign(signingSet, hashes[i++]!, 0n, counter.hook));
  });
  let badSignatures = 0;
  sigs.forEach((sig, k) => {
    const sig64 = sigBytes(sig);
    if (!verifyEcdsa(hashes[k]!, pub33, sig64) || !recoversTo(hashes[k]!, sig64, sig.recovery, address)) badSignatures++;
  });
  return { samples, badSignatures, bytes: bytes.slice(warmup) };
}

/** The ECDSA baseline: one key, one process, a 32-byte hash signed as is (noble, RFC 6979). */
export function benchEcdsaSingleKeySign(warmup: number, iterations: number): InProcessResult {
  const secretKey = secp256k1.utils.randomSecretKey();
  const pub33 = secp256k1.getPublicKey(secretKey, true);
  return signAndVerify(
    warmup,
    iterations,
    (hash, sig) => verifyEcdsa(hash, pub33, sig),
    (hash) => secp256k1.sign(hash, secretKey, { prehash: false }),
  );
}

/**
 * Rows of a bytes table: per party, bytes sent in each round (padded with empty cells
 * to `columns` rounds) and in all; a cell that differed between runs shows min..max.
 * The last row sums the parties.
 */
export function bytesRows(ceremony: string, runs: readonly ByteCounter[], columns: number): string[][] {
  const first = runs[0];
  if (!first) return [[ceremony, 'no runs', ...new Array<string>(columns + 1).fill('-')]];
  const rounds = first.sent.values().next().value?.length ?? 0;
  const fmt = (x: number) => x.toLocaleString('en-US');
  const cell = (values: number[]): string => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? fmt(lo) : `${fmt(lo)}..${fmt(hi)}`;
  };
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const row = (label: string, party: string, sentBy: (c: ByteCounter) => number[]): string[] => {
    const perRound = Array.from({ length: rounds }, (_, r) => cell(runs.map((c) => sentBy(c)[r] ?? 0)));
    const blanks = new Array<string>(Math.max(0, columns - rounds)).fill('');
    return [label, party, ...perRound, ...blanks, cell(runs.map((c) => sum(sentBy(c))))];
  };
  const out = [...first.sent.keys()].map((p, k) => row(k === 0 ? ceremony : '', p, (c) => c.sent.get(p) ?? []));
  const allParties = (c: ByteCounter) => Array.from({ length: rounds }, (_, r) => sum([...c.sent.values()].map((v) => v[r] ?? 0)));
  out.push(row('', 'all parties', allParties));
  return out;
}
