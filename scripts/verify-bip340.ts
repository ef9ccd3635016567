import * as ecc from 'tiny-secp256k1';
import { fromHex } from '../src/shared/hex.js';

/**
 * Checks a BIP340 signature with libsecp256k1 (tiny-secp256k1), independently of the code
 * that made it: `npm run verify -- <public_key> <msg> <signature>` (all hex, msg 32 bytes).
 */
const [pub, msg, sig] = process.argv.slice(2);
if (!pub || !msg || !sig) {
  process.stderr.write('usage: npm run verify -- <public_key hex> <msg hex (32 bytes)> <signature hex>\n');
  process.exit(2);
}
try {
  const ok = ecc.verifySchnorr(fromHex(msg, 32), fromHex(pub, 32), fromHex(sig, 64));
  process.stdout.write(ok ? 'valid: libsecp256k1 accepts this BIP340 signature\n' : 'INVALID signature\n');
  process.exit(ok ? 0 : 1);
} catch (e) {
  process.stderr.write(`cannot check: ${(e as Error).message}\n`);
  process.exit(2);
}
