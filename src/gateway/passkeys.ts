import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { scopeAllowsOrigin } from './scopes.js';
import { RpcError } from '../wallet/rpc.js';
import type { CredentialRecord, ScopeConfig } from './storage/gateway-store.js';

/**
 * WebAuthn through @simplewebauthn/server. User verification is always required (a
 * passkey is the only factor), attestation is "none" (passkeys from synced providers
 * carry none), and the origin in the client data must be one of the scope's.
 */
export const CHALLENGE_TTL_MS = 120_000;
/** ES256 and RS256: what platform authenticators and security keys offer. */
const ALGORITHMS = [-7, -257];

export async function registrationOptions(
  scope: ScopeConfig,
  user: { username: string; displayName: string; userHandle: string },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: scope.rp.name,
    rpID: scope.rp.id,
    userName: user.username,
    userDisplayName: user.displayName,
    userID: new Uint8Array(Buffer.from(user.userHandle, 'base64url')),
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    supportedAlgorithmIDs: ALGORITHMS,
  });
}

export async function verifyRegistration(scope: ScopeConfig, response: unknown, expectedChallenge: string) {
  const res = credentialJson<RegistrationResponseJSON>(response, 'attestationObject');
  const origin = checkedOrigin(scope, res.response.clientDataJSON);
  let verified;
  try {
    verified = await verifyRegistrationResponse({
      response: res,
      expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: scope.rp.id,
      expectedType: 'webauthn.create',
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch (e) {
    throw new RpcError('unauthorized', `the passkey attestation is not valid: ${(e as Error).message}`);
  }
  if (!verified.verified) throw new RpcError('unauthorized', 'the passkey attestation is not valid');
  const c = verified.registrationInfo.credential;
  return { credentialId: c.id, publicKey: new Uint8Array(c.publicKey), counter: c.counter, transports: c.transports ?? [] };
}

export async function authenticationOptions(scope: ScopeConfig, creds: CredentialRecord[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: scope.rp.id,
    allowCredentials: creds.map((c) => ({ id: c.credentialId, transports: c.transports })),
    userVerification: 'required',
    timeout: CHALLENGE_TTL_MS,
  });
}

/** Verifies an assertion by one of `creds` over `expectedChallenge`; returns the credential and its new counter. */
export async function verifyAssertion(scope: ScopeConfig, response: unknown, expectedChallenge: string, creds: CredentialRecord[]) {
  const res = credentialJson<AuthenticationResponseJSON>(response, 'authenticatorData');
  const cred = creds.find((c) => c.credentialId === res.id);
  if (!cred) throw new RpcError('unauthorized', 'the passkey is not registered for this user');
  const origin = checkedOrigin(scope, res.response.clientDataJSON);
  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response: res,
      expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: scope.rp.id,
      expectedType: 'webauthn.get',
      credential: { id: cred.credentialId, publicKey: new Uint8Array(cred.publicKey), counter: cred.counter, transports: cred.transports },
      requireUserVerification: true,
    });
  } catch (e) {
    throw new RpcError('unauthorized', `the passkey assertion is not valid: ${(e as Error).message}`);
  }
  if (!verified.verified) throw new RpcError('unauthorized', 'the passkey assertion is not valid');
  return { cred, newCounter: verified.authenticationInfo.newCounter };
}

/** The origin the browser wrote into the client data, if the scope accepts it. */
function checkedOrigin(scope: ScopeConfig, clientDataJSON: string): string {
  let origin: unknown;
  try {
    origin = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')).origin;
  } catch {
    throw new RpcError('unauthorized', 'the passkey client data is not JSON');
  }
  if (typeof origin !== 'string' || !scopeAllowsOrigin(scope, origin)) {
    throw new RpcError('origin_not_allowed', `origin ${JSON.stringify(origin)} is not one of this scope's origins`);
  }
  return origin;
}

function credentialJson<T extends { id: string; response: { clientDataJSON: string } }>(v: unknown, field: string): T {
  const r = v as { id?: unknown; response?: Record<string, unknown> } | null;
  if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.response !== 'object' || r.response === null) {
    throw new RpcError('invalid_params', 'the credential must be a WebAuthn JSON object');
  }
  if (typeof r.response.clientDataJSON !== 'string' || typeof r.response[field] !== 'string') {
    throw new RpcError('invalid_params', `the credential's response must carry clientDataJSON and ${field}`);
  }
  return r as unknown as T;
}
