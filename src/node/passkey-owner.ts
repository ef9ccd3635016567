import { verifyAuthenticationResponse, type AuthenticationResponseJSON } from '@simplewebauthn/server';
import { intentOfBody, requestChallenge } from '../gateway/intent.js';
import { originAllowed } from '../gateway/scopes.js';
import { TandemError } from '../shared/errors.js';
import type { RequestAuthStore } from '../storage/request-auth-store.js';

/**
 * A key bound to its end user's passkey at key generation (a wallet gateway scope with
 * `signing.passkey_per_request`): every node that holds a share then signs with it only on
 * an assertion by that passkey over the very request the user made (the gateway's direct
 * passkey flow), which it checks itself. A compromised gateway, holding sessions and its
 * own request key, can no longer sign what the user did not ask for.
 */
export interface OwnerPasskey {
  rp_id: string;
  /** The scope's origins when the key was made (`http://localhost:*` allows any port). */
  origins: string[];
  /** base64url credential id and COSE public key, as WebAuthn registration gave them. */
  credential_id: string;
  public_key: string;
}

/** What the gateway forwards with a signature request for such a key. */
export interface PasskeyEvidence {
  /** The end user's JSON-RPC request body, exactly as sent. */
  request_body: string;
  /** The gateway's challenge (base64url) the assertion was made over, with the body. */
  challenge: string;
  /** The WebAuthn assertion (AuthenticationResponseJSON). */
  assertion: unknown;
}

const B64URL = /^[A-Za-z0-9_-]{1,2048}$/;

/** Undefined for anything that is not a well-formed OwnerPasskey. */
export function parseOwnerPasskey(v: unknown): OwnerPasskey | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).some((k) => !['rp_id', 'origins', 'credential_id', 'public_key'].includes(k))) return undefined;
  const { rp_id, origins, credential_id, public_key } = o;
  if (typeof rp_id !== 'string' || rp_id.length === 0 || rp_id.length > 253) return undefined;
  if (!Array.isArray(origins) || origins.length === 0 || origins.length > 32 || !origins.every((x) => typeof x === 'string' && x.length <= 300)) return undefined;
  if (typeof credential_id !== 'string' || !B64URL.test(credential_id) || typeof public_key !== 'string' || !B64URL.test(public_key)) return undefined;
  return { rp_id, origins: origins as string[], credential_id, public_key };
}

export function parsePasskeyEvidence(v: unknown): PasskeyEvidence | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { request_body, challenge, assertion } = v as Record<string, unknown>;
  if (typeof request_body !== 'string' || request_body.length > 300_000 || typeof challenge !== 'string' || !B64URL.test(challenge)) return undefined;
  if (typeof assertion !== 'object' || assertion === null) return undefined;
  return { request_body, challenge, assertion };
}

/** One text per value, whatever the key order: what an invitation is compared by. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

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
  if (typeof origin !== 'string' || !originAllowed({ rp: { id: owner.rp_id, name: owner.rp_id, origins: owner.origins }, lambda_allowlist: [] }, origin)) {
    throw new TandemError('access_denied', "the assertion comes from an origin the key's owner did not register with");
  }
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
