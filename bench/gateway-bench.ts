import { randomBytes } from 'node:crypto';
import { Network, Passport } from '@0xpass/passport';
import { ethers } from 'ethers';
import { SoftAuthenticator } from '../test/helpers/soft-authenticator.js';
import { Tally, timeAsync } from './cluster-bench.js';

/**
 * personal_sign through the wallet gateway as an app sees it: the unmodified Passport SDK
 * with a session (one login, then signatures), each checked with ethers' recovery; and
 * the single-key baseline, ethers' own `Wallet.signMessage`.
 */
export async function benchGatewayPersonalSign(gatewayUrl: string, scopeId: string, warmup: number, iterations: number, tally: Tally) {
  const enclavePublicKey = ((await (await fetch(`${gatewayUrl}/enclave-public-key`)).json()) as { public_key: string }).public_key;
  const passport = new Passport({ scopeId, signer: new SoftAuthenticator({ origin: 'http://localhost:3000' }), network: gatewayUrl as Network, enclavePublicKey });
  await passport.setupEncryption();
  const user = { username: `bench-${randomBytes(4).toString('hex')}`, userDisplayName: 'bench' };
  const t0 = performance.now();
  await passport.register(user);
  const registerMs = performance.now() - t0;
  const t1 = performance.now();
  const [, address] = await passport.authenticate(user);
  const loginMs = performance.now() - t1;
  const samples = await timeAsync(warmup, iterations, tally, async () => {
    const message = `bench ${randomBytes(8).toString('hex')}`;
    const res = await passport.signMessage(message);
    if (!res.result) throw new Error(`gateway: ${res.error?.data ?? res.error?.message ?? 'no result'}`);
    let recovered = '';
    try {
      recovered = ethers.verifyMessage(message, res.result);
    } catch {
      // a malformed signature is a failed one
    }
    tally.record([['gateway personal_sign: ethers recovery', recovered.toLowerCase() === address.toLowerCase()]]);
  });
  return { samples, registerMs, loginMs };
}

export async function benchEthersSignMessage(warmup: number, iterations: number, tally: Tally): Promise<number[]> {
  const wallet = ethers.Wallet.createRandom();
  return timeAsync(warmup, iterations, tally, () => wallet.signMessage(`bench ${randomBytes(8).toString('hex')}`));
}
