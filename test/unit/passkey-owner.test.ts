import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ethers } from 'ethers';
import { intentOfBody } from '../../src/wallet/intent.js';
import { canonical, parseOwnerPasskey, parsePasskeyEvidence } from '../../src/wallet/passkey-evidence.js';
import { MAIL_DOMAIN, MAIL_MESSAGE, MAIL_TYPES } from '../helpers/eip712-mail.js';

/**
 * What a signer node reads from an end user's request body when it checks a passkey-bound
 * key's signature (src/node/passkey-owner.ts): the same hash the gateway signs, computed
 * here independently with ethers.
 */
const rpc = (method: string, params: unknown) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
const hex = (b: Uint8Array | undefined) => (b ? ethers.hexlify(b) : undefined);

describe('passkey-bound keys: the request a passkey approved, as a node reads it', () => {
  test('personal_sign, eth_signTypedData_v4 and eth_signTransaction give the hash ethers computes', () => {
    const to = '0x000000000000000000000000000000000000dEaD';
    assert.equal(hex(intentOfBody(rpc('personal_sign', ['hello', to]))?.hash), ethers.hashMessage('hello'));
    assert.equal(hex(intentOfBody(rpc('personal_sign', ['0x68656c6c6f', to]))?.hash), ethers.hashMessage(ethers.getBytes('0x68656c6c6f')));
    const typed = { types: MAIL_TYPES, primaryType: 'Mail', domain: MAIL_DOMAIN, message: MAIL_MESSAGE };
    assert.equal(hex(intentOfBody(rpc('eth_signTypedData_v4', [to, typed]))?.hash), ethers.TypedDataEncoder.hash(MAIL_DOMAIN, MAIL_TYPES, MAIL_MESSAGE));
    const tx = { to, value: '0x1', nonce: '0x0', gas: '0x5208', maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1', chainId: '0x1' };
    const unsigned = ethers.Transaction.from({ to, value: 1n, nonce: 0, gasLimit: 21000n, maxFeePerGas: 1_000_000_000n, maxPriorityFeePerGas: 1n, chainId: 1n, type: 2 });
    assert.equal(hex(intentOfBody(rpc('eth_signTransaction', [tx]))?.hash), unsigned.unsignedHash);
  });

  test('anything else asks for no signature', () => {
    assert.equal(intentOfBody(rpc('eth_requestAccounts', [])), undefined);
    assert.equal(intentOfBody(rpc('personal_sign', [])), undefined);
    assert.equal(intentOfBody('{"method": "personal_sign", "params": '), undefined);
    assert.equal(intentOfBody('null'), undefined);
  });

  test('records and evidence are checked field by field; canonical text ignores key order only', () => {
    const owner = { rp_id: 'localhost', origins: ['http://localhost:*'], credential_id: 'abc_-', public_key: 'pQECAyYg' };
    assert.deepEqual(parseOwnerPasskey(owner), owner);
    assert.equal(parseOwnerPasskey({ ...owner, extra: 1 }), undefined);
    assert.equal(parseOwnerPasskey({ ...owner, origins: [] }), undefined);
    assert.equal(parseOwnerPasskey({ ...owner, public_key: 'not base64url!' }), undefined);
    assert.equal(parsePasskeyEvidence({ request_body: '{}', challenge: 'abc', assertion: null }), undefined);
    assert.equal(canonical({ b: 1, a: [2, { d: 3, c: 4 }] }), canonical({ a: [2, { c: 4, d: 3 }], b: 1 }));
    assert.notEqual(canonical({ a: [1, 2] }), canonical({ a: [2, 1] }));
  });
});
