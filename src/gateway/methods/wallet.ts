import type { RpcCall } from '../call.js';
import { checkOwnAddress, parseTransaction, rsv, signedTransaction } from '../../wallet/ethereum.js';
import { signingIntent } from '../../wallet/intent.js';

/** The Ethereum wallet methods; each signs with the caller's own threshold key only. */
export async function ethRequestAccounts(call: RpcCall) {
  const account = await call.account();
  return [account.address];
}

/** params: [message, address]. */
export async function personalSign(call: RpcCall) {
  call.takeAddress('signatures');
  const { hash, address } = signingIntent('personal_sign', call.params);
  const account = await call.account();
  checkOwnAddress(address, account.address!);
  return rsv(await call.sign(account.keyId!, hash));
}

/** params: [transaction]; returns the signed raw transaction. */
export async function ethSignTransaction(call: RpcCall) {
  call.takeAddress('signatures');
  const { hash, unsigned, address: from } = signingIntent('eth_signTransaction', call.params);
  const { tx } = parseTransaction((call.params as unknown[])[0]);
  const account = await call.account();
  if (from !== undefined) checkOwnAddress(from, account.address!);
  return signedTransaction(tx, await call.sign(account.keyId!, hash, unsigned));
}

/** params: [address, typedData] (typed data as an object or JSON text). */
export async function ethSignTypedDataV4(call: RpcCall) {
  call.takeAddress('signatures');
  const { hash, address } = signingIntent('eth_signTypedData_v4', call.params);
  const account = await call.account();
  checkOwnAddress(address, account.address!);
  return rsv(await call.sign(account.keyId!, hash));
}
