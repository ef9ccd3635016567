/**
 * A software WebAuthn platform authenticator (plus the browser "client" around it) for tests.
 *
 * It stands in for `@0xpass/webauthn-signer` as the Passport SDK's `signer`: it takes the same
 * `{ publicKey: ...JSON }` options the SDK hands the browser signer and returns plain objects whose
 * `JSON.stringify` equals what webauthn-json's `toJSON()` gives in a browser, so the relay sees
 * exactly what it would see from a real passkey.
 *
 * Deliberately NOT enforced here (a browser would): that the RP ID is a registrable suffix of the
 * origin, and that user verification is possible when the RP requires it. Tests use that slack to
 * play a phishing page or a UV-less authenticator and check that the *server* rejects them.
 */
import { createHash, generateKeyPairSync, randomBytes, sign as ecdsaSign, type KeyObject } from 'node:crypto';
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor';

/* ---------- JSON wire types (local: the project has no DOM lib) ---------- */

export type Base64Url = string;

export interface CredentialDescriptorJSON {
  type: string; // 'public-key'; kept wide so @simplewebauthn's option types are assignable
  id: Base64Url;
  transports?: string[];
}

export interface PublicKeyCredentialCreationOptionsJSON {
  rp: { id?: string; name: string };
  user: { id: Base64Url; name: string; displayName: string };
  challenge: Base64Url;
  pubKeyCredParams: { type: string; alg: number }[];
  timeout?: number;
  excludeCredentials?: CredentialDescriptorJSON[];
  authenticatorSelection?: { authenticatorAttachment?: string; residentKey?: string; requireResidentKey?: boolean; userVerification?: string };
  attestation?: string;
  extensions?: object;
}

export interface PublicKeyCredentialRequestOptionsJSON {
  challenge: Base64Url;
  rpId?: string;
  allowCredentials?: CredentialDescriptorJSON[];
  userVerification?: string;
  timeout?: number;
  extensions?: object;
}

export interface RegistrationResponseJSON {
  id: Base64Url;
  rawId: Base64Url;
  type: 'public-key';
  response: { clientDataJSON: Base64Url; attestationObject: Base64Url; transports: string[] };
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: 'platform';
}

export interface AuthenticationResponseJSON {
  id: Base64Url;
  rawId: Base64Url;
  type: 'public-key';
  response: { clientDataJSON: Base64Url; authenticatorData: Base64Url; signature: Base64Url; userHandle: Base64Url };
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: 'platform';
}

export interface SoftAuthenticatorOptions {
  /** Origin written into clientDataJSON (what the browser would report for the page). */
  origin: string;
  /** Whether the "user" passes verification (sets the UV flag). Default true. */
  userVerified?: boolean;
  /** Increment the signature counter per assertion (default). False keeps it 0, like synced passkeys. */
  incrementSignCount?: boolean;
}

/** Public view of a stored credential. */
export interface SoftCredentialInfo {
  id: Base64Url;
  rpId: string;
  userHandle: Base64Url;
  signCount: number;
  /** COSE_Key bytes, as the RP stores them after registration. */
  publicKey: Uint8Array;
}

interface StoredCredential extends SoftCredentialInfo {
  privateKey: KeyObject;
}

const ES256 = -7;
const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const b64u = (bytes: Uint8Array): Base64Url => Buffer.from(bytes).toString('base64url');
// Node's decoder also takes padded/standard base64, so ids compare equal however the RP spelled them.
const normId = (id: string): Base64Url => b64u(Buffer.from(id, 'base64url'));
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

function authData(rpId: string, flags: number, signCount: number, attested?: Uint8Array): Buffer {
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(signCount);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
}

