import type { RpcCall } from '../call.js';
import { keccak256 } from 'viem';
import { checkOwnAddress, parseTransaction, personalMessageHash, rsv, signedTransaction, typedDataHash, unsignedTransaction } from '../ethereum.js';
import { RpcError } from '../rpc.js';

/** The Ethereum wallet methods; each signs with the caller's own threshold key only. */
export async function ethRequestAccounts(call: RpcCall) {
  const account = await call.account();
  return [account.address];
}

/** params: [message, address]. */
export async function personalSign(call: RpcCall) {
  call.takeAddress('signatures');
  const [message, address] = paramsList(call.params, 2);
  const hash = personalMessageHash(message);
  const account = await call.account();
  checkOwnAddress(address, account.address!);
  return rsv(await call.sign(account.keyId!, hash));
}

/** params: [transaction]; returns the signed raw transaction. */
export async function ethSignTransaction(call: RpcCall) {
  call.takeAddress('signatures');
  const [input] = paramsList(call.params, 1);
  const { tx, from } = parseTransaction(input);
  const account = await call.account();
  if (from !== undefined) checkOwnAddress(from, account.address!);
  const unsigned = unsignedTransaction(tx);
  return signedTransaction(tx, await call.sign(account.keyId!, keccak256(unsigned, 'bytes'), unsigned));
}

/** params: [address, typedData] (typed data as an object or JSON text). */
export async function ethSignTypedDataV4(call: RpcCall) {
  call.takeAddress('signatures');
  const [address, typed] = paramsList(call.params, 2);
  const hash = typedDataHash(typed);
  const account = await call.account();
  checkOwnAddress(address, account.address!);
  return rsv(await call.sign(account.keyId!, hash));
}

function paramsList(params: unknown, n: number): unknown[] {
  if (!Array.isArray(params) || params.length < n) throw new RpcError('invalid_params', `params must be a list of ${n}`);
  return params;
}
