import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { TandemError } from '../core/errors.js';
import type { RequestAuthStore } from '../storage/request-auth-store.js';
import { intentOfBody, requestChallenge } from '../wallet/intent.js';
import { originAllowed, type OwnerPasskey, type PasskeyEvidence } from '../wallet/passkey-evidence.js';

/**
 * Throws access_denied unless `evidence` is an assertion by the key's owner passkey, over
 * a request whose signing intent is exactly `hashes` (one hash: wallet requests sign one),
 * never seen by this node before. The challenge is spent here, on this node.
 */
export async function checkOwnerIntent(keyId: string, owner: OwnerPasskey, evidence: PasskeyEvidence | undefined, hashes: Uint8Array[], nonces: RequestAuthStore): Promise<void> {
  if (!evidence) throw new TandemError('access_denied', "this key signs only on its owner's passkey assertion over the request (passkey_evidence)");
  const a = evidence.assertion as AuthenticationResponseJSON;
  if (a?.id !== owner.credential_id) throw new TandemError('access_denied', "the assertion is not by the key's owner passkey");
  let origin: unknown;
  try {
    origin = JSON.parse(Buffer.from(String(a.response?.clientDataJSON), 'base64url').toString('utf8')).origin;
  } catch {
    throw new TandemError('access_denied', 'the assertion has no readable client data');
  }
  if (typeof origin !== 'string' || !originAllowed(owner.origins, origin)) {
    throw new TandemError('access_denied', "the assertion comes from an origin the key's owner did not register with");
  }
  // Loaded at a passkey-bound key's first signature, not at start-up (84 of the node's ~1,460 modules).
  const { verifyAuthenticationResponse } = await import('@simplewebauthn/server');
  let verified = false;
  try {
    const r = await verifyAuthenticationResponse({
      response: a,
      expectedChallenge: requestChallenge(evidence.challenge, evidence.request_body),
      expectedOrigin: origin,
      expectedRPID: owner.rp_id,
      expectedType: 'webauthn.get',
      // Counters are the gateway's to track (it sees every use); a node sees only its own.
      credential: { id: owner.credential_id, publicKey: new Uint8Array(Buffer.from(owner.public_key, 'base64url')), counter: 0 },
      requireUserVerification: true,
    });
    verified = r.verified;
  } catch {
    verified = false;
  }
  if (!verified) throw new TandemError('access_denied', "the owner's passkey assertion does not verify over this request");
  const intent = intentOfBody(evidence.request_body);
  if (!intent || hashes.length !== 1 || Buffer.compare(Buffer.from(intent.hash), Buffer.from(hashes[0]!)) !== 0) {
    throw new TandemError('access_denied', 'the request the passkey approved does not ask for this signature');
  }
  // WebAuthn assertions carry no time: a used challenge is kept for 30 days (the gateway's expire in 2 minutes).
  if (!(await nonces.useNonce(`passkey:${keyId}`, evidence.challenge, new Date(Date.now() + 30 * 86_400_000)))) {
    throw new TandemError('access_denied', "this passkey assertion was already used");
  }
}
