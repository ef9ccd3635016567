import { randomUUID } from 'node:crypto';
import type { RpcCall } from '../call.js';
import { ownerKey, parseScopeConfig, verifyOwnerSignature } from '../scopes.js';
import { idParam } from '../params.js';
import { RpcError } from '../../wallet/rpc.js';
import { paramsObject } from './registration.js';

/**
 * Scopes are created by an app's own key: `{ config, signature, public_key }`, the
 * signature over the config text by that key (SHA-256; base64 SPKI DER public key, as
 * `@0xpass/key-signer` and `passport-scope` produce), if the operator allows that key
 * (or opened scope creation to anyone). Only the same key updates it.
 */
export async function createScope(call: RpcCall) {
  const p = paramsObject(call.params);
  const { config, publicKey } = signedConfig(p);
  const policy = call.gw.scopeCreation;
  if (!policy?.open && !policy?.ownerKeys.some((k) => sameKey(k, publicKey))) {
    throw new RpcError('forbidden', "creating a scope needs the gateway operator's approval: this key is not one it allows");
  }
  const scopeId = randomUUID();
  await call.gw.store.insertScope({ scopeId, config, ownerPublicKey: publicKey });
  return { scope_id: scopeId };
}

export async function updateScope(call: RpcCall) {
  const p = paramsObject(call.params);
  const scopeId = idParam(p.scope_id, 'scope_id', 128);
  const { config, publicKey } = signedConfig(p);
  const scope = await call.gw.store.getScope(scopeId);
  if (!scope) throw new RpcError('scope_not_found', 'no scope has this id');
  if (scope.ownerPublicKey !== publicKey) throw new RpcError('forbidden', "only the scope's owner key can update it");
  await call.gw.store.updateScopeConfig(scope.scopeId, config);
  return 'ok';
}

function signedConfig(p: Record<string, unknown>) {
  if (typeof p.config !== 'string') throw new RpcError('invalid_params', 'config must be the JSON text that was signed');
  ownerKey(p.public_key); // a clear error for a malformed key before the signature check
  const publicKey = p.public_key as string;
  // As passport-scope signs it: the config text alone. So an owner's older signed config
  // could be sent again to roll an update back; only the owner's key can sign one at all.
  if (!verifyOwnerSignature(publicKey, p.config, p.signature)) {
    throw new RpcError('unauthorized', 'the signature over config does not verify under public_key');
  }
  return { config: parseScopeConfig(p.config), publicKey };
}

/** Compares keys, not their base64 spellings. */
function sameKey(a: string, b: string): boolean {
  return ownerKey(a).equals(ownerKey(b));
}