function coseP256(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  // Key order 1, 3, -1, -2, -3 is CTAP2 canonical order, as real authenticators emit it.
  return encodeCBOR(
    new Map<number, CBORType>([
      [1, 2], // kty: EC2
      [3, ES256], // alg
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
}

/** Browsers default the RP ID to the page's host when the RP omits it. */
const hostOf = (origin: string): string => new URL(origin).hostname;

export class SoftAuthenticator {
  origin: string;
  userVerified: boolean;
  readonly incrementSignCount: boolean;
  // Shared with withOrigin() views: it is the same device, only the page differs.
  private store: StoredCredential[] = [];

  constructor(opts: SoftAuthenticatorOptions) {
    this.origin = opts.origin;
    this.userVerified = opts.userVerified ?? true;
    this.incrementSignCount = opts.incrementSignCount ?? true;
  }

  /** The same authenticator (same credentials and counters) used from another page origin. */
  withOrigin(origin: string): SoftAuthenticator {
    const view = new SoftAuthenticator({ origin, userVerified: this.userVerified, incrementSignCount: this.incrementSignCount });
    view.store = this.store;
    return view;
  }

  get credentials(): SoftCredentialInfo[] {
    return this.store.map(({ id, rpId, userHandle, signCount, publicKey }) => ({ id, rpId, userHandle, signCount, publicKey }));
  }

  getHeaderName(): string {
    return 'X-Encrypted-WebAuthn-Signature';
  }

  /** Part of the SDK's signer interface; the browser signer returns empty lists too (never[] fits its AllowCredential[]). */
  async getAllowCredentials(): Promise<{ key: never[]; webauthn: never[] }> {
    return { key: [], webauthn: [] };
  }

  /** navigator.credentials.create() + toJSON(). */
  async create(options: { publicKey: PublicKeyCredentialCreationOptionsJSON }): Promise<RegistrationResponseJSON> {
    const pk = options?.publicKey;
    if (!pk || typeof pk.challenge !== 'string') throw new Error('SoftAuthenticator.create: expected { publicKey: PublicKeyCredentialCreationOptionsJSON }');
    // An empty list means "RP accepts the defaults", which include ES256.
    const algs = (pk.pubKeyCredParams ?? []).map((p) => p.alg);
    if (algs.length > 0 && !algs.includes(ES256)) {
      throw new Error('SoftAuthenticator.create: NotSupportedError: only ES256 (-7) is supported');
    }
    const rpId = pk.rp.id ?? hostOf(this.origin);
    const excluded = new Set((pk.excludeCredentials ?? []).map((c) => normId(c.id)));
    if (this.store.some((c) => c.rpId === rpId && excluded.has(c.id))) {
      throw new Error('SoftAuthenticator.create: InvalidStateError: a credential in excludeCredentials already exists on this authenticator');
    }

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rawId = randomBytes(16);
    const cose = coseP256(publicKey);
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(rawId.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID: zero, as for fmt none */, idLen, rawId, cose]);
    const cred: StoredCredential = { id: b64u(rawId), rpId, userHandle: normId(pk.user.id), signCount: 0, publicKey: cose, privateKey };

    const data = authData(rpId, this.flags() | FLAG_AT, 0, attested);
    const attestationObject = encodeCBOR(new Map<string, CBORType>([['fmt', 'none'], ['attStmt', new Map()], ['authData', data]]));
    const clientDataJSON = this.clientData('webauthn.create', pk.challenge, this.origin);
    this.store.push(cred);
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get() + toJSON(). */
  async sign(options: { publicKey: PublicKeyCredentialRequestOptionsJSON } | string): Promise<AuthenticationResponseJSON> {
    if (typeof options === 'string') {
      // The SDK does this for its signed-header path (no session / allowSessions: false, delegated
      // registration). WebAuthn cannot sign caller-chosen bytes, so the browser signer fails as well.
      throw new Error('SoftAuthenticator.sign: WebAuthn cannot sign an arbitrary payload; use a session (Passport.authenticate) instead');
    }
    const pk = options?.publicKey;
    if (!pk || typeof pk.challenge !== 'string') throw new Error('SoftAuthenticator.sign: expected { publicKey: PublicKeyCredentialRequestOptionsJSON }');
    const rpId = pk.rpId ?? hostOf(this.origin);
    const allow = (pk.allowCredentials ?? []).map((c) => normId(c.id));
    let credentialId: string | undefined;
    if (allow.length > 0) {
      credentialId = this.store.find((c) => c.rpId === rpId && allow.includes(c.id))?.id;
      if (!credentialId) throw new Error(`SoftAuthenticator.sign: NotAllowedError: none of allowCredentials exists for rpId ${rpId}`);
    }
    return this.assert(pk.challenge, rpId, credentialId === undefined ? {} : { credentialId });
  }

  /**
   * An assertion over any challenge. Without credentialId it takes the most recently registered
   * discoverable credential for rpId (what a user would pick right after signing up). `origin` and
   * `type` override clientDataJSON fields for negative tests.
   */
  assert(challengeB64url: string, rpId: string, opts: { credentialId?: string; origin?: string; type?: string } = {}): AuthenticationResponseJSON {
    const want = opts.credentialId === undefined ? undefined : normId(opts.credentialId);
    const cred = this.store.filter((c) => c.rpId === rpId && (want === undefined || c.id === want)).at(-1);
    if (!cred) throw new Error(`SoftAuthenticator: NotAllowedError: no credential${want ? ` ${want}` : ''} for rpId ${rpId}`);
    if (this.incrementSignCount) cred.signCount += 1;

    const data = authData(rpId, this.flags(), cred.signCount);
    const clientDataJSON = this.clientData(opts.type ?? 'webauthn.get', challengeB64url, opts.origin ?? this.origin);
    // WebAuthn signs authData || SHA-256(clientDataJSON); ES256 signatures are DER (Node's default).
    const signature = ecdsaSign('sha256', Buffer.concat([data, sha256(clientDataJSON)]), cred.privateKey);
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(data), signature: b64u(signature), userHandle: cred.userHandle },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  private flags(): number {
    // BE|BS: report a synced passkey, the common case for platform authenticators today.
    return FLAG_UP | FLAG_BE | FLAG_BS | (this.userVerified ? FLAG_UV : 0);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    // Key order and the challenge string (verbatim from the options) match what browsers produce.
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }
}
