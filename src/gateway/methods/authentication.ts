import type { RpcCall } from '../call.js';
import { authenticationOptions, verifyAssertion } from '../passkeys.js';
import { RpcError } from '../../wallet/rpc.js';
import { paramsObject } from './registration.js';

/**
 * Passkey login. The challenge is bound to scope, user and the client's AES key, expires
 * and is consumed by its first use, whether that is `completeAuthentication` (a session)
 * or one direct passkey request.
 */
export async function initiateAuthentication(call: RpcCall) {
  const p = paramsObject(call.params);
  if (p.regenerate_seed === true) throw new RpcError('forbidden', 'regenerate_seed is not supported: an account keeps its key');
  const scope = await call.scope();
  const user = call.user(p.encrypted_user, 'encrypted_user');
  const account = await call.gw.store.findAccount(scope.scopeId, user.username);
  const creds = account ? await call.gw.store.credentialsOf(account.accountId) : [];
  if (!account || !account.keyId) throw new RpcError('user_not_found', 'user not found');
  if (creds.length === 0) throw new RpcError('forbidden', 'this account has no passkey (it was registered by the app\'s key)');
  const options = await authenticationOptions(scope.config, creds);
  const challengeId = await call.issueChallenge('authentication', user.username, options.challenge);
  return { challenge_id: challengeId, encrypted_request_challenge: call.key().encrypt(JSON.stringify({ publicKey: options })) };
}

export async function completeAuthentication(call: RpcCall) {
  const p = paramsObject(call.params);
  const scope = await call.scope();
  const user = call.user(p.encrypted_user, 'encrypted_user');
  const assertion = call.key().decryptJson(p.encrypted_assertion, 'encrypted_assertion');
  const ch = await call.takeChallenge(p.challenge_id, 'authentication', user.username);
  const account = await call.gw.store.findAccount(scope.scopeId, user.username);
  if (!account || !account.keyId) throw new RpcError('user_not_found', 'user not found');
  const creds = await call.gw.store.credentialsOf(account.accountId);
  const { cred, newCounter } = await verifyAssertion(scope.config, assertion, ch.challenge, creds);
  if (!(await call.gw.store.bumpCounter(cred.credentialId, cred.counter, newCounter))) {
    throw new RpcError('unauthorized', 'the passkey was used concurrently; try again');
  }
  const jwt = await call.gw.sessions.issue(account, call.key().binding);
  return { encrypted_jwt: call.key().encrypt(jwt), expires_in: call.gw.sessions.ttlSeconds };
}

/** Tandem's own addition: ends the calling session before it expires. */
export async function revokeSession(call: RpcCall) {
  const session = call.header('x-encrypted-session');
  if (!session) throw new RpcError('unauthorized', 'revokeSession needs X-Encrypted-Session');
  await call.account(); // proves the session is valid and the caller's
  const jwt = call.key().decrypt(session, 'X-Encrypted-Session');
  const sid = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')).sid as string;
  await call.gw.sessions.revoke(sid);
  return true;
}
