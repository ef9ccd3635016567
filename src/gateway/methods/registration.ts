import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { checkKeySignature, type RpcCall } from '../call.js';
import { addressOf } from '../../wallet/ethereum.js';
import { registrationOptions, verifyRegistration } from '../passkeys.js';
import { RpcError } from '../../wallet/rpc.js';
import type { OwnerPasskey } from '../../wallet/passkey-evidence.js';
import { ScopeFullError, type AccountKind, type AccountRecord, type ScopeRecord } from '../storage/gateway-store.js';

/**
 * Account creation. A username is registered once per scope: a second registration
 * would attach another passkey, i.e. hand the account to whoever asked. Each account's
 * Ethereum key is a new 2-of-3 threshold ECDSA key on the signer nodes.
 */
export async function initiateRegistration(call: RpcCall) {
  call.takeAddress('registrations');
  await call.takeScope('registrations');
  const p = paramsObject(call.params);
  const scope = await call.scope();
  const user = call.user(p.encrypted_user, 'encrypted_user');
  if (await call.gw.store.findAccount(scope.scopeId, user.username)) throw taken();
  const userHandle = randomBytes(32).toString('base64url');
  const options = await registrationOptions(scope.config, { ...user, userHandle });
  const challengeId = await call.issueChallenge('registration', user.username, options.challenge, { display_name: user.displayName, user_handle: userHandle });
  return { challenge_id: challengeId, encrypted_creation_challenge: call.key().encrypt(JSON.stringify({ publicKey: options })) };
}

export async function completeRegistration(call: RpcCall) {
  call.takeAddress('registrations');
  await call.takeScope('registrations');
  const p = paramsObject(call.params);
  const scope = await call.scope();
  const user = call.user(p.encrypted_user, 'encrypted_user');
  const attestation = call.key().decryptJson(p.encrypted_attestation, 'encrypted_attestation');
  const ch = await call.takeChallenge(p.challenge_id, 'registration', user.username);
  const cred = await verifyRegistration(scope.config, attestation, ch.challenge);
  // In a passkey-per-request scope the nodes bind the key to this passkey (src/node/passkey-owner.ts).
  const owner = scope.config.passkey_per_request
    ? { rp_id: scope.config.rp.id, origins: scope.config.rp.origins, credential_id: cred.credentialId, public_key: Buffer.from(cred.publicKey).toString('base64url') }
    : undefined;
  const account = await createAccount(call, scope, {
    kind: 'passkey',
    username: user.username,
    displayName: String(ch.payload.display_name ?? user.displayName),
    userHandle: String(ch.payload.user_handle),
  }, async (accountId) => {
    try {
      await call.gw.store.insertCredential({ ...cred, accountId });
    } catch {
      throw new RpcError('invalid_params', 'this passkey is already registered to an account');
    }
  }, owner);
  return accountResult(account);
}

/**
 * Developer-owned auth: the scope owner's key (`@0xpass/key-signer`) vouches for the user;
 * the account has no passkey and acts through key-signed requests.
 */
export async function delegatedRegistration(call: RpcCall) {
  call.takeAddress('registrations');
  await call.takeScope('registrations');
  const p = paramsObject(call.params);
  const scope = await call.scope();
  const user = call.user(p.encrypted_user, 'encrypted_user');
  const cred = p.encrypted_credential as { KeySignature?: unknown } | undefined;
  if (typeof cred !== 'object' || cred === null || cred.KeySignature === undefined) {
    throw new RpcError('invalid_params', 'encrypted_credential.KeySignature is required');
  }
  checkKeySignature(scope, call.key().decryptJson(cred.KeySignature, 'KeySignature'), p.encrypted_user as string);
  const account = await createAccount(call, scope, { kind: 'delegated', username: user.username, displayName: user.displayName, userHandle: randomBytes(32).toString('base64url') }, async () => {});
  return accountResult(account);
}

/**
 * Reserves the username (within the scope's account quota), runs `attach`, then the
 * cluster's keygen (within the key-generation limits); undone if any step fails. The
 * keygen limits are spent last, so a request refused for its name or passkey spends none.
 */
async function createAccount(
  call: RpcCall,
  scope: ScopeRecord,
  user: { kind: AccountKind; username: string; displayName: string; userHandle: string },
  attach: (accountId: string) => Promise<void>,
  owner?: OwnerPasskey,
): Promise<AccountRecord> {
  const account: AccountRecord = {
    accountId: randomUUID(),
    scopeId: scope.scopeId,
    kind: user.kind,
    username: user.username,
    displayName: user.displayName,
    userHandle: user.userHandle,
    keyId: null,
    publicKey: null,
    address: null,
  };
  if (!(await reserve(call, account))) throw taken();
  try {
    await attach(account.accountId);
    const key = await call.keygen(owner);
    const done = { keyId: key.keyId, publicKey: key.publicKey, address: addressOf(key.publicKey) };
    await call.gw.store.completeAccount(account.accountId, done);
    return { ...account, ...done };
  } catch (e) {
    await call.gw.store.deleteAccount(account.accountId);
    throw e;
  }
}

async function reserve(call: RpcCall, account: AccountRecord): Promise<boolean> {
  const max = call.gw.limits?.config.maxAccountsPerScope;
  try {
    return await call.gw.store.reserveAccount(account, max);
  } catch (e) {
    if (e instanceof ScopeFullError) throw new RpcError('forbidden', `this scope holds its maximum of ${e.max} accounts (the gateway operator sets it)`);
    throw e;
  }
}

function accountResult(a: AccountRecord) {
  return {
    account_id: a.accountId,
    identifier_hash: createHash('sha256').update(`${a.scopeId}\u0000${a.username}`).digest('hex'),
    address: a.address,
  };
}

function taken() {
  return new RpcError('username_taken', 'this username is already registered in this scope');
}

export function paramsObject(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new RpcError('invalid_params', 'params must be an object');
  return params as Record<string, unknown>;
}
