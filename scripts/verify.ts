import { createPublicKey, verify } from 'node:crypto';
import * as ecc from 'tiny-secp256k1';
import { fromHex } from '../src/core/hex.js';

/**
 * Checks a signature independently of the code that made it:
 *   npm run verify -- <public_key> <msg> <signature>             BIP340, libsecp256k1
 *   npm run verify -- ecdsa <public_key> <hash> <signature>      ECDSA (low-S), libsecp256k1
 *   npm run verify -- ed25519 <public_key> <msg> <signature>     Ed25519, Node's OpenSSL
 * All arguments hex; BIP340 and ECDSA messages are 32 bytes.
 */
const args = process.argv.slice(2);
const family = args.length === 4 ? args.shift()! : 'bip340';
const [pub, msg, sig] = args;
if (!pub || !msg || !sig || !['bip340', 'ecdsa', 'ed25519'].includes(family)) {
  process.stderr.write('usage: npm run verify -- [bip340|ecdsa|ed25519] <public_key hex> <msg hex> <signature hex>\n');
  process.exit(2);
}
try {
  let ok: boolean;
  if (family === 'bip340') ok = ecc.verifySchnorr(fromHex(msg, 32), fromHex(pub, 32), fromHex(sig, 64));
  else if (family === 'ecdsa') ok = ecc.verify(fromHex(msg, 32), fromHex(pub, 33), fromHex(sig, 64), true);
  else {
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), fromHex(pub, 32)]), format: 'der', type: 'spki' });
    ok = verify(null, fromHex(msg), key, fromHex(sig, 64));
  }
  const by = family === 'ed25519' ? "Node's Ed25519 (OpenSSL)" : 'libsecp256k1';
  process.stdout.write(ok ? `valid: ${by} accepts this ${family} signature\n` : 'INVALID signature\n');
  process.exit(ok ? 0 : 1);
} catch (e) {
  process.stderr.write(`cannot check: ${(e as Error).message}\n`);
  process.exit(2);
}
