import { randomBytes } from 'node:crypto';
import { ed25519Suite, bip340Suite, type FrostSuite } from '../src/protocols/frost/suite.js';
import { runDkls23Dkg, runDkls23Sign } from '../test/helpers/dkls23.js';
import { parties, runDkg, runSign } from '../test/helpers/frost.js';
import { percentile, timeSync } from './stats.js';

/**
 * The protocol engines alone, in process, no network: what a node (or a device party) spends
 * in CPU per DKLs23 keygen, DKLs23 signature and FROST signature. Small enough to run before
 * and after a change to the engines' primitives (hashing, randomness, curve backends), unlike
 * `npm run bench`, which starts clusters.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/engines-bench.js [--quick]
 *
 * Prints medians (and p95) in milliseconds.
 */
const quick = process.argv.includes('--quick');
const scale = (n: number) => (quick ? Math.max(1, Math.ceil(n / 4)) : n);

function report(name: string, samples: number[]): void {
  const f = (x: number) => x.toFixed(x < 10 ? 2 : 1).padStart(9);
  console.log(`${name.padEnd(34)} median ${f(percentile(samples, 50))} ms   p95 ${f(percentile(samples, 95))} ms   (n=${samples.length})`);
}

const two = parties(2);
const three = parties(3);

// DKLs23: the DKG is dominated by 256 base OTs per ordered pair plus the PPRF and its hashes;
// signing by the OT extension (SHAKE256 over ~1,500 inputs per multiplication and side).
let shares2 = runDkls23Dkg(two, 2);
report('dkls23 keygen 2-of-2', timeSync(0, scale(8), () => void (shares2 = runDkls23Dkg(two, 2))));
let shares3 = runDkls23Dkg(three, 2);
report('dkls23 keygen 2-of-3', timeSync(0, scale(4), () => void (shares3 = runDkls23Dkg(three, 2))));
report('dkls23 sign 2-of-2', timeSync(3, scale(40), () => void runDkls23Sign(shares2, randomBytes(32))));
report('dkls23 sign 2-of-3 (2 signers)', timeSync(3, scale(40), () => void runDkls23Sign(shares3.slice(0, 2), randomBytes(32))));

const frost = (suite: FrostSuite, label: string) => {
  const shares = runDkg(two, 2, undefined, suite);
  report(`frost ${label} keygen 2-of-2`, timeSync(3, scale(40), () => void runDkg(two, 2, undefined, suite)));
  report(`frost ${label} sign 2-of-2`, timeSync(10, scale(200), () => void runSign(shares, randomBytes(32), suite)));
};
frost(bip340Suite, 'bip340');
frost(ed25519Suite, 'ed25519');
